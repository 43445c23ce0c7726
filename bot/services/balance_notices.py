"""Balance-change messages: what the product just did to a member's balance, told once.

Whenever the product itself moves points (a kiosk purchase or redemption, a POS request, an
owed bonus finally credited) it describes the change as a ``BalanceChange`` and hands it to a
``BalanceNotifier``. The change carries a key made of the platform's transaction id (or the
bonus's own marker): the Telegram side sends one message per key, ever, whichever process
and however often it is told. Nothing here knows Telegram; ``bot.telegram.balance_messages``
implements the notifier.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import LoyaltyError
from bot.loyalty.models import Campaign, CampaignKind, Receipt, Reward, Transaction
from bot.services.balances import BalanceLine, Progress, balance_line

log = logging.getLogger(__name__)

HISTORY_DEPTH = 100
"""How far back the member's history is read for a transaction's marker."""


@dataclass(frozen=True)
class BalanceChange:
    key: str
    """Names the change once: ``tx:<platform transaction id>``, ``bonus:<marker>``."""
    member_code: str
    campaign: Campaign
    earned: Decimal | None = None
    """Points, visits, money or items added."""
    deducted: Decimal | None = None
    """Points, visits, money or items taken."""
    line: BalanceLine | None = None
    """The campaign's balance afterwards, when known."""
    new_rewards: tuple[str, ...] = ()
    """Rewards that became available with this change (``Free coffee``)."""


class BalanceNotifier(Protocol):
    async def balance_changed(self, change: BalanceChange) -> None:
        """Tell the member (if linked and willing), once per ``change.key``; never raises."""
        ...


class NoNotifier:
    async def balance_changed(self, change: BalanceChange) -> None:
        return None


def transaction_key(transaction_id: str) -> str:
    return f"tx:{transaction_id}"


def newly_available(line: BalanceLine, earned: Decimal | None) -> tuple[str, ...]:
    """Rewards (or free buy-X items) ``line`` offers that the balance before ``earned`` did
    not: the threshold was crossed by this change."""
    if not earned or earned <= 0:
        return ()
    if line.kind in (CampaignKind.POINTS, CampaignKind.EVENTS):
        before = line.amount - earned
        return tuple(reward.description for reward in line.available if reward.cost > before)
    if line.kind is CampaignKind.BUYX:
        return tuple(
            item.item
            for item in line.items
            if item.buy_amount and item.current >= item.buy_amount > item.current - earned
        )
    return ()


def with_rewards(line: BalanceLine, rewards: Sequence[Reward]) -> BalanceLine:
    """``line`` with the rewards its amount reaches and the progress to the next one (a
    platform's receipt tells the balance, not the rewards)."""
    if line.available or line.progress is not None or not rewards:
        return line
    ordered = sorted(rewards, key=lambda reward: reward.cost)
    available = tuple(reward for reward in ordered if reward.cost <= line.amount)
    ahead = [reward for reward in ordered if reward.cost > line.amount]
    progress = (
        Progress(current=line.amount, target=ahead[0].cost, reward=ahead[0].description)
        if ahead
        else None
    )
    return replace(line, available=available, progress=progress)


async def receipt_change(
    backend: LoyaltyBackend, member_code: str, campaign: Campaign, receipt: Receipt
) -> BalanceChange:
    """The change a purchase or redemption made, its rewards looked up (cached by the
    client) when the campaign has rewards."""
    change = change_from_receipt(member_code, campaign, receipt)
    if change.line is None or campaign.kind not in (CampaignKind.POINTS, CampaignKind.EVENTS):
        return change
    try:
        rewards = await backend.rewards(campaign.id)
    except LoyaltyError as exc:
        log.info("Rewards of campaign %s not read: %s", campaign.id, exc.message)
        return change
    line = with_rewards(change.line, rewards)
    return replace(change, line=line, new_rewards=newly_available(line, change.earned))


def change_from_receipt(member_code: str, campaign: Campaign, receipt: Receipt) -> BalanceChange:
    line = None if receipt.balance is None else balance_line(receipt.balance)
    return BalanceChange(
        key=transaction_key(receipt.transaction_id),
        member_code=member_code,
        campaign=campaign,
        earned=receipt.earned,
        deducted=receipt.deducted,
        line=line,
        new_rewards=() if line is None else newly_available(line, receipt.earned),
    )


async def bonus_change(
    backend: LoyaltyBackend, member_code: str, campaign: Campaign, amount: Decimal, marker: str
) -> BalanceChange:
    """A bonus credited under ``marker``, with the balance read back from the platform (if it
    answers: the message goes without the total otherwise)."""
    line = None
    try:
        for balance in await backend.balances(member_code):
            if balance.campaign_id == campaign.id:
                line = balance_line(balance)
    except LoyaltyError as exc:
        log.info("Balance after bonus %s not read: %s", marker, exc.message)
    return BalanceChange(
        key=f"bonus:{marker}",
        member_code=member_code,
        campaign=campaign,
        earned=amount,
        line=line,
        new_rewards=() if line is None else newly_available(line, amount),
    )


async def recorded_receipt(
    backend: LoyaltyBackend,
    member_code: str,
    campaign_id: str,
    marker: str,
    *,
    depth: int = HISTORY_DEPTH,
) -> Receipt | None:
    """The receipt of a transaction an earlier try recorded, found on the platform by its
    ``marker`` (its description or authorization); ``None`` if there is none. Raises
    ``LoyaltyError`` when the platform does not answer (nothing can be decided then)."""
    history = await backend.history(member_code, limit=depth)
    found: Transaction | None = next((t for t in history if t.description == marker), None)
    if found is None:
        return None
    balance = next(
        (b for b in await backend.balances(member_code) if b.campaign_id == campaign_id),
        None,
    )
    earned = None if found.is_redemption else abs(found.amount)
    deducted = abs(found.amount) if found.is_redemption else None
    return Receipt(
        transaction_id=found.id,
        campaign_id=campaign_id,
        earned=earned,
        deducted=deducted,
        balance=balance,
    )


async def notify(notifier: BalanceNotifier | None, change: BalanceChange) -> None:
    """Hand ``change`` on; a failure to tell is logged, never raised (the points moved)."""
    if notifier is None:
        return
    try:
        await notifier.balance_changed(change)
    except Exception:
        log.exception("Balance change %s not told", change.key)


async def tell_receipt(
    notifier: BalanceNotifier | None,
    backend: LoyaltyBackend,
    member_code: str,
    campaign: Campaign,
    receipt: Receipt,
) -> None:
    """Tell the member of a recorded purchase or redemption; never raises (it is recorded)."""
    if notifier is None:
        return
    try:
        change = await receipt_change(backend, member_code, campaign, receipt)
    except Exception:
        log.exception("Transaction %s not described for its member", receipt.transaction_id)
        return
    await notify(notifier, change)
