"""The sandbox's SQLite ledger: accounts, campaigns with their catalogue, customers, transactions.

One ``sqlite3`` connection, used from the event loop's thread only (calls never await while
they hold it). Balances are never stored: they are sums over a customer's transactions, so a
deleted transaction changes them the way the vendor warns it does.

Units of ``transactions.units``: points, events or items for those kinds, cents for money
kinds (giftcard, earned). Redemptions are negative.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

KINDS = ("points", "giftcard", "events", "earned", "buyx")
MONEY_KINDS = frozenset({"giftcard", "earned"})

CONTACT_COLUMNS = (
    "first_name",
    "last_name",
    "phone",
    "email",
    "street1",
    "street2",
    "city",
    "state",
    "postal_code",
    "country",
)
"""The profile columns a customer block shows as they are."""
PROFILE_COLUMNS = (
    *CONTACT_COLUMNS,
    "custom_date",
    "custom_field",
    "customer_username",
    "customer_password",
    "customer_pin",
)

_SCHEMA = """
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    agency_id TEXT NOT NULL DEFAULT '',
    agency_name TEXT NOT NULL DEFAULT '',
    agency_email TEXT NOT NULL DEFAULT ''
);
CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    api_key TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(account_id)
);
CREATE TABLE campaigns (
    position INTEGER PRIMARY KEY,
    campaign_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('points', 'giftcard', 'events', 'earned', 'buyx')),
    currency TEXT NOT NULL,
    glyph TEXT NOT NULL,
    created_stamp TEXT NOT NULL,
    points_ratio TEXT NOT NULL DEFAULT '',
    reward_ratio TEXT NOT NULL DEFAULT '',
    earned_per_event_cents INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX campaigns_account ON campaigns(account_id);
CREATE TABLE rewards (
    reward_pk INTEGER PRIMARY KEY,
    campaign_id TEXT NOT NULL REFERENCES campaigns(campaign_id),
    level INTEGER NOT NULL,
    description TEXT NOT NULL,
    reward_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX rewards_campaign ON rewards(campaign_id);
CREATE TABLE items (
    item_pk INTEGER PRIMARY KEY,
    campaign_id TEXT NOT NULL REFERENCES campaigns(campaign_id),
    description TEXT NOT NULL,
    reward_level INTEGER NOT NULL DEFAULT 0,
    item_identifier TEXT NOT NULL DEFAULT '',
    UNIQUE (campaign_id, description)
);
CREATE TABLE promos (
    promo_pk INTEGER PRIMARY KEY,
    campaign_id TEXT NOT NULL REFERENCES campaigns(campaign_id),
    operation TEXT NOT NULL CHECK (operation IN ('x', '+')),
    value TEXT NOT NULL,
    description TEXT NOT NULL,
    promo_custom_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX promos_campaign ON promos(campaign_id);
CREATE TABLE customers (
    customer_pk INTEGER PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    code TEXT NOT NULL,
    card_number TEXT NOT NULL DEFAULT '',
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    street1 TEXT NOT NULL DEFAULT '',
    street2 TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '',
    postal_code TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT '',
    custom_date TEXT NOT NULL DEFAULT '',
    custom_field TEXT NOT NULL DEFAULT '',
    customer_username TEXT NOT NULL DEFAULT '',
    customer_password TEXT NOT NULL DEFAULT '',
    customer_pin TEXT NOT NULL DEFAULT '',
    custom_fields TEXT NOT NULL DEFAULT '{}',
    record_timestamp TEXT NOT NULL,
    UNIQUE (account_id, code)
);
CREATE UNIQUE INDEX customers_card ON customers(account_id, card_number)
    WHERE card_number <> '';
CREATE INDEX customers_phone ON customers(account_id, phone);
CREATE INDEX customers_email ON customers(account_id, email COLLATE NOCASE);
CREATE TABLE transactions (
    transaction_pk INTEGER PRIMARY KEY,
    customer_pk INTEGER NOT NULL REFERENCES customers(customer_pk) ON DELETE CASCADE,
    campaign_id TEXT NOT NULL REFERENCES campaigns(campaign_id),
    item_pk INTEGER REFERENCES items(item_pk),
    stamp TEXT NOT NULL,
    units INTEGER NOT NULL,
    redeemed INTEGER NOT NULL DEFAULT 0,
    authorization TEXT NOT NULL DEFAULT '',
    service_product TEXT NOT NULL DEFAULT '',
    user_name TEXT NOT NULL DEFAULT '',
    custom_fields TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX transactions_customer ON transactions(customer_pk, campaign_id);
"""
_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    agency_id: str = ""
    agency_name: str = ""
    agency_email: str = ""


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    kind: str
    currency: str = "USD"
    glyph: str = "$"
    created_stamp: str = ""
    points_ratio: Decimal | None = None
    reward_ratio: Decimal | None = None
    earned_per_event_cents: int = 0


@dataclass(frozen=True)
class Reward:
    pk: int
    campaign_id: str
    level: int
    description: str
    reward_id: str = ""


@dataclass(frozen=True)
class Item:
    pk: int
    campaign_id: str
    description: str
    reward_level: int
    identifier: str = ""


@dataclass(frozen=True)
class Promo:
    pk: int
    campaign_id: str
    operation: str
    value: Decimal
    description: str
    custom_id: str = ""


@dataclass(frozen=True)
class Customer:
    pk: int
    code: str
    card_number: str
    profile: Mapping[str, str]
    """Every column of ``PROFILE_COLUMNS``."""
    custom_fields: Mapping[str, str]
    """``custom_field_N`` (N >= 2) by N as text."""
    record_timestamp: str

    @property
    def registered(self) -> bool:
        return bool(self.profile["customer_password"])


@dataclass(frozen=True)
class Movement:
    """One transaction as stored."""

    pk: int
    campaign_id: str
    item_pk: int | None
    stamp: str
    units: int
    redeemed: bool
    authorization: str
    service_product: str
    user_name: str


@dataclass(frozen=True)
class Total:
    """Sums of a customer's transactions in one campaign (and one item, for buy-X)."""

    campaign_id: str
    item_pk: int | None
    balance: int
    cumulative: int
    first_stamp: str
    last_stamp: str


@dataclass
class Catalogue:
    """An account's campaigns and what hangs off them, in creation order."""

    campaigns: dict[str, Campaign] = field(default_factory=dict)
    rewards: dict[str, list[Reward]] = field(default_factory=dict)
    items: dict[str, list[Item]] = field(default_factory=dict)
    promos: dict[str, list[Promo]] = field(default_factory=dict)


def _casefold(value: object) -> str:
    return str(value).casefold() if value is not None else ""


def _customer(row: sqlite3.Row) -> Customer:
    return Customer(
        pk=row["customer_pk"],
        code=row["code"],
        card_number=row["card_number"],
        profile={name: row[name] for name in PROFILE_COLUMNS},
        custom_fields=json.loads(row["custom_fields"]),
        record_timestamp=row["record_timestamp"],
    )


def _movement(row: sqlite3.Row) -> Movement:
    return Movement(
        pk=row["transaction_pk"],
        campaign_id=row["campaign_id"],
        item_pk=row["item_pk"],
        stamp=row["stamp"],
        units=row["units"],
        redeemed=bool(row["redeemed"]),
        authorization=row["authorization"],
        service_product=row["service_product"],
        user_name=row["user_name"],
    )


def _decimal(text: str) -> Decimal | None:
    return Decimal(text) if text else None


class Ledger:
    """Everything the sandbox stores, behind methods named after what the API does."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.create_function("casefold", 1, _casefold, deterministic=True)
        self._catalogues: dict[str, Catalogue] = {}
        if self._db.execute("PRAGMA user_version").fetchone()[0] == 0:
            with self.transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            self._catalogues.clear()
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo one batch row's writes if it fails, keeping the rows before it."""
        self._db.execute("SAVEPOINT batch_row")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK TO batch_row")
            self._db.execute("RELEASE batch_row")
            self._catalogues.clear()
            raise
        self._db.execute("RELEASE batch_row")

    @contextmanager
    def recorded_statements(self) -> Iterator[list[str]]:
        """The SQL run inside the block, values inlined (with ``query_plan``: proof of indexes)."""
        seen: list[str] = []
        self._db.set_trace_callback(seen.append)
        try:
            yield seen
        finally:
            self._db.set_trace_callback(None)

    def query_plan(self, sql: str) -> list[str]:
        """SQLite's plan for a statement."""
        rows = self._db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
        return [row["detail"] for row in rows]

    # Accounts and users

    def add_account(self, account: Account) -> None:
        self._db.execute(
            "INSERT INTO accounts (account_id, name, agency_id, agency_name, agency_email)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                account.account_id,
                account.name,
                account.agency_id,
                account.agency_name,
                account.agency_email,
            ),
        )

    def account(self, account_id: str) -> Account | None:
        row = self._db.execute(
            "SELECT * FROM accounts WHERE account_id = ?", (account_id,)
        ).fetchone()
        if row is None:
            return None
        return Account(
            row["account_id"],
            row["name"],
            row["agency_id"],
            row["agency_name"],
            row["agency_email"],
        )

    def add_user(self, user_id: str, api_key: str, account_id: str) -> None:
        self._db.execute(
            "INSERT INTO users (user_id, api_key, account_id) VALUES (?, ?, ?)",
            (user_id, api_key, account_id),
        )

    def user(self, user_id: str) -> tuple[str, str] | None:
        """The user's API key and account id."""
        row = self._db.execute(
            "SELECT api_key, account_id FROM users WHERE user_id = ?", (user_id,)
        ).fetchone()
        return None if row is None else (row["api_key"], row["account_id"])

    # Catalogue

    def add_campaign(self, account_id: str, campaign: Campaign) -> None:
        self._db.execute(
            "INSERT INTO campaigns (campaign_id, account_id, name, kind, currency, glyph,"
            " created_stamp, points_ratio, reward_ratio, earned_per_event_cents)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                campaign.campaign_id,
                account_id,
                campaign.name,
                campaign.kind,
                campaign.currency,
                campaign.glyph,
                campaign.created_stamp,
                "" if campaign.points_ratio is None else str(campaign.points_ratio),
                "" if campaign.reward_ratio is None else str(campaign.reward_ratio),
                campaign.earned_per_event_cents,
            ),
        )
        self._catalogues.clear()

    def add_reward(self, reward: Reward) -> None:
        self._db.execute(
            "INSERT INTO rewards (reward_pk, campaign_id, level, description, reward_id)"
            " VALUES (?, ?, ?, ?, ?)",
            (reward.pk, reward.campaign_id, reward.level, reward.description, reward.reward_id),
        )
        self._catalogues.clear()

    def add_item(
        self,
        campaign_id: str,
        description: str,
        reward_level: int = 0,
        identifier: str = "",
        pk: int | None = None,
    ) -> Item:
        cursor = self._db.execute(
            "INSERT INTO items (item_pk, campaign_id, description, reward_level, item_identifier)"
            " VALUES (?, ?, ?, ?, ?)",
            (pk, campaign_id, description, reward_level, identifier),
        )
        self._catalogues.clear()
        assert cursor.lastrowid is not None
        return Item(cursor.lastrowid, campaign_id, description, reward_level, identifier)

    def add_promo(self, promo: Promo) -> None:
        self._db.execute(
            "INSERT INTO promos (promo_pk, campaign_id, operation, value, description,"
            " promo_custom_id) VALUES (?, ?, ?, ?, ?, ?)",
            (
                promo.pk,
                promo.campaign_id,
                promo.operation,
                str(promo.value),
                promo.description,
                promo.custom_id,
            ),
        )
        self._catalogues.clear()

    def catalogue(self, account_id: str) -> Catalogue:
        """The account's catalogue, cached until a catalogue write or a rollback."""
        cached = self._catalogues.get(account_id)
        if cached is not None:
            return cached
        catalogue = Catalogue()
        for row in self._db.execute(
            "SELECT * FROM campaigns WHERE account_id = ? ORDER BY position", (account_id,)
        ):
            campaign = Campaign(
                campaign_id=row["campaign_id"],
                name=row["name"],
                kind=row["kind"],
                currency=row["currency"],
                glyph=row["glyph"],
                created_stamp=row["created_stamp"],
                points_ratio=_decimal(row["points_ratio"]),
                reward_ratio=_decimal(row["reward_ratio"]),
                earned_per_event_cents=row["earned_per_event_cents"],
            )
            catalogue.campaigns[campaign.campaign_id] = campaign
            catalogue.rewards[campaign.campaign_id] = []
            catalogue.items[campaign.campaign_id] = []
            catalogue.promos[campaign.campaign_id] = []
        joined = "SELECT {table}.* FROM {table} JOIN campaigns USING (campaign_id)"
        joined += " WHERE campaigns.account_id = ? ORDER BY {order}"
        for row in self._db.execute(
            joined.format(table="rewards", order="level, reward_pk"), (account_id,)
        ):
            catalogue.rewards[row["campaign_id"]].append(
                Reward(
                    row["reward_pk"],
                    row["campaign_id"],
                    row["level"],
                    row["description"],
                    row["reward_id"],
                )
            )
        for row in self._db.execute(joined.format(table="items", order="item_pk"), (account_id,)):
            catalogue.items[row["campaign_id"]].append(
                Item(
                    row["item_pk"],
                    row["campaign_id"],
                    row["description"],
                    row["reward_level"],
                    row["item_identifier"],
                )
            )
        for row in self._db.execute(
            joined.format(table="promos", order="promo_pk"), (account_id,)
        ):
            catalogue.promos[row["campaign_id"]].append(
                Promo(
                    row["promo_pk"],
                    row["campaign_id"],
                    row["operation"],
                    Decimal(row["value"]),
                    row["description"],
                    row["promo_custom_id"],
                )
            )
        self._catalogues[account_id] = catalogue
        return catalogue

    # Customers

    def customer_by_code(self, account_id: str, code: str) -> Customer | None:
        row = self._db.execute(
            "SELECT * FROM customers WHERE account_id = ? AND code = ?", (account_id, code)
        ).fetchone()
        return None if row is None else _customer(row)

    def customer_by_card(self, account_id: str, card_number: str) -> Customer | None:
        # The extra "<> ''" lets SQLite use the partial unique index.
        row = self._db.execute(
            "SELECT * FROM customers WHERE account_id = ? AND card_number = ?"
            " AND card_number <> ''",
            (account_id, card_number),
        ).fetchone()
        return None if row is None else _customer(row)

    def customer_by_pk(self, pk: int) -> Customer:
        row = self._db.execute("SELECT * FROM customers WHERE customer_pk = ?", (pk,)).fetchone()
        return _customer(row)

    def code_taken(self, account_id: str, code: str) -> bool:
        return (
            self._db.execute(
                "SELECT 1 FROM customers WHERE account_id = ? AND code = ?", (account_id, code)
            ).fetchone()
            is not None
        )

    def card_taken(self, account_id: str, card_number: str) -> bool:
        return self.customer_by_card(account_id, card_number) is not None

    def cards_shaped(self, account_id: str, prefix: str, suffix: str, length: int) -> set[str]:
        """Card numbers of this length that start with ``prefix`` and end with ``suffix``."""
        rows = self._db.execute(
            "SELECT card_number FROM customers WHERE account_id = ? AND card_number <> ''"
            " AND length(card_number) = ? AND substr(card_number, 1, ?) = ?"
            " AND substr(card_number, ?) = ?",
            (account_id, length, len(prefix), prefix, length - len(suffix) + 1, suffix),
        )
        return {row["card_number"] for row in rows}

    def add_customer(
        self,
        account_id: str,
        code: str,
        card_number: str,
        profile: Mapping[str, str],
        custom_fields: Mapping[str, str],
        record_timestamp: str,
    ) -> Customer:
        columns = [name for name in PROFILE_COLUMNS if name in profile]
        cursor = self._db.execute(
            "INSERT INTO customers (account_id, code, card_number, custom_fields,"
            f" record_timestamp{''.join(', ' + name for name in columns)})"
            f" VALUES (?, ?, ?, ?, ?{', ?' * len(columns)})",
            (
                account_id,
                code,
                card_number,
                json.dumps(dict(custom_fields)),
                record_timestamp,
                *(profile[name] for name in columns),
            ),
        )
        assert cursor.lastrowid is not None
        return self.customer_by_pk(cursor.lastrowid)

    def update_customer(
        self,
        customer: Customer,
        *,
        card_number: str | None = None,
        profile: Mapping[str, str] | None = None,
        custom_fields: Mapping[str, str] | None = None,
        blank_first: bool = False,
    ) -> Customer:
        """Change the given fields; ``blank_first`` empties every other field first."""
        values: dict[str, str] = {}
        if blank_first:
            values = dict.fromkeys(PROFILE_COLUMNS, "")
            values["card_number"] = ""
            merged_custom: dict[str, str] = {}
        else:
            merged_custom = dict(customer.custom_fields)
        values.update(profile or {})
        if card_number is not None:
            values["card_number"] = card_number
        merged_custom.update(custom_fields or {})
        merged_custom = {n: v for n, v in merged_custom.items() if v}
        values["custom_fields"] = json.dumps(merged_custom)
        assignments = ", ".join(f"{name} = ?" for name in values)
        self._db.execute(
            f"UPDATE customers SET {assignments} WHERE customer_pk = ?",
            (*values.values(), customer.pk),
        )
        return self.customer_by_pk(customer.pk)

    def delete_customer(self, customer: Customer) -> None:
        self._db.execute("DELETE FROM customers WHERE customer_pk = ?", (customer.pk,))

    def search_customers(
        self, account_id: str, conditions: Sequence[tuple[str, Sequence[str]]]
    ) -> list[Customer]:
        """Customers matching every ``(sql, parameters)`` condition, oldest first."""
        where = "".join(f" AND ({sql})" for sql, _ in conditions)
        parameters = [account_id, *(p for _, params in conditions for p in params)]
        rows = self._db.execute(
            f"SELECT * FROM customers WHERE account_id = ?{where} ORDER BY customer_pk",
            parameters,
        )
        return [_customer(row) for row in rows]

    # Transactions

    def add_movement(
        self,
        customer: Customer,
        campaign_id: str,
        units: int,
        *,
        stamp: str,
        redeemed: bool = False,
        item_pk: int | None = None,
        authorization: str = "",
        service_product: str = "",
        user_name: str = "",
        custom_fields: Mapping[str, str] | None = None,
    ) -> int:
        cursor = self._db.execute(
            "INSERT INTO transactions (customer_pk, campaign_id, item_pk, stamp, units, redeemed,"
            " authorization, service_product, user_name, custom_fields)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                customer.pk,
                campaign_id,
                item_pk,
                stamp,
                units,
                int(redeemed),
                authorization,
                service_product,
                user_name,
                json.dumps(dict(custom_fields or {})),
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def movements(
        self, customer: Customer, campaign_id: str, limit: int | None = None
    ) -> list[Movement]:
        """The customer's transactions in a campaign, newest first."""
        rows = self._db.execute(
            "SELECT * FROM transactions WHERE customer_pk = ? AND campaign_id = ?"
            " ORDER BY stamp DESC, transaction_pk DESC LIMIT ?",
            (customer.pk, campaign_id, -1 if limit is None else limit),
        )
        return [_movement(row) for row in rows]

    def last_movement(
        self, customer: Customer, campaign_id: str, *, redeemed: bool
    ) -> Movement | None:
        row = self._db.execute(
            "SELECT * FROM transactions WHERE customer_pk = ? AND campaign_id = ?"
            " AND redeemed = ? ORDER BY stamp DESC, transaction_pk DESC LIMIT 1",
            (customer.pk, campaign_id, int(redeemed)),
        ).fetchone()
        return None if row is None else _movement(row)

    def delete_movement(self, customer: Customer, campaign_id: str, transaction_id: int) -> bool:
        cursor = self._db.execute(
            "DELETE FROM transactions WHERE transaction_pk = ? AND customer_pk = ?"
            " AND campaign_id = ?",
            (transaction_id, customer.pk, campaign_id),
        )
        return cursor.rowcount == 1

    def totals(self, customer: Customer, campaign_id: str | None = None) -> list[Total]:
        """Balance and lifetime earnings per campaign (and per item for buy-X)."""
        sql = (
            "SELECT campaign_id, item_pk, SUM(units) AS balance,"
            " SUM(CASE WHEN redeemed = 0 THEN units ELSE 0 END) AS cumulative,"
            " MIN(stamp) AS first_stamp, MAX(stamp) AS last_stamp"
            " FROM transactions WHERE customer_pk = ?"
        )
        parameters: list[Any] = [customer.pk]
        if campaign_id is not None:
            sql += " AND campaign_id = ?"
            parameters.append(campaign_id)
        sql += " GROUP BY campaign_id, item_pk"
        return [
            Total(
                row["campaign_id"],
                row["item_pk"],
                row["balance"],
                row["cumulative"],
                row["first_stamp"],
                row["last_stamp"],
            )
            for row in self._db.execute(sql, parameters)
        ]
