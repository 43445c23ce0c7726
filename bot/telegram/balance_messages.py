"""Balance-change messages in Telegram: the ``BalanceNotifier`` of ``bot.services``.

A change is told to the member linked to its member code, in their language, unless they
turned balance messages off (``/notifications``); it goes through the outbox under
``balance:<change key>`` (the platform's transaction id, or a bonus's marker), so however
often and from whichever process it is told, the member gets it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from aiogram import Bot, Dispatcher
from aiogram.utils.i18n import I18n

from bot.loyalty.models import Campaign, CampaignKind, Money
from bot.services.balance_notices import BalanceChange
from bot.services.balances import BalanceLine
from bot.services.watcher import BalanceWatcher
from bot.storage.database import Database
from bot.storage.members import MemberLinks
from bot.storage.notifications import NotificationSettings
from bot.storage.watch import WatchCursors
from bot.telegram import texts
from bot.telegram.i18n import _
from bot.telegram.outbox import Outbox

log = logging.getLogger(__name__)


def amount_text(campaign: Campaign, amount: Decimal) -> str:
    """An amount in the campaign's own unit: "125 points", "3 visits", "$5.50"."""
    match campaign.kind:
        case CampaignKind.POINTS:
            return texts.points(amount)
        case CampaignKind.EVENTS:
            return texts.visits(amount)
        case CampaignKind.GIFTCARD | CampaignKind.EARNED:
            return texts.money(
                Money(amount=amount, currency=campaign.currency, glyph=campaign.glyph)
            )
    return texts.number(amount)


def balance_text(campaign: Campaign, line: BalanceLine) -> str:
    if line.kind is CampaignKind.BUYX:
        return " · ".join(
            f"{texts.label(item.item)} {item.current} / {item.buy_amount}"
            if item.buy_amount
            else f"{texts.label(item.item)} {item.current}"
            for item in line.items
        ) or _("nothing yet")
    if line.money is not None and line.kind in (CampaignKind.GIFTCARD, CampaignKind.EARNED):
        return texts.money(line.money)
    return amount_text(campaign, line.amount)


def balance_change_text(change: BalanceChange) -> str:
    campaign = change.campaign
    name = texts.label(campaign.name)
    lines = []
    if change.key.startswith("bonus:") and change.earned:
        lines.append(
            _("🎁 Your bonus of +{amount} has arrived.").format(
                amount=amount_text(campaign, change.earned)
            )
        )
    elif change.earned:
        lines.append(
            _("⭐ +{amount} in {campaign}.").format(
                amount=amount_text(campaign, change.earned), campaign=name
            )
        )
    if change.deducted:
        lines.append(
            _("✅ −{amount} redeemed in {campaign}.").format(
                amount=amount_text(campaign, change.deducted), campaign=name
            )
        )
    if not lines:
        lines.append(_("⭐ Your balance in {campaign} changed.").format(campaign=name))
    line = change.line
    if line is not None:
        lines.append(_("Your balance: {balance}.").format(balance=balance_text(campaign, line)))
    for reward in change.new_rewards:
        lines.append(
            _("🎁 {reward} is yours — show your card.").format(reward=texts.label(reward))
        )
    if line is not None and line.progress is not None and not change.new_rewards:
        missing = line.progress.target - line.progress.current
        if missing > 0:
            lines.append(
                _("{missing} more for 🎁 {reward}.").format(
                    missing=amount_text(campaign, missing),
                    reward=texts.label(line.progress.reward),
                )
            )
    return "\n".join(lines)


@dataclass(eq=False)
class TelegramBalanceNotifier:
    """Tells members of balance changes through the outbox."""

    outbox: Outbox
    bot: Bot
    i18n: I18n
    links: MemberLinks
    switches: NotificationSettings

    async def balance_changed(self, change: BalanceChange) -> None:
        link = await self.links.get_by_member(change.member_code)
        if link is None:
            return
        user_id = link.telegram_user_id
        if not (await self.switches.get(user_id)).balance:
            log.info("Balance change %s not told: the member turned them off", change.key)
            return
        language = await self.links.get_language(user_id)
        with self.i18n.context(), self.i18n.use_locale(language or self.i18n.default_locale):
            text = balance_change_text(change)
        await self.outbox.send_text(self.bot, f"balance:{change.key}", user_id, text)


def connect_balance_messages(
    bot: Bot, dispatcher: Dispatcher, database: Database | None = None
) -> TelegramBalanceNotifier:
    """The notifier for this bot, also given to the owed-bonus payers (a bonus that was on
    its way is told when it arrives); the caller gives it to the kiosk and the POS API.
    With ``WATCHER__ENABLED`` (and the ``database``), the watcher of changes made elsewhere
    runs beside the bot."""
    notifier = TelegramBalanceNotifier(
        dispatcher["outbox"],
        bot,
        dispatcher["i18n"],
        dispatcher["links"],
        dispatcher["notification_settings"],
    )
    dispatcher["rewards"].payer.notifier = notifier
    dispatcher["signup_joins"].payer.notifier = notifier
    settings = dispatcher["settings"]
    if database is not None and settings.watcher.enabled:
        _run_watcher(dispatcher, database, notifier)
    return notifier


def _run_watcher(
    dispatcher: Dispatcher, database: Database, notifier: TelegramBalanceNotifier
) -> None:
    config = dispatcher["settings"].watcher
    watcher = BalanceWatcher(
        dispatcher["backend"],
        dispatcher["catalog"],
        WatchCursors(database, clock=dispatcher["clock"]),
        notifier,
        calls_per_minute=config.calls_per_minute,
        active_days=config.active_days,
        clock=dispatcher["clock"],
    )
    run_while_up(dispatcher, "balance-watcher", watcher.keep_watching)


def settle_kiosk_notices(
    dispatcher: Dispatcher, keep_settling: Callable[[asyncio.Event], Awaitable[None]]
) -> None:
    """Settle the kiosk's pending balance notices at start-up and then periodically, while
    the bot runs (``KioskDesk.keep_settling_notices``)."""
    run_while_up(dispatcher, "kiosk-notices", keep_settling)


def run_while_up(
    dispatcher: Dispatcher, name: str, work: Callable[[asyncio.Event], Awaitable[None]]
) -> None:
    """Run ``work(stop)`` as a task from the dispatcher's start-up; at shutdown ``stop`` is
    set and the task cancelled and awaited."""
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start() -> None:
        stop.clear()

        async def run() -> None:
            await work(stop)

        tasks.append(asyncio.create_task(run(), name=name))

    async def stop_running() -> None:
        stop.set()
        while tasks:
            task = tasks.pop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    dispatcher.startup.register(start)
    dispatcher.shutdown.register(stop_running)
