"""The kiosk's JSON API: thin handlers that parse, call one use case and word the answer.

Every call but ``words`` and ``pair`` carries the kiosk's key in ``X-Kiosk-Key``; staff calls
also carry the staff session in ``X-Kiosk-Staff``. Answers are never cached by the browser.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from bot.kiosk.codes import card_data_url, qr_data_url
from bot.kiosk.wording import Wording
from bot.loyalty.amounts import AmountError, parse_amount
from bot.loyalty.errors import LoyaltyError
from bot.loyalty.models import CampaignKind
from bot.services.contacts import ContactError
from bot.services.kiosk import (
    AlreadyMember,
    CardNotFound,
    KioskDesk,
    MemberScreen,
    StaffActionInvalid,
    StaffActionRefused,
    StaffOnly,
    StaffReceipt,
    UnknownCardsLimited,
    VisitEnded,
)
from bot.services.kiosk_pairing import KioskPairing
from bot.services.kiosk_state import KioskState, KioskStateUnavailable, WindowLimit
from bot.services.rate_limits import RateLimited
from bot.services.staff_pin import NoStaffMode, StaffLocked, StaffUnlocked, WrongPin
from bot.storage.kiosks import Kiosk
from bot.wording.catalogs import I18n

log = logging.getLogger(__name__)

KEY_HEADER = "X-Kiosk-Key"
STAFF_HEADER = "X-Kiosk-Staff"
LANGUAGE_HEADER = "X-Kiosk-Language"
MAX_FIELD_LENGTH = 200
MAX_BODY_BYTES = 16 * 1024


@dataclass(frozen=True)
class KioskContext:
    desk: KioskDesk
    pairing: KioskPairing
    i18n: I18n
    languages: tuple[str, ...]
    default_language: str
    program_name: str
    idle_seconds: int
    pairing_attempts: WindowLimit
    state: KioskState
    """Where visits, sessions and limits live; closed by ``aclose``."""

    async def aclose(self) -> None:
        await self.state.aclose()


CONTEXT = web.AppKey("kiosk_context", KioskContext)
KIOSK = web.RequestKey("kiosk", Kiosk)


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra


def _context(request: web.Request) -> KioskContext:
    return request.app[CONTEXT]


def wording(request: web.Request) -> Wording:
    context = _context(request)
    wanted = request.query.get("lang") or request.headers.get(LANGUAGE_HEADER, "")
    language = wanted if wanted in context.languages else context.default_language
    return Wording(context.i18n, language)


def _kiosk(request: web.Request) -> Kiosk:
    return request[KIOSK]


async def _body(request: web.Request) -> dict[str, Any]:
    # Read with a cap of our own: a mounted sub-app's client_max_size is not the one applied.
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", "the request is too large")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        # RecursionError: JSON nested thousands deep.
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "a JSON object was expected")
    return body


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ApiError(400, "bad_request", f"{name} must be text")
    text = str(value)
    if len(text) > MAX_FIELD_LENGTH:
        raise ApiError(400, "bad_request", f"{name} is too long")
    return text


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def _member_json(screen: MemberScreen, words: Wording) -> dict[str, Any]:
    return {
        "visit": screen.visit,
        "greeting": words.greeting(screen.first_name),
        "first_name": screen.first_name,
        "contact": screen.contact,
        "balances": [
            words.balance(line, screen.campaigns.get(line.campaign_id)) for line in screen.balances
        ],
    }


_OPEN_PATHS = ("/api/words", "/api/pair")


@web.middleware
async def kiosk_guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Authenticate API calls, turn errors into JSON, and keep answers out of any cache."""
    is_api = "/api/" in request.path
    try:
        if is_api and not request.path.endswith(_OPEN_PATHS):
            kiosk = await _context(request).pairing.authenticate(request.headers.get(KEY_HEADER))
            if kiosk is None:
                raise ApiError(401, "not_paired", wording(request).error("not_paired"))
            request[KIOSK] = kiosk
        response = await handler(request)
    except ApiError as exc:
        response = _json({"error": exc.error, "message": exc.message, **exc.extra}, exc.status)
    except RateLimited as exc:
        seconds = max(1, math.ceil(exc.retry_after.total_seconds()))
        words = wording(request)
        if isinstance(exc, UnknownCardsLimited):
            error, message = "unknown_cards_limited", words.unknown_cards_limited(seconds)
        else:
            error, message = "rate_limited", words.rate_limited(seconds)
        response = _json({"error": error, "message": message, "retry_after": seconds}, 429)
        response.headers["Retry-After"] = str(seconds)
    except LoyaltyError as exc:
        log.warning("Kiosk: the platform failed: %s: %s", type(exc).__name__, exc.message)
        response = _json(
            {"error": "unavailable", "message": wording(request).error("unavailable")}, 503
        )
    except KioskStateUnavailable as exc:
        log.warning("Kiosk: its shared state is unreachable: %s", exc)
        response = _json(
            {"error": "unavailable", "message": wording(request).error("unavailable")}, 503
        )
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
        "connect-src 'self'; media-src 'self' blob: mediastream:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    if is_api:
        headers["Cache-Control"] = "no-store"
    return response


async def words(request: web.Request) -> web.Response:
    context = _context(request)
    text = wording(request)
    from bot.wording.catalogs import language_name

    return _json(
        {
            "language": text.locale,
            "languages": [
                {"code": code, "name": language_name(code)} for code in context.languages
            ],
            "words": text.page(),
            "errors": {key: text.error(key) for key in ("card_not_found", "unavailable")},
        }
    )


async def pair(request: web.Request) -> web.Response:
    context = _context(request)
    await context.pairing_attempts.take(request.remote or "?")
    body = await _body(request)
    paired = await context.pairing.pair(_text(body, "code"))
    if paired is None:
        raise ApiError(403, "pairing_failed", wording(request).page()["pair_failed"])
    log.info("Kiosk %s (%s) paired", paired.kiosk.id, paired.kiosk.store)
    return _json({"key": paired.key, "store": paired.kiosk.store})


async def session(request: web.Request) -> web.Response:
    context = _context(request)
    kiosk = _kiosk(request)
    store_url = await context.desk.store_url(kiosk)
    store_qr = None if store_url is None else await asyncio.to_thread(qr_data_url, store_url)
    return _json(
        {
            "store": kiosk.store,
            "label": kiosk.label,
            "program": context.program_name,
            "idle_seconds": context.idle_seconds,
            "staff_mode": context.desk.staff.has_staff_mode(kiosk),
            "store_qr": store_qr,
        }
    )


async def lookup(request: web.Request) -> web.Response:
    body = await _body(request)
    kiosk = _kiosk(request)
    try:
        screen = await _context(request).desk.look_up(kiosk, _text(body, "card"))
    except CardNotFound:
        raise ApiError(404, "card_not_found", wording(request).error("card_not_found")) from None
    return _json(_member_json(screen, wording(request)))


async def refresh(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        screen = await _context(request).desk.refresh(_kiosk(request), _text(body, "visit"))
    except VisitEnded:
        raise ApiError(410, "visit_ended", wording(request).error("visit_ended")) from None
    return _json(_member_json(screen, wording(request)))


async def idle(request: web.Request) -> web.Response:
    body = await _body(request)
    await _context(request).desk.end_visit(_kiosk(request), _text(body, "visit", required=False))
    return web.Response(status=204)


async def join(request: web.Request) -> web.Response:
    context = _context(request)
    body = await _body(request)
    text = wording(request)
    try:
        joined = await context.desk.join(_kiosk(request), _text(body, "contact"))
    except ContactError:
        raise ApiError(422, "invalid_contact", text.error("invalid_contact")) from None
    if isinstance(joined, AlreadyMember):
        return _json({"already_member": True, "message": text.error("already_member")})
    card = await asyncio.to_thread(
        card_data_url, context.program_name, joined.card_number, joined.first_name
    )
    claim = None
    if joined.claim_url is not None:
        claim = await asyncio.to_thread(qr_data_url, joined.claim_url)
    return _json(
        {
            "card_number": text.card_number(joined.card_number),
            "card_image": card,
            "claim_qr": claim,
        },
        201,
    )


async def staff_unlock(request: web.Request) -> web.Response:
    context = _context(request)
    body = await _body(request)
    text = wording(request)
    outcome = await context.desk.unlock_staff(_kiosk(request), _text(body, "pin"))
    match outcome:
        case StaffUnlocked():
            seconds = (outcome.expires_at - context.desk.now()).total_seconds()
            return _json({"staff": outcome.token, "expires_in": max(1, int(seconds))})
        case WrongPin():
            raise ApiError(403, "wrong_pin", text.wrong_pin(outcome.tries_left))
        case StaffLocked():
            minutes = max(1, math.ceil((outcome.until - context.desk.now()).total_seconds() / 60))
            raise ApiError(423, "staff_locked", text.staff_locked(minutes))
        case NoStaffMode():
            raise ApiError(403, "no_staff_mode", text.error("no_staff_mode"))
    raise AssertionError(outcome)  # pragma: no cover


async def staff_lock(request: web.Request) -> web.Response:
    await _context(request).desk.staff.lock(_kiosk(request))
    return web.Response(status=204)


def _ascii_digits_only(request: web.Request, text: str) -> None:
    # Python reads "٣٠٠" and "１２" as numbers; a till amount is typed with 0-9 only.
    if any(character.isdigit() and not character.isascii() for character in text):
        raise ApiError(422, "invalid_digits", wording(request).error("invalid_digits"))


def _optional_amount(request: web.Request, body: dict[str, Any]) -> Decimal | None:
    raw = _text(body, "amount", required=False)
    if not raw:
        return None
    _ascii_digits_only(request, raw)
    try:
        return parse_amount(raw)
    except AmountError:
        raise StaffActionInvalid("not an amount") from None


async def _staff_answer(
    request: web.Request,
    body: dict[str, Any],
    campaign_id: str,
    act: Callable[..., Awaitable[StaffReceipt]],
    **details: object,
) -> web.Response:
    """Run a staff action of the desk (``record``, ``redeem``) on the visit the body names,
    with ``details`` of its own; answer its receipt in every language, or the refusal."""
    item = _text(body, "item", required=False) or None
    context = _context(request)
    text = wording(request)
    try:
        done = await act(
            _kiosk(request),
            request.headers.get(STAFF_HEADER),
            _text(body, "visit"),
            campaign_id=campaign_id,
            amount=_optional_amount(request, body),
            item=item,
            **details,
        )
    except StaffOnly:
        raise ApiError(403, "staff_only", text.error("staff_only")) from None
    except VisitEnded:
        raise ApiError(410, "visit_ended", text.error("visit_ended")) from None
    except StaffActionInvalid:
        raise ApiError(422, "invalid_action", text.error("invalid_action")) from None
    except StaffActionRefused:
        raise ApiError(409, "refused", text.error("refused")) from None
    campaign = (await context.desk.campaigns()).get(campaign_id)
    kind = campaign.kind if campaign else CampaignKind.POINTS

    def receipt(words: Wording) -> dict[str, str]:
        return {
            "transaction": words._("Transaction {id}").format(id=done.receipt.transaction_id),
            "text": words.receipt(done.receipt, done.line, kind, campaign),
        }

    # In every language of the kiosk, so the line follows a language switch on the page.
    return _json(
        {
            "receipt": receipt(text),
            "receipts": {
                language: receipt(Wording(context.i18n, language))
                for language in context.languages
            },
        }
    )


async def staff_record(request: web.Request) -> web.Response:
    body = await _body(request)
    campaign_id = _text(body, "campaign_id")
    quantity_text = _text(body, "quantity", required=False) or "1"
    _ascii_digits_only(request, quantity_text)
    # isdigit() would accept "²", which int() refuses.
    quantity = int(quantity_text) if quantity_text.isdecimal() else 0
    desk = _context(request).desk
    return await _staff_answer(request, body, campaign_id, desk.record, quantity=quantity)


async def staff_redeem(request: web.Request) -> web.Response:
    body = await _body(request)
    campaign_id = _text(body, "campaign_id")
    reward_id = _text(body, "reward_id", required=False) or None
    desk = _context(request).desk
    return await _staff_answer(request, body, campaign_id, desk.redeem, reward_id=reward_id)


def add_api_routes(app: web.Application) -> None:
    app.router.add_get("/api/words", words)
    app.router.add_post("/api/pair", pair)
    app.router.add_get("/api/session", session)
    app.router.add_post("/api/lookup", lookup)
    app.router.add_post("/api/visit", refresh)
    app.router.add_post("/api/idle", idle)
    app.router.add_post("/api/join", join)
    app.router.add_post("/api/staff/unlock", staff_unlock)
    app.router.add_post("/api/staff/lock", staff_lock)
    app.router.add_post("/api/staff/record", staff_record)
    app.router.add_post("/api/staff/redeem", staff_redeem)
