"""The POS API's use cases: signed clients, and purchases and redemptions sent once.

A client signs each request with HMAC-SHA256 over ``<timestamp>.<body>`` using its secret;
the secret is derived from the API master key and the client's key id (so it is shown once
and only its hash is stored). A request older than the window, or a signature seen before,
is refused. A purchase or redemption is kept under the client's idempotency key: the same
key answers the same, whatever happens; a request left without an answer (the platform did
not answer, the process died) is looked up on the platform by its marker before anything is
sent again. Every recorded transaction is told to its member (``BalanceNotifier``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import LoyaltyError, NotFound, Rejected
from bot.loyalty.models import (
    Campaign,
    CampaignKind,
    Member,
    Purchase,
    Receipt,
    Redemption,
)
from bot.services.balance_notices import BalanceNotifier, recorded_receipt, tell_receipt
from bot.services.balances import balance_line
from bot.services.catalog import CampaignCatalog
from bot.storage.api_clients import ApiClient, ApiClients, ApiRequests
from bot.storage.timestamps import Clock, utc_now

log = logging.getLogger(__name__)

MAX_AMOUNT = Decimal(100_000)
MAX_QUANTITY = 99
MAX_KEY_LENGTH = 100
PENDING_STALE = dt.timedelta(seconds=60)
"""A request pending this long lost its sender; the next try looks it up and carries on."""
HISTORY_DEPTH = 100


class PosRefusal(Exception):
    """The request is refused: ``code`` names why (``STATUS`` maps it to HTTP)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


STATUS = {
    "unauthorized": 401,
    "bad_signature": 401,
    "stale_timestamp": 401,
    "replayed": 409,
    "invalid_json": 400,
    "invalid_request": 422,
    "invalid_amount": 422,
    "unknown_card": 404,
    "unknown_campaign": 422,
    "idempotency_conflict": 422,
    "in_progress": 409,
    "refused": 409,
    "platform_unavailable": 503,
}


def client_secret(master: bytes, key_id: str) -> str:
    digest = hmac.new(master, b"pos-api-client:" + key_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Signature`` of a request: hex HMAC-SHA256 of ``<timestamp>.<body>``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass(eq=False)
class PosAuth:
    clients: ApiClients
    master: Callable[[], Awaitable[bytes]]
    _: KW_ONLY
    window: dt.timedelta
    clock: Clock = utc_now

    async def add(self, name: str) -> tuple[ApiClient, str]:
        """A new client and its secret (shown once; only its hash is kept)."""
        name = name.strip()
        if not name:
            raise ValueError("a client needs a name")
        if await self.clients.active_named(name) is not None:
            raise ValueError(f"a client named {name!r} exists; revoke it first")
        key_id = f"pos_{secrets.token_hex(8)}"
        secret = client_secret(await self.master(), key_id)
        return await self.clients.add(name, key_id, secret_hash(secret)), secret

    async def verify(
        self, key_id: str | None, timestamp: str | None, signature: str | None, body: bytes
    ) -> ApiClient:
        if not key_id or not timestamp or not signature:
            raise PosRefusal(
                "unauthorized", "X-Client-Id, X-Timestamp and X-Signature are required"
            )
        client = await self.clients.by_key_id(key_id)
        if client is None or client.revoked:
            raise PosRefusal("unauthorized", "unknown or revoked client")
        try:
            at = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
        except (ValueError, OverflowError, OSError):
            raise PosRefusal("stale_timestamp", "X-Timestamp must be Unix seconds") from None
        if abs(self.clock() - at) > self.window:
            raise PosRefusal(
                "stale_timestamp",
                f"X-Timestamp is more than {int(self.window.total_seconds())} s from now",
            )
        secret = client_secret(await self.master(), key_id)
        if not hmac.compare_digest(secret_hash(secret), client.secret_hash):
            raise PosRefusal("unauthorized", "the API key changed: add the client again")
        if not hmac.compare_digest(sign(secret, timestamp, body), signature.lower()):
            raise PosRefusal("bad_signature", "the signature does not match the body")
        if not await self.clients.first_use_of(client.id, signature.lower(), 2 * self.window):
            raise PosRefusal("replayed", "this request was received before")
        return client


@dataclass(frozen=True)
class _Order:
    key: str
    member: Member
    campaign: Campaign
    purchase: Purchase | None = None
    redemption: Redemption | None = None


def _text(payload: dict[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PosRefusal("invalid_request", f"{name} must be a non-empty string")
    return value.strip()


def _amount(value: object, name: str = "amount") -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PosRefusal("invalid_amount", f'{name} must be a number like "12.50"')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise PosRefusal("invalid_amount", f'{name} must be a number like "12.50"') from None
    if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT:
        raise PosRefusal("invalid_amount", f"{name} must be above 0 and at most {MAX_AMOUNT}")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise PosRefusal("invalid_amount", f"{name} has more than two decimals")
    return amount


def _quantity(value: object) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        raise PosRefusal("invalid_request", f"quantity must be a whole number 1-{MAX_QUANTITY}")
    return value


def _item(campaign: Campaign, item: str | None) -> str:
    for candidate in campaign.items:
        if item in (candidate.id, candidate.identifier, candidate.description):
            return candidate.id
    raise PosRefusal("invalid_request", "item is missing or not an item of the campaign")


def _digest(kind: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps([kind, payload], sort_keys=True, default=str).encode()
    ).hexdigest()


_UNITS = {CampaignKind.POINTS: "points", CampaignKind.EVENTS: "visits", CampaignKind.BUYX: "items"}


def _number(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


@dataclass(eq=False)
class PosDesk:
    backend: LoyaltyBackend
    catalog: CampaignCatalog
    requests: ApiRequests
    _: KW_ONLY
    clock: Clock = utc_now
    _notifier: BalanceNotifier | None = field(default=None, init=False)

    def set_notifier(self, notifier: BalanceNotifier | None) -> None:
        self._notifier = notifier

    async def handle(
        self, client: ApiClient, kind: str, payload: object
    ) -> tuple[int, dict[str, Any]]:
        """Record a ``purchase`` or ``redemption``; returns the HTTP status and answer.
        Raises ``PosRefusal`` for a request that records nothing."""
        if not isinstance(payload, dict):
            raise PosRefusal("invalid_json", "the body must be a JSON object")
        order = await self._order(kind, payload)
        marker = f"POS {client.id}/{hashlib.sha256(order.key.encode()).hexdigest()[:16]}"
        request, held, fresh = await self.requests.begin(
            client.id, order.key, _digest(kind, payload), marker, stale_after=PENDING_STALE
        )
        if not held:
            if request.request_digest != _digest(kind, payload):
                raise PosRefusal(
                    "idempotency_conflict", "this idempotency_key was used for another request"
                )
            if request.state == "done" and request.response is not None:
                return request.status or 200, {**request.response, "repeated": True}
            raise PosRefusal("in_progress", "this request is being recorded; try again shortly")
        try:
            if not fresh:
                found = await self._recorded(order, marker)
                if found is not None:
                    return await self._done(client, order, found, repeated=True)
            receipt = await self._send(order, marker)
        except (Rejected, NotFound) as exc:
            body = {"error": "refused", "message": exc.message, "idempotency_key": order.key}
            await self.requests.finish(client.id, order.key, STATUS["refused"], body)
            return STATUS["refused"], body
        except LoyaltyError as exc:
            await self.requests.in_doubt(client.id, order.key)
            log.warning("POS request %s in doubt: %s", order.key, exc.message)
            raise PosRefusal(
                "platform_unavailable",
                "the platform did not answer; send the same request (same idempotency_key) again",
            ) from exc
        except BaseException:
            await self.requests.in_doubt(client.id, order.key)
            raise
        return await self._done(client, order, receipt, repeated=False)

    async def _done(
        self, client: ApiClient, order: _Order, receipt: Receipt, *, repeated: bool
    ) -> tuple[int, dict[str, Any]]:
        body = self._answer(order, receipt)
        await self.requests.finish(client.id, order.key, 200, body)
        await tell_receipt(
            self._notifier, self.backend, order.member.code, order.campaign, receipt
        )
        return 200, {**body, "repeated": repeated}

    def _answer(self, order: _Order, receipt: Receipt) -> dict[str, Any]:
        balance: dict[str, Any] | None = None
        if receipt.balance is not None:
            line = balance_line(receipt.balance)
            balance = {
                "kind": line.kind.value,
                "amount": _number(line.amount),
                "unit": _UNITS.get(line.kind) or (line.money.currency if line.money else ""),
            }
            if line.kind is CampaignKind.POINTS and line.money is not None:
                balance["worth"] = {
                    "amount": _number(line.money.amount),
                    "currency": line.money.currency,
                }
        return {
            "idempotency_key": order.key,
            "transaction_id": receipt.transaction_id,
            "campaign_id": order.campaign.id,
            "card_number": order.member.card_number,
            "earned": _number(receipt.earned),
            "deducted": _number(receipt.deducted),
            "balance": balance,
        }

    async def _send(self, order: _Order, marker: str) -> Receipt:
        if order.purchase is not None:
            purchase = order.purchase.model_copy(update={"description": marker})
            return await self.backend.record_purchase(order.member.code, purchase)
        assert order.redemption is not None
        redemption = order.redemption.model_copy(update={"description": marker})
        return await self.backend.redeem(order.member.code, redemption)

    async def _recorded(self, order: _Order, marker: str) -> Receipt | None:
        """The receipt of a transaction an earlier try recorded, found by its marker."""
        return await recorded_receipt(
            self.backend, order.member.code, order.campaign.id, marker, depth=HISTORY_DEPTH
        )

    async def _order(self, kind: str, payload: dict[str, Any]) -> _Order:
        key = _text(payload, "idempotency_key")
        if key is None or len(key) > MAX_KEY_LENGTH:
            raise PosRefusal(
                "invalid_request", f"idempotency_key is required (1-{MAX_KEY_LENGTH} chars)"
            )
        card, code = _text(payload, "card_number"), _text(payload, "member_code")
        if (card is None) == (code is None):
            raise PosRefusal("invalid_request", "give card_number or member_code (one of them)")
        campaign = await self._campaign(_text(payload, "campaign_id"))
        purchase = redemption = None
        if kind == "purchase":
            purchase = Purchase(campaign_id=campaign.id)
            match campaign.kind:
                case CampaignKind.POINTS | CampaignKind.GIFTCARD:
                    purchase = purchase.model_copy(
                        update={"amount": _amount(payload.get("amount"))}
                    )
                case CampaignKind.BUYX:
                    purchase = purchase.model_copy(
                        update={
                            "item": _item(campaign, _text(payload, "item")),
                            "quantity": _quantity(payload.get("quantity")),
                        }
                    )
                case _:
                    pass
        else:
            redemption = Redemption(campaign_id=campaign.id)
            reward_id = _text(payload, "reward_id")
            if reward_id is not None and campaign.kind in (
                CampaignKind.POINTS,
                CampaignKind.EVENTS,
            ):
                rewards = {reward.id for reward in await self.backend.rewards(campaign.id)}
                if reward_id not in rewards:
                    raise PosRefusal("invalid_request", "no such reward in the campaign")
                redemption = redemption.model_copy(update={"reward_id": reward_id})
            elif campaign.kind is CampaignKind.POINTS and not campaign.reward_ratio:
                redemption = redemption.model_copy(
                    update={"points": _amount(payload.get("amount"))}
                )
            elif campaign.kind in (
                CampaignKind.POINTS,
                CampaignKind.GIFTCARD,
                CampaignKind.EARNED,
            ):
                redemption = redemption.model_copy(
                    update={"amount": _amount(payload.get("amount"))}
                )
            elif campaign.kind is CampaignKind.BUYX:
                redemption = redemption.model_copy(
                    update={"item": _item(campaign, _text(payload, "item"))}
                )
            else:
                raise PosRefusal("invalid_request", "a visits campaign redeems rewards only")
        member = await (
            self.backend.find_member_by_card(card) if card else self.backend.get_member(code or "")
        )
        if member is None:
            raise PosRefusal("unknown_card", "no member has that card number or member code")
        if member.campaign_ids and campaign.id not in member.campaign_ids:
            raise PosRefusal("unknown_campaign", "the member is not in that campaign")
        return _Order(key, member, campaign, purchase, redemption)

    async def _campaign(self, campaign_id: str | None) -> Campaign:
        if campaign_id is None:
            campaign = next(
                (c for c in await self.catalog.campaigns() if c.kind is CampaignKind.POINTS),
                None,
            )
        else:
            campaign = (await self.catalog.by_id()).get(campaign_id)
        if campaign is None:
            raise PosRefusal("unknown_campaign", "no such campaign (campaign_id)")
        return campaign
