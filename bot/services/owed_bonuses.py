"""Paying a bonus exactly once, whatever the platform does: the owed-bonus machinery.

A bonus row is written (state ``sending``, with a marker) before the platform is asked to pay.
An answer records ``credited`` or ``failed``; no answer leaves it in ``doubt``. Settling a
bonus in doubt first looks for its marker in the member's history: found, it was paid and is
only recorded; missing, it is sent again. Two workers never hold one bonus (``take_owed``).
Signup bonuses (``LinkRepository``) and the other owed bonuses (``OwedBonuses``: invited
friends, birthdays) go through the same ``BonusPayer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Generic, Protocol, TypeVar

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import LoyaltyError, Unavailable
from bot.loyalty.models import Campaign, CampaignKind, Purchase
from bot.services.balance_notices import BalanceNotifier, bonus_change, notify
from bot.services.catalog import CampaignCatalog
from bot.services.enrollment import SignupBonus
from bot.storage.bonuses import OwedBonus, OwedBonuses
from bot.storage.links import BonusState
from bot.storage.timestamps import Clock, utc_now

log = logging.getLogger(__name__)

BONUS_KINDS = frozenset({CampaignKind.POINTS, CampaignKind.GIFTCARD})
"""Campaigns whose bonus is a number in the campaign's own unit (points, money)."""
BONUS_RETRY_AFTER = dt.timedelta(minutes=5)
"""A bonus send with no outcome recorded for this long is treated as in doubt."""
BONUS_HISTORY_DEPTH = 100
SETTLE_OWED_EVERY = 300.0


class Bonus(Protocol):
    @property
    def member_code(self) -> str: ...
    @property
    def campaign_id(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def marker(self) -> str: ...


B = TypeVar("B", bound=Bonus)


class BonusStore(Protocol[B]):
    """Where bonuses owed are kept (``LinkRepository``, ``OwedBonuses``)."""

    async def bonus_outcome(self, bonus: B, state: BonusState) -> None: ...

    async def bonuses_owed(
        self, *, stale_before: dt.datetime, member_code: str | None = None, limit: int = 50
    ) -> Sequence[B]: ...

    async def take_owed(self, bonus: B, *, stale_before: dt.datetime) -> B | None: ...

    async def take_owed_batch(
        self, *, stale_before: dt.datetime, member_code: str | None = None, limit: int = 50
    ) -> Sequence[B]: ...


def bonus_purchase(
    campaign_kind: CampaignKind,
    points_ratio: Decimal | None,
    bonus: Decimal,
    campaign_id: str,
    marker: str,
) -> Purchase:
    """The earn transaction that credits ``bonus`` in the campaign's own unit.

    A points campaign with a points ratio earns ``amount × ratio`` points for a purchase of
    ``amount``, so the purchase is the bonus divided by the ratio, rounded up to the cent
    (a platform without a ratio takes points as they are).
    """
    amount = bonus
    if campaign_kind is CampaignKind.POINTS and points_ratio:
        amount = (bonus / points_ratio).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
    return Purchase(campaign_id=campaign_id, amount=amount, description=marker)


FIRST_POINTS_CAMPAIGN = "*"
"""A bonus's campaign when none is configured: the program's first points campaign, looked up
when the bonus is paid (so owing it needs no platform call)."""


async def bonus_campaign(catalog: CampaignCatalog, campaign_id: str) -> Campaign | None:
    """The campaign a bonus is credited in (``FIRST_POINTS_CAMPAIGN`` or empty: the program's
    first points campaign); ``None`` when there is no such campaign a bonus can be paid in."""
    campaigns = await catalog.campaigns()
    if campaign_id and campaign_id != FIRST_POINTS_CAMPAIGN:
        campaign = (await catalog.by_id()).get(campaign_id)
        return campaign if campaign is not None and campaign.kind in BONUS_KINDS else None
    return next((c for c in campaigns if c.kind is CampaignKind.POINTS), None)


@dataclass(eq=False)
class BonusPayer(Generic[B]):
    """Pays the bonuses of one store, and settles the ones left owed, in the background too."""

    store: BonusStore[B]
    backend: LoyaltyBackend
    catalog: CampaignCatalog
    _: KW_ONLY
    clock: Clock = utc_now
    name: str = "bonus"
    _settling: asyncio.Task[None] | None = field(default=None, init=False)
    notifier: BalanceNotifier | None = field(default=None, init=False)
    """Told of each owed bonus finally credited (its member heard it was on its way)."""

    async def pay(self, bonus: B) -> Campaign | None:
        """Send one bonus (its row is in state ``sending``) and record what became of it.

        Returns the campaign it was credited in, ``None`` when it was not (refused: failed;
        no answer: in doubt, settled later). Never raises a platform error.
        """
        try:
            campaign = await bonus_campaign(self.catalog, bonus.campaign_id)
            if campaign is None:
                log.warning("%s for campaign %s cannot be paid", self.name, bonus.campaign_id)
                await self.store.bonus_outcome(bonus, BonusState.FAILED)
                return None
            purchase = bonus_purchase(
                campaign.kind, campaign.points_ratio, bonus.amount, campaign.id, bonus.marker
            )
            await self.backend.join_campaign(bonus.member_code, campaign.id, purchase)
        except Unavailable as exc:
            log.warning(
                "%s for member %s in doubt (%s); it is checked and paid later",
                self.name,
                bonus.member_code,
                exc.message,
            )
            await self.store.bonus_outcome(bonus, BonusState.DOUBT)
            return None
        except LoyaltyError as exc:
            log.warning(
                "%s for member %s refused by the platform: %s",
                self.name,
                bonus.member_code,
                exc.message,
            )
            await self.store.bonus_outcome(bonus, BonusState.FAILED)
            return None
        await self.store.bonus_outcome(bonus, BonusState.CREDITED)
        return campaign

    async def _was_paid(self, bonus: B) -> bool:
        history = await self.backend.history(bonus.member_code, limit=BONUS_HISTORY_DEPTH)
        return any(transaction.description == bonus.marker for transaction in history)

    async def settle_owed(self, *, member_code: str | None = None, limit: int = 50) -> int:
        """Pay bonuses left in doubt, after checking the member's history for each.

        A bonus whose marker is in the history was paid and is only recorded as such; the
        others are sent again. Returns how many were credited.
        """
        stale_before = self.clock() - BONUS_RETRY_AFTER
        credited = 0
        for taken in await self.store.take_owed_batch(
            stale_before=stale_before, member_code=member_code, limit=limit
        ):
            try:
                paid = await self._was_paid(taken)
            except LoyaltyError as exc:
                log.info("Owed %s not checked yet: %s", self.name, exc.message)
                await self.store.bonus_outcome(taken, BonusState.DOUBT)
                continue
            if paid:
                await self.store.bonus_outcome(taken, BonusState.CREDITED)
                credited += 1
                await self._tell(taken, await bonus_campaign(self.catalog, taken.campaign_id))
            elif (campaign := await self.pay(taken)) is not None:
                credited += 1
                await self._tell(taken, campaign)
        return credited

    async def _tell(self, bonus: B, campaign: Campaign | None) -> None:
        if self.notifier is None or campaign is None:
            return
        change = await bonus_change(
            self.backend, bonus.member_code, campaign, bonus.amount, bonus.marker
        )
        await notify(self.notifier, change)

    def start_settling(self, every: float = SETTLE_OWED_EVERY) -> None:
        """Check and pay owed bonuses now and then in the background (bot start-up)."""
        if self._settling is None or self._settling.done():
            self._settling = asyncio.create_task(self._keep_settling(every))

    async def stop_settling(self) -> None:
        task, self._settling = self._settling, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keep_settling(self, every: float) -> None:
        while True:
            try:
                await self.settle_owed()
            except LoyaltyError as exc:
                log.info("Owed %ss wait: %s", self.name, exc.message)
            except Exception:
                log.exception("Settling owed %ss failed; trying again later", self.name)
            await asyncio.sleep(every)


async def pay_owed_bonus(
    payer: BonusPayer[OwedBonus],
    owed: OwedBonuses,
    catalog: CampaignCatalog,
    bonus: OwedBonus | None,
) -> tuple[SignupBonus | None, bool]:
    """Pay ``bonus`` (``None``: none is owed) now: the bonus credited, or ``None``; and
    whether it is still owed after this try (in doubt: its member is told it is on its way)."""
    if bonus is None:
        return None, False
    campaign = await payer.pay(bonus)
    if campaign is not None:
        return SignupBonus(bonus.amount, campaign), False
    if await owed.state(bonus.key) is not BonusState.DOUBT:
        return None, False
    try:
        described = await bonus_campaign(catalog, bonus.campaign_id)
    except LoyaltyError:
        described = None
    return (None if described is None else SignupBonus(bonus.amount, described)), True
