"""A member's recent transactions, a page at a time, with each campaign's name and unit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.models import CampaignKind
from bot.services.catalog import CampaignCatalog

PAGE_SIZE = 10


@dataclass(frozen=True)
class HistoryEntry:
    at: dt.datetime
    campaign_name: str
    kind: CampaignKind | None
    """``None`` when the campaign is no longer in the program."""
    amount: Decimal
    is_redemption: bool
    description: str
    item: str
    currency_glyph: str


@dataclass(frozen=True)
class HistoryPage:
    entries: tuple[HistoryEntry, ...]
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 0


async def history_page(
    backend: LoyaltyBackend,
    catalog: CampaignCatalog,
    code: str,
    page: int = 0,
    *,
    page_size: int = PAGE_SIZE,
) -> HistoryPage:
    """Page ``page`` (0 = newest) of the member's transactions, newest first."""
    page = max(0, page)
    # One more than a page tells whether a next page exists without a count call.
    transactions = await backend.history(code, limit=page_size + 1, offset=page * page_size)
    campaigns = await catalog.by_id()
    entries = []
    for transaction in transactions[:page_size]:
        campaign = campaigns.get(transaction.campaign_id)
        entries.append(
            HistoryEntry(
                at=transaction.at,
                campaign_name=campaign.name if campaign else "",
                kind=campaign.kind if campaign else None,
                amount=transaction.amount,
                is_redemption=transaction.is_redemption,
                description=transaction.description,
                item=transaction.item,
                currency_glyph=(campaign.glyph or campaign.currency) if campaign else "",
            )
        )
    return HistoryPage(entries=tuple(entries), page=page, has_next=len(transactions) > page_size)
