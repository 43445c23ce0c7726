"""The sandbox's state in SQLite: profile databases, programs, members, points and tasks.

Only this module writes SQL. Amounts are stored as decimal text, times as RFC 3339 UTC text
(``2024-09-01T12:34:56Z``), so text order is time order.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS databases (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS profiles (
    id TEXT PRIMARY KEY,
    db_id INTEGER NOT NULL REFERENCES databases (id),
    email TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS profiles_email ON profiles (db_id, email);
CREATE TABLE IF NOT EXISTS profile_phones (
    profile_id TEXT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    PRIMARY KEY (profile_id, phone)
);
CREATE INDEX IF NOT EXISTS profile_phones_phone ON profile_phones (phone);
CREATE TABLE IF NOT EXISTS profile_fields (
    profile_id TEXT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    lookup TEXT NOT NULL,
    PRIMARY KEY (profile_id, name)
);
CREATE INDEX IF NOT EXISTS profile_fields_lookup ON profile_fields (name, lookup);
CREATE TABLE IF NOT EXISTS programs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    db_id INTEGER NOT NULL REFERENCES databases (id),
    is_active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS currencies (
    iid INTEGER PRIMARY KEY,
    program_id INTEGER NOT NULL REFERENCES programs (id),
    eid TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'standard' CHECK (kind IN ('standard', 'qualification')),
    initial_balance TEXT NOT NULL DEFAULT '0',
    UNIQUE (program_id, eid)
);
CREATE TABLE IF NOT EXISTS members (
    program_id INTEGER NOT NULL REFERENCES programs (id),
    profile_id TEXT NOT NULL REFERENCES profiles (id),
    registered_at TEXT NOT NULL,
    PRIMARY KEY (program_id, profile_id)
);
CREATE TABLE IF NOT EXISTS transactions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    eid TEXT,
    program_id INTEGER NOT NULL REFERENCES programs (id),
    profile_id TEXT NOT NULL REFERENCES profiles (id),
    currency_iid INTEGER NOT NULL REFERENCES currencies (iid),
    type TEXT NOT NULL CHECK (type IN ('accrual', 'redemption', 'cancel')),
    amount TEXT NOT NULL,
    balance_before TEXT NOT NULL,
    balance_after TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'temp', 'cancelled', 'rolled_back')),
    temp_deadline TEXT,
    activation_date TEXT,
    expiration_date TEXT,
    created_at TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    external_data TEXT,
    cancels TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS transactions_eid ON transactions (program_id, eid)
    WHERE eid IS NOT NULL;
CREATE INDEX IF NOT EXISTS transactions_account
    ON transactions (program_id, profile_id, currency_iid, seq);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    program_id INTEGER NOT NULL,
    matching TEXT NOT NULL,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    rows TEXT NOT NULL,
    result TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL
);
"""


def stamp(moment: dt.datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def now_stamp() -> str:
    return stamp(dt.datetime.now(dt.UTC))


def amount_text(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _lookup_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Program:
    id: int
    name: str
    db_id: int


@dataclass(frozen=True)
class Currency:
    iid: int
    eid: str
    name: str
    initial_balance: Decimal


@dataclass(frozen=True)
class LedgerRow:
    seq: int
    id: str
    eid: str | None
    profile_id: str
    currency_iid: int
    type: str
    amount: Decimal
    balance_before: Decimal
    balance_after: Decimal
    status: str
    temp_deadline: str | None
    activation_date: str | None
    expiration_date: str | None
    created_at: str
    description: str
    cancels: str | None


@dataclass(frozen=True)
class Task:
    id: str
    program_id: int
    matching: str
    status: str
    progress: int
    rows: list[dict[str, Any]]
    result: list[dict[str, Any]]


class AltcraftStore:
    def __init__(self, path: str | Path = ":memory:") -> None:
        self._db = sqlite3.connect(str(path))
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def ensure_account(
        self,
        *,
        token: str,
        db_id: int,
        db_name: str,
        program_id: int,
        program_name: str,
        currency_iid: int,
        currency_eid: str,
        currency_name: str,
    ) -> None:
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO tokens (token) VALUES (?)", (token,))
            self._db.execute(
                "INSERT OR IGNORE INTO databases (id, name) VALUES (?, ?)", (db_id, db_name)
            )
            self._db.execute(
                "INSERT OR IGNORE INTO programs (id, name, db_id) VALUES (?, ?, ?)",
                (program_id, program_name, db_id),
            )
            self._db.execute(
                "INSERT OR IGNORE INTO currencies (iid, program_id, eid, name) "
                "VALUES (?, ?, ?, ?)",
                (currency_iid, program_id, currency_eid, currency_name),
            )

    def has_profile(self, profile_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM profiles WHERE id = ?", (profile_id,)).fetchone()
        return row is not None

    def token_known(self, token: str) -> bool:
        row = self._db.execute("SELECT 1 FROM tokens WHERE token = ?", (token,)).fetchone()
        return row is not None

    def database_exists(self, db_id: int) -> bool:
        row = self._db.execute("SELECT 1 FROM databases WHERE id = ?", (db_id,)).fetchone()
        return row is not None

    def count_profiles(self, db_id: int) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM profiles WHERE db_id = ?", (db_id,)
        ).fetchone()
        return int(row[0])

    def profile_by_email(self, db_id: int, email: str) -> str | None:
        row = self._db.execute(
            "SELECT id FROM profiles WHERE db_id = ? AND email = ? ORDER BY rowid LIMIT 1",
            (db_id, email.strip().lower()),
        ).fetchone()
        return None if row is None else str(row["id"])

    def profile_by_phone(self, db_id: int, phone: str) -> str | None:
        row = self._db.execute(
            "SELECT p.id FROM profiles p JOIN profile_phones ph ON ph.profile_id = p.id "
            "WHERE p.db_id = ? AND ph.phone = ? ORDER BY p.rowid LIMIT 1",
            (db_id, phone.strip()),
        ).fetchone()
        return None if row is None else str(row["id"])

    def profile_by_id(self, db_id: int, profile_id: str) -> str | None:
        row = self._db.execute(
            "SELECT id FROM profiles WHERE db_id = ? AND id = ?", (db_id, profile_id)
        ).fetchone()
        return None if row is None else str(row["id"])

    def profile_by_field(self, db_id: int, name: str, value: Any) -> str | None:
        row = self._db.execute(
            "SELECT p.id FROM profiles p JOIN profile_fields f ON f.profile_id = p.id "
            "WHERE p.db_id = ? AND f.name = ? AND f.lookup = ? ORDER BY p.rowid LIMIT 1",
            (db_id, name, _lookup_text(value)),
        ).fetchone()
        return None if row is None else str(row["id"])

    def add_profile(
        self, db_id: int, fields: Mapping[str, Any], profile_id: str | None = None
    ) -> str:
        new_id = profile_id or secrets.token_hex(12)
        with self._db:
            self._db.execute(
                "INSERT INTO profiles (id, db_id, created_at) VALUES (?, ?, ?)",
                (new_id, db_id, now_stamp()),
            )
            self._write_fields(new_id, fields)
        return new_id

    def update_profile(self, profile_id: str, fields: Mapping[str, Any]) -> None:
        with self._db:
            self._write_fields(profile_id, fields)

    def _write_fields(self, profile_id: str, fields: Mapping[str, Any]) -> None:
        for name, value in fields.items():
            if name in ("id", "db_id", "subscriptions"):
                continue
            if value is None:
                self._db.execute(
                    "DELETE FROM profile_fields WHERE profile_id = ? AND name = ?",
                    (profile_id, name),
                )
            else:
                self._db.execute(
                    "INSERT INTO profile_fields (profile_id, name, value, lookup) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (profile_id, name) "
                    "DO UPDATE SET value = excluded.value, lookup = excluded.lookup",
                    (profile_id, name, json.dumps(value), _lookup_text(value)),
                )
            if name == "email":
                email = "" if value is None else str(value).strip().lower()
                self._db.execute("UPDATE profiles SET email = ? WHERE id = ?", (email, profile_id))
            if name == "phones":
                phones = value if isinstance(value, list) else [] if value is None else [value]
                self._db.execute("DELETE FROM profile_phones WHERE profile_id = ?", (profile_id,))
                self._db.executemany(
                    "INSERT OR IGNORE INTO profile_phones (profile_id, phone) VALUES (?, ?)",
                    [(profile_id, str(phone).strip()) for phone in phones if str(phone).strip()],
                )

    def profile_fields(self, profile_id: str) -> dict[str, Any]:
        profile = self._db.execute(
            "SELECT id, db_id, created_at FROM profiles WHERE id = ?", (profile_id,)
        ).fetchone()
        fields: dict[str, Any] = {
            str(row["name"]): json.loads(row["value"])
            for row in self._db.execute(
                "SELECT name, value FROM profile_fields WHERE profile_id = ? ORDER BY name",
                (profile_id,),
            )
        }
        fields.setdefault("phones", [])
        fields.update(
            id=profile["id"],
            db_id=profile["db_id"],
            _createtime=profile["created_at"],
            subscriptions=[],
        )
        return fields

    def program(self, program_id: int) -> Program | None:
        row = self._db.execute(
            "SELECT id, name, db_id FROM programs WHERE id = ?", (program_id,)
        ).fetchone()
        return (
            None if row is None else Program(int(row["id"]), str(row["name"]), int(row["db_id"]))
        )

    def currency(
        self, program_id: int, *, eid: str | None = None, iid: int | None = None
    ) -> Currency | None:
        query = "SELECT iid, eid, name, initial_balance FROM currencies WHERE program_id = ?"
        params: list[Any] = [program_id]
        if iid is not None:
            query += " AND iid = ?"
            params.append(iid)
        elif eid:
            query += " AND eid = ?"
            params.append(eid)
        else:
            query += " AND kind = 'standard'"
        row = self._db.execute(query + " ORDER BY iid LIMIT 1", params).fetchone()
        if row is None:
            return None
        return Currency(
            int(row["iid"]), str(row["eid"]), str(row["name"]), Decimal(row["initial_balance"])
        )

    def currencies(self, program_id: int) -> list[Currency]:
        return [
            Currency(int(r["iid"]), str(r["eid"]), str(r["name"]), Decimal(r["initial_balance"]))
            for r in self._db.execute(
                "SELECT iid, eid, name, initial_balance FROM currencies WHERE program_id = ?",
                (program_id,),
            )
        ]

    def is_member(self, program_id: int, profile_id: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM members WHERE program_id = ? AND profile_id = ?",
            (program_id, profile_id),
        ).fetchone()
        return row is not None

    def add_member(self, program_id: int, profile_id: str, registered_at: str) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO members (program_id, profile_id, registered_at) VALUES (?, ?, ?)",
                (program_id, profile_id, registered_at),
            )

    def remove_member(self, program_id: int, profile_id: str) -> None:
        with self._db:
            self._db.execute(
                "DELETE FROM members WHERE program_id = ? AND profile_id = ?",
                (program_id, profile_id),
            )

    def ledger(self, program_id: int, profile_id: str, currency_iid: int) -> Iterable[LedgerRow]:
        rows = self._db.execute(
            "SELECT * FROM transactions WHERE program_id = ? AND profile_id = ? "
            "AND currency_iid = ? ORDER BY seq",
            (program_id, profile_id, currency_iid),
        )
        return [_ledger_row(row) for row in rows]

    def transactions_after(
        self,
        program_id: int,
        profile_id: str,
        currency_iid: int,
        after_seq: int,
        limit: int,
    ) -> list[LedgerRow]:
        rows = self._db.execute(
            "SELECT * FROM transactions WHERE program_id = ? AND profile_id = ? "
            "AND currency_iid = ? AND seq > ? ORDER BY seq LIMIT ?",
            (program_id, profile_id, currency_iid, after_seq, limit),
        )
        return [_ledger_row(row) for row in rows]

    def count_transactions(self, program_id: int, profile_id: str, currency_iid: int) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) AS n FROM transactions WHERE program_id = ? AND profile_id = ? "
            "AND currency_iid = ?",
            (program_id, profile_id, currency_iid),
        ).fetchone()
        return int(row["n"])

    def transaction(
        self, *, transaction_id: str | None = None, eid: str | None = None
    ) -> tuple[int, LedgerRow] | None:
        if transaction_id:
            row = self._db.execute(
                "SELECT * FROM transactions WHERE id = ?", (transaction_id,)
            ).fetchone()
        else:
            row = self._db.execute(
                "SELECT * FROM transactions WHERE eid = ? ORDER BY seq LIMIT 1", (eid,)
            ).fetchone()
        return None if row is None else (int(row["program_id"]), _ledger_row(row))

    def eid_taken(self, program_id: int, eid: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM transactions WHERE program_id = ? AND eid = ?", (program_id, eid)
        ).fetchone()
        return row is not None

    def add_transaction(
        self,
        *,
        program_id: int,
        profile_id: str,
        currency_iid: int,
        type: str,
        amount: Decimal,
        balance_before: Decimal,
        balance_after: Decimal,
        status: str = "active",
        eid: str | None = None,
        temp_deadline: str | None = None,
        activation_date: str | None = None,
        expiration_date: str | None = None,
        created_at: str | None = None,
        description: str = "",
        external_data: Any = None,
        cancels: str | None = None,
    ) -> str:
        transaction_id = str(uuid.uuid4())
        with self._db:
            self._db.execute(
                "INSERT INTO transactions (id, eid, program_id, profile_id, currency_iid, type, "
                "amount, balance_before, balance_after, status, temp_deadline, activation_date, "
                "expiration_date, created_at, description, external_data, cancels) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    transaction_id,
                    eid,
                    program_id,
                    profile_id,
                    currency_iid,
                    type,
                    amount_text(amount),
                    amount_text(balance_before),
                    amount_text(balance_after),
                    status,
                    temp_deadline,
                    activation_date,
                    expiration_date,
                    created_at or now_stamp(),
                    description,
                    None if external_data is None else json.dumps(external_data),
                    cancels,
                ),
            )
        return transaction_id

    def set_status(self, transaction_id: str, status: str) -> None:
        with self._db:
            self._db.execute(
                "UPDATE transactions SET status = ? WHERE id = ?", (status, transaction_id)
            )

    def create_task(self, program_id: int, matching: str, rows: list[dict[str, Any]]) -> str:
        task_id = str(uuid.uuid4())
        with self._db:
            self._db.execute(
                "INSERT INTO tasks (id, program_id, matching, status, rows, created_at) "
                "VALUES (?, ?, ?, 'queued', ?, ?)",
                (task_id, program_id, matching, json.dumps(rows), now_stamp()),
            )
        return task_id

    def append_task_rows(self, task_id: str, rows: list[dict[str, Any]]) -> None:
        task = self.task(task_id)
        assert task is not None
        with self._db:
            self._db.execute(
                "UPDATE tasks SET rows = ?, status = 'queued' WHERE id = ?",
                (json.dumps(task.rows + rows), task_id),
            )

    def task(self, task_id: str) -> Task | None:
        row = self._db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            return None
        return Task(
            id=str(row["id"]),
            program_id=int(row["program_id"]),
            matching=str(row["matching"]),
            status=str(row["status"]),
            progress=int(row["progress"]),
            rows=json.loads(row["rows"]),
            result=json.loads(row["result"]),
        )

    def save_task_progress(
        self, task_id: str, status: str, progress: int, result: list[dict[str, Any]]
    ) -> None:
        with self._db:
            self._db.execute(
                "UPDATE tasks SET status = ?, progress = ?, result = ? WHERE id = ?",
                (status, progress, json.dumps(result), task_id),
            )


def _ledger_row(row: sqlite3.Row) -> LedgerRow:
    return LedgerRow(
        seq=int(row["seq"]),
        id=str(row["id"]),
        eid=row["eid"],
        profile_id=str(row["profile_id"]),
        currency_iid=int(row["currency_iid"]),
        type=str(row["type"]),
        amount=Decimal(row["amount"]),
        balance_before=Decimal(row["balance_before"]),
        balance_after=Decimal(row["balance_after"]),
        status=str(row["status"]),
        temp_deadline=row["temp_deadline"],
        activation_date=row["activation_date"],
        expiration_date=row["expiration_date"],
        created_at=str(row["created_at"]),
        description=str(row["description"]),
        cancels=row["cancels"],
    )
