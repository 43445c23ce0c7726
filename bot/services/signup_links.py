"""Signup links: marketing's ``t.me/<bot>?start=<token>`` links and what opening one does.

A token is 11 random URL-safe characters followed by a 5-character HMAC tag of them, made
with the installation's key (``links_secret``, else a random key kept in the database). An
edited or typed payload fails the tag and is refused before any lookup; a well-tagged one is
found by its digest and then compared in constant time. Campaign, source and bonus live only
in SQLite: the link carries nothing but the token.

``SignupLinks`` makes, lists and resolves links and counts every opening. ``SignupJoins``
applies a resolved link: it is the ``SignupHook`` of ``Enrollment`` (a use is claimed before
the platform is called, the bonus is paid once per member and campaign, the attribution is
recorded when the join completes), and it links a member through a personal link.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass, field, fields, replace
from decimal import Decimal
from enum import StrEnum

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import LoyaltyError
from bot.loyalty.models import Member
from bot.services.catalog import CampaignCatalog
from bot.services.enrollment import Joined, SignupBonus, SignupOffer
from bot.services.owed_bonuses import (
    BONUS_KINDS,
    SETTLE_OWED_EVERY,
    BonusPayer,
    bonus_purchase,
)
from bot.storage.links import (
    BonusDue,
    DailyCount,
    LinkOutcome,
    LinkRecord,
    LinkRepository,
    NewLink,
    link_refusal,
    token_digest,
)
from bot.storage.members import LinkConflict, MemberLinks
from bot.storage.timestamps import Clock, utc_now

log = logging.getLogger(__name__)

__all__ = [
    "BONUS_KINDS",
    "LinkOpening",
    "LinkOutcome",
    "LinkStats",
    "SignupJoins",
    "SignupLink",
    "SignupLinks",
    "StatsGrouping",
    "bonus_purchase",
    "looks_like_payload",
]

PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What Telegram passes as a ``start`` payload."""
TOKEN_BODY_BYTES = 8
TOKEN_BODY_LENGTH = 11
TAG_LENGTH = 5
TOKEN_LENGTH = TOKEN_BODY_LENGTH + TAG_LENGTH
PERSONAL_SOURCE = "personal"
STORE_SOURCE_PREFIX = "store:"


def looks_like_payload(text: str) -> bool:
    return PAYLOAD.fullmatch(text) is not None


def _tag(secret: bytes, body: str) -> str:
    mac = hmac.new(secret, b"signup-link:" + body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:TAG_LENGTH]


def new_token(secret: bytes) -> str:
    """A fresh token. It never begins with ``-``: marketing types tokens into
    ``links poster TOKEN`` and ``links disable TOKEN``, where a leading dash reads as an option."""
    body = secrets.token_urlsafe(TOKEN_BODY_BYTES)
    while body.startswith("-"):
        body = secrets.token_urlsafe(TOKEN_BODY_BYTES)
    return body + _tag(secret, body)


def is_signed(secret: bytes, payload: str) -> bool:
    """True when the payload is a token this installation made, character for character."""
    if len(payload) != TOKEN_LENGTH or not looks_like_payload(payload):
        return False
    body, tag = payload[:TOKEN_BODY_LENGTH], payload[TOKEN_BODY_LENGTH:]
    return hmac.compare_digest(tag, _tag(secret, body))


@dataclass(frozen=True, slots=True)
class SignupLink(LinkRecord):
    """A signup link, in the bot's words: the stored record (``member_code`` is set only for
    personal, single-use links) and what the bot asks of it."""

    @property
    def personal(self) -> bool:
        return self.member_code is not None

    def usable(self, now: dt.datetime) -> bool:
        return link_refusal(self, now) is None


def _public(record: LinkRecord) -> SignupLink:
    return SignupLink(**{field.name: getattr(record, field.name) for field in fields(record)})


@dataclass(frozen=True)
class LinkOpening:
    """What a ``/start <payload>`` turned out to be (already counted)."""

    outcome: LinkOutcome
    link: SignupLink | None = None
    """The link, for ``VALID`` and ``MEMBER``."""
    link_id: int | None = None
    attempt_id: int | None = None

    @property
    def personal(self) -> bool:
        """A usable personal link: it links whoever opened it to its member."""
        return self.outcome is LinkOutcome.VALID and self.link is not None and self.link.personal


class StatsGrouping(StrEnum):
    LINK = "link"
    SOURCE = "source"
    DAY = "day"


@dataclass(frozen=True)
class LinkStats:
    """Counts for one row of ``links stats``; days are UTC dates."""

    day: dt.date | None
    source: str
    token: str
    """Empty for rows that are not one link (a source, personal links, forged payloads)."""
    campaign_id: str
    opened: int
    refused: int
    """Openings that got the plain welcome: forged, unknown, expired, disabled, used up."""
    already_members: int
    signups: int
    bonuses: int


NO_LINK_SOURCE = "(forged or unknown)"
PERSONAL_ROW = "(personal links)"


def _check_new_link(
    campaign_id: str | None,
    source: str,
    bonus: Decimal | None,
    expires_at: dt.datetime | None,
    max_uses: int | None,
) -> None:
    if not source.strip():
        raise ValueError("a link needs a source (poster, email, instagram, store:<name> …)")
    if bonus is not None:
        if not bonus.is_finite() or bonus <= 0:
            raise ValueError("the bonus must be a positive number")
        if campaign_id is None:
            raise ValueError("a bonus needs the campaign to credit it in")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at.utcoffset() is None):
        raise ValueError("the expiry must be timezone-aware")
    if max_uses is not None and max_uses < 1:
        raise ValueError("max uses must be at least 1")


class SignupLinks:
    """Making, listing, disabling and resolving links, and counting their openings."""

    def __init__(
        self,
        repository: LinkRepository,
        *,
        bot_username: str,
        clock: Clock = utc_now,
        secret: bytes | str | None = None,
    ) -> None:
        """``secret`` is the ``links_secret`` setting; without it the installation's own
        random key from the database is used. Every process of one installation must agree."""
        self._repository = repository
        self._clock = clock
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self.bot_username = bot_username

    @property
    def bot_username(self) -> str:
        return self._bot_username

    @bot_username.setter
    def bot_username(self, username: str) -> None:
        self._bot_username = username.lstrip("@")

    def url(self, link: SignupLink) -> str:
        if not self._bot_username:
            raise RuntimeError(
                "the bot's username is not known yet: set BOT_USERNAME or start the bot first"
            )
        return f"https://t.me/{self._bot_username}?start={link.token}"

    async def _key(self) -> bytes:
        if self._secret is None:
            self._secret = await self._repository.installation_secret()
        return self._secret

    async def _new_link(self, link: NewLink) -> NewLink:
        return replace(link, token=new_token(await self._key()))

    async def create(
        self,
        *,
        campaign_id: str | None,
        source: str,
        bonus: Decimal | None = None,
        expires_at: dt.datetime | None = None,
        max_uses: int | None = None,
        note: str = "",
    ) -> SignupLink:
        campaign_id = campaign_id or None
        _check_new_link(campaign_id, source, bonus, expires_at, max_uses)
        draft = NewLink("", campaign_id, source.strip(), bonus, expires_at, max_uses, note)
        return _public(await self._repository.add(await self._new_link(draft)))

    async def store_link(self, store: str) -> SignupLink:
        """The store's signup link (source ``store:<store>``), made the first time it is asked.

        A store link made with ``links create --source store:<store>`` is used when it is
        still usable; a disabled, expired or used-up one is replaced by a new one.
        """
        if not store.strip():
            raise ValueError("the store needs a name")
        draft = NewLink("", None, f"{STORE_SOURCE_PREFIX}{store.strip()}")
        return _public(await self._repository.usable_or_add(await self._new_link(draft)))

    async def personal(
        self, member_code: str, *, expires_at: dt.datetime | None = None
    ) -> SignupLink:
        """A single-use link that links whoever opens it first to this existing member."""
        if not member_code:
            raise ValueError("a personal link needs the member's code")
        _check_new_link(None, PERSONAL_SOURCE, None, expires_at, 1)
        draft = NewLink(
            "", None, PERSONAL_SOURCE, None, expires_at, 1, "", member_code=member_code
        )
        return _public(await self._repository.add(await self._new_link(draft)))

    async def links(self, *, personal: bool = False) -> list[SignupLink]:
        return [_public(record) for record in await self._repository.all(personal=personal)]

    async def _record(self, token: str) -> LinkRecord | None:
        """The link of a well-formed token, found by digest and compared in constant time."""
        if not is_signed(await self._key(), token):
            return None
        record = await self._repository.by_digest(token_digest(token))
        if record is None or not hmac.compare_digest(record.token, token):
            return None
        return record

    async def get(self, token: str) -> SignupLink | None:
        record = await self._record(token.strip())
        return None if record is None else _public(record)

    async def disable(self, token: str) -> SignupLink | None:
        """Disable a link for good; ``None`` if there is no such link."""
        token = token.strip()
        if await self._record(token) is None:
            return None
        record = await self._repository.disable(token_digest(token))
        return None if record is None else _public(record)

    async def open(
        self, telegram_user_id: int, payload: str, *, member_code: str | None = None
    ) -> LinkOpening:
        """Resolve and count a ``/start <payload>`` of a user (``member_code``: if linked).

        A usable shared link opened by a visitor is kept for their join; the same link
        opened by someone already in is counted as ``MEMBER`` and does nothing else.
        """
        payload = payload.strip()
        if not is_signed(await self._key(), payload):
            attempt = await self._repository.record_attempt(
                LinkOutcome.FORGED, telegram_user_id=telegram_user_id
            )
            return LinkOpening(LinkOutcome.FORGED, attempt_id=attempt)
        record = await self._record(payload)
        if record is None:
            attempt = await self._repository.record_attempt(
                LinkOutcome.UNKNOWN, telegram_user_id=telegram_user_id
            )
            return LinkOpening(LinkOutcome.UNKNOWN, attempt_id=attempt)
        refusal = record.refusal(self._clock())
        if refusal is not None:
            outcome = refusal
        elif member_code is not None:
            outcome = LinkOutcome.MEMBER
        else:
            outcome = LinkOutcome.VALID
        keep = outcome is LinkOutcome.VALID and record.member_code is None
        attempt = await self._repository.record_attempt(
            outcome, telegram_user_id=telegram_user_id, link_id=record.id, visit=keep
        )
        return LinkOpening(outcome, _public(record), record.id, attempt)

    async def stats(self, grouping: StatsGrouping = StatsGrouping.LINK) -> list[LinkStats]:
        counts = await self._repository.daily_counts()
        ids = sorted({count.link_id for count in counts if count.link_id is not None})
        links = await self._repository.links_by_id(ids)
        if grouping is StatsGrouping.LINK:
            # Every shared link, even one nobody opened yet.
            for record in await self._repository.all():
                links.setdefault(record.id, record)
        return _fold(counts, links, grouping)


def _row_key(
    count: DailyCount | None, link: LinkRecord | None, grouping: StatsGrouping
) -> tuple[str, str, str, str]:
    """(day, source, token, campaign) of the row a count belongs to."""
    day = count.day.isoformat() if count is not None and grouping is StatsGrouping.DAY else ""
    if link is None:
        return day, NO_LINK_SOURCE, "", ""
    if grouping is StatsGrouping.SOURCE:
        return day, link.source, "", ""
    if link.member_code is not None:
        return day, link.source, PERSONAL_ROW, ""
    return day, link.source, link.token, link.campaign_id or ""


_REFUSED = frozenset(
    {
        LinkOutcome.FORGED,
        LinkOutcome.UNKNOWN,
        LinkOutcome.EXPIRED,
        LinkOutcome.DISABLED,
        LinkOutcome.USED_UP,
    }
)


def _fold(
    counts: Iterable[DailyCount], links: dict[int, LinkRecord], grouping: StatsGrouping
) -> list[LinkStats]:
    rows: dict[tuple[str, str, str, str], dict[str, int]] = {}
    if grouping is not StatsGrouping.DAY:
        for link in links.values():
            rows.setdefault(_row_key(None, link, grouping), {})
    for count in counts:
        counted = None if count.link_id is None else links.get(count.link_id)
        totals = rows.setdefault(_row_key(count, counted, grouping), {})
        totals[count.what] = totals.get(count.what, 0) + count.count
    result = []
    for (day, source, token, campaign_id), totals in sorted(rows.items()):
        outcomes = {outcome: totals.get(outcome.value, 0) for outcome in LinkOutcome}
        result.append(
            LinkStats(
                day=dt.date.fromisoformat(day) if day else None,
                source=source,
                token=token,
                campaign_id=campaign_id,
                opened=sum(outcomes.values()),
                refused=sum(outcomes[outcome] for outcome in _REFUSED),
                already_members=outcomes[LinkOutcome.MEMBER],
                signups=totals.get("signup", 0),
                bonuses=totals.get("bonus", 0),
            )
        )
    return result


@dataclass(eq=False)
class SignupJoins:
    """Applies signup links to joins: the ``SignupHook`` of ``Enrollment``, personal links,
    and paying bonuses that are owed (in doubt after a failure) exactly once."""

    repository: LinkRepository
    backend: LoyaltyBackend
    catalog: CampaignCatalog
    members: MemberLinks
    _: KW_ONLY
    clock: Clock = utc_now
    _payer: BonusPayer[BonusDue] = field(init=False)

    def __post_init__(self) -> None:
        self._payer = BonusPayer(
            self.repository, self.backend, self.catalog, clock=self.clock, name="signup bonus"
        )

    @property
    def payer(self) -> BonusPayer[BonusDue]:
        return self._payer

    def start_settling(self, every: float = SETTLE_OWED_EVERY) -> None:
        """Check and pay owed bonuses now and then in the background (bot start-up)."""
        self._payer.start_settling(every)

    async def stop_settling(self) -> None:
        await self._payer.stop_settling()

    async def begin(
        self, telegram_user_id: int, member_code: str, *, first_attempt: bool
    ) -> SignupOffer | None:
        """Claim a use of the user's link for the join about to be made.

        The bonus rides on the new member's create only on the join's first attempt: a
        later attempt may find a member an earlier attempt created without it.
        """
        bonus_campaigns: frozenset[str] = frozenset()
        if first_attempt:
            visited = await self.repository.visit(telegram_user_id)
            if visited is not None and visited.bonus is not None and visited.campaign_id:
                campaign = (await self.catalog.by_id()).get(visited.campaign_id)
                if campaign is not None and campaign.kind in BONUS_KINDS:
                    bonus_campaigns = frozenset({campaign.id})
        claim = await self.repository.claim(
            telegram_user_id, member_code, bonus_campaigns=bonus_campaigns
        )
        if claim is None:
            return None
        return SignupOffer(
            campaign_id=claim.link.campaign_id,
            signup_bonus=claim.link.bonus if claim.bonus_in_create else None,
        )

    async def finish(
        self, telegram_user_id: int, member: Member, *, created: bool
    ) -> SignupBonus | None:
        """The join is done: record it and pay the bonus once. Returns the bonus credited.

        Never raises a platform error: a bonus that could not be paid stays owed.
        """
        settled = await self.repository.settle(telegram_user_id, member.code, created=created)
        if settled is None:
            return None
        link = settled.link
        if settled.credited_in_create is not None:
            return await self._credited(settled.credited_in_create, link.campaign_id)
        if settled.due is not None:
            return await self._pay(settled.due)
        if link.campaign_id is not None and link.campaign_id not in member.campaign_ids:
            try:
                await self.backend.join_campaign(member.code, link.campaign_id)
            except LoyaltyError as exc:
                log.warning(
                    "Member %s could not join campaign %s of signup link: %s",
                    member.code,
                    link.campaign_id,
                    exc.message,
                )
        return None

    async def _credited(self, amount: Decimal, campaign_id: str | None) -> SignupBonus | None:
        """The bonus a create credited, with its campaign for wording (``None`` if unknown)."""
        try:
            campaign = (await self.catalog.by_id()).get(campaign_id or "")
        except LoyaltyError as exc:
            log.info("Credited signup bonus not described: %s", exc.message)
            return None
        return None if campaign is None else SignupBonus(amount, campaign)

    async def _pay(self, bonus: BonusDue) -> SignupBonus | None:
        """Send one bonus (its row is in state ``sending``); record what became of it."""
        campaign = await self._payer.pay(bonus)
        return None if campaign is None else SignupBonus(bonus.amount, campaign)

    async def settle_owed(self, *, member_code: str | None = None, limit: int = 50) -> int:
        """Pay bonuses left in doubt, after checking the member's history for each.

        A bonus whose marker is in the history was paid and is only recorded as such; the
        others are sent again. Returns how many were credited.
        """
        return await self._payer.settle_owed(member_code=member_code, limit=limit)

    async def settle_member(self, telegram_user_id: int, member_code: str) -> None:
        """For a linked member: finish a join whose settling was cut off, pay what is owed.

        Never raises a platform error.
        """
        planned = await self.repository.claimed_by(telegram_user_id)
        if planned is not None:
            member = Member(code=member_code)
            await self.finish(telegram_user_id, member, created=planned == member_code)
        try:
            await self.settle_owed(member_code=member_code, limit=5)
        except LoyaltyError as exc:
            log.info("Owed signup bonus for %s not settled yet: %s", member_code, exc.message)

    async def link_personal(self, telegram_user_id: int, opening: LinkOpening) -> Joined | None:
        """Link the user to the member of a personal link, using the link up.

        ``None`` (and the link left as it was) when the member no longer exists on the
        platform, the link was used meanwhile, or the member is linked to another account.
        Platform errors of the member lookup are raised.
        """
        link = opening.link
        if link is None or link.member_code is None or opening.link_id is None:
            raise ValueError("not a personal link")
        member = await self.backend.get_member(link.member_code)
        if member is None:
            log.warning("Personal link for member %s: no such member", link.member_code)
            return None
        record = await self.repository.claim_personal(
            opening.link_id, telegram_user_id, opening.attempt_id
        )
        if record is None:
            return None
        try:
            member_link = await self.members.link(
                telegram_user_id,
                member.code,
                card_number=member.card_number,
                first_name=member.first_name,
            )
        except LinkConflict as conflict:
            log.info("Personal link not applied: %s", conflict)
            await self.repository.release_personal(opening.link_id, telegram_user_id)
            return None
        return Joined(member=member, link=member_link, created=False)
