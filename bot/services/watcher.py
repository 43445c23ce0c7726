"""The watcher of balance changes made elsewhere (the merchant's dashboard, another
integration): it reads recently active members' histories within a budget of platform calls
a minute and tells each new transaction as the product's own are told.

The first look at a member only sets their cursor (their past is not news). A transaction
the product made itself (a kiosk purchase, a POS request) has the same key,
``tx:<transaction id>``, so the member still hears of it once. The cursor moves only after
the member was told, so a restart repeats nothing the outbox has and skips nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import KW_ONLY, dataclass, field

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import LoyaltyError
from bot.loyalty.models import Transaction
from bot.services.balance_notices import (
    BalanceChange,
    BalanceNotifier,
    newly_available,
    notify,
    transaction_key,
    with_rewards,
)
from bot.services.balances import balance_line
from bot.services.catalog import CampaignCatalog
from bot.storage.timestamps import Clock, utc_now
from bot.storage.watch import WatchCursors

log = logging.getLogger(__name__)

HISTORY_DEPTH = 20


@dataclass(eq=False)
class BalanceWatcher:
    backend: LoyaltyBackend
    catalog: CampaignCatalog
    cursors: WatchCursors
    notifier: BalanceNotifier
    _: KW_ONLY
    calls_per_minute: int
    active_days: int
    clock: Clock = utc_now
    _gap: float = field(init=False)
    _active: dt.timedelta = field(init=False)

    def __post_init__(self) -> None:
        self._gap = 60.0 / self.calls_per_minute
        self._active = dt.timedelta(days=self.active_days)

    async def check(self, member_code: str) -> int:
        """Tell the member's transactions since their cursor; returns how many were new."""
        history = await self.backend.history(member_code, limit=HISTORY_DEPTH)
        if not history:
            return 0
        cursor = await self.cursors.get(member_code)
        if cursor is None:
            await self.cursors.advance(member_code, history[0].id)
            return 0
        ids = [transaction.id for transaction in history]
        new = history[: ids.index(cursor)] if cursor in ids else history
        if not new:
            return 0
        for transaction in reversed(new):
            await self._tell(member_code, transaction)
        await self.cursors.advance(member_code, history[0].id)
        return len(new)

    async def _tell(self, member_code: str, transaction: Transaction) -> None:
        campaign = (await self.catalog.by_id()).get(transaction.campaign_id)
        if campaign is None:
            return
        line = None
        for balance in await self.backend.balances(member_code):
            if balance.campaign_id == campaign.id:
                line = balance_line(balance)
        amount = abs(transaction.amount)
        earned = None if transaction.is_redemption else amount
        if line is not None:
            line = with_rewards(line, await self.backend.rewards(campaign.id))
        change = BalanceChange(
            key=transaction_key(transaction.id),
            member_code=member_code,
            campaign=campaign,
            earned=earned,
            deducted=amount if transaction.is_redemption else None,
            line=line,
            new_rewards=() if line is None else newly_available(line, earned),
        )
        await notify(self.notifier, change)

    async def round(self, stop: asyncio.Event | None = None) -> int:
        """One pass over the active members, paced by the budget; returns the news told."""
        told = 0
        for member_code in await self.cursors.active_members(self.clock() - self._active):
            if stop is not None and stop.is_set():
                break
            try:
                told += await self.check(member_code)
            except LoyaltyError as exc:
                log.info("Watcher: member %s not checked: %s", member_code, exc.message)
            await asyncio.sleep(self._gap)
        return told

    async def keep_watching(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.round(stop)
            except Exception:
                log.exception("The balance watcher failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(self._gap, 5.0))
