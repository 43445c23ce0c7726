"""Domain models of the loyalty platform boundary, in the bot's own words.

Nothing here knows a wire format: the platform clients turn XML/JSON into these models.
Money and points are ``Decimal``; times are timezone-aware.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CampaignKind(StrEnum):
    POINTS = "points"
    GIFTCARD = "giftcard"
    EVENTS = "events"
    EARNED = "earned"
    BUYX = "buyx"


class Money(_Model):
    amount: Decimal
    currency: str = ""
    glyph: str = ""


class _Profile(_Model):
    """The profile fields a member, a new member and an imported member row share."""

    code: str = ""
    card_number: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    email: str = ""
    birthday: dt.date | None = None


class Member(_Profile):
    """A member (customer) of the loyalty program on the platform."""

    code: str
    registered: bool = False
    campaign_ids: tuple[str, ...] = ()


class NewMember(_Profile):
    """What the bot sends to create a member.

    ``code`` is chosen by the bot before the call so that a retried enrollment can never
    create a second member. ``card_number`` may be empty: the platform then generates one in
    the requested format.
    """

    code: str
    campaign_ids: tuple[str, ...] = ()
    signup_bonus: Decimal | None = None


class ProfileChanges(_Model):
    """Fields to change on an existing member; ``None`` leaves a field as it is."""

    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    email: str | None = None
    birthday: dt.date | None = None


class CardFormat(_Model):
    length: int = Field(default=12, ge=4, le=32)
    prefix: str = ""
    suffix: str = ""


class Reward(_Model):
    """A reward of a points or events campaign: ``cost`` points or events buy it."""

    id: str
    campaign_id: str
    description: str
    cost: Decimal
    merchant_reward_id: str = ""


class BuyXItem(_Model):
    """An item of a buy-X campaign: buy ``buy_amount`` of it, get one free."""

    id: str
    description: str
    buy_amount: int
    identifier: str = ""


class Campaign(_Model):
    id: str
    name: str
    kind: CampaignKind
    currency: str = ""
    glyph: str = ""
    points_ratio: Decimal | None = None
    reward_ratio: Decimal | None = None
    earned_per_event: Decimal | None = None
    items: tuple[BuyXItem, ...] = ()


class _BalanceBase(_Model):
    campaign_id: str
    campaign_name: str
    available_rewards: tuple[Reward, ...] = ()
    """Rewards the member can take now."""
    next_reward: Reward | None = None
    """The cheapest reward the member cannot take yet (for a progress bar)."""


class PointsBalance(_BalanceBase):
    kind: Literal[CampaignKind.POINTS] = CampaignKind.POINTS
    points: Decimal
    money_value: Money | None = None
    cumulative_points: Decimal | None = None


class GiftcardBalance(_BalanceBase):
    kind: Literal[CampaignKind.GIFTCARD] = CampaignKind.GIFTCARD
    money: Money


class EventsBalance(_BalanceBase):
    kind: Literal[CampaignKind.EVENTS] = CampaignKind.EVENTS
    events: int


class EarnedBalance(_BalanceBase):
    kind: Literal[CampaignKind.EARNED] = CampaignKind.EARNED
    money: Money


class BuyXCount(_Model):
    item: str
    current: int
    buy_amount: int | None = None
    cumulative: int | None = None


class BuyXBalance(_BalanceBase):
    kind: Literal[CampaignKind.BUYX] = CampaignKind.BUYX
    items: tuple[BuyXCount, ...] = ()


CampaignBalance = Annotated[
    PointsBalance | GiftcardBalance | EventsBalance | EarnedBalance | BuyXBalance,
    Field(discriminator="kind"),
]


class Transaction(_Model):
    id: str
    campaign_id: str
    at: dt.datetime
    amount: Decimal
    description: str = ""
    is_redemption: bool = False
    item: str = ""


class Receipt(_Model):
    """What the platform answers to a purchase, visit or redemption."""

    transaction_id: str
    campaign_id: str
    campaign_name: str = ""
    description: str = ""
    earned: Decimal | None = None
    """Points, events, money or items added by this transaction."""
    deducted: Decimal | None = None
    """Points, events, money or items taken by this transaction."""
    balance: CampaignBalance | None = None


class Purchase(_Model):
    """A purchase or visit to record in one campaign.

    ``amount`` is money for points and gift-card campaigns; ``item`` and ``quantity`` are for
    buy-X campaigns; events and earned campaigns need neither (one call is one visit).
    """

    campaign_id: str
    amount: Decimal | None = None
    item: str | None = None
    quantity: int = 1
    description: str = ""


class Redemption(_Model):
    """What to take from a campaign.

    Points campaigns accept any combination of one ``reward_id``, custom ``points`` and a
    money ``amount`` (the latter through the campaign's reward ratio). Events take a
    ``reward_id``; gift-card and earned an ``amount``; buy-X an ``item``.
    """

    campaign_id: str
    reward_id: str | None = None
    points: Decimal | None = None
    amount: Decimal | None = None
    item: str | None = None
    description: str = ""


class ImportOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    SKIPPED = "skipped"
    ALREADY_MEMBER = "already a member"
    NOT_FOUND = "not found"
    INVALID = "invalid"
    FAILED = "failed"


class DuplicatePolicy(StrEnum):
    """What an import does with a row matching an existing member."""

    OVERWRITE = "overwrite"
    """Blank the member's fields and replace them with the row's."""
    UPDATE = "update"
    """Change only the fields the row gives."""
    IGNORE = "ignore"
    """Leave the member as it is and skip the row."""


class MemberImportRow(_Profile):
    """One member row to import; ``line`` is its line number in the source file."""

    line: int
    signup_bonus: Decimal | None = None


class TransactionImportRow(_Model):
    line: int
    campaign_id: str
    member: str
    """The member's code or card number."""
    redeemed: bool = False
    amount: Decimal | None = None
    item: str = ""
    date: dt.date | None = None
    description: str = ""


class ImportResult(_Model):
    """The outcome of one imported row."""

    line: int
    outcome: ImportOutcome
    member_code: str = ""
    message: str = ""
