"""Kiosks: who they are (store, hashed secrets, staff PIN lockout), what their staff did, and
walk-in joins in progress.

Only hashes of the pairing code, the kiosk secret and the staff PIN reach the database; the
services decide how to hash and compare them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.storage.database import Repository, Row, from_row
from bot.storage.timestamps import from_text, to_text


@dataclass(frozen=True, slots=True)
class Kiosk:
    id: int
    store: str
    label: str
    created_at: dt.datetime
    pairing_hash: str | None = None
    pairing_expires_at: dt.datetime | None = None
    secret_hash: str | None = None
    pin_hash: str | None = None
    """The kiosk's own staff PIN; ``None`` means the configured default PIN."""
    pin_failures: int = 0
    pin_locked_until: dt.datetime | None = None
    paired_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def paired(self) -> bool:
        return self.secret_hash is not None and not self.revoked


@dataclass(frozen=True, slots=True)
class KioskAction:
    """One thing done at a kiosk: a staff action, a PIN attempt, a walk-in join."""

    kiosk_id: int
    at: dt.datetime
    action: str
    outcome: str
    member_code: str = ""
    campaign_id: str = ""
    detail: Mapping[str, str] = field(default_factory=dict)
    transaction_id: str = ""


@dataclass(frozen=True, slots=True)
class PinAttempt:
    """One claimed staff PIN try: ``allowed`` to check the PIN or not (staff mode locked),
    the wrong tries in a row counting this one, and the lock it is under or has set."""

    allowed: bool
    failures: int
    locked_until: dt.datetime | None


def _moment(text: str | None) -> dt.datetime | None:
    return None if text is None else from_text(text)


def _kiosk_from_row(row: Row) -> Kiosk:
    return from_row(
        Kiosk,
        row,
        moments=(
            "created_at",
            "pairing_expires_at",
            "pin_locked_until",
            "paired_at",
            "revoked_at",
        ),
    )


def _action_from_row(row: Row) -> KioskAction:
    detail = json.loads(row["detail"])
    return from_row(
        KioskAction,
        row,
        moments=("at",),
        detail={str(key): str(value) for key, value in detail.items()},
    )


class Kiosks(Repository):
    async def add(
        self,
        store: str,
        *,
        pairing_hash: str,
        pairing_expires_at: dt.datetime,
        label: str = "",
        pin_hash: str | None = None,
    ) -> Kiosk:
        if not store.strip():
            raise ValueError("a kiosk needs a store")
        row = await self._database.fetch_one(
            "INSERT INTO kiosks (store, label, pairing_hash, pairing_expires_at, pin_hash, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
            (
                store.strip(),
                label,
                pairing_hash,
                to_text(pairing_expires_at),
                pin_hash,
                to_text(self._clock()),
            ),
        )
        assert row is not None
        return _kiosk_from_row(row)

    async def get(self, kiosk_id: int) -> Kiosk | None:
        return await self._database.fetch_one_as(
            _kiosk_from_row, "SELECT * FROM kiosks WHERE id = ?", (kiosk_id,)
        )

    async def all(self) -> list[Kiosk]:
        return await self._database.fetch_all_as(
            _kiosk_from_row, "SELECT * FROM kiosks ORDER BY id"
        )

    async def new_pairing(
        self, kiosk_id: int, pairing_hash: str, expires_at: dt.datetime
    ) -> Kiosk | None:
        """Give a kiosk that is not revoked a fresh pairing code; ``None`` if there is none."""
        return await self._database.fetch_one_as(
            _kiosk_from_row,
            "UPDATE kiosks SET pairing_hash = ?, pairing_expires_at = ? "
            "WHERE id = ? AND revoked_at IS NULL RETURNING *",
            (pairing_hash, to_text(expires_at), kiosk_id),
        )

    async def pair(self, pairing_hash: str, secret_hash: str) -> Kiosk | None:
        """Use a pairing code once: the kiosk it belongs to takes ``secret_hash`` as its secret
        (replacing an earlier one). ``None`` for an unknown, used, expired or revoked code."""
        now = to_text(self._clock())
        return await self._database.fetch_one_as(
            _kiosk_from_row,
            "UPDATE kiosks SET secret_hash = ?, paired_at = ?, pairing_hash = NULL, "
            "pairing_expires_at = NULL WHERE pairing_hash = ? AND pairing_expires_at > ? "
            "AND revoked_at IS NULL RETURNING *",
            (secret_hash, now, pairing_hash, now),
        )

    async def revoke(self, kiosk_id: int) -> bool:
        """Revoke the kiosk: its secret and any pairing code stop working. True if it was live."""
        changed = await self._database.execute(
            "UPDATE kiosks SET revoked_at = ?, secret_hash = NULL, pairing_hash = NULL, "
            "pairing_expires_at = NULL WHERE id = ? AND revoked_at IS NULL",
            (to_text(self._clock()), kiosk_id),
        )
        return changed > 0

    async def set_pin(self, kiosk_id: int, pin_hash: str | None) -> bool:
        changed = await self._database.execute(
            "UPDATE kiosks SET pin_hash = ?, pin_failures = 0, pin_locked_until = NULL "
            "WHERE id = ?",
            (pin_hash, kiosk_id),
        )
        return changed > 0

    async def take_pin_attempt(
        self, kiosk_id: int, *, max_failures: int, now: dt.datetime, lock_until: dt.datetime
    ) -> PinAttempt:
        """Claim one PIN try before the PIN is checked, in one write transaction, so parallel
        tries are counted one after the other. A try is counted as wrong until
        ``clear_pin_failures``; the ``max_failures``-th in a row locks staff mode until
        ``lock_until`` (it is still checked) and starts the count again."""
        async with self._database.transaction() as tx:
            row = await tx.fetch_one(
                "SELECT pin_failures, pin_locked_until FROM kiosks WHERE id = ?", (kiosk_id,)
            )
            if row is None:
                return PinAttempt(allowed=False, failures=0, locked_until=None)
            locked_until = _moment(row["pin_locked_until"])
            if locked_until is not None and locked_until > now:
                return PinAttempt(allowed=False, failures=0, locked_until=locked_until)
            failures = row["pin_failures"] + 1
            if failures >= max_failures:
                await tx.execute(
                    "UPDATE kiosks SET pin_failures = 0, pin_locked_until = ? WHERE id = ?",
                    (to_text(lock_until), kiosk_id),
                )
                return PinAttempt(allowed=True, failures=failures, locked_until=lock_until)
            await tx.execute(
                "UPDATE kiosks SET pin_failures = ?, pin_locked_until = NULL WHERE id = ?",
                (failures, kiosk_id),
            )
            return PinAttempt(allowed=True, failures=failures, locked_until=None)

    async def clear_pin_failures(self, kiosk_id: int) -> None:
        await self._database.execute(
            "UPDATE kiosks SET pin_failures = 0, pin_locked_until = NULL WHERE id = ?",
            (kiosk_id,),
        )

    async def log(self, action: KioskAction) -> None:
        await self._database.execute(
            "INSERT INTO kiosk_actions (kiosk_id, at, action, outcome, member_code, "
            "campaign_id, detail, transaction_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                action.kiosk_id,
                to_text(action.at),
                action.action,
                action.outcome,
                action.member_code,
                action.campaign_id,
                json.dumps(dict(action.detail), sort_keys=True),
                action.transaction_id,
            ),
        )

    async def actions(self, kiosk_id: int | None = None, *, limit: int = 50) -> list[KioskAction]:
        """The latest actions, newest first; of one kiosk or of all."""
        return await self._database.fetch_all_as(
            _action_from_row,
            "SELECT * FROM kiosk_actions WHERE (CAST(? AS BIGINT) IS NULL OR kiosk_id = ?) "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (kiosk_id, kiosk_id, limit),
        )

    async def start_join(self, kiosk_id: int, contact: str, member_code: str) -> str:
        """The member code of a walk-in join of ``contact`` at this kiosk: the one chosen by an
        earlier, unfinished try, else ``member_code``."""
        async with self._database.transaction() as tx:
            row = await tx.fetch_one(
                "SELECT member_code FROM kiosk_joins WHERE kiosk_id = ? AND contact = ?",
                (kiosk_id, contact),
            )
            if row is not None:
                return str(row["member_code"])
            await tx.execute(
                "INSERT INTO kiosk_joins (kiosk_id, contact, member_code, created_at) "
                "VALUES (?, ?, ?, ?)",
                (kiosk_id, contact, member_code, to_text(self._clock())),
            )
        return member_code

    async def finish_join(self, kiosk_id: int, contact: str) -> None:
        await self._database.execute(
            "DELETE FROM kiosk_joins WHERE kiosk_id = ? AND contact = ?", (kiosk_id, contact)
        )

    async def remember_served_port(self, port: int) -> None:
        """The port the running web server (kiosk pages) listens on, for the CLI's links."""
        await self._database.execute(
            "INSERT INTO web_server (id, port, started_at) VALUES (1, ?, ?) ON CONFLICT (id) "
            "DO UPDATE SET port = excluded.port, started_at = excluded.started_at",
            (port, to_text(self._clock())),
        )

    async def served_port(self) -> int | None:
        """The port of the last web server started on this database, if any."""
        row = await self._database.fetch_one("SELECT port FROM web_server WHERE id = 1")
        return None if row is None else int(row["port"])

    async def forget_joins_before(self, moment: dt.datetime) -> int:
        """Drop unfinished joins started before ``moment`` (and the contacts they hold)."""
        return await self._database.execute(
            "DELETE FROM kiosk_joins WHERE created_at < ?", (to_text(moment),)
        )
