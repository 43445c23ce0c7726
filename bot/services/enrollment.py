"""Joining the program: find the member who owns a proven phone or email, or create one, and
link the Telegram account to it — exactly once, even when the platform fails half-way.

The member code is chosen and stored (``PendingJoins``) before the first platform call. A
retry first asks the platform for that code, so a create whose answer was lost is found
instead of made twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import KW_ONLY, asdict, dataclass, field, fields
from decimal import Decimal
from typing import Protocol

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import AlreadyExists
from bot.loyalty.models import Campaign, Member, NewMember
from bot.services.catalog import CampaignCatalog
from bot.storage.joins import PendingJoin, PendingJoins
from bot.storage.members import LinkConflict, MemberLink, MemberLinks

log = logging.getLogger(__name__)

MEMBER_CODE_DIGITS = 16
RETRY_DELAY = dt.timedelta(minutes=1)
"""How long a started join stays hidden from the background retries (past any timeout)."""


def new_member_code() -> str:
    """A random 16-digit code, the shape the platform gives its own codes."""
    return str(
        10 ** (MEMBER_CODE_DIGITS - 1) + secrets.randbelow(9 * 10 ** (MEMBER_CODE_DIGITS - 1))
    )


@dataclass(frozen=True)
class JoinRequest:
    """A proven contact (phone from the member's own Telegram contact, or a verified email)
    and the names to start the profile with."""

    phone: str = ""
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    language: str = ""
    """The language the member used, for anything sent once a delayed join completes."""

    def __post_init__(self) -> None:
        if not self.phone and not self.email:
            raise ValueError("a join needs a proven phone or email")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JoinRequest:
        raw = json.loads(text)
        return cls(**{field.name: str(raw.get(field.name, "")) for field in fields(cls)})


@dataclass(frozen=True)
class Joined:
    member: Member
    link: MemberLink
    created: bool
    """True when the join created the member, False when an existing one was found."""
    signup_bonus: SignupBonus | None = None
    """The signup link's bonus credited with this join, if any."""
    referral: ReferralOutcome | None = None
    """What the invite the member joined through came to, if they opened one."""


@dataclass(frozen=True)
class SignupBonus:
    """A signup bonus credited with a join, in its campaign's own unit (points, money)."""

    amount: Decimal
    campaign: Campaign


@dataclass(frozen=True)
class SignupOffer:
    """What the signup link a visitor opened adds to their join."""

    campaign_id: str | None
    """Joined first, so a create's ``signup_bonus`` is credited in it."""
    signup_bonus: Decimal | None
    """Credited by the create itself; ``None`` when the link pays nothing that way."""


@dataclass(frozen=True)
class InviterNotice:
    """Telling an inviter their friend joined (claimed once; send it, do not store it)."""

    telegram_user_id: int
    language: str | None
    friend_name: str
    bonus: SignupBonus | None
    bonus_pending: bool = False
    """The bonus is owed but not credited yet (the platform did not answer)."""
    key: str = ""
    """Names this notice once, for the sender (``referral:<id>``)."""
    sent: Callable[[], Awaitable[None]] | None = field(default=None, compare=False, repr=False)
    """To call once the notice went out (or can never go out), so it is not sent again."""


@dataclass(frozen=True)
class ReferralOutcome:
    """What an invite a friend joined through came to (``bot.services.referrals``)."""

    refusal: str | None
    """``self``, ``member`` (already a member) or ``cap`` (the inviter's month is full)."""
    friend_bonus: SignupBonus | None = None
    friend_bonus_pending: bool = False
    inviter_notice: InviterNotice | None = None


class ReferralHook(Protocol):
    """Applies an invite link to a join (``bot.services.referrals.Referrals``)."""

    async def begin(self, telegram_user_id: int, member_code: str) -> None:
        """Before a join attempt's platform calls: claim the user's invite, if any."""
        ...

    async def finish(
        self, telegram_user_id: int, member: Member, *, created: bool, friend_name: str
    ) -> ReferralOutcome | None:
        """After the account is linked. Never raises platform errors."""
        ...


class SignupHook(Protocol):
    """Applies a signup link to a join (``bot.services.signup_links.SignupJoins``)."""

    async def begin(
        self, telegram_user_id: int, member_code: str, *, first_attempt: bool
    ) -> SignupOffer | None:
        """Before a join attempt's platform calls: what the user's link adds, if any."""
        ...

    async def finish(
        self, telegram_user_id: int, member: Member, *, created: bool
    ) -> SignupBonus | None:
        """After the account is linked; returns the bonus credited. Never raises platform
        errors."""
        ...


async def find_by_contact(backend: LoyaltyBackend, request: JoinRequest) -> Member | None:
    if request.phone:
        member = await backend.find_member_by_phone(request.phone)
        if member is not None:
            return member
    if request.email:
        return await backend.find_member_by_email(request.email)
    return None


async def find_or_enroll(
    backend: LoyaltyBackend,
    request: JoinRequest,
    *,
    code: str,
    campaign_ids: Sequence[str],
    retried: bool,
    signup_bonus: Decimal | None = None,
) -> tuple[Member, bool]:
    """The member for a proven contact: ours from an earlier try, an existing one, or a new one.

    Returns the member and whether this call created it.
    """
    if retried:
        member = await backend.get_member(code)
        if member is not None:
            return member, True
    member = await find_by_contact(backend, request)
    if member is not None:
        return member, False
    new_member = NewMember(
        code=code,
        first_name=request.first_name,
        last_name=request.last_name,
        phone=request.phone,
        email=request.email,
        campaign_ids=tuple(campaign_ids),
        signup_bonus=signup_bonus,
    )
    try:
        return await backend.enroll(new_member), True
    except AlreadyExists:
        # Our own earlier create, whose answer never arrived.
        member = await backend.get_member(code)
        if member is None:
            raise
        return member, True


@dataclass(eq=False)
class Enrollment:
    backend: LoyaltyBackend
    links: MemberLinks
    joins: PendingJoins
    catalog: CampaignCatalog
    _: KW_ONLY
    campaign_ids: Sequence[str] = ()
    clock: Callable[[], dt.datetime]
    code_factory: Callable[[], str] = new_member_code
    signups: SignupHook | None = None
    referrals: ReferralHook | None = None

    def __post_init__(self) -> None:
        self.campaign_ids = tuple(self.campaign_ids)

    async def _campaign_ids_to_join(self) -> list[str]:
        if self.campaign_ids:
            return list(self.campaign_ids)
        return [campaign.id for campaign in await self.catalog.campaigns()]

    async def join(self, user_id: int, request: JoinRequest) -> Joined:
        """Join with a proven contact; raises the platform's errors with the join kept."""
        pending = await self.joins.get(user_id)
        if pending is not None and pending.payload_json != request.to_json():
            replaced = await self._replace(user_id, pending, request)
            if isinstance(replaced, Joined):
                return replaced
            pending = replaced
        if pending is None:
            pending = await self.joins.put(user_id, self.code_factory(), request.to_json())
        return await self._complete(pending)

    async def _replace(
        self, user_id: int, pending: PendingJoin, request: JoinRequest
    ) -> PendingJoin | Joined:
        """A new contact while an older join is pending: finish the old one if it took effect,
        otherwise carry on with its member code and the new contact."""
        if pending.attempts > 0:
            member = await self.backend.get_member(pending.member_code)
            if member is not None:
                return await self._link(user_id, member, created=True, request=request)
        await self.joins.complete(user_id)
        return await self.joins.put(user_id, pending.member_code, request.to_json())

    async def resume(self, user_id: int, *, due_only: bool = False) -> Joined | None:
        """Finish the user's pending join, if any (the "Try again" button, the retry loop).

        ``due_only`` (the background retry loop): only a join due now, and only if no other
        worker, such as another replica's loop, took it first; else ``None``.
        """
        pending = await self.joins.get(user_id)
        if pending is None:
            return None
        if due_only and not await self.joins.claim_due(user_id, self.clock() + RETRY_DELAY):
            return None
        return await self._complete(pending)

    async def due(self, limit: int = 100) -> list[PendingJoin]:
        return await self.joins.list_due(self.clock(), limit)

    async def take_due(self, limit: int = 100) -> list[PendingJoin]:
        """Take due joins for this worker (the background retry loop); finish each with
        ``finish_taken``. Other workers, such as other replicas' loops, take other joins."""
        return await self.joins.take_due(self.clock() + RETRY_DELAY, limit)

    async def finish_taken(self, pending: PendingJoin) -> Joined:
        return await self._complete(pending)

    async def _complete(self, pending: PendingJoin) -> Joined:
        user_id = pending.telegram_user_id
        request = JoinRequest.from_json(pending.payload_json)
        campaign_ids = await self._campaign_ids_to_join()
        offer = None
        if self.signups is not None:
            offer = await self.signups.begin(
                user_id, pending.member_code, first_attempt=pending.attempts == 0
            )
        if self.referrals is not None:
            await self.referrals.begin(user_id, pending.member_code)
        if offer is not None and offer.campaign_id:
            linked = offer.campaign_id
            campaign_ids = [linked, *(other for other in campaign_ids if other != linked)]
        await self.joins.record_attempt(user_id, self.clock() + RETRY_DELAY)
        member, created = await find_or_enroll(
            self.backend,
            request,
            code=pending.member_code,
            campaign_ids=campaign_ids,
            retried=pending.attempts > 0,
            signup_bonus=None if offer is None else offer.signup_bonus,
        )
        return await self._link(user_id, member, created=created, request=request)

    async def _link(
        self, user_id: int, member: Member, *, created: bool, request: JoinRequest
    ) -> Joined:
        if not member.first_name and request.first_name:
            member = member.model_copy(update={"first_name": request.first_name})
        link = await self._relink(user_id, member)
        await self.joins.complete(user_id)
        bonus = None
        if self.signups is not None:
            bonus = await self.signups.finish(user_id, member, created=created)
        referral = None
        if self.referrals is not None:
            referral = await self.referrals.finish(
                user_id, member, created=created, friend_name=request.first_name
            )
        return Joined(
            member=member, link=link, created=created, signup_bonus=bonus, referral=referral
        )

    async def _relink(self, user_id: int, member: Member) -> MemberLink:
        """Link after fresh proof: the proof moves a link that stood elsewhere."""
        try:
            return await self.links.link(
                user_id, member.code, card_number=member.card_number, first_name=member.first_name
            )
        except LinkConflict as conflict:
            existing = conflict.existing
            log.info(
                "Fresh proof moves a link: Telegram user %s ↔ member %s replaces user %s ↔ %s",
                user_id,
                member.code,
                existing.telegram_user_id,
                existing.member_code,
            )
            await self.links.unlink(existing.telegram_user_id)
            if existing.telegram_user_id != user_id:
                await self.links.unlink(user_id)
            return await self.links.link(
                user_id, member.code, card_number=member.card_number, first_name=member.first_name
            )
