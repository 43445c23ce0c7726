"""The balances view: one line per campaign, in the campaign's own unit, shared by chat and kiosk.

Nothing here is worded: the chat and the kiosk translate units and labels themselves, so
this module only decides what to show (amounts, money, item counts, rewards, progress).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.models import (
    BuyXBalance,
    CampaignBalance,
    CampaignKind,
    EarnedBalance,
    EventsBalance,
    GiftcardBalance,
    Money,
    PointsBalance,
    Reward,
)

PROGRESS_WIDTH = 10


@dataclass(frozen=True)
class Progress:
    """How far a member is from a goal: ``current`` of ``target``."""

    current: Decimal
    target: Decimal
    reward: str = ""
    """What the goal gives, e.g. ``Free widget``; empty for a buy-X item."""

    @property
    def bar(self) -> str:
        return progress_bar(self.current, self.target)


@dataclass(frozen=True)
class ItemCount:
    """A buy-X item: ``current`` bought towards ``buy_amount`` (``None`` when unknown)."""

    item: str
    current: int
    buy_amount: int | None


@dataclass(frozen=True)
class BalanceLine:
    campaign_id: str
    campaign_name: str
    kind: CampaignKind
    amount: Decimal
    """Points, visits, or the money amount; for buy-X the sum of the item counts."""
    money: Money | None = None
    """Gift-card or earned money; for points, what the points are worth (if known)."""
    items: tuple[ItemCount, ...] = ()
    available: tuple[Reward, ...] = ()
    progress: Progress | None = None


def progress_bar(
    current: Decimal | int, target: Decimal | int, width: int = PROGRESS_WIDTH
) -> str:
    """``▓▓▓▓▓▓▓▓░░`` for 450 of 500; empty and full bars at the ends, never past them."""
    filled = width if target <= 0 else int(Decimal(current) * width / Decimal(target))
    filled = max(0, min(width, filled))
    return "▓" * filled + "░" * (width - filled)


def _reward_progress(amount: Decimal, next_reward: Reward | None) -> Progress | None:
    if next_reward is None:
        return None
    return Progress(current=amount, target=next_reward.cost, reward=next_reward.description)


def balance_line(balance: CampaignBalance) -> BalanceLine:
    money: Money | None = None
    items: tuple[ItemCount, ...] = ()
    progress: Progress | None = None
    match balance:
        case PointsBalance():
            amount = balance.points
            money = balance.money_value
            progress = _reward_progress(amount, balance.next_reward)
        case EventsBalance():
            amount = Decimal(balance.events)
            progress = _reward_progress(amount, balance.next_reward)
        case GiftcardBalance() | EarnedBalance():
            amount = balance.money.amount
            money = balance.money
        case BuyXBalance():
            items = tuple(
                ItemCount(item=count.item, current=count.current, buy_amount=count.buy_amount)
                for count in balance.items
            )
            amount = Decimal(sum(item.current for item in items))
    return BalanceLine(
        campaign_id=balance.campaign_id,
        campaign_name=balance.campaign_name,
        kind=balance.kind,
        amount=amount,
        money=money,
        items=items,
        available=balance.available_rewards,
        progress=progress,
    )


def balance_lines(balances: Sequence[CampaignBalance]) -> list[BalanceLine]:
    return [balance_line(balance) for balance in balances]


async def member_balances(backend: LoyaltyBackend, code: str) -> list[BalanceLine]:
    """The member's balances, one line per campaign, in the platform's campaign order."""
    return balance_lines(await backend.balances(code))
