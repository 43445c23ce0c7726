"""The birthday treat: on a member's birthday, in the shop's time zone, a greeting and (if
configured) a bonus, once per member per year.

The birthday is the one kept with the member link: given in the bot's profile, or read from
the platform (``refresh``: new links first, then each link again after ``RECHECK_AFTER``).
A treat is claimed in the database before anything is sent or paid, so restarts, replicas
and a birthday moved to the day before or after never give a second one in the same year (a
greeting whose sender died between claim and send goes out on a later run that day);
its bonus is owed under the key ``birthday:<member>:<year>`` and paid through the owed-bonus
machinery. A 29 February birthday is kept on 28 February in other years.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass
from decimal import Decimal

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import LoyaltyError, Unavailable
from bot.services.catalog import CampaignCatalog
from bot.services.enrollment import SignupBonus
from bot.services.owed_bonuses import (
    FIRST_POINTS_CAMPAIGN,
    BonusPayer,
    bonus_campaign,
    pay_owed_bonus,
)
from bot.storage.birthdays import BirthdayBook, BirthdayMember
from bot.storage.bonuses import OwedBonus, OwedBonuses
from bot.storage.links import BonusState
from bot.storage.referrals import BonusGrant
from bot.storage.timestamps import Clock, utc_now

log = logging.getLogger(__name__)

RECHECK_AFTER = dt.timedelta(days=30)
REFRESH_PER_RUN = 200
GREETING_LEASE = dt.timedelta(minutes=5)
"""A claimed treat whose greeting has not gone out after this long is sent again: its sender
died (a live sender finishes a greeting in seconds)."""


@dataclass(frozen=True)
class BirthdayGreeting:
    """A greeting to send now (its treat is claimed: send it, do not repeat it)."""

    telegram_user_id: int
    member_code: str
    year: int
    first_name: str
    language: str | None
    bonus: SignupBonus | None
    bonus_pending: bool = False
    """The bonus is owed but not credited yet (the platform did not answer)."""


Send = Callable[[BirthdayGreeting], Awaitable[None]]


def birthday_month_days(day: dt.date) -> list[str]:
    """``MM-DD`` of the birthdays celebrated on ``day`` (29 February on 28 February of a
    common year)."""
    month_days = [day.strftime("%m-%d")]
    if day.month == 2 and day.day == 28:
        try:
            dt.date(day.year, 2, 29)
        except ValueError:
            month_days.append("02-29")
    return month_days


@dataclass(eq=False)
class BirthdayTreats:
    book: BirthdayBook
    owed: OwedBonuses
    payer: BonusPayer[OwedBonus]
    backend: LoyaltyBackend
    catalog: CampaignCatalog
    _: KW_ONLY
    zone: dt.tzinfo = dt.UTC
    bonus: Decimal | None = None
    campaign: str = ""
    send_from_hour: int = 9
    clock: Clock = utc_now

    def local_now(self) -> dt.datetime:
        return self.clock().astimezone(self.zone)

    async def refresh(self, limit: int = REFRESH_PER_RUN) -> int:
        """Read birthdays from the platform for links never (or not lately) checked.

        Stops at the first ``Unavailable``; returns how many were read.
        """
        read = 0
        checked_before = self.clock() - RECHECK_AFTER
        for code in await self.book.unchecked(checked_before=checked_before, limit=limit):
            try:
                member = await self.backend.get_member(code)
            except Unavailable as exc:
                log.info("Birthdays not read: the platform is unavailable (%s)", exc.message)
                break
            except LoyaltyError as exc:
                log.warning("Birthday of member %s not read: %s", code, exc.message)
                continue
            await self.book.remember(code, None if member is None else member.birthday)
            read += 1
        return read

    async def give_treats(self, send: Send) -> int:
        """Greet (and treat) every member whose birthday is today in the shop, once a year.

        Nothing happens before ``send_from_hour``. A greeting whose ``send`` raised is tried
        again on a later run that day (``send`` returns normally for a chat that can never
        get it); an unpaid bonus stays owed. Returns how many greetings went out.
        """
        now = self.local_now()
        if now.hour < self.send_from_hour:
            return 0
        today = now.date()
        month_days = birthday_month_days(today)
        given = 0
        for member in await self.book.retake_ungreeted(
            month_days, today.year, claimed_before=self.clock() - GREETING_LEASE
        ):
            # Its bonus was owed with the claim; the owed-bonus rounds pay it.
            state = await self.owed.state(f"birthday:{member.member_code}:{today.year}")
            bonus = None
            if state is not None and state is not BonusState.FAILED and self.bonus is not None:
                grant = self._grant()
                bonus = None if grant is None else await self._described(grant)
            pending = state in (BonusState.SENDING, BonusState.DOUBT)
            given += await self._greet(send, member, today.year, bonus, pending)
        celebrating = await self.book.celebrating(month_days, today.year)
        if not celebrating:
            return given
        grant = self._grant()
        for member in celebrating:
            claimed, owed = await self.book.claim_treat(
                member.member_code, today.year, member.birthday, grant
            )
            if not claimed:
                continue
            bonus, pending = await pay_owed_bonus(self.payer, self.owed, self.catalog, owed)
            given += await self._greet(send, member, today.year, bonus, pending)
        return given

    async def _greet(
        self,
        send: Send,
        member: BirthdayMember,
        year: int,
        bonus: SignupBonus | None,
        pending: bool,
    ) -> int:
        greeting = BirthdayGreeting(
            telegram_user_id=member.telegram_user_id,
            member_code=member.member_code,
            year=year,
            first_name=member.first_name,
            language=member.language,
            bonus=bonus,
            bonus_pending=pending,
        )
        try:
            await send(greeting)
        except Exception:
            log.exception("Birthday greeting of member %s not sent", member.member_code)
            return 0
        await self.book.greeted(member.member_code, year)
        return 1

    async def run(self, send: Send) -> int:
        """One pass of the job: refresh some birthdays, then give today's treats."""
        try:
            await self.refresh()
        except LoyaltyError as exc:
            log.info("Birthdays not refreshed: %s", exc.message)
        return await self.give_treats(send)

    def _grant(self) -> BonusGrant | None:
        """Today's bonus; no platform call (its campaign is checked when it is paid)."""
        if self.bonus is None:
            return None
        return BonusGrant(self.campaign or FIRST_POINTS_CAMPAIGN, self.bonus)

    async def _described(self, grant: BonusGrant) -> SignupBonus | None:
        try:
            campaign = await bonus_campaign(self.catalog, grant.campaign_id)
        except LoyaltyError:
            return None
        return None if campaign is None else SignupBonus(grant.amount, campaign)
