"""Checkpoints of bulk imports: which record ranges of a file are settled, and their outcomes.

An import is keyed by what identifies the file and the job (path, size, mtime, a hash of the
first bytes, kind, mapping, target platform). Each chunk is written ``sending`` before its
request and ``done`` (with its report lines) once the answer is in, so a chunk confirmed once is
never sent again; ``confirmed_records`` only ever moves over a contiguous prefix of settled
chunks. A ``sending`` chunk found by a later run was cut off mid-request: whether the platform
took it is unknown, so the import looks its rows up before sending any again, and marks it
``doubt`` when some row cannot be decided.
Report lines hold line numbers, outcomes, member codes and messages; nothing ties them to a
Telegram user. A message about a refused value quotes it, as the report file does; ``discard``
(``--restart``) removes an import with its lines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from bot.storage.database import Repository, Row, Transaction, from_row
from bot.storage.timestamps import to_text

ChunkState = Literal["sending", "done", "doubt"]
_SETTLED = ("done", "doubt")
_RESULT_PAGE = 8


@dataclass(frozen=True, slots=True)
class ImportRecord:
    id: int
    key: str
    kind: str
    source: str
    options: str
    """The options of the first run, as JSON (a resumed run compares its own with these)."""
    confirmed_records: int
    total_records: int | None
    started_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ChunkRange:
    first_record: int
    end_record: int
    state: ChunkState


def _import_from_row(row: Row) -> ImportRecord:
    return from_row(ImportRecord, row, moments=("started_at", "updated_at", "finished_at"))


class ImportCheckpoints(Repository):
    async def get(self, key: str) -> ImportRecord | None:
        return await self._database.fetch_one_as(
            _import_from_row, "SELECT * FROM imports WHERE key = ?", (key,)
        )

    async def of_source(self, source: str, kind: str) -> list[ImportRecord]:
        """Every import of this file path and kind, whatever its key, oldest first."""
        return await self._database.fetch_all_as(
            _import_from_row,
            "SELECT * FROM imports WHERE source = ? AND kind = ? ORDER BY id",
            (source, kind),
        )

    async def start(
        self, key: str, *, kind: str, source: str, options: str
    ) -> tuple[ImportRecord, bool]:
        """The import with this key, created if new; ``True`` when it already existed."""
        now = to_text(self._clock())
        async with self._database.transaction() as tx:
            row = await tx.fetch_one("SELECT * FROM imports WHERE key = ?", (key,))
            if row is not None:
                return _import_from_row(row), True
            row = await tx.fetch_one(
                "INSERT INTO imports (key, kind, source, options, started_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
                (key, kind, source, options, now, now),
            )
        assert row is not None
        return _import_from_row(row), False

    async def discard(self, key: str) -> bool:
        """Forget an import and its chunks (``--restart``); whether there was one."""
        async with self._database.transaction() as tx:
            row = await tx.fetch_one("SELECT id FROM imports WHERE key = ?", (key,))
            if row is None:
                return False
            await tx.execute("DELETE FROM import_chunks WHERE import_id = ?", (row["id"],))
            await tx.execute("DELETE FROM imports WHERE id = ?", (row["id"],))
        return True

    async def ranges(self, import_id: int) -> list[ChunkRange]:
        rows = await self._database.fetch_all(
            "SELECT first_record, end_record, state FROM import_chunks WHERE import_id = ? "
            "ORDER BY first_record",
            (import_id,),
        )
        return [ChunkRange(row[0], row[1], row[2]) for row in rows]

    async def reopen_doubtful(self, import_id: int) -> int:
        """Make chunks in doubt (or cut off mid-request) pending again, to be sent once more;
        returns how many records that reopens."""
        async with self._database.transaction() as tx:
            rows = await tx.fetch_all(
                "SELECT first_record, end_record FROM import_chunks "
                "WHERE import_id = ? AND state IN ('doubt', 'sending')",
                (import_id,),
            )
            if not rows:
                return 0
            await tx.execute(
                "DELETE FROM import_chunks WHERE import_id = ? AND state IN ('doubt', 'sending')",
                (import_id,),
            )
            lowest = min(row[0] for row in rows)
            await tx.execute(
                "UPDATE imports SET confirmed_records = CASE WHEN confirmed_records < ? "
                "THEN confirmed_records ELSE ? END, finished_at = NULL, updated_at = ? "
                "WHERE id = ?",
                (lowest, lowest, to_text(self._clock()), import_id),
            )
        return sum(row[1] - row[0] for row in rows)

    async def begin_chunk(self, import_id: int, first_record: int, end_record: int) -> None:
        """Note that a chunk's request is about to go out."""
        await self._database.execute(
            "INSERT INTO import_chunks (import_id, first_record, end_record, state, updated_at) "
            "VALUES (?, ?, ?, 'sending', ?) ON CONFLICT (import_id, first_record) DO UPDATE SET "
            "end_record = excluded.end_record, state = 'sending', results = '[]', "
            "updated_at = excluded.updated_at",
            (import_id, first_record, end_record, to_text(self._clock())),
        )

    async def abandon_chunk(self, import_id: int, first_record: int) -> None:
        """The chunk's request surely did not go through: leave its records to a later run."""
        await self._database.execute(
            "DELETE FROM import_chunks WHERE import_id = ? AND first_record = ? "
            "AND state = 'sending'",
            (import_id, first_record),
        )

    async def settle_chunk(
        self,
        import_id: int,
        first_record: int,
        end_record: int,
        results: str,
        *,
        state: Literal["done", "doubt"] = "done",
    ) -> int:
        """Record a chunk's outcome (JSON report lines) and move the checkpoint over every
        contiguous settled chunk; returns the new ``confirmed_records``."""
        now = to_text(self._clock())
        async with self._database.transaction() as tx:
            await tx.execute(
                "INSERT INTO import_chunks "
                "(import_id, first_record, end_record, state, results, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (import_id, first_record) DO UPDATE SET "
                "end_record = excluded.end_record, state = excluded.state, "
                "results = excluded.results, updated_at = excluded.updated_at",
                (import_id, first_record, end_record, state, results, now),
            )
            return await self._advance(tx, import_id, now)

    async def _advance(self, tx: Transaction, import_id: int, now: str) -> int:
        row = await tx.fetch_one(
            "SELECT confirmed_records FROM imports WHERE id = ?", (import_id,)
        )
        if row is None:
            raise LookupError(f"no import {import_id}")
        confirmed = int(row[0])
        following = await tx.fetch_all(
            "SELECT first_record, end_record FROM import_chunks "
            "WHERE import_id = ? AND first_record >= ? AND state IN (?, ?) "
            "ORDER BY first_record",
            (import_id, confirmed, *_SETTLED),
        )
        moved = confirmed
        for first, end in following:
            if first != moved:
                break
            moved = end
        if moved != confirmed:
            await tx.execute(
                "UPDATE imports SET confirmed_records = ?, updated_at = ? WHERE id = ?",
                (moved, now, import_id),
            )
        return moved

    async def finish(self, import_id: int, total_records: int) -> ImportRecord:
        """Every record of the file is settled: note the total and the time."""
        now = to_text(self._clock())
        row = await self._database.fetch_one(
            "UPDATE imports SET total_records = ?, finished_at = COALESCE(finished_at, ?), "
            "updated_at = ? WHERE id = ? RETURNING *",
            (total_records, now, now, import_id),
        )
        if row is None:
            raise LookupError(f"no import {import_id}")
        return _import_from_row(row)

    async def results(self, import_id: int) -> AsyncIterator[str]:
        """Each settled chunk's report lines (JSON), in file order, a few chunks at a time."""
        after = -1
        while True:
            rows = await self._database.fetch_all(
                "SELECT first_record, results FROM import_chunks "
                "WHERE import_id = ? AND first_record > ? AND state IN (?, ?) "
                "ORDER BY first_record LIMIT ?",
                (import_id, after, *_SETTLED, _RESULT_PAGE),
            )
            if not rows:
                return
            for row in rows:
                yield row["results"]
            after = rows[-1]["first_record"]
