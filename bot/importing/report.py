"""The per-row report (CSV), its summary, and the progress bar.

One report line per input row, in file order: ``line, outcome, member_code, message``. After the
rows come ``#`` comment lines with the summary (``pandas.read_csv(..., comment="#")`` and most
spreadsheet imports skip them).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from bot.loyalty.models import ImportOutcome

REPORT_COLUMNS = ("line", "outcome", "member_code", "message")
VALID = "valid"
"""Outcome of a good row in a dry run: checked, not sent."""
PROBLEM_OUTCOMES = frozenset({ImportOutcome.INVALID, ImportOutcome.FAILED})


@dataclass(frozen=True, slots=True)
class ReportLine:
    line: int
    outcome: str
    member_code: str = ""
    message: str = ""

    def as_list(self) -> list[object]:
        return [self.line, self.outcome, self.member_code, self.message]

    @classmethod
    def from_list(cls, values: Sequence[object]) -> ReportLine:
        line, outcome, member_code, message = values
        return cls(int(str(line)), str(outcome), str(member_code), str(message))


def encode_lines(lines: Iterable[ReportLine]) -> str:
    return json.dumps([line.as_list() for line in lines], ensure_ascii=False)


def decode_lines(text: str) -> list[ReportLine]:
    return [ReportLine.from_list(values) for values in json.loads(text)]


@dataclass
class ImportSummary:
    kind: str
    source: str
    platform: str
    dry_run: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    unknown_columns: tuple[str, ...] = ()
    resumed_records: int = 0
    """Records settled by earlier runs of the same import."""
    sent_requests: int = 0
    seconds: float = 0.0
    stopped: str = ""
    """Why the import stopped before the end of the file (empty: it reached the end)."""
    notes: list[str] = field(default_factory=list)
    previews: Counter[str] = field(default_factory=Counter)
    """Dry run: what the platform would do with the valid rows, by what (``a new profile``)."""

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def complete(self) -> bool:
        return not self.stopped

    @property
    def problems(self) -> int:
        return sum(self.counts[outcome.value] for outcome in PROBLEM_OUTCOMES)

    def count_lines(self) -> list[str]:
        order = [VALID, *(outcome.value for outcome in ImportOutcome)]
        return [f"{name}: {self.counts[name]}" for name in order if self.counts[name]]

    def text_lines(self) -> list[str]:
        verb = "checked (dry run, nothing sent)" if self.dry_run else "imported"
        lines = [
            f"{self.kind} from {self.source} {verb} into {self.platform}: {self.rows} rows",
            *(f"  {line}" for line in self.count_lines()),
        ]
        for what, count in sorted(self.previews.items()):
            lines.append(f"  of the valid rows, {count}: {what}")
        if self.unknown_columns:
            names = ", ".join(repr(name) for name in self.unknown_columns)
            lines.append(f"unknown columns (not imported): {names}")
        if self.resumed_records:
            lines.append(
                f"continued an earlier run: {self.resumed_records} rows were settled then"
            )
        if not self.dry_run:
            lines.append(f"requests sent in this run: {self.sent_requests}")
        lines.append(f"time: {self.seconds:.1f} s")
        lines.extend(self.notes)
        if self.stopped:
            lines.append(f"STOPPED: {self.stopped}")
            lines.append("run the same command again to continue where it stopped")
        return lines


class ReportWriter:
    """Writes report lines as they come (callers give them in file order), then the summary."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: TextIO = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(REPORT_COLUMNS)

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._file.close()

    def add(self, lines: Iterable[ReportLine]) -> None:
        self._writer.writerows(line.as_list() for line in lines)

    def finish(self, summary: ImportSummary) -> None:
        self._file.write("\n")
        for text in summary.text_lines():
            self._file.write(f"# {text}\n")
        self._file.close()


class _RowsColumn(ProgressColumn):
    """``12,500 rows · 3,410 rows/s`` from the task's ``rows`` field."""

    def render(self, task: Task) -> Text:
        rows = int(task.fields.get("rows", 0))
        elapsed = task.elapsed or 0.0
        rate = rows / elapsed if elapsed > 0 else 0.0
        return Text(f"{rows:,} rows · {rate:,.0f} rows/s", style="progress.data.speed")


class ImportProgress:
    """A rich progress bar over the file's rows (an estimate from its line count, corrected as
    rows are settled) showing rows and rows/s, and the time left at the rate rows are settled;
    silent when the output is not a terminal."""

    def __init__(self, total_rows: int, *, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._total = max(total_rows, 1)
        self._progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            _RowsColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.console.is_terminal,
            transient=False,
        )
        self._task = self._progress.add_task("importing", total=self._total, rows=0)

    def __enter__(self) -> ImportProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def update(self, *, rows: int) -> None:
        """``rows`` of the file are settled (sent and answered, or settled by an earlier run)."""
        if rows >= self._total:
            # More rows than lines counted at the start cannot be, unless cells hold line
            # breaks the other way round; never show the end before it is reached.
            self._total = rows + 1
        self._progress.update(self._task, completed=rows, total=self._total, rows=rows)

    def finish(self, rows: int) -> None:
        """Every row is settled: the bar ends at 100% with nothing left."""
        self._total = max(rows, 1)
        self._progress.update(self._task, completed=self._total, total=self._total, rows=rows)
