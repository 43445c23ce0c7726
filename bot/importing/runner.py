"""Running one import: stream the file, check each row, send chunks with bounded concurrency,
settle each chunk in the checkpoint, and write the report in file order.

Guarantees:

- a chunk is written ``sending`` before its request and ``done`` (with its report lines) once
  answered, as soon as the answer is in; the checkpoint (``confirmed_records``) moves only over
  a contiguous prefix of settled chunks;
- a chunk whose request failed with ``Unavailable`` is not confirmed: nothing more is sent, the
  chunks already in flight are waited for and kept, and the next run sends that chunk again;
- on cancellation (Ctrl-C) nothing new is sent and requests in flight are waited for, so what the
  platform took is recorded; a process killed mid-request leaves its chunk ``sending``, which the
  next run reports as in doubt rather than sending it twice (``--resend-in-doubt`` to send it).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.importing.chunking import Chunk, ChunkLimits, Entry, make_chunks
from bot.importing.csv_source import CsvSource, Record, SourceFormat, SourceIdentity
from bot.importing.mapping import ColumnMapping, ImportKind
from bot.importing.report import (
    VALID,
    ImportProgress,
    ImportSummary,
    ReportLine,
    ReportWriter,
    decode_lines,
    encode_lines,
)
from bot.importing.sending import ChunkSender
from bot.importing.validation import (
    DateOrder,
    ImportRow,
    MemberRows,
    RowProblem,
    TransactionRows,
)
from bot.loyalty.errors import AuthFailed, LoyaltyError, ProtocolError, Unavailable
from bot.loyalty.models import CampaignKind, ImportOutcome, ImportResult, MemberImportRow
from bot.storage.imports import ChunkRange, ImportCheckpoints, ImportRecord

IN_DOUBT = (
    "in doubt: an earlier run was cut off while this row's request was on its way, so the "
    "platform may or may not have it; check, then re-run with --resend-in-doubt to send it again"
)


class ImportConflict(Exception):
    """An earlier import of the same file into the same platform exists under another key
    (the file or the mapping changed): starting afresh could send its rows a second time."""


@dataclass(frozen=True)
class ImportPlan:
    kind: ImportKind
    path: Path
    source_format: SourceFormat
    mapping: ColumnMapping
    platform: str
    target: str
    """Which platform account the rows go to: part of the checkpoint key, so a trial import
    into the sandbox never makes the production import skip rows."""
    region: str = "US"
    date_order: DateOrder | None = None
    campaigns: Mapping[str, CampaignKind] | None = None
    default_campaign: str = ""
    chunk_size: int | None = None
    concurrency: int = 4
    dry_run: bool = False
    resend_in_doubt: bool = False
    options: Mapping[str, object] = field(default_factory=dict)
    """Options that shape what is sent, kept with the checkpoint to compare on resume."""


def plan_options(plan: ImportPlan) -> str:
    """What is kept with the checkpoint: the options and the target, as JSON."""
    options = {**plan.options, "target": plan.target}
    return json.dumps(options, sort_keys=True, default=str)


async def earlier_imports(
    checkpoints: ImportCheckpoints, plan: ImportPlan, identity: SourceIdentity
) -> list[ImportRecord]:
    """Imports of the same file path, kind and target (any key)."""
    found = await checkpoints.of_source(identity.path, plan.kind.value)
    return [record for record in found if _target_of(record) == plan.target]


def _target_of(record: ImportRecord) -> str:
    try:
        options = json.loads(record.options)
    except ValueError:
        return ""
    return str(options.get("target", "")) if isinstance(options, dict) else ""


def checkpoint_key(
    identity: SourceIdentity, kind: ImportKind, mapping: ColumnMapping, target: str
) -> str:
    parts = [
        identity.path,
        identity.size,
        identity.mtime_ns,
        identity.head_sha256,
        kind.value,
        mapping.fingerprint(),
        target,
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


@dataclass(frozen=True)
class ChunkOutcome:
    chunk: Chunk
    lines: list[ReportLine]
    confirmed: bool = True
    failure: str = ""
    sent: bool = False


class _Ranges:
    """Sorted, disjoint record ranges, asked about in increasing record order (one reader
    per instance: the cursor only moves forward)."""

    def __init__(self, ranges: Sequence[ChunkRange]) -> None:
        self._ranges = sorted((item.first_record, item.end_record) for item in ranges)
        self._cursor = 0

    def __contains__(self, index: object) -> bool:
        assert isinstance(index, int)
        while self._cursor < len(self._ranges) and self._ranges[self._cursor][1] <= index:
            self._cursor += 1
        return self._cursor < len(self._ranges) and self._ranges[self._cursor][0] <= index


def _line(problem: RowProblem) -> ReportLine:
    return ReportLine(problem.line, problem.outcome.value, problem.member_code, problem.message)


def _result_line(result: ImportResult) -> ReportLine:
    return ReportLine(result.line, result.outcome.value, result.member_code, result.message)


class Importer:
    """One run of one import. ``sender`` and ``checkpoints`` may be ``None`` for a dry run."""

    def __init__(
        self,
        plan: ImportPlan,
        sender: ChunkSender | None,
        checkpoints: ImportCheckpoints | None,
        *,
        progress: ImportProgress | None = None,
        on_settled: Callable[[ChunkOutcome], None] | None = None,
    ) -> None:
        if not plan.dry_run and (sender is None or checkpoints is None):
            raise ValueError("an import that sends needs a sender and checkpoints")
        self._plan = plan
        self._sender = sender
        self._checkpoints = checkpoints
        self._progress = progress
        self._on_settled = on_settled
        self._semaphore = asyncio.Semaphore(max(1, plan.concurrency))
        self._halt = ""
        self._record: ImportRecord | None = None
        self._records_seen = 0
        self._rows_settled = 0
        self.summary = ImportSummary(
            kind=plan.kind.value,
            source=str(plan.path),
            platform=plan.platform,
            dry_run=plan.dry_run,
            unknown_columns=plan.mapping.unknown,
        )

    @property
    def limits(self) -> ChunkLimits:
        base = self._sender.limits if self._sender is not None else ChunkLimits(500)
        return base.sized(self._plan.chunk_size)

    async def run(self, report_path: Path) -> ImportSummary:
        started = time.monotonic()
        plan = self._plan
        with CsvSource(plan.path, plan.source_format) as source:
            settled, leftover = await self._open_checkpoint(source)
            entries = self._entries(source, _Ranges(settled), _Ranges(leftover))
            row_size = self._sender.row_size if self._sender is not None else None
            boundaries = {
                edge for item in leftover for edge in (item.first_record, item.end_record)
            }
            chunks = make_chunks(entries, self.limits, row_size, boundaries)
            with ReportWriter(report_path) as writer:
                try:
                    await self._pump(chunks, source, _Ranges(leftover), writer)
                except asyncio.CancelledError:
                    self.summary.stopped = "interrupted; requests in flight were completed"
                    await self._close(writer, started)
                    raise
                await self._close(writer, started)
        return self.summary

    async def _open_checkpoint(
        self, source: CsvSource
    ) -> tuple[list[ChunkRange], list[ChunkRange]]:
        """Record ranges settled by earlier runs, and those cut off mid-request (in doubt)."""
        plan = self._plan
        if plan.dry_run or self._checkpoints is None:
            return [], []
        identity = SourceIdentity.of(plan.path)
        key = checkpoint_key(identity, plan.kind, plan.mapping, plan.target)
        options = plan_options(plan)
        if await self._checkpoints.get(key) is None:
            earlier = await earlier_imports(self._checkpoints, plan, identity)
            if earlier:
                raise ImportConflict(
                    f"{plan.path} was imported before into the same platform "
                    f"({earlier[-1].started_at:%Y-%m-%d %H:%M} UTC), and the file or the "
                    "mapping has changed since: importing it afresh may send rows that were "
                    "imported then a second time. Import only the new rows (a file of its "
                    "own), or pass --restart to start over anyway."
                )
        record, resumed = await self._checkpoints.start(
            key, kind=plan.kind.value, source=identity.path, options=options
        )
        self._record = record
        if resumed and record.finished_at is not None and not plan.resend_in_doubt:
            self.summary.notes.append(
                f"this file was already imported on {record.finished_at:%Y-%m-%d %H:%M} UTC; "
                "the report was written again (pass --restart to import it once more)"
            )
        if resumed and record.options != options:
            self.summary.notes.append(
                f"continued an import started with other options ({record.options}); rows "
                "settled by that run keep their outcome"
            )
        if plan.resend_in_doubt:
            reopened = await self._checkpoints.reopen_doubtful(record.id)
            if reopened:
                self.summary.notes.append(f"{reopened} rows in doubt were sent again")
        ranges = await self._checkpoints.ranges(record.id)
        settled = [item for item in ranges if item.state != "sending"]
        leftover = [item for item in ranges if item.state == "sending"]
        return settled, leftover

    def _entries(
        self, source: CsvSource, settled: _Ranges, leftover: _Ranges
    ) -> Iterator[tuple[int, Entry]]:
        plan = self._plan
        positions = plan.mapping.positions(source.header)
        reader: MemberRows | TransactionRows
        if plan.kind is ImportKind.MEMBERS:
            reader = MemberRows(
                positions,
                width=len(source.header),
                region=plan.region,
                date_order=plan.date_order,
            )
        else:
            reader = TransactionRows(
                positions,
                width=len(source.header),
                campaigns=plan.campaigns,
                default_campaign=plan.default_campaign,
                date_order=plan.date_order,
            )
        record: Record
        for record in source.records():
            self._records_seen = record.index + 1
            if record.index in settled:
                self.summary.resumed_records += 1
                continue
            if record.index in leftover:
                yield record.index, RowProblem(record.line, IN_DOUBT, ImportOutcome.FAILED)
                continue
            yield record.index, reader.read(record.line, record.cells)

    async def _pump(
        self,
        chunks: Iterator[Chunk],
        source: CsvSource,
        in_doubt: _Ranges,
        writer: ReportWriter,
    ) -> None:
        window: deque[tuple[int, asyncio.Task[ChunkOutcome]]] = deque()
        limit = 2 * max(1, self._plan.concurrency)
        try:
            for chunk in chunks:
                doubtful = chunk.first_record in in_doubt
                task = asyncio.create_task(self._process(chunk, doubtful))
                window.append((source.bytes_read, task))
                while window and (len(window) >= limit or window[0][1].done()):
                    await self._confirm(*window.popleft(), writer)
                if self._halt:
                    break
            while window:
                await self._confirm(*window.popleft(), writer)
        except BaseException:
            self._halt = self._halt or "stopped"
            # What is in flight may reach the platform: wait, so it is settled, not in doubt.
            await asyncio.gather(*(task for _, task in window), return_exceptions=True)
            raise
        if not self.summary.stopped and self._record is not None and self._checkpoints:
            await self._checkpoints.finish(self._record.id, self._records_seen)

    async def _confirm(
        self, bytes_done: int, task: asyncio.Task[ChunkOutcome], writer: ReportWriter
    ) -> None:
        # Shielded: cancelling the import must not cut off a request already on its way.
        outcome = await asyncio.shield(task)
        if not outcome.confirmed:
            if not self.summary.stopped:
                first, _ = outcome.chunk.lines
                self.summary.stopped = f"at line {first}: {outcome.failure}"
            return
        self._rows_settled += len(outcome.chunk.entries)
        if self._plan.dry_run:
            writer.add(outcome.lines)
            self.summary.counts.update(line.outcome for line in outcome.lines)
        if self._progress is not None:
            self._progress.update(rows=self._rows_settled, bytes_done=bytes_done)
        if self._on_settled is not None:
            self._on_settled(outcome)

    async def _process(self, chunk: Chunk, in_doubt: bool) -> ChunkOutcome:
        lines = [_line(problem) for problem in chunk.problems]
        rows = chunk.rows
        if self._plan.dry_run:
            lines.extend(ReportLine(row.line, VALID, _code(row), "") for row in rows)
            lines.sort(key=lambda line: line.line)
            return ChunkOutcome(chunk, lines)
        checkpoints, record = self._checkpoints, self._record
        assert checkpoints is not None and record is not None and self._sender is not None
        if in_doubt or not rows:
            await checkpoints.settle_chunk(
                record.id,
                chunk.first_record,
                chunk.end_record,
                encode_lines(lines),
                state="doubt" if in_doubt else "done",
            )
            return ChunkOutcome(chunk, lines)
        async with self._semaphore:
            if self._halt:
                return ChunkOutcome(chunk, [], confirmed=False, failure=self._halt)
            await checkpoints.begin_chunk(record.id, chunk.first_record, chunk.end_record)
            self.summary.sent_requests += 1
            try:
                results = await self._sender.send(rows)
            except Unavailable as exc:
                await checkpoints.abandon_chunk(record.id, chunk.first_record)
                self._halt = self._halt or f"the platform is unavailable: {exc.message}"
                return ChunkOutcome(chunk, [], confirmed=False, failure=self._halt, sent=True)
            except AuthFailed as exc:
                await checkpoints.abandon_chunk(record.id, chunk.first_record)
                self._halt = self._halt or f"the platform refused the credentials: {exc.message}"
                return ChunkOutcome(chunk, [], confirmed=False, failure=self._halt, sent=True)
            except ProtocolError as exc:
                results = _all_failed(
                    rows,
                    f"the platform's answer could not be read ({exc.message}); these rows may "
                    "have been imported",
                )
            except LoyaltyError as exc:
                results = _all_failed(rows, f"the platform refused the request: {exc.message}")
            except ValueError as exc:
                results = _all_failed(rows, f"not sent: {exc}", ImportOutcome.INVALID)
        lines.extend(_matched(rows, results))
        lines.sort(key=lambda line: line.line)
        await checkpoints.settle_chunk(
            record.id, chunk.first_record, chunk.end_record, encode_lines(lines)
        )
        return ChunkOutcome(chunk, lines, sent=True)

    async def _close(self, writer: ReportWriter, started: float) -> None:
        if not self._plan.dry_run and self._checkpoints is not None and self._record:
            async for text in self._checkpoints.results(self._record.id):
                lines = decode_lines(text)
                writer.add(lines)
                self.summary.counts.update(line.outcome for line in lines)
        self.summary.seconds = time.monotonic() - started
        writer.finish(self.summary)


def _code(row: ImportRow) -> str:
    return row.code if isinstance(row, MemberImportRow) else row.member


def _all_failed(
    rows: Sequence[ImportRow], message: str, outcome: ImportOutcome = ImportOutcome.FAILED
) -> list[ImportResult]:
    return [
        ImportResult(line=row.line, outcome=outcome, member_code=_code(row), message=message)
        for row in rows
    ]


def _matched(rows: Sequence[ImportRow], results: Sequence[ImportResult]) -> list[ReportLine]:
    """One line per sent row, whatever the sender answered (a missing result is a failure)."""
    by_line = {result.line: result for result in results}
    lines: list[ReportLine] = []
    for row in rows:
        result = by_line.get(row.line)
        if result is None:
            message = "the platform gave no result for this row"
            lines.append(ReportLine(row.line, ImportOutcome.FAILED.value, _code(row), message))
        else:
            lines.append(_result_line(result))
    return lines
