"""The POS API's clients, the requests they made (by idempotency key) and signatures seen.

A client's secret is never stored: only its SHA-256 (``secret_hash``). A request is kept
under ``(client, idempotency key)``: ``pending`` while it is sent to the platform, ``doubt``
when no answer came (the platform is asked for its ``marker`` before anything is sent
again), ``done`` with the answer given, which the same key gets again.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from bot.storage.database import Repository, Row, from_row
from bot.storage.timestamps import to_text


@dataclass(frozen=True, slots=True)
class ApiClient:
    id: int
    name: str
    key_id: str
    secret_hash: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class ApiRequest:
    client_id: int
    idempotency_key: str
    request_digest: str
    state: str
    marker: str
    status: int | None
    response: dict[str, Any] | None
    updated_at: dt.datetime


def _client(row: Row) -> ApiClient:
    return from_row(ApiClient, row, moments=("created_at", "revoked_at"), id=int(row["id"]))


def _request(row: Row) -> ApiRequest:
    return from_row(
        ApiRequest,
        row,
        moments=("updated_at",),
        client_id=int(row["client_id"]),
        response=None if row["response"] is None else json.loads(row["response"]),
    )


class ApiClients(Repository):
    async def add(self, name: str, key_id: str, secret_hash: str) -> ApiClient:
        row = await self._database.fetch_one(
            "INSERT INTO api_clients (name, key_id, secret_hash, created_at) "
            "VALUES (?, ?, ?, ?) RETURNING *",
            (name, key_id, secret_hash, to_text(self._clock())),
        )
        assert row is not None
        return _client(row)

    async def active_named(self, name: str) -> ApiClient | None:
        return await self._database.fetch_one_as(
            _client, "SELECT * FROM api_clients WHERE name = ? AND revoked_at IS NULL", (name,)
        )

    async def by_key_id(self, key_id: str) -> ApiClient | None:
        return await self._database.fetch_one_as(
            _client, "SELECT * FROM api_clients WHERE key_id = ?", (key_id,)
        )

    async def all(self) -> list[ApiClient]:
        return await self._database.fetch_all_as(_client, "SELECT * FROM api_clients ORDER BY id")

    async def revoke(self, name_or_key: str) -> bool:
        """Revoke the active client of that name or key id; True if one was."""
        return (
            await self._database.execute(
                "UPDATE api_clients SET revoked_at = ? WHERE revoked_at IS NULL "
                "AND (name = ? OR key_id = ?)",
                (to_text(self._clock()), name_or_key, name_or_key),
            )
            > 0
        )

    async def first_use_of(self, client_id: int, signature: str, keep: dt.timedelta) -> bool:
        """Record a request's signature; False if it was seen before (a replay). Signatures
        older than ``keep`` (their timestamps are refused anyway) are forgotten."""
        now = self._clock()
        async with self._database.transaction() as tx:
            await tx.execute(
                "DELETE FROM api_signatures WHERE seen_at < ?", (to_text(now - keep),)
            )
            row = await tx.fetch_one(
                "INSERT INTO api_signatures (client_id, signature, seen_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING RETURNING signature",
                (client_id, signature, to_text(now)),
            )
        return row is not None


class ApiRequests(Repository):
    async def begin(
        self, client_id: int, key: str, digest: str, marker: str, *, stale_after: dt.timedelta
    ) -> tuple[ApiRequest, bool, bool]:
        """Take the request of ``key`` for sending; returns it, whether the caller now holds
        it (new, or in doubt, or pending for longer than ``stale_after``: its sender is
        gone) and whether it is new. Otherwise it is ``done`` or being sent elsewhere."""
        now = self._clock()
        async with self._database.transaction() as tx:
            row = await tx.fetch_one(
                "INSERT INTO api_requests (client_id, idempotency_key, request_digest, state, "
                "marker, created_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?, ?) "
                "ON CONFLICT DO NOTHING RETURNING *",
                (client_id, key, digest, marker, to_text(now), to_text(now)),
            )
            if row is not None:
                return _request(row), True, True
            row = await tx.fetch_one(
                "UPDATE api_requests SET state = 'pending', updated_at = ? "
                "WHERE client_id = ? AND idempotency_key = ? AND request_digest = ? AND "
                "(state = 'doubt' OR (state = 'pending' AND updated_at < ?)) RETURNING *",
                (to_text(now), client_id, key, digest, to_text(now - stale_after)),
            )
            if row is not None:
                return _request(row), True, False
            row = await tx.fetch_one(
                "SELECT * FROM api_requests WHERE client_id = ? AND idempotency_key = ?",
                (client_id, key),
            )
        assert row is not None
        return _request(row), False, False

    async def finish(
        self, client_id: int, key: str, status: int, response: dict[str, Any]
    ) -> None:
        await self._database.execute(
            "UPDATE api_requests SET state = 'done', status = ?, response = ?, updated_at = ? "
            "WHERE client_id = ? AND idempotency_key = ?",
            (status, json.dumps(response), to_text(self._clock()), client_id, key),
        )

    async def in_doubt(self, client_id: int, key: str) -> None:
        await self._database.execute(
            "UPDATE api_requests SET state = 'doubt', updated_at = ? "
            "WHERE client_id = ? AND idempotency_key = ?",
            (to_text(self._clock()), client_id, key),
        )

    async def drop(self, client_id: int, key: str) -> None:
        """Forget a request that recorded nothing (refused before the platform took it)."""
        await self._database.execute(
            "DELETE FROM api_requests WHERE client_id = ? AND idempotency_key = ? "
            "AND state = 'pending'",
            (client_id, key),
        )

    async def count(self) -> int:
        row = await self._database.fetch_one("SELECT count(*) FROM api_requests")
        return 0 if row is None else int(row[0])
