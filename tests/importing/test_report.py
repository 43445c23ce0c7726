"""The report file and the progress bar as an operator sees them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from rich.console import Console

from bot.importing.csv_source import CsvSource, estimate_rows, sniff
from bot.importing.mapping import ImportKind, guess_mapping
from bot.importing.report import (
    ImportProgress,
    ImportSummary,
    ReportLine,
    ReportWriter,
    decode_lines,
    encode_lines,
)
from bot.importing.runner import Importer, ImportPlan
from tests.importing.exports import write_members


def test_the_report_has_one_line_per_row_then_the_summary(tmp_path: Path) -> None:
    summary = ImportSummary(
        kind="members", source="export.csv", platform="clienttoolbox", unknown_columns=("Notes",)
    )
    lines = [
        ReportLine(2, "created", "C1", "card 123"),
        ReportLine(3, "invalid", "C2", 'email: "x@" is not valid, see line 3'),
    ]
    summary.counts.update(line.outcome for line in lines)
    summary.stopped = "at line 4: the platform is unavailable"

    with ReportWriter(tmp_path / "report.csv") as writer:
        writer.add(lines)
        writer.finish(summary)
    text = (tmp_path / "report.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text.split("\n\n")[0])))

    assert rows == [
        ["line", "outcome", "member_code", "message"],
        ["2", "created", "C1", "card 123"],
        ["3", "invalid", "C2", 'email: "x@" is not valid, see line 3'],
    ]
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert comments[0] == "# members from export.csv imported into clienttoolbox: 2 rows"
    assert "#   created: 1" in comments and "#   invalid: 1" in comments
    assert "# unknown columns (not imported): 'Notes'" in comments
    assert "# STOPPED: at line 4: the platform is unavailable" in comments
    assert summary.problems == 1 and not summary.complete


def test_report_lines_survive_the_checkpoint_encoding() -> None:
    lines = [ReportLine(7, "already a member", "663a", "Member already exists — «ok»")]

    assert decode_lines(encode_lines(lines)) == lines


def test_progress_shows_rows_rate_and_time_left_on_a_terminal() -> None:
    output = io.StringIO()
    console = Console(file=output, force_terminal=True, width=120)

    with ImportProgress(10_000, console=console) as progress:
        progress.update(rows=2_500)

    shown = output.getvalue()
    assert "2,500 rows" in shown and "rows/s" in shown
    assert "25%" in shown and "left" in shown


def test_progress_is_silent_when_not_a_terminal() -> None:
    output = io.StringIO()

    with ImportProgress(10_000, console=Console(file=output)) as progress:
        progress.update(rows=1_500)

    assert output.getvalue() == ""


class RecordedProgress(ImportProgress):
    def __init__(self, total_rows: int) -> None:
        super().__init__(total_rows, console=Console(file=io.StringIO()))
        self.total = total_rows
        self.rows: list[int] = []
        self.finished: int | None = None

    def update(self, *, rows: int) -> None:
        self.rows.append(rows)
        super().update(rows=rows)

    def finish(self, rows: int) -> None:
        self.finished = rows
        super().finish(rows)


async def test_the_progress_counts_settled_rows_not_the_bytes_read_ahead(tmp_path: Path) -> None:
    path = write_members(tmp_path / "members.csv", 2_000)
    source_format = sniff(path)
    with CsvSource(path, source_format) as probe:
        header = probe.header
    plan = ImportPlan(
        kind=ImportKind.MEMBERS,
        path=path,
        source_format=source_format,
        mapping=guess_mapping(ImportKind.MEMBERS, header),
        platform="clienttoolbox",
        target="test",
        chunk_size=100,
        dry_run=True,
    )
    progress = RecordedProgress(estimate_rows(path))

    with progress:
        await Importer(plan, None, None, progress=progress).run(tmp_path / "report.csv")

    assert progress.total == 2_000
    assert progress.rows == list(range(100, 2_001, 100))
    assert progress.finished == 2_000
