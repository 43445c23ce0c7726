"""Invite a friend: each member's own ``t.me/<bot>?start=<token>`` link and what a join
through it gives.

An invite token is ``r``, 11 random URL-safe characters and an 8-character HMAC tag of
them, made with the signup links' key under its own label, so neither kind of token can pass
for the other; an edited or typed one fails the tag before any lookup. The link carries
nothing but the token: the inviter is found by the token's digest on the server.

A friend who opens a link is kept as a visitor of it; their join claims a referral within
the inviter's monthly cap (``begin``) and, once linked, is recorded with both bonuses owed
(``finish``): paid through the owed-bonus machinery, so each is credited once even when the
platform fails half-way. Refused, with nothing owed: the inviter's own link, a friend who was
already a member (a linked Telegram account, or a phone or email found on the platform), an
inviter whose month is full.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import LoyaltyError
from bot.loyalty.models import Member
from bot.services.catalog import CampaignCatalog
from bot.services.enrollment import InviterNotice, ReferralOutcome, SignupBonus
from bot.services.owed_bonuses import (
    FIRST_POINTS_CAMPAIGN,
    BonusPayer,
    bonus_campaign,
    pay_owed_bonus,
)
from bot.storage.bonuses import OwedBonus, OwedBonuses
from bot.storage.links import BonusState, token_digest
from bot.storage.referrals import (
    REFUSALS,
    BonusGrant,
    InviteOutcome,
    ReferralCount,
    ReferralRepository,
    referral_bonus_key,
)
from bot.storage.timestamps import Clock, utc_now

log = logging.getLogger(__name__)

__all__ = ["InviteOpening", "InviteOutcome", "ReferralStats", "Referrals", "is_invite_shaped"]

NOTICE_LEASE = dt.timedelta(minutes=5)
"""An inviter notice claimed this long ago and not sent: its sender died; send it again."""
NOTICE_GIVE_UP_AFTER = dt.timedelta(days=2)

INVITE_PREFIX = "r"
BODY_BYTES = 8
BODY_LENGTH = 11
TAG_LENGTH = 8
INVITE_TOKEN_LENGTH = len(INVITE_PREFIX) + BODY_LENGTH + TAG_LENGTH


def _tag(secret: bytes, body: str) -> str:
    mac = hmac.new(secret, b"invite-link:" + body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:TAG_LENGTH]


def new_invite_token(secret: bytes) -> str:
    body = secrets.token_urlsafe(BODY_BYTES)
    return INVITE_PREFIX + body + _tag(secret, body)


def is_invite_shaped(payload: str) -> bool:
    """A payload meant as an invite token (signed or not): routed here, not to signup links."""
    return (
        len(payload) == INVITE_TOKEN_LENGTH
        and payload.startswith(INVITE_PREFIX)
        and all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in payload)
    )


def is_signed_invite(secret: bytes, payload: str) -> bool:
    if not is_invite_shaped(payload):
        return False
    body = payload[len(INVITE_PREFIX) : len(INVITE_PREFIX) + BODY_LENGTH]
    tag = payload[len(INVITE_PREFIX) + BODY_LENGTH :]
    return hmac.compare_digest(tag, _tag(secret, body))


@dataclass(frozen=True)
class InviteOpening:
    outcome: InviteOutcome

    @property
    def refused(self) -> bool:
        """Refused with a message of its own (not the plain welcome of a forged link)."""
        return self.outcome in REFUSALS


@dataclass(frozen=True)
class ReferralStats:
    """One row of ``links stats --by inviter``: an inviter's month."""

    month: str
    inviter_code: str
    opened: int
    refused: int
    """Openings and joins that gave nothing: own link, already a member, over the cap."""
    joined: int
    friend_bonuses: int
    inviter_bonuses: int


class Referrals:
    """Invite links, and the ``ReferralHook`` of ``Enrollment``."""

    def __init__(
        self,
        repository: ReferralRepository,
        owed: OwedBonuses,
        backend: LoyaltyBackend,
        catalog: CampaignCatalog,
        *,
        installation_secret: Callable[[], Awaitable[bytes]],
        bot_username: Callable[[], str],
        friend_bonus: Decimal | None = None,
        inviter_bonus: Decimal | None = None,
        campaign: str = "",
        monthly_cap: int | None = None,
        zone: dt.tzinfo = dt.UTC,
        clock: Clock = utc_now,
        secret: bytes | str | None = None,
    ) -> None:
        """``secret`` is the ``links_secret`` setting; without it ``installation_secret``
        gives the installation's own key (the signup links' one)."""
        self._repository = repository
        self._owed = owed
        self._backend = backend
        self._catalog = catalog
        self._installation_secret = installation_secret
        self._bot_username = bot_username
        self._friend_bonus = friend_bonus
        self._inviter_bonus = inviter_bonus
        self._campaign = campaign
        self.monthly_cap = monthly_cap
        self._zone = zone
        self._clock = clock
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self.payer = BonusPayer(owed, backend, catalog, clock=clock, name="invite bonus")

    async def _key(self) -> bytes:
        if self._secret is None:
            self._secret = await self._installation_secret()
        return self._secret

    def month(self) -> str:
        """The current month in the shop's time zone (the cap's period)."""
        return self._clock().astimezone(self._zone).strftime("%Y-%m")

    async def invite_token(self, member_code: str) -> str:
        return await self._repository.invite_token(
            member_code, new_invite_token(await self._key())
        )

    async def invite_url(self, member_code: str) -> str:
        username = self._bot_username().lstrip("@")
        if not username:
            raise RuntimeError("the bot's username is not known yet")
        return f"https://t.me/{username}?start={await self.invite_token(member_code)}"

    async def _inviter(self, payload: str) -> str | None:
        """The member whose invite token this is, character for character."""
        if not is_signed_invite(await self._key(), payload):
            return None
        found = await self._repository.by_digest(token_digest(payload))
        if found is None or not hmac.compare_digest(found[1], payload):
            return None
        return found[0]

    async def open(
        self, telegram_user_id: int, payload: str, *, member_code: str | None
    ) -> InviteOpening | None:
        """Resolve and count a ``/start`` payload of a user (``member_code``: if linked);
        ``None`` if it is not an invite at all (a signup link, perhaps)."""
        payload = payload.strip()
        if not is_invite_shaped(payload):
            return None
        month = self.month()
        if not is_signed_invite(await self._key(), payload):
            outcome = InviteOutcome.FORGED
            inviter = None
        else:
            inviter = await self._inviter(payload)
            if inviter is None:
                outcome = InviteOutcome.UNKNOWN
            elif member_code == inviter:
                outcome = InviteOutcome.SELF
            elif member_code is not None or await self._repository.was_referred(telegram_user_id):
                outcome = InviteOutcome.MEMBER
            elif (
                self.monthly_cap is not None
                and await self._repository.friends_this_month(inviter, month) >= self.monthly_cap
            ):
                outcome = InviteOutcome.CAP
            else:
                outcome = InviteOutcome.VALID
        await self._repository.record_attempt(
            outcome, month=month, telegram_user_id=telegram_user_id, inviter_code=inviter
        )
        return InviteOpening(outcome)

    async def begin(self, telegram_user_id: int, member_code: str) -> None:
        await self._repository.claim(
            telegram_user_id, member_code, month=self.month(), cap=self.monthly_cap
        )

    def _grants(self) -> tuple[BonusGrant | None, BonusGrant | None]:
        """The bonuses a referral owes; no platform call (the campaign is checked at payment)."""
        campaign = self._campaign or FIRST_POINTS_CAMPAIGN
        friend, inviter = (
            None if amount is None else BonusGrant(campaign, amount)
            for amount in (self._friend_bonus, self._inviter_bonus)
        )
        return friend, inviter

    async def bonus_terms(self) -> tuple[SignupBonus | None, SignupBonus | None]:
        """What a friend and their inviter each get, to show on the invite screen."""
        if self._friend_bonus is None and self._inviter_bonus is None:
            return None, None
        campaign = await bonus_campaign(self._catalog, self._campaign)
        if campaign is None:
            return None, None
        friend, inviter = (
            None if amount is None else SignupBonus(amount, campaign)
            for amount in (self._friend_bonus, self._inviter_bonus)
        )
        return friend, inviter

    async def finish(
        self, telegram_user_id: int, member: Member, *, created: bool, friend_name: str
    ) -> ReferralOutcome | None:
        """The friend's join is done: record the referral, pay both bonuses once, and claim
        the inviter's notice. Never raises a platform error: an unpaid bonus stays owed."""
        friend_grant, inviter_grant = self._grants()
        settled = await self._repository.settle(
            telegram_user_id,
            member.code,
            created=created,
            friend_name=friend_name,
            friend_bonus=friend_grant,
            inviter_bonus=inviter_grant,
        )
        if settled is None:
            return None
        if settled.refusal is not None:
            log.info(
                "Invite of member %s gives nothing: %s", settled.inviter_code, settled.refusal
            )
            return ReferralOutcome(refusal=settled.refusal.value)
        friend_bonus, friend_pending = await self._pay(settled.friend_bonus)
        inviter_bonus, inviter_pending = await self._pay(settled.inviter_bonus)
        notice = None
        if settled.inviter_telegram_user_id is not None:
            notice = self._notice(
                settled.referral_id,
                settled.inviter_telegram_user_id,
                settled.inviter_language,
                friend_name,
                inviter_bonus,
                inviter_pending,
            )
        return ReferralOutcome(
            refusal=None,
            friend_bonus=friend_bonus,
            friend_bonus_pending=friend_pending,
            inviter_notice=notice,
        )

    def _notice(
        self,
        referral_id: int,
        telegram_user_id: int,
        language: str | None,
        friend_name: str,
        bonus: SignupBonus | None,
        pending: bool,
    ) -> InviterNotice:
        async def sent() -> None:
            await self._repository.notice_sent(referral_id)

        return InviterNotice(
            telegram_user_id=telegram_user_id,
            language=language,
            friend_name=friend_name,
            bonus=bonus,
            bonus_pending=pending,
            key=f"referral:{referral_id}",
            sent=sent,
        )

    async def unsent_notices(self) -> list[InviterNotice]:
        """Inviter notices whose sender died between claim and send (a few minutes ago, up to
        ``NOTICE_GIVE_UP_AFTER``), taken again to be sent now."""
        now = self._clock()
        notices = []
        for unsent in await self._repository.retake_unsent_notices(
            claimed_before=now - NOTICE_LEASE, claimed_after=now - NOTICE_GIVE_UP_AFTER
        ):
            bonus, pending = None, False
            key = referral_bonus_key(unsent.referral_id, "inviter")
            state = await self._owed.state(key)
            if state in (BonusState.CREDITED, BonusState.SENDING, BonusState.DOUBT):
                amount = self._inviter_bonus
                try:
                    campaign = await bonus_campaign(self._catalog, self._campaign)
                except LoyaltyError:
                    campaign = None
                if amount is not None and campaign is not None:
                    bonus = SignupBonus(amount, campaign)
                pending = state is not BonusState.CREDITED
            notices.append(
                self._notice(
                    unsent.referral_id,
                    unsent.inviter_telegram_user_id,
                    unsent.inviter_language,
                    unsent.friend_name,
                    bonus,
                    pending,
                )
            )
        return notices

    async def _pay(self, owed: OwedBonus | None) -> tuple[SignupBonus | None, bool]:
        """(the bonus credited, or ``None``; whether it is still owed after this try)."""
        return await pay_owed_bonus(self.payer, self._owed, self._catalog, owed)

    async def stats(self) -> list[ReferralStats]:
        return fold_referral_counts(await self._repository.counts())


def fold_referral_counts(counts: list[ReferralCount]) -> list[ReferralStats]:
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for count in counts:
        totals = rows.setdefault((count.month, count.inviter_code), {})
        totals[count.what] = totals.get(count.what, 0) + count.count
    result = []
    for (month, inviter), totals in sorted(rows.items()):
        opened = sum(totals.get(outcome.value, 0) for outcome in InviteOutcome)
        refused = sum(totals.get(outcome.value, 0) for outcome in REFUSALS) + sum(
            n for what, n in totals.items() if what.startswith("refused:")
        )
        result.append(
            ReferralStats(
                month=month,
                inviter_code=inviter,
                opened=opened,
                refused=refused,
                joined=totals.get("joined", 0),
                friend_bonuses=totals.get("bonus:friend", 0),
                inviter_bonuses=totals.get("bonus:inviter", 0),
            )
        )
    return result
