"""The ``LoyaltyBackend`` protocol: what the bot and the kiosk need from a platform.

Both platform clients implement it; services depend only on it. Every method raises the
typed errors of ``bot.loyalty.errors``; lookups answer ``None`` for "no such member".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from bot.loyalty.models import (
    Campaign,
    CampaignBalance,
    DuplicatePolicy,
    ImportResult,
    Member,
    MemberImportRow,
    NewMember,
    ProfileChanges,
    Purchase,
    Receipt,
    Redemption,
    Reward,
    Transaction,
    TransactionImportRow,
)


@runtime_checkable
class LoyaltyBackend(Protocol):
    platform: str
    """The platform's name in ``bot.loyalty.registry``."""

    async def find_member_by_phone(self, phone: str) -> Member | None:
        """Find the member with this E.164 phone number."""
        ...

    async def find_member_by_email(self, email: str) -> Member | None:
        """Find the member with this email (case-insensitive)."""
        ...

    async def find_member_by_card(self, card_number: str) -> Member | None:
        """Find the member holding this card number."""
        ...

    async def get_member(self, code: str) -> Member | None:
        """Fetch a member by the code the bot keeps for it."""
        ...

    async def enroll(self, new_member: NewMember) -> Member:
        """Create a member in the given campaigns, crediting the signup bonus if any.

        Raises ``AlreadyExists`` if ``new_member.code`` (or its card number) is taken; a
        caller retrying after ``Unavailable`` checks ``get_member(code)`` first.
        """
        ...

    async def join_campaign(
        self, code: str, campaign_id: str, bonus: Purchase | None = None
    ) -> None:
        """Make an existing member belong to a campaign, optionally crediting a bonus."""
        ...

    async def update_profile(self, code: str, changes: ProfileChanges) -> Member:
        """Change profile fields of an existing member."""
        ...

    async def campaigns(self) -> list[Campaign]:
        """Every campaign of the program."""
        ...

    async def rewards(self, campaign_id: str) -> list[Reward]:
        """Rewards of a campaign, cheapest first."""
        ...

    async def balances(self, code: str) -> list[CampaignBalance]:
        """The member's balance in every campaign they belong to."""
        ...

    async def find_member_with_balances(
        self, card_number: str
    ) -> tuple[Member, list[CampaignBalance]] | None:
        """The holder of this card and their balances, in one round trip where the platform
        allows it (a kiosk scan); ``None`` when no member holds the card."""
        ...

    async def history(self, code: str, *, limit: int = 10, offset: int = 0) -> list[Transaction]:
        """The member's transactions across campaigns, newest first."""
        ...

    async def record_purchase(self, code: str, purchase: Purchase) -> Receipt:
        """Record a purchase or visit. Never retried blindly: it moves a balance."""
        ...

    async def redeem(self, code: str, redemption: Redemption) -> Receipt:
        """Redeem a reward or an amount. Never retried blindly: it moves a balance."""
        ...

    async def import_members(
        self,
        rows: Sequence[MemberImportRow],
        *,
        campaign_ids: Sequence[str],
        on_duplicate: DuplicatePolicy = DuplicatePolicy.IGNORE,
        generate_cards: int | None = None,
    ) -> list[ImportResult]:
        """Import member rows in one platform request; one result per row, in order.

        ``generate_cards`` is the length of card numbers made for rows without one: ``None``
        takes the configured card format, ``0`` makes none. Platforms without these notions
        ignore both options.
        """
        ...

    async def import_transactions(
        self, rows: Sequence[TransactionImportRow]
    ) -> list[ImportResult]:
        """Import transaction rows in one platform request; one result per row, in order."""
        ...

    async def aclose(self) -> None:
        """Close the pooled HTTP client."""
        ...
