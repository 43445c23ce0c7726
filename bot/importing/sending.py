"""Sending one chunk of checked rows to the platform, one request (or one per campaign kind).

Every sender answers one ``ImportResult`` per row, in order, and lets the platform's typed errors
through: the runner decides what a failed request means for the checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Literal, Protocol

from bot.importing.chunking import (
    ALTCRAFT_LIMITS,
    CLIENTTOOLBOX_LIMITS,
    DEFAULT_ROWS,
    ChunkLimits,
    altcraft_member_size,
)
from bot.importing.validation import ImportRow
from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.clienttoolbox_wire import (
    CustomerBatchRow,
    choose_delimiter,
    error_for,
    refusal,
)
from bot.loyalty.errors import AlreadyExists, NotFound
from bot.loyalty.models import (
    ImportOutcome,
    ImportResult,
    MemberImportRow,
    TransactionImportRow,
)

OnDuplicate = Literal["overwrite", "update", "ignore"]
OVERWRITE_MODES: dict[OnDuplicate, Literal["yes", "update", "ignore"]] = {
    "overwrite": "yes",
    "update": "update",
    "ignore": "ignore",
}


class ChunkSender(Protocol):
    limits: ChunkLimits
    row_size: Callable[[ImportRow], int] | None

    async def send(self, rows: Sequence[ImportRow]) -> list[ImportResult]:
        """One result per row, in the rows' order."""
        ...


def _members(rows: Sequence[ImportRow]) -> list[MemberImportRow]:
    members = [row for row in rows if isinstance(row, MemberImportRow)]
    if len(members) != len(rows):
        raise TypeError("a members import got a row that is not a member")
    return members


def _transactions(rows: Sequence[ImportRow]) -> list[TransactionImportRow]:
    transactions = [row for row in rows if isinstance(row, TransactionImportRow)]
    if len(transactions) != len(rows):
        raise TypeError("a transactions import got a row that is not a transaction")
    return transactions


class BackendMembers:
    """Members through ``LoyaltyBackend.import_members`` (Altcraft: ``register_member_batch``)."""

    def __init__(self, backend: LoyaltyBackend, campaign_ids: Sequence[str]) -> None:
        self._backend = backend
        self._campaign_ids = tuple(campaign_ids)
        altcraft = backend.platform == "altcraft"
        self.limits = ALTCRAFT_LIMITS if altcraft else CLIENTTOOLBOX_LIMITS
        self.row_size: Callable[[ImportRow], int] | None = (
            altcraft_member_size if altcraft else None
        )

    async def send(self, rows: Sequence[ImportRow]) -> list[ImportResult]:
        return await self._backend.import_members(_members(rows), campaign_ids=self._campaign_ids)


class BackendTransactions:
    """Transactions through ``LoyaltyBackend.import_transactions`` (Client Toolbox:
    ``batch_transactions`` once per campaign kind; Altcraft: row by row, idempotent)."""

    def __init__(self, backend: LoyaltyBackend) -> None:
        self._backend = backend
        self.limits = (
            ChunkLimits(DEFAULT_ROWS) if backend.platform == "altcraft" else CLIENTTOOLBOX_LIMITS
        )
        self.row_size: Callable[[ImportRow], int] | None = None

    async def send(self, rows: Sequence[ImportRow]) -> list[ImportResult]:
        return await self._backend.import_transactions(_transactions(rows))


_MEMBER_COLUMNS = (
    "code",
    "card_number",
    "first_name",
    "last_name",
    "phone",
    "email",
    "custom_date",
    "auto_add",
)
_MEMBER_OUTCOMES = {
    "new": ImportOutcome.CREATED,
    "updated": ImportOutcome.UPDATED,
    "update": ImportOutcome.UPDATED,
    "skipped": ImportOutcome.SKIPPED,
}


def _member_cells(row: MemberImportRow) -> list[str]:
    bonus = row.signup_bonus
    return [
        row.code,
        row.card_number,
        row.first_name,
        row.last_name,
        row.phone,
        row.email,
        row.birthday.isoformat() if row.birthday else "",
        format(bonus, "f") if isinstance(bonus, Decimal) else "",
    ]


class ClientToolboxMembers:
    """Members through ``customers_batch`` with the operator's duplicate mode and card length.

    ``ClientToolboxClient.import_members`` always sends ``overwrite_duplicates=ignore`` and the
    bot's card length, so ``--on-duplicate`` and ``--generate-cards`` need the low-level call.
    """

    def __init__(
        self,
        client: ClientToolboxClient,
        campaign_ids: Sequence[str],
        *,
        on_duplicate: OnDuplicate = "ignore",
        generate_cards: int | None = None,
    ) -> None:
        if not campaign_ids:
            raise ValueError("customers_batch needs at least one campaign")
        self._client = client
        self._campaign_ids = tuple(campaign_ids)
        self._overwrite = OVERWRITE_MODES[on_duplicate]
        self._generate = generate_cards or None
        self.limits = CLIENTTOOLBOX_LIMITS
        self.row_size: Callable[[ImportRow], int] | None = None

    async def send(self, rows: Sequence[ImportRow]) -> list[ImportResult]:
        members = _members(rows)
        if not members:
            return []
        cells = [_member_cells(row) for row in members]
        used = [
            index
            for index, column in enumerate(_MEMBER_COLUMNS)
            if column in ("code", "card_number") or any(row[index] for row in cells)
        ]
        header = [_MEMBER_COLUMNS[index] for index in used]
        cells = [[row[index] for index in used] for row in cells]
        delimiter = choose_delimiter([value for row in cells for value in row])
        results: dict[int, ImportResult] = {}
        sendable: list[int] = []
        for position, (row, values) in enumerate(zip(members, cells, strict=True)):
            if any(refusal(value, delimiter) for value in values):
                results[position] = ImportResult(
                    line=row.line,
                    outcome=ImportOutcome.INVALID,
                    member_code=row.code,
                    message="a value holds a line break, and |, tab and comma are all used",
                )
            else:
                sendable.append(position)
        if sendable:
            batch = await self._client.customers_batch(
                header,
                [cells[position] for position in sendable],
                campaign_ids=self._campaign_ids,
                delimiter=delimiter,
                overwrite=self._overwrite,
                card_number_generate=self._generate,
            )
            answers = _by_line(batch.rows, len(sendable))
            for number, position in enumerate(sendable, start=1):
                results[position] = _member_result(members[position], answers.get(number))
        return [results[position] for position in range(len(members))]


def _by_line(answers: Sequence[CustomerBatchRow], sent: int) -> dict[int, CustomerBatchRow]:
    """Answer rows by the 1-based data line they name (their position when they name none)."""
    found: dict[int, CustomerBatchRow] = {}
    for position, answer in enumerate(answers, start=1):
        number = answer.line if answer.line is not None else position
        if 1 <= number <= sent:
            found[number] = answer
    return found


def _member_result(row: MemberImportRow, answer: CustomerBatchRow | None) -> ImportResult:
    if answer is None:
        return ImportResult(
            line=row.line,
            outcome=ImportOutcome.FAILED,
            member_code=row.code,
            message="the platform did not report this row",
        )
    outcome = _MEMBER_OUTCOMES.get(answer.status.lower()) or _row_failure(answer.error)
    message = answer.error
    if outcome is ImportOutcome.SKIPPED and not message:
        message = "already a member (same code or card): left as it was"
    elif outcome in _MEMBER_OUTCOMES.values() and answer.card_number and not message:
        message = f"card {answer.card_number}"
    return ImportResult(
        line=row.line, outcome=outcome, member_code=answer.code or row.code, message=message
    )


def _row_failure(message: str) -> ImportOutcome:
    """A refused row's outcome, read from the platform's message as the client reads it."""
    error = error_for(message)
    if isinstance(error, NotFound):
        return ImportOutcome.NOT_FOUND
    if isinstance(error, AlreadyExists):
        return ImportOutcome.ALREADY_MEMBER
    return ImportOutcome.FAILED
