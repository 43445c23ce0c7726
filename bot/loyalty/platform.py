"""What a platform tells the rest of the product about itself: one ``PlatformEntry`` each.

A platform package (``bot/loyalty/<name>/``) builds its entry in ``entry.py``; the registry
(``bot/loyalty/registry.py``) lists the entries. Nothing outside a platform's own package (and
its sandbox) names the platform: config, logging, the import and the CLI ask the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.models import MemberImportRow, TransactionImportRow
from bot.loyalty.options import ClientOptions


@dataclass(frozen=True, slots=True)
class ChunkLimits:
    rows: int
    """Rows per request."""
    max_rows: int | None = None
    """The platform's ceiling on rows per request; ``None``: none documented."""
    bytes: int | None = None
    """Upper bound of a request body, estimated per row with ``row_size``; ``None``: no limit."""

    def sized(self, rows: int | None) -> ChunkLimits:
        """These limits with ``rows`` per request (``None``: the default), within the ceiling."""
        if rows is None:
            return self
        ceiling = self.max_rows if self.max_rows is not None else rows
        return ChunkLimits(max(1, min(rows, ceiling)), self.max_rows, self.bytes)


class TransactionLookup(StrEnum):
    """How transactions in doubt after a cut-off request are looked up before a resend."""

    HISTORY = "history"
    """Count the member's transactions in the campaign (``campaign_history``)."""
    EIDS = "eids"
    """Look the row's external id up among the member's (``transaction_eids``)."""


@dataclass(frozen=True, slots=True)
class ImportTraits:
    """How ``loyalty-bot import`` sends rows to this platform. The defaults describe a platform
    with one batch request per chunk that updates, generates cards and needs no preview."""

    member_limits: ChunkLimits
    transaction_limits: ChunkLimits
    member_size: Callable[[MemberImportRow | TransactionImportRow], int] | None = None
    """Estimated bytes of one row in a members request (with ``member_limits.bytes``)."""
    members_several_requests: bool = False
    """A members chunk takes more than one request, so a failure may follow changes."""
    transaction_lookup: TransactionLookup = TransactionLookup.HISTORY
    member_updates: bool = True
    """``--on-duplicate update|overwrite`` changes members already in."""
    generates_cards: bool = True
    """``--generate-cards`` gives rows without a card number one."""
    all_campaigns_by_default: bool = True
    """No ``--campaigns`` and no ``CAMPAIGN_IDS``: members join every campaign."""
    member_preview: bool = False
    """A dry run asks the platform what each member row would do."""


class PlatformSettings(BaseModel):
    """Base of a platform's settings model (``<NAME>__…`` in the environment)."""

    def missing(self) -> list[str]:
        """Names of settings a real account needs that are empty."""
        return []

    def secrets(self) -> list[SecretStr | None]:
        """Values to keep out of every log line."""
        return []

    def account(self) -> str:
        """The account rows go to, for an import's checkpoint key (no secret in it)."""
        return ""


ClientFactory = Callable[
    [Any, ClientOptions, httpx.AsyncBaseTransport | None],
    LoyaltyBackend,
]


@dataclass(frozen=True, slots=True)
class PlatformEntry:
    name: str
    """The ``PLATFORM`` value, the settings prefix (``<NAME>__…``) and ``backend.platform``."""
    display_name: str
    settings_model: type[PlatformSettings]
    create_client: ClientFactory
    """``(its settings, ClientOptions, transport or None) -> LoyaltyBackend``."""
    sandbox: str
    """Module of its local sandbox: ``create_app(db_path)``, ``run_sandbox(host, port, db)``
    and ``connection(url)`` (the settings, as plain values, of the sandbox's demo account)."""
    imports: ImportTraits
