"""The kiosk's use cases: look a card up, enroll a walk-in, and let staff record and redeem.

What leaves this module about a member is their first name, a masked contact and their
balances; the member's code and card number stay on the server, behind a short-lived visit
token. Lookups are limited per kiosk, and unknown cards have a tighter limit of their own,
so card numbers cannot be enumerated; that limit refuses further unknown cards only, so a
member's valid card still works at a kiosk someone mistyped at. Walk-ins are created exactly
as the bot creates members (``enrollment.find_or_enroll``); a contact that already belongs to
a member reveals nothing of that member.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import LoyaltyError, NotFound, Rejected
from bot.loyalty.models import (
    BuyXItem,
    Campaign,
    CampaignKind,
    Member,
    Purchase,
    Receipt,
    Redemption,
)
from bot.services.balance_notices import BalanceNotifier, recorded_receipt, tell_receipt
from bot.services.balances import BalanceLine, balance_line, balance_lines, member_balances
from bot.services.catalog import CampaignCatalog
from bot.services.contacts import ContactError, normalize_email, normalize_phone
from bot.services.enrollment import JoinRequest, find_or_enroll, new_member_code
from bot.services.kiosk_state import KioskState, MemoryKioskState, Visit
from bot.services.masking import masked_contact
from bot.services.rate_limits import RateLimited
from bot.services.signup_links import SignupLinks
from bot.services.staff_pin import PinOutcome, StaffAccess, StaffLocked, StaffUnlocked, WrongPin
from bot.storage.kiosk_notices import PendingNotices
from bot.storage.kiosks import Kiosk, KioskAction, Kiosks

log = logging.getLogger(__name__)

_CARD_TEXT = re.compile(r"^[A-Za-z0-9-]{4,40}$")
MAX_STAFF_AMOUNT = Decimal(100_000)
MAX_ITEM_QUANTITY = 99
JOIN_MEMORY = dt.timedelta(days=1)
"""How long an unfinished walk-in join (and the contact typed for it) is kept for a retry."""
CLAIM_LINK_LIFETIME = dt.timedelta(days=1)
"""How long a walk-in's personal link (shown once, on the kiosk's screen) can be claimed."""
NOTICE_STALE = dt.timedelta(minutes=1)
"""A pending balance notice this old lost its process: it is settled by its marker."""
SETTLE_EVERY = dt.timedelta(minutes=1)


class CardNotFound(Exception):
    """No member holds that card (or the text is not a card number)."""


class VisitEnded(Exception):
    """The member's screen timed out or returned to idle; scan the card again."""


class UnknownCardsLimited(RateLimited):
    """Too many unknown cards (or contacts of members) at a kiosk; valid cards still work."""


class StaffOnly(Exception):
    """The action needs an open staff session."""


class StaffActionInvalid(ValueError):
    """The staff action does not fit the campaign (a missing amount, an unknown reward …)."""


class StaffActionRefused(Exception):
    """The platform refused the action (not enough balance, …); ``message`` is its own text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class KioskLimits:
    lookups: int
    lookup_window: dt.timedelta
    unknown_cards: int
    unknown_card_window: dt.timedelta


@dataclass(frozen=True)
class MemberScreen:
    visit: str
    """The token the page sends back for a refresh or a staff action."""
    first_name: str
    contact: str
    """The masked phone or email."""
    balances: list[BalanceLine]
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    """The member's campaigns by id, for the staff actions (rewards, buy-X items)."""


@dataclass(frozen=True)
class WalkIn:
    card_number: str
    first_name: str
    claim_url: str | None
    """A personal, single-use link that ties the card to the member's Telegram."""


@dataclass(frozen=True)
class AlreadyMember:
    """The typed contact belongs to a member already: nothing more is said about them."""


@dataclass(frozen=True)
class StaffReceipt:
    receipt: Receipt
    line: BalanceLine | None
    """The campaign's balance after the action, when the platform told it."""


def card_text(text: str) -> str | None:
    """The card number in a scan or a typed entry (spaces dropped), or ``None``."""
    compact = "".join(text.split())
    return compact if _CARD_TEXT.match(compact) else None


def parse_contact(text: str, region: str) -> JoinRequest:
    """A typed phone (national or international) or email, normalised as the bot does."""
    text = text.strip()
    if "@" in text:
        return JoinRequest(email=normalize_email(text))
    return JoinRequest(phone=normalize_phone(text, region))


class KioskDesk:
    def __init__(
        self,
        backend: LoyaltyBackend,
        kiosks: Kiosks,
        catalog: CampaignCatalog,
        staff: StaffAccess,
        *,
        limits: KioskLimits,
        visit_ttl: dt.timedelta,
        region: str,
        campaign_ids: Sequence[str] = (),
        links: SignupLinks | None = None,
        clock: Callable[[], dt.datetime],
        code_factory: Callable[[], str] = new_member_code,
        notices: PendingNotices | None = None,
        state: KioskState | None = None,
    ) -> None:
        """``state``: where visits and the limits' windows live (this process by default;
        Redis when replicas share the kiosks)."""
        self._backend = backend
        self._notices = notices
        self._kiosks = kiosks
        self._catalog = catalog
        self.staff = staff
        self._links = links
        self._visit_ttl = visit_ttl
        self._region = region
        self._campaign_ids = tuple(campaign_ids)
        self._clock = clock
        self._code_factory = code_factory
        state = MemoryKioskState(clock) if state is None else state
        self._lookups = state.window_limit("lookups", limits.lookups, limits.lookup_window)
        self._unknown = state.window_limit(
            "unknown-cards", limits.unknown_cards, limits.unknown_card_window
        )
        self._visits = state.visits
        self._notifier: BalanceNotifier | None = None

    def now(self) -> dt.datetime:
        return self._clock()

    async def campaigns(self) -> dict[str, Campaign]:
        return await self._catalog.by_id()

    def set_notifier(self, notifier: BalanceNotifier | None) -> None:
        """Members hear of their purchases and redemptions once the bot runs."""
        self._notifier = notifier

    def set_links(self, links: SignupLinks | None) -> None:
        """Signup links arrive once the bot knows its username (after ``getMe``)."""
        self._links = links

    async def _limit(self, kiosk: Kiosk) -> None:
        await self._lookups.take(str(kiosk.id))

    async def _miss(self, kiosk: Kiosk, refusal: type[RateLimited] = UnknownCardsLimited) -> None:
        """Count an unknown card (or a member's contact); over the limit, ``refusal`` with the
        real wait."""
        try:
            await self._unknown.take(str(kiosk.id))
        except RateLimited as exc:
            raise refusal(exc.retry_after) from None

    async def look_up(self, kiosk: Kiosk, scanned: str) -> MemberScreen:
        """The member holding the scanned card; raises ``CardNotFound`` or ``RateLimited``."""
        await self._limit(kiosk)
        card_number = card_text(scanned)
        found = (
            None
            if card_number is None
            else await self._backend.find_member_with_balances(card_number)
        )
        if found is None:
            log.info("Kiosk %s: a card that is not a member's was scanned", kiosk.id)
            await self._miss(kiosk)
            raise CardNotFound
        member, balances = found
        token = secrets.token_urlsafe(18)
        await self._visits.put(token, Visit(kiosk.id, member, self._clock() + self._visit_ttl))
        return await self._screen(token, member, balance_lines(balances))

    async def _screen(
        self, token: str, member: Member, lines: list[BalanceLine] | None = None
    ) -> MemberScreen:
        if lines is None:
            lines = await member_balances(self._backend, member.code)
        by_id = await self._catalog.by_id()
        campaigns = {
            line.campaign_id: by_id[line.campaign_id]
            for line in lines
            if line.campaign_id in by_id
        }
        return MemberScreen(
            visit=token,
            first_name=member.first_name,
            contact=masked_contact(member),
            balances=lines,
            campaigns=campaigns,
        )

    async def _visit(self, kiosk: Kiosk, token: str) -> Visit:
        visit = await self._visits.touch(token, kiosk.id, self._visit_ttl)
        if visit is None:
            raise VisitEnded
        return visit

    async def refresh(self, kiosk: Kiosk, token: str) -> MemberScreen:
        visit = await self._visit(kiosk, token)
        return await self._screen(token, visit.member)

    async def end_visit(self, kiosk: Kiosk, token: str | None) -> None:
        """Back to idle: the visit and the kiosk's staff session end."""
        if token:
            await self._visits.delete(token, kiosk.id)
        await self.staff.lock(kiosk)

    async def store_url(self, kiosk: Kiosk) -> str | None:
        """The store's signup link for the idle screen, if signup links are available."""
        # Asked each time: marketing may disable the store's link, and a new one then replaces it.
        if self._links is None or not self._links.bot_username:
            return None  # The username is known once the bot has asked Telegram (getMe).
        return self._links.url(await self._links.store_link(kiosk.store))

    async def _campaign_ids_to_join(self) -> list[str]:
        # The same rule as ``Enrollment``: the configured campaigns, else every campaign.
        if self._campaign_ids:
            return list(self._campaign_ids)
        return [campaign.id for campaign in await self._catalog.campaigns()]

    async def join(self, kiosk: Kiosk, contact: str) -> WalkIn | AlreadyMember:
        """Enroll a walk-in by phone or email; raises ``ContactError`` for a bad contact.

        A retry after a platform failure carries on with the member code of the first try.
        """
        await self._limit(kiosk)
        request = parse_contact(contact, self._region)
        key = request.phone or request.email.casefold()
        await self._kiosks.forget_joins_before(self._clock() - JOIN_MEMORY)
        fresh = self._code_factory()
        code = await self._kiosks.start_join(kiosk.id, key, fresh)
        member, created = await find_or_enroll(
            self._backend,
            request,
            code=code,
            campaign_ids=await self._campaign_ids_to_join(),
            retried=code != fresh,
        )
        await self._kiosks.finish_join(kiosk.id, key)
        await self._log(kiosk, "join", "created" if created else "already a member", member)
        if not created:
            # Telling whose contact it is would let anyone probe contacts: count it as a miss.
            # Over the limit a walk-in hears "too many tries", not a word about cards.
            await self._miss(kiosk, RateLimited)
            return AlreadyMember()
        claim_url = None
        if self._links is not None and self._links.bot_username:
            expires_at = self._clock() + CLAIM_LINK_LIFETIME
            claim = await self._links.personal(member.code, expires_at=expires_at)
            claim_url = self._links.url(claim)
        return WalkIn(
            card_number=member.card_number, first_name=member.first_name, claim_url=claim_url
        )

    async def _staff_visit(self, kiosk: Kiosk, staff_token: str | None, visit_token: str) -> Visit:
        if not await self.staff.session_open(kiosk, staff_token):
            raise StaffOnly
        return await self._visit(kiosk, visit_token)

    async def _campaign(self, visit: Visit, campaign_id: str) -> Campaign:
        campaign = (await self._catalog.by_id()).get(campaign_id)
        if campaign is None or (
            visit.member.campaign_ids and campaign_id not in visit.member.campaign_ids
        ):
            raise StaffActionInvalid("the member is not in that campaign")
        return campaign

    async def record(
        self,
        kiosk: Kiosk,
        staff_token: str | None,
        visit_token: str,
        *,
        campaign_id: str,
        amount: Decimal | None = None,
        item: str | None = None,
        quantity: int = 1,
    ) -> StaffReceipt:
        """Record a purchase (points, gift card: an amount; buy-X: an item) or a visit."""
        visit = await self._staff_visit(kiosk, staff_token, visit_token)
        campaign = await self._campaign(visit, campaign_id)
        purchase = Purchase(campaign_id=campaign.id, description=_marker(kiosk))
        match campaign.kind:
            case CampaignKind.POINTS | CampaignKind.GIFTCARD:
                purchase = purchase.model_copy(update={"amount": _amount(amount)})
            case CampaignKind.BUYX:
                if not 1 <= quantity <= MAX_ITEM_QUANTITY:
                    raise StaffActionInvalid("the quantity is out of range")
                purchase = purchase.model_copy(
                    update={"item": _item(campaign, item).id, "quantity": quantity}
                )
            case CampaignKind.EVENTS | CampaignKind.EARNED:
                pass
        detail = {
            key: str(value)
            for key, value in (
                ("amount", purchase.amount),
                ("item", purchase.item),
                ("quantity", purchase.quantity if purchase.item else None),
            )
            if value is not None
        }
        return await self._transact(
            kiosk,
            visit,
            "purchase",
            campaign,
            detail,
            purchase.description,
            lambda: self._backend.record_purchase(visit.member.code, purchase),
        )

    async def redeem(
        self,
        kiosk: Kiosk,
        staff_token: str | None,
        visit_token: str,
        *,
        campaign_id: str,
        reward_id: str | None = None,
        amount: Decimal | None = None,
        item: str | None = None,
    ) -> StaffReceipt:
        """Redeem a reward (points, events), an amount (points, gift card, earned) or a free
        buy-X item."""
        visit = await self._staff_visit(kiosk, staff_token, visit_token)
        campaign = await self._campaign(visit, campaign_id)
        redemption = Redemption(campaign_id=campaign.id, description=_marker(kiosk))
        match campaign.kind:
            case CampaignKind.POINTS | CampaignKind.EVENTS if reward_id is not None:
                rewards = await self._backend.rewards(campaign.id)
                if reward_id not in {reward.id for reward in rewards}:
                    raise StaffActionInvalid("no such reward")
                redemption = redemption.model_copy(update={"reward_id": reward_id})
            case CampaignKind.POINTS if not campaign.reward_ratio:
                # Points with no money value (Altcraft, or no spend-to-reward ratio): the
                # amount is a number of points.
                redemption = redemption.model_copy(update={"points": _amount(amount)})
            case CampaignKind.POINTS | CampaignKind.GIFTCARD | CampaignKind.EARNED:
                redemption = redemption.model_copy(update={"amount": _amount(amount)})
            case CampaignKind.BUYX:
                redemption = redemption.model_copy(update={"item": _item(campaign, item).id})
            case _:
                raise StaffActionInvalid("a visits campaign redeems rewards only")
        detail = {
            key: str(value)
            for key, value in (
                ("reward_id", redemption.reward_id),
                ("points", redemption.points),
                ("amount", redemption.amount),
                ("item", redemption.item),
            )
            if value is not None
        }
        return await self._transact(
            kiosk,
            visit,
            "redeem",
            campaign,
            detail,
            redemption.description,
            lambda: self._backend.redeem(visit.member.code, redemption),
        )

    async def _transact(
        self,
        kiosk: Kiosk,
        visit: Visit,
        action: str,
        campaign: Campaign,
        detail: dict[str, str],
        marker: str,
        call: Callable[[], Awaitable[Receipt]],
    ) -> StaffReceipt:
        """Send ``call`` with a pending notice under ``marker`` written first: if this process
        dies before the member is told, ``settle_notices`` finds the transaction later."""
        if self._notices is not None:
            await self._notices.add(marker, visit.member.code, campaign.id)
        try:
            receipt = await call()
        except (Rejected, NotFound) as exc:
            if self._notices is not None:
                await self._notices.remove(marker)
            await self._log(kiosk, action, "refused", visit.member, campaign, detail)
            log.info("Kiosk %s: the platform refused a %s: %s", kiosk.id, action, exc.message)
            raise StaffActionRefused(exc.message) from exc
        except LoyaltyError:
            # Unknown whether it took effect: logged as such, never retried.
            await self._log(kiosk, action, "unknown", visit.member, campaign, detail)
            raise
        await self._log(
            kiosk, action, "done", visit.member, campaign, detail, receipt.transaction_id
        )
        await tell_receipt(self._notifier, self._backend, visit.member.code, campaign, receipt)
        if self._notices is not None:
            await self._notices.remove(marker)
        line = None if receipt.balance is None else balance_line(receipt.balance)
        return StaffReceipt(receipt, line)

    async def settle_notices(self) -> int:
        """Settle the pending notices older than ``NOTICE_STALE`` (their process died, or the
        platform did not answer): a transaction found by its marker is told under its own key
        (``tx:<id>``, so a member told already is not told again), none found means nothing
        was recorded. Returns how many were settled; the rest wait for the next round."""
        if self._notices is None or self._notifier is None:
            return 0
        settled = 0
        by_id = await self._catalog.by_id()
        for notice in await self._notices.older_than(self._clock() - NOTICE_STALE):
            campaign = by_id.get(notice.campaign_id)
            try:
                receipt = (
                    None
                    if campaign is None
                    else await recorded_receipt(
                        self._backend, notice.member_code, notice.campaign_id, notice.marker
                    )
                )
            except LoyaltyError as exc:
                log.info("Kiosk notice %s not settled yet: %s", notice.marker, exc.message)
                continue
            if receipt is not None and campaign is not None:
                log.info("Kiosk notice %s: found as %s", notice.marker, receipt.transaction_id)
                await tell_receipt(
                    self._notifier, self._backend, notice.member_code, campaign, receipt
                )
            else:
                log.info("Kiosk notice %s: nothing was recorded", notice.marker)
            await self._notices.remove(notice.marker)
            settled += 1
        return settled

    async def keep_settling_notices(
        self, stop: asyncio.Event, every: dt.timedelta = SETTLE_EVERY
    ) -> None:
        """``settle_notices`` now (start-up) and every ``every`` until ``stop``."""
        while not stop.is_set():
            try:
                await self.settle_notices()
            except Exception:
                log.exception("Kiosk notices not settled")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every.total_seconds())

    async def _log(
        self,
        kiosk: Kiosk,
        action: str,
        outcome: str,
        member: Member | None = None,
        campaign: Campaign | None = None,
        detail: dict[str, str] | None = None,
        transaction_id: str = "",
    ) -> None:
        entry = KioskAction(
            kiosk_id=kiosk.id,
            at=self._clock(),
            action=action,
            outcome=outcome,
            member_code=member.code if member else "",
            campaign_id=campaign.id if campaign else "",
            detail=detail or {},
            transaction_id=transaction_id,
        )
        await self._kiosks.log(entry)
        log.info(
            "Kiosk %s (%s): %s %s member=%s campaign=%s %s tx=%s",
            kiosk.id,
            kiosk.store,
            action,
            outcome,
            entry.member_code,
            entry.campaign_id,
            entry.detail,
            transaction_id,
        )

    async def unlock_staff(self, kiosk: Kiosk, pin: str) -> PinOutcome:
        """Try a staff PIN; every try is logged with the kiosk and the time."""
        outcome = await self.staff.unlock(kiosk, pin)
        match outcome:
            case StaffUnlocked():
                result = "unlocked"
            case WrongPin():
                result = "wrong PIN"
            case StaffLocked():
                result = "locked"
            case _:
                result = "no staff mode"
        await self._log(kiosk, "staff PIN", result)
        return outcome


def _marker(kiosk: Kiosk) -> str:
    """The transaction's description on the platform, unique to it (its pending notice's
    key)."""
    return f"Kiosk {kiosk.id} · {kiosk.store} · {secrets.token_hex(6)}"


def _amount(amount: Decimal | None) -> Decimal:
    if amount is None or not amount.is_finite() or amount <= 0 or amount > MAX_STAFF_AMOUNT:
        raise StaffActionInvalid("the amount is missing or out of range")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise StaffActionInvalid("the amount has more than two decimals")
    return amount


def _item(campaign: Campaign, item: str | None) -> BuyXItem:
    for candidate in campaign.items:
        if item in (candidate.id, candidate.identifier, candidate.description):
            return candidate
    raise StaffActionInvalid("no such item")


__all__ = [
    "AlreadyMember",
    "CardNotFound",
    "ContactError",
    "KioskDesk",
    "KioskLimits",
    "MemberScreen",
    "StaffActionInvalid",
    "StaffActionRefused",
    "StaffOnly",
    "StaffReceipt",
    "UnknownCardsLimited",
    "Visit",
    "VisitEnded",
    "WalkIn",
]
