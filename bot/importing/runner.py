"""Running one import: stream the file, check each row, send chunks with bounded concurrency,
settle each chunk in the checkpoint, and write the report in file order.

Guarantees:

- a chunk is written ``sending`` before its request and ``done`` (with its report lines) once
  answered, as soon as the answer is in; the checkpoint (``confirmed_records``) moves only over
  a contiguous prefix of settled chunks;
- a chunk whose request failed with ``Unavailable`` is not confirmed: nothing more is sent, the
  chunks already in flight are waited for and kept, and the next run sends that chunk again
  (or, when part of it may have landed, looks its rows up first);
- on cancellation (Ctrl-C) nothing new is sent and requests in flight are waited for, so what the
  platform took is recorded; a process killed mid-request leaves its chunk ``sending``: the next
  run looks its rows up on the platform (``bot.importing.reconcile``) and sends only those
  missing there; a row that cannot be decided is reported with the reason and never sent
  (``--resend-in-doubt`` looks such rows up again);
- a transactions import keeps each member's rows in file order: one chunk at a time, its rows
  split by member over up to ``concurrency`` lanes sent in parallel (see ``docs/importing.md``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bot.importing.chunking import Chunk, ChunkLimits, Entry, make_chunks
from bot.importing.csv_source import CsvSource, Record, SourceFormat, SourceIdentity
from bot.importing.mapping import ColumnMapping, ImportKind
from bot.importing.reconcile import Decision, Reconciler
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
    "platform may or may not have it, and this import cannot look it up; check it on the platform"
)
"""Reported for rows in doubt when the importer has no reconciler (the command always has one)."""


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
        reconciler: Reconciler | None = None,
    ) -> None:
        if not plan.dry_run and (sender is None or checkpoints is None):
            raise ValueError("an import that sends needs a sender and checkpoints")
        self._plan = plan
        self._sender = sender
        self._checkpoints = checkpoints
        self._progress = progress
        self._on_settled = on_settled
        self._reconciler = reconciler
        self._ordered = plan.kind is ImportKind.TRANSACTIONS
        """Transactions: one member's rows reach the platform in file order (see ``_lanes``)."""
        self._lane_count = max(1, plan.concurrency) if self._ordered else 1
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
        """Limits of one request."""
        base = self._sender.limits if self._sender is not None else ChunkLimits(500)
        return base.sized(self._plan.chunk_size)

    @property
    def chunk_limits(self) -> ChunkLimits:
        """Limits of one checkpointed chunk: a request's, or for transactions one request per
        lane (the chunk's rows are split by member over the lanes)."""
        limits = self.limits
        if self._lane_count == 1:
            return limits
        return ChunkLimits(limits.rows * self._lane_count, None, None)

    async def run(self, report_path: Path) -> ImportSummary:
        started = time.monotonic()
        plan = self._plan
        with CsvSource(plan.path, plan.source_format) as source:
            settled, leftover = await self._open_checkpoint(source)
            if leftover and self._reconciler is not None:
                await self._prepare_reconciler(settled, leftover)
            entries = self._entries(source, _Ranges(settled), _Ranges(leftover))
            row_size = self._sender.row_size if self._sender is not None else None
            if self._lane_count > 1:
                row_size = None
            boundaries = {
                edge for item in leftover for edge in (item.first_record, item.end_record)
            }
            # A range in doubt stays one chunk: split, its tail would lose its "sending" mark.
            whole = _Ranges(leftover)
            chunks = make_chunks(
                entries, self.chunk_limits, row_size, boundaries, unsplit=whole.__contains__
            )
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
        ranges = await self._checkpoints.ranges(record.id)
        doubtful = ("sending", "doubt") if plan.resend_in_doubt else ("sending",)
        settled = [item for item in ranges if item.state not in doubtful]
        leftover = [item for item in ranges if item.state in doubtful]
        if leftover and self._reconciler is not None:
            rows = sum(item.end_record - item.first_record for item in leftover)
            self.summary.notes.append(
                f"{rows} rows in doubt (an earlier run was cut off while sending them) were "
                "looked up on the platform; only those missing there were sent again"
            )
        return settled, leftover

    async def _prepare_reconciler(
        self, settled: Sequence[ChunkRange], leftover: Sequence[ChunkRange]
    ) -> None:
        """Give the reconciler the rows of this file reported imported by earlier runs."""
        assert self._reconciler is not None and self._checkpoints is not None
        assert self._record is not None
        if not self._reconciler.needs_landed:
            return
        created: set[int] = set()
        async for text in self._checkpoints.results(self._record.id):
            created.update(
                line.line
                for line in decode_lines(text)
                if line.outcome == ImportOutcome.CREATED.value
            )
        in_doubt = _Ranges(leftover)
        landed: list[ImportRow] = []
        with CsvSource(self._plan.path, self._plan.source_format) as source:
            reader = self._reader(source)
            for record in source.records():
                if record.line in created and record.index not in in_doubt:
                    row = reader.read(record.line, record.cells)
                    if not isinstance(row, RowProblem):
                        landed.append(row)
        await self._reconciler.prepare(landed)

    def _reader(self, source: CsvSource) -> MemberRows | TransactionRows:
        plan = self._plan
        positions = plan.mapping.positions(source.header)
        if plan.kind is ImportKind.MEMBERS:
            return MemberRows(
                positions,
                width=len(source.header),
                region=plan.region,
                date_order=plan.date_order,
            )
        return TransactionRows(
            positions,
            width=len(source.header),
            campaigns=plan.campaigns,
            default_campaign=plan.default_campaign,
            date_order=plan.date_order,
        )

    def _entries(
        self, source: CsvSource, settled: _Ranges, leftover: _Ranges
    ) -> Iterator[tuple[int, Entry]]:
        reader = self._reader(source)
        record: Record
        for record in source.records():
            self._records_seen = record.index + 1
            if record.index in settled:
                self.summary.resumed_records += 1
                reader.remember(record.line, record.cells)
                continue
            if record.index in leftover and self._reconciler is None:
                reader.remember(record.line, record.cells)
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
        window: deque[asyncio.Task[ChunkOutcome]] = deque()
        limit = 2 if self._ordered else 2 * max(1, self._plan.concurrency)
        previous: asyncio.Task[ChunkOutcome] | None = None
        try:
            for chunk in chunks:
                doubtful = chunk.first_record in in_doubt
                # Transactions: a chunk goes out once the one before it is answered, so a
                # member's rows reach the platform in file order across chunks too.
                after = previous if self._ordered else None
                task = asyncio.create_task(self._process(chunk, doubtful, after))
                previous = task
                window.append(task)
                while window and (len(window) >= limit or window[0].done()):
                    await self._confirm(window.popleft(), writer)
                if self._halt:
                    break
            while window:
                await self._confirm(window.popleft(), writer)
        except BaseException:
            self._halt = self._halt or "stopped"
            # What is in flight may reach the platform: wait, so it is settled, not in doubt.
            await asyncio.gather(*window, return_exceptions=True)
            raise
        if not self.summary.stopped and self._progress is not None:
            self._progress.finish(self._records_seen)
        if not self.summary.stopped and self._record is not None and self._checkpoints:
            await self._checkpoints.finish(self._record.id, self._records_seen)

    async def _confirm(self, task: asyncio.Task[ChunkOutcome], writer: ReportWriter) -> None:
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
            self._progress.update(rows=self._rows_settled + self.summary.resumed_records)
        if self._on_settled is not None:
            self._on_settled(outcome)

    async def _process(
        self, chunk: Chunk, in_doubt: bool, after: asyncio.Task[ChunkOutcome] | None = None
    ) -> ChunkOutcome:
        lines = [_line(problem) for problem in chunk.problems]
        rows = chunk.rows
        if self._plan.dry_run:
            lines.extend(await self._preview(rows))
            lines.sort(key=lambda line: line.line)
            return ChunkOutcome(chunk, lines)
        checkpoints, record = self._checkpoints, self._record
        assert checkpoints is not None and record is not None and self._sender is not None
        if after is not None:
            await asyncio.wait([after])
        if (in_doubt and self._reconciler is None) or not rows:
            await checkpoints.settle_chunk(
                record.id,
                chunk.first_record,
                chunk.end_record,
                encode_lines(lines),
                state="doubt" if in_doubt else "done",
            )
            return ChunkOutcome(chunk, lines)
        if self._halt:
            return ChunkOutcome(chunk, [], confirmed=False, failure=self._halt)
        state: Literal["done", "doubt"] = "done"
        to_send = list(rows)
        if in_doubt:
            assert self._reconciler is not None
            try:
                async with self._semaphore:
                    decisions = await self._reconciler.decide(rows)
            except (Unavailable, AuthFailed) as exc:
                self._halt = self._halt or _halt_reason(exc)
                return ChunkOutcome(chunk, [], confirmed=False, failure=self._halt)
            to_send = []
            for row, decision in zip(rows, decisions, strict=True):
                if decision.verdict == "missing":
                    to_send.append(row)
                    continue
                lines.append(_decided_line(row, decision))
                if decision.verdict == "undecided":
                    state = "doubt"
        if to_send:

            async def begin() -> None:
                await checkpoints.begin_chunk(record.id, chunk.first_record, chunk.end_record)

            sent = await self._send(to_send, begin)
            if sent.failure is not None:
                if not sent.may_have_landed and not in_doubt:
                    await checkpoints.abandon_chunk(record.id, chunk.first_record)
                # Otherwise the chunk stays "sending": the next run looks its rows up.
                self._halt = self._halt or sent.failure
                return ChunkOutcome(chunk, [], confirmed=False, failure=self._halt, sent=True)
            lines.extend(_matched(to_send, sent.results))
            if sent.doubtful:
                state = "doubt"
        lines.sort(key=lambda line: line.line)
        await checkpoints.settle_chunk(
            record.id, chunk.first_record, chunk.end_record, encode_lines(lines), state=state
        )
        return ChunkOutcome(chunk, lines, sent=bool(to_send))

    async def _preview(self, rows: Sequence[ImportRow]) -> list[ReportLine]:
        """Dry run: each good row is valid; a sender that can look rows up says more."""
        preview = getattr(self._sender, "preview", None)
        notes: list[str] = [""] * len(rows)
        if preview is not None and rows:
            async with self._semaphore:
                notes = await preview(rows)
            for note in notes:
                if note:
                    self.summary.previews[note] += 1
        return [
            ReportLine(row.line, VALID, _code(row), note)
            for row, note in zip(rows, notes, strict=True)
        ]

    def _lanes(self, rows: Sequence[ImportRow]) -> list[list[list[ImportRow]]]:
        """Rows split by member into up to ``concurrency`` lanes (each in file order) and each
        lane into requests; one member's rows all travel in one lane."""
        lanes: list[list[ImportRow]] = [[] for _ in range(self._lane_count)]
        for row in rows:
            member = _code(row).strip().casefold()
            lanes[zlib.crc32(member.encode()) % self._lane_count].append(row)
        limits = self.limits
        pieces: list[list[list[ImportRow]]] = []
        for lane in lanes:
            if not lane:
                continue
            # Lanes come out a little uneven; where the platform sets no ceiling, a lane goes
            # in one request rather than a second, small one costing a round trip.
            size = limits.rows if limits.max_rows is not None else len(lane)
            pieces.append([lane[start : start + size] for start in range(0, len(lane), size)])
        return pieces

    async def _send(
        self, rows: Sequence[ImportRow], begin: Callable[[], Awaitable[None]]
    ) -> _Sent:
        """Send rows (lanes in parallel, each lane's requests in order); one result per row.
        ``begin`` runs once, just before the first request goes out."""
        assert self._sender is not None
        sender = self._sender
        lanes = self._lanes(rows) if self._lane_count > 1 else [[list(rows)]]
        requests = sum(len(lane) for lane in lanes)
        failures: list[str] = []
        unread: list[str] = []
        attempted = 0
        begun = asyncio.Lock()
        started = False

        async def start() -> None:
            nonlocal started
            async with begun:
                if not started:
                    await begin()
                    started = True

        async def lane_results(lane: list[list[ImportRow]]) -> list[ImportResult]:
            nonlocal attempted
            results: list[ImportResult] = []
            for piece in lane:
                if failures:
                    break
                async with self._semaphore:
                    if failures or self._halt:
                        break
                    await start()
                    attempted += 1
                    self.summary.sent_requests += 1
                    try:
                        results.extend(await sender.send(piece))
                    except (Unavailable, AuthFailed) as exc:
                        failures.append(_halt_reason(exc))
                        # Stop the other chunks before they take the semaphore.
                        self._halt = self._halt or failures[0]
                    except ProtocolError as exc:
                        unread.append(exc.message)
                        results.extend(_all_failed(piece, _unread_message(exc, self._reconciler)))
                    except LoyaltyError as exc:
                        results.extend(
                            _all_failed(piece, f"the platform refused the request: {exc.message}")
                        )
                    except ValueError as exc:
                        results.extend(
                            _all_failed(piece, f"not sent: {exc}", ImportOutcome.INVALID)
                        )
            return results

        gathered = await asyncio.gather(*(lane_results(lane) for lane in lanes))
        if failures:
            single = requests == 1 and attempted == 1
            # A timeout or a lost answer may follow a request the platform handled: with a
            # reconciler the chunk stays in doubt and the next run looks its rows up.
            landed = not single or sender_is_multi(sender) or self._reconciler is not None
            return _Sent([], failures[0], may_have_landed=landed)
        if attempted < requests:
            # Stopped between two requests of this chunk: what went out may have landed.
            return _Sent([], self._halt, may_have_landed=attempted > 0)
        flat = [result for results in gathered for result in results]
        return _Sent(flat, doubtful=bool(unread) and self._reconciler is not None)

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


@dataclass(frozen=True)
class _Sent:
    results: list[ImportResult]
    failure: str | None = None
    may_have_landed: bool = False
    """A failed send of which some request may have reached the platform: its chunk stays in
    doubt (looked up by the next run) instead of being sent again as new."""
    doubtful: bool = False
    """Some answer could not be read: the chunk is settled in doubt, so ``--resend-in-doubt``
    looks its rows up."""


def _unread_message(exc: ProtocolError, reconciler: Reconciler | None) -> str:
    message = (
        f"the platform's answer could not be read ({exc.message}); these rows may have been "
        "imported"
    )
    if reconciler is not None:
        message += ": run again with --resend-in-doubt to look them up on the platform"
    return message


def sender_is_multi(sender: ChunkSender) -> bool:
    """Whether one ``send`` may make several requests, so a failure may follow a success."""
    return bool(getattr(sender, "several_requests", False))


def _halt_reason(exc: LoyaltyError) -> str:
    if isinstance(exc, AuthFailed):
        return f"the platform refused the credentials: {exc.message}"
    return f"the platform is unavailable: {exc.message}"


def _decided_line(row: ImportRow, decision: Decision) -> ReportLine:
    outcome = ImportOutcome.FAILED
    if decision.verdict == "present":
        outcome = (
            ImportOutcome.SKIPPED if isinstance(row, MemberImportRow) else ImportOutcome.CREATED
        )
    return ReportLine(row.line, outcome.value, _code(row), decision.message)
