"""Deciding rows in doubt: rows whose request was cut off (a crash, an outage mid-chunk) are looked
up on the platform before anything is sent again, and only what is really missing is resent.

Each row gets one ``Decision``: ``present`` (the platform has it: reported, not sent), ``missing``
(sent again) or ``undecided`` (reported with the reason; never guessed, never sent).

- Members (both platforms): looked up by code, card number, email and phone. Any match means the
  member is there: the row is not sent again (a resend of a row without a code or card would
  create a second member under a new card).
- Client Toolbox transactions: a transaction has no id of ours, so the member's history in the
  row's campaign is counted by (redeemed, amount, date, authorization/description). Of the rows of
  this file with that key, those already reported imported account for as many platform
  transactions; what is left over on the platform belongs to the rows in doubt, in file order.
  More left over than rows in doubt (another transaction with the same key, not from this file)
  cannot be told apart: those rows are undecided.
- Altcraft transactions: every imported row carries an external id (``transaction_eid``) derived
  from the row; the member's transactions are searched for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from bot.importing.validation import ImportRow
from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import AuthFailed, LoyaltyError, NotFound, Unavailable
from bot.loyalty.models import MemberImportRow, Transaction, TransactionImportRow

Verdict = Literal["present", "missing", "undecided"]


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    message: str = ""


MISSING = Decision("missing")


class Reconciler(Protocol):
    needs_landed: bool
    """Whether ``prepare`` needs the rows already imported (the file is read once more)."""

    async def prepare(self, landed: Iterable[ImportRow]) -> None:
        """Rows of this file reported imported by earlier runs (outside the rows in doubt)."""
        ...

    async def decide(self, rows: Sequence[ImportRow]) -> list[Decision]:
        """One decision per row, in order. ``Unavailable`` and ``AuthFailed`` go through."""
        ...


async def _bounded(
    calls: Sequence[Callable[[], Awaitable[Decision]]], concurrency: int
) -> list[Decision]:
    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def run(call: Callable[[], Awaitable[Decision]]) -> Decision:
        async with semaphore:
            return await call()

    return list(await asyncio.gather(*(run(call) for call in calls)))


class MemberLookup:
    """Members in doubt, looked up by code, card number, email and phone (both platforms)."""

    needs_landed = False

    def __init__(
        self, backend: LoyaltyBackend, *, concurrency: int = 4, updates: bool = False
    ) -> None:
        self._backend = backend
        self._concurrency = concurrency
        self._updates = updates
        """``--on-duplicate update|overwrite`` on a platform that matches rows by code and card
        number (Client Toolbox): a row found by its code or card is sent again, to update the
        member it matches, since sending it cannot create another."""

    async def prepare(self, landed: Iterable[ImportRow]) -> None:
        return None

    async def decide(self, rows: Sequence[ImportRow]) -> list[Decision]:
        members = [row for row in rows if isinstance(row, MemberImportRow)]
        if len(members) != len(rows):
            raise TypeError("a members import got a row that is not a member")
        calls = [functools.partial(self._one, row) for row in members]
        return await _bounded(calls, self._concurrency)

    async def _one(self, row: MemberImportRow) -> Decision:
        backend = self._backend
        lookups = (
            ("code", row.code, backend.get_member),
            ("card", row.card_number, backend.find_member_by_card),
            ("email", row.email, backend.find_member_by_email),
            ("phone", row.phone, backend.find_member_by_phone),
        )
        for name, value, find in lookups:
            if not value:
                continue
            try:
                member = await find(value)
            except (Unavailable, AuthFailed):
                raise
            except LoyaltyError as exc:
                return Decision("undecided", f"looking the member up by {name} failed: {exc}")
            if member is not None:
                if self._updates and name in ("code", "card"):
                    return MISSING
                return Decision(
                    "present",
                    f"found on the platform by {name} {value} (member {member.code}) after an "
                    "earlier run was cut off: not sent again",
                )
        return MISSING


class HistoryLedger(Protocol):
    """What Client Toolbox answers for reconciling: a member's transactions in one campaign."""

    async def campaign_history(self, member: str, campaign_id: str) -> list[Transaction] | None:
        """Every transaction of the member (code or card number) in the campaign, or ``None``
        when no such member exists."""
        ...


_Key = tuple[bool, Decimal | None, dt.date | None, str]


def _compatible(a: _Key, b: _Key) -> bool:
    """Keys match field by field; an amount or date the file leaves out matches any."""
    return all(x == y or x is None or y is None for x, y in zip(a, b, strict=True))


def _row_key(row: TransactionImportRow) -> _Key:
    return (row.redeemed, row.amount, row.date, row.description)


def _platform_key(transaction: Transaction) -> _Key:
    return (
        transaction.is_redemption,
        abs(transaction.amount),
        transaction.at.date(),
        transaction.description,
    )


class TransactionCount:
    """Client Toolbox transactions in doubt, counted in the member's campaign history."""

    needs_landed = True

    def __init__(self, ledger: HistoryLedger, *, concurrency: int = 4) -> None:
        self._ledger = ledger
        self._concurrency = concurrency
        self._landed: dict[tuple[str, str], list[_Key]] = defaultdict(list)

    async def prepare(self, landed: Iterable[ImportRow]) -> None:
        self._landed.clear()
        for row in landed:
            if isinstance(row, TransactionImportRow):
                self._landed[(row.member, row.campaign_id)].append(_row_key(row))

    async def decide(self, rows: Sequence[ImportRow]) -> list[Decision]:
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for position, row in enumerate(rows):
            if not isinstance(row, TransactionImportRow):
                raise TypeError("a transactions import got a row that is not a transaction")
            groups[(row.member, row.campaign_id)].append(position)
        decisions: list[Decision] = [MISSING] * len(rows)

        async def one(pair: tuple[str, str], positions: list[int]) -> Decision:
            found = await self._decide_pair(pair, [rows[p] for p in positions], positions)
            for position, decision in found.items():
                decisions[position] = decision
            return MISSING

        await _bounded(
            [functools.partial(one, pair, positions) for pair, positions in groups.items()],
            self._concurrency,
        )
        return decisions

    async def _decide_pair(
        self, pair: tuple[str, str], rows: Sequence[ImportRow], positions: Sequence[int]
    ) -> dict[int, Decision]:
        member, campaign_id = pair
        try:
            history = await self._ledger.campaign_history(member, campaign_id)
        except (Unavailable, AuthFailed):
            raise
        except NotFound:
            history = None
        except LoyaltyError as exc:
            reason = Decision(
                "undecided", f"in doubt: the member's history could not be read ({exc})"
            )
            return dict.fromkeys(positions, reason)
        if history is None:
            return dict.fromkeys(positions, MISSING)
        on_platform = [_platform_key(transaction) for transaction in history]
        landed = self._landed.get(pair, [])
        keys = [_row_key(row) for row in rows if isinstance(row, TransactionImportRow)]
        decided: dict[int, Decision] = {}
        by_key: dict[_Key, list[int]] = defaultdict(list)
        for position, key in zip(positions, keys, strict=True):
            by_key[key].append(position)
        for key, waiting in by_key.items():
            platform = sum(1 for other in on_platform if _compatible(key, other))
            ours = sum(1 for other in landed if _compatible(key, other))
            extra = platform - ours
            if extra < 0 or extra > len(waiting):
                reason = Decision(
                    "undecided",
                    f"in doubt: the platform holds {platform} transaction(s) of this member "
                    f"like this row (kind, amount, date, description) and this file "
                    f"{ours + len(waiting)}, {ours} of them already reported imported: which "
                    "are this file's cannot be told; check the member's history, then fix by "
                    "hand",
                )
                decided.update(dict.fromkeys(waiting, reason))
                continue
            for number, position in enumerate(waiting):
                if number < extra:
                    decided[position] = Decision(
                        "present",
                        "found on the platform after an earlier run was cut off: not sent again",
                    )
                else:
                    decided[position] = MISSING
        return decided


class EidLedger(Protocol):
    """What Altcraft answers for reconciling: the external ids of a member's transactions."""

    def import_eid(self, row: TransactionImportRow) -> str: ...

    async def transaction_eids(self, member: str) -> set[str] | None:
        """External ids of the member's transactions (code or card number); ``None`` when no
        such member exists."""
        ...


class TransactionEids:
    """Altcraft transactions in doubt, found by the external id each imported row carries."""

    needs_landed = False

    def __init__(self, ledger: EidLedger, *, concurrency: int = 4) -> None:
        self._ledger = ledger
        self._concurrency = concurrency

    async def prepare(self, landed: Iterable[ImportRow]) -> None:
        return None

    async def decide(self, rows: Sequence[ImportRow]) -> list[Decision]:
        members: dict[str, list[int]] = defaultdict(list)
        transactions: list[TransactionImportRow] = []
        for position, row in enumerate(rows):
            if not isinstance(row, TransactionImportRow):
                raise TypeError("a transactions import got a row that is not a transaction")
            transactions.append(row)
            members[row.member].append(position)
        decisions: list[Decision] = [MISSING] * len(rows)

        async def one(member: str, positions: list[int]) -> Decision:
            try:
                eids = await self._ledger.transaction_eids(member)
            except (Unavailable, AuthFailed):
                raise
            except LoyaltyError as exc:
                reason = Decision(
                    "undecided", f"in doubt: the member's transactions could not be read ({exc})"
                )
                for position in positions:
                    decisions[position] = reason
                return MISSING
            for position in positions:
                if eids is not None and self._ledger.import_eid(transactions[position]) in eids:
                    decisions[position] = Decision(
                        "present",
                        "found on the platform by its external id after an earlier run was cut "
                        "off: not sent again",
                    )
            return MISSING

        await _bounded(
            [functools.partial(one, member, positions) for member, positions in members.items()],
            self._concurrency,
        )
        return decisions
