"""Cutting the stream of checked rows into requests that fit the platform's limits.

A chunk covers a contiguous range of records (``first_record`` up to, not including,
``end_record``), good and bad rows alike: the checkpoint confirms whole ranges, so after a resume
the same record is never sent twice. A chunk also never spans a gap left by records an earlier
run already settled.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field

from bot.importing.validation import ImportRow, RowProblem
from bot.loyalty.platform import ChunkLimits

__all__ = ["Chunk", "ChunkLimits", "Entry", "make_chunks"]

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
