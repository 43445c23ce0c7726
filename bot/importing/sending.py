"""Sending one chunk of checked rows to the platform, one request (or one per campaign kind).

Every sender answers one ``ImportResult`` per row, in order, and lets the platform's typed errors
through: the runner decides what a failed request means for the checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from bot.importing.chunking import ChunkLimits
from bot.importing.validation import ImportRow
from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.models import (
    DuplicatePolicy,
    ImportResult,
    MemberImportRow,
    TransactionImportRow,
)
from bot.loyalty.registry import platform


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
    """Members through ``LoyaltyBackend.import_members`` (Client Toolbox: ``customers_batch``;
    Altcraft: ``register_member_batch``)."""

    def __init__(
        self,
        backend: LoyaltyBackend,
        campaign_ids: Sequence[str],
        *,
        on_duplicate: DuplicatePolicy = DuplicatePolicy.IGNORE,
        generate_cards: int | None = None,
    ) -> None:
        self._backend = backend
        self._campaign_ids = tuple(campaign_ids)
        self._on_duplicate = on_duplicate
        self._generate_cards = generate_cards
        traits = platform(backend.platform).imports
        self.limits = traits.member_limits
        self.row_size: Callable[[ImportRow], int] | None = traits.member_size
        self.several_requests = traits.members_several_requests
        """A chunk takes several requests (Altcraft creates profiles before the registration
        batch), so a failure may follow requests that changed the platform."""

    async def preview(self, rows: Sequence[ImportRow]) -> list[str]:
        """Dry run: what the platform would do beyond what the file shows, per row."""
        preview = getattr(self._backend, "preview_members", None)
        if preview is None:
            return [""] * len(rows)
        notes: list[str] = await preview(_members(rows))
        return notes

    async def send(self, rows: Sequence[ImportRow]) -> list[ImportResult]:
        return await self._backend.import_members(
            _members(rows),
            campaign_ids=self._campaign_ids,
            on_duplicate=self._on_duplicate,
            generate_cards=self._generate_cards,
        )


class BackendTransactions:
    """Transactions through ``LoyaltyBackend.import_transactions`` (Client Toolbox:
    ``batch_transactions`` once per campaign kind; Altcraft: row by row, idempotent)."""

    def __init__(self, backend: LoyaltyBackend) -> None:
        self._backend = backend
        self.limits = platform(backend.platform).imports.transaction_limits
        self.row_size: Callable[[ImportRow], int] | None = None
        self.several_requests = True
        """Client Toolbox sends one request per campaign kind; Altcraft one per row."""

    async def send(self, rows: Sequence[ImportRow]) -> list[ImportResult]:
        return await self._backend.import_transactions(_transactions(rows))
