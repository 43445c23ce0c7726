"""Cutting the stream of checked rows into requests that fit the platform's limits.

A chunk covers a contiguous range of records (``first_record`` up to, not including,
``end_record``), good and bad rows alike: the checkpoint confirms whole ranges, so after a resume
the same record is never sent twice. A chunk also never spans a gap left by records an earlier
run already settled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field

from bot.importing.validation import ImportRow, RowProblem
from bot.loyalty.altcraft.wire import MAX_BATCH_ROWS, MAX_BODY_BYTES
from bot.loyalty.models import MemberImportRow

CLIENTTOOLBOX_DEFAULT_ROWS = 500
"""Rows per chunk for calls that have no batch form (Altcraft transactions go row by row)."""
"""Rows per Client Toolbox batch request when ``--chunk-size`` is not given: the API documents
no limit; 500 keeps one request's work (and one lost request on a failure) small while the
per-request overhead stays negligible (see ``bench/import_throughput.py``)."""
DEFAULT_ROWS = 500
"""Rows per chunk for calls that have no batch form (Altcraft transactions go row by row)."""


@dataclass(frozen=True, slots=True)
class ChunkLimits:
    rows: int
    """Rows per request."""
    max_rows: int | None = None
    """The platform's ceiling on rows per request; ``None``: none documented."""
    bytes: int | None = None
    """Upper bound of a request body, estimated per row with ``row_size``; ``None``: no limit."""

    def sized(self, rows: int | None) -> ChunkLimits:
        """These limits with ``rows`` per request (``None``: the default), within the ceiling."""
        if rows is None:
            return self
        ceiling = self.max_rows if self.max_rows is not None else rows
        return ChunkLimits(max(1, min(rows, ceiling)), self.max_rows, self.bytes)


CLIENTTOOLBOX_LIMITS = ChunkLimits(rows=CLIENTTOOLBOX_DEFAULT_ROWS)
# A margin under 10 MB for the envelope (token, program id, matching) and the size estimate.
ALTCRAFT_LIMITS = ChunkLimits(
    rows=MAX_BATCH_ROWS, max_rows=MAX_BATCH_ROWS, bytes=MAX_BODY_BYTES * 95 // 100
)


def altcraft_member_size(row: ImportRow) -> int:
    """Bytes a member takes in a ``register_member_batch`` body, on the generous side (XML)."""
    if not isinstance(row, MemberImportRow):
        return 256
    values = [row.code, row.card_number, row.phone, row.email]
    item = {"field_name": "card_number", "field_value": max(values, key=len)}
    # XML repeats every tag name; JSON escapes non-ASCII as up to 12 bytes: count both worst.
    return 2 * len(json.dumps(item)) + 64


Entry = ImportRow | RowProblem


@dataclass(slots=True)
class Chunk:
    number: int
    first_record: int
    end_record: int
    entries: list[Entry] = field(default_factory=list)

    @property
    def rows(self) -> list[ImportRow]:
        return [entry for entry in self.entries if not isinstance(entry, RowProblem)]

    @property
    def problems(self) -> list[RowProblem]:
        return [entry for entry in self.entries if isinstance(entry, RowProblem)]

    @property
    def lines(self) -> tuple[int, int]:
        return self.entries[0].line, self.entries[-1].line


def make_chunks(
    entries: Iterable[tuple[int, Entry]],
    limits: ChunkLimits,
    row_size: Callable[[ImportRow], int] | None = None,
    boundaries: Container[int] = frozenset(),
    unsplit: Callable[[int], bool] | None = None,
) -> Iterator[Chunk]:
    """Group ``(record index, entry)`` pairs into chunks of at most ``limits.rows`` rows and
    (with ``row_size``) at most ``limits.bytes`` estimated bytes of rows to send. Rows refused
    by validation ride along (they count as rows, so a chunk stays small) but are never sent.
    A chunk never runs across a record index in ``boundaries``: one starts there. Records for
    which ``unsplit`` is true (called once per record, in order) are never split by size."""
    number = 0
    current: Chunk | None = None
    size = 0
    for index, entry in entries:
        cost = 0
        if row_size is not None and not isinstance(entry, RowProblem):
            cost = row_size(entry)
        keep = unsplit is not None and unsplit(index)
        if current is not None and (
            index != current.end_record
            or index in boundaries
            or (
                not keep
                and (
                    len(current.entries) >= limits.rows
                    or (limits.bytes is not None and size and size + cost > limits.bytes)
                )
            )
        ):
            yield current
            current = None
        if current is None:
            current = Chunk(number, index, index)
            number += 1
            size = 0
        current.entries.append(entry)
        current.end_record = index + 1
        size += cost
    if current is not None:
        yield current
