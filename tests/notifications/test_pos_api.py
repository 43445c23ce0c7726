"""The POS API over loopback, on the bot's database and the Client Toolbox sandbox: a signed
purchase is recorded once, answered with its receipt and told to the member; every bad
request gets a clear 4xx and records nothing; the same idempotency key records once."""

from __future__ import annotations

import hashlib
import json
import time
from decimal import Decimal
from typing import Any

import httpx

from bot.config import HttpSettings
from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import Purchase
from bot.sandbox.clienttoolbox import demo
from bot.services.pos import PENDING_STALE, _digest, sign
from bot.storage.api_clients import ApiRequests
from bot.storage.members import MemberLinks
from tests.conftest import ct_settings
from tests.notifications.conftest import JANE_ID, JANE_PHONE, Shop, points
from tests.telegram.fake_telegram import Sent


class Till:
    """A POS client: signs its requests as the README shows."""

    def __init__(self, shop: Shop, key_id: str, secret: str) -> None:
        self.shop = shop
        self.key_id = key_id
        self.secret = secret
        self.last = 0
        self.http = httpx.AsyncClient(base_url=f"{shop.kiosk_url}/api/v1/", timeout=10)
        shop.stack.push_async_callback(self.http.aclose)

    def signed(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        """Headers of a signed request; each one a second later than the last (a retry is
        signed again: the same signed request twice is a replay)."""
        if timestamp is None:
            timestamp = self.last = max(int(time.time()), self.last + 1)
        stamp = str(timestamp)
        return {
            "Content-Type": "application/json",
            "X-Client-Id": self.key_id,
            "X-Timestamp": stamp,
            "X-Signature": sign(self.secret, stamp, body),
        }

    async def post(self, path: str, payload: dict[str, Any], **signing: Any) -> httpx.Response:
        body = json.dumps(payload).encode()
        return await self.http.post(path, content=body, headers=self.signed(body, **signing))


async def till(shop: Shop, name: str = "till-1") -> Till:
    client, secret = await shop.pos.auth.add(name)
    return Till(shop, client.key_id, secret)


async def jane(shop: Shop) -> tuple[str, str]:
    await shop.app.user(JANE_ID, first_name="Jane").share_contact(JANE_PHONE)
    link = await MemberLinks(shop.app.db).get(JANE_ID)
    assert link is not None
    JOINED.clear()
    JOINED.extend(await recorded(shop.backend, link.member_code, since_join=False))
    return link.member_code, link.card_number


def to_jane(sent: list[Sent]) -> list[Sent]:
    return [message for message in sent if message.chat_id == JANE_ID]


JOINED: list[str] = []
"""The transactions the member's join made (one per campaign joined)."""


async def recorded(backend: LoyaltyBackend, code: str, *, since_join: bool = True) -> list[str]:
    """The member's transactions on the platform, newest first (after the join's)."""
    ids = [t.id for t in await backend.history(code, limit=100)]
    return [i for i in ids if not since_join or i not in JOINED]


async def test_a_signed_purchase_is_recorded_answered_and_told(
    shop: Shop, ct_backend: LoyaltyBackend
) -> None:
    code, card = await jane(shop)
    pos = await till(shop)
    before = len(shop.app.telegram.sent)
    answer = await pos.post(
        "purchases", {"idempotency_key": "sale-1", "card_number": card, "amount": "3.20"}
    )
    assert answer.status_code == 200, answer.text
    receipt = answer.json()
    assert receipt["card_number"] == card
    assert receipt["campaign_id"] == demo.POINTS_CAMPAIGN
    assert receipt["earned"] == "320"
    assert receipt["balance"] == {
        "kind": "points",
        "amount": "320",
        "unit": "points",
        "worth": {"amount": "3.2", "currency": "USD"},
    }
    assert receipt["repeated"] is False
    assert await recorded(ct_backend, code) == [receipt["transaction_id"]]
    assert await points(ct_backend, code) == Decimal(320)
    [told] = to_jane(shop.app.telegram.sent[before:])
    assert told.text.splitlines() == [
        "⭐ +320 points in Widget Rewards.",
        "Your balance: 320 points.",
        "🎁 Free coffee is yours — show your card.",
    ]

    redeemed = await pos.post(
        "redemptions",
        {
            "idempotency_key": "sale-2",
            "member_code": code,
            "reward_id": demo.FREE_COFFEE_REWARD,
        },
    )
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["deducted"] == "300"
    assert redeemed.json()["balance"]["amount"] == "20"
    assert "✅ −300 points redeemed in Widget Rewards." in to_jane(shop.app.telegram.sent)[-1].text


async def test_bad_requests_get_a_clear_4xx_and_record_nothing(
    shop: Shop, ct_backend: LoyaltyBackend
) -> None:
    code, card = await jane(shop)
    pos = await till(shop)
    sale = {"idempotency_key": "sale-9", "card_number": card, "amount": "5.00"}
    body = json.dumps(sale).encode()
    requests = ApiRequests(shop.app.db)
    sent_before = len(shop.app.telegram.sent)

    async def refused(answer: httpx.Response, status: int, error: str) -> None:
        assert answer.status_code == status, answer.text
        assert answer.json()["error"] == error and answer.json()["message"]
        assert await recorded(ct_backend, code) == []
        assert await requests.count() == 0

    wrong = pos.signed(body)
    wrong["X-Signature"] = sign("not-the-secret", wrong["X-Timestamp"], body)
    await refused(
        await pos.http.post("purchases", content=body, headers=wrong), 401, "bad_signature"
    )
    tampered = pos.signed(body)
    other = body.replace(b"5.00", b"500.00")
    await refused(
        await pos.http.post("purchases", content=other, headers=tampered), 401, "bad_signature"
    )
    unsigned = await pos.http.post("purchases", content=body)
    await refused(unsigned, 401, "unauthorized")
    old = await pos.post("purchases", sale, timestamp=int(time.time()) - 3600)
    await refused(old, 401, "stale_timestamp")
    future = await pos.post("purchases", sale, timestamp=int(time.time()) + 3600)
    await refused(future, 401, "stale_timestamp")
    await refused(
        await pos.post("purchases", {**sale, "card_number": "99999999"}), 404, "unknown_card"
    )
    for amount in ("12,50", "-1", "0", "1.005", "abc", None, "1e9", True):
        answer = await pos.post("purchases", {**sale, "amount": amount})
        await refused(answer, 422, "invalid_amount")
    await refused(
        await pos.post("purchases", {**sale, "idempotency_key": ""}), 422, "invalid_request"
    )
    await refused(
        await pos.post("purchases", {**sale, "campaign_id": "nope"}), 422, "unknown_campaign"
    )
    not_json = b"{not json"
    await refused(
        await pos.http.post("purchases", content=not_json, headers=pos.signed(not_json)),
        400,
        "invalid_json",
    )
    assert to_jane(shop.app.telegram.sent[sent_before:]) == []

    # A replayed body: the first one is recorded, the same signed request again is refused.
    headers = pos.signed(body)
    first = await pos.http.post("purchases", content=body, headers=headers)
    assert first.status_code == 200, first.text
    replay = await pos.http.post("purchases", content=body, headers=headers)
    assert replay.status_code == 409 and replay.json()["error"] == "replayed"
    assert await recorded(ct_backend, code) == [first.json()["transaction_id"]]

    # A revoked client is refused at once.
    assert await shop.pos.auth.clients.revoke("till-1")
    revoked = await pos.post("purchases", {**sale, "idempotency_key": "sale-10"})
    assert revoked.status_code == 401 and revoked.json()["error"] == "unauthorized"
    assert await recorded(ct_backend, code) == [first.json()["transaction_id"]]


async def test_the_same_idempotency_key_twice_records_once(
    shop: Shop, ct_backend: LoyaltyBackend
) -> None:
    code, card = await jane(shop)
    pos = await till(shop)
    sale = {"idempotency_key": "order-77", "card_number": card, "amount": "1.00"}
    before = len(shop.app.telegram.sent)
    first = await pos.post("purchases", sale)
    again = await pos.post("purchases", sale)  # a new timestamp: not a replay, a retry
    assert first.status_code == again.status_code == 200
    assert again.json() == {**first.json(), "repeated": True}
    assert await recorded(ct_backend, code) == [first.json()["transaction_id"]]
    assert await points(ct_backend, code) == Decimal(100)
    assert len(to_jane(shop.app.telegram.sent[before:])) == 1
    # The key with another request is refused, not recorded.
    other = await pos.post("purchases", {**sale, "amount": "2.00"})
    assert other.status_code == 422 and other.json()["error"] == "idempotency_conflict"
    # Another client's same key is its own request.
    webshop = await till(shop, "webshop")
    theirs = await webshop.post("purchases", sale)
    assert theirs.status_code == 200 and theirs.json()["repeated"] is False
    assert len(await recorded(ct_backend, code)) == 2


async def test_the_openapi_document_is_served(shop: Shop) -> None:
    async with httpx.AsyncClient(base_url=shop.kiosk_url) as http:
        answer = await http.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {"/purchases", "/redemptions"}
    schema = document["paths"]["/purchases"]["post"]["requestBody"]["content"]
    assert "idempotency_key" in schema["application/json"]["schema"]["required"]


class LosesActivityAnswers(httpx.AsyncHTTPTransport):
    """Delivers requests to the sandbox but loses the answer of the next purchase."""

    def __init__(self) -> None:
        super().__init__()
        self.lose_next = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if self.lose_next and b"record_activity" in request.content:
            self.lose_next = False
            await response.aread()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


async def test_a_purchase_whose_answer_was_lost_is_looked_up_not_sent_again(
    shop: Shop, ct_backend: LoyaltyBackend, ct_sandbox_url: str
) -> None:
    code, card = await jane(shop)
    transport = LosesActivityAnswers()
    lossy = ClientToolboxClient(ct_settings(ct_sandbox_url), HttpSettings(), transport=transport)
    shop.stack.push_async_callback(lossy.aclose)
    shop.pos.desk.backend = lossy
    pos = await till(shop)
    sale = {"idempotency_key": "order-5", "card_number": card, "amount": "2.00"}
    before = len(shop.app.telegram.sent)
    transport.lose_next = True
    lost = await pos.post("purchases", sale)
    assert lost.status_code == 503 and lost.json()["error"] == "platform_unavailable"
    [made] = await recorded(ct_backend, code)  # the platform did record it
    assert to_jane(shop.app.telegram.sent[before:]) == []

    again = await pos.post("purchases", sale)
    assert again.status_code == 200, again.text
    assert again.json()["transaction_id"] == made and again.json()["repeated"] is True
    assert again.json()["balance"]["amount"] == "200"
    assert await recorded(ct_backend, code) == [made]
    assert await points(ct_backend, code) == Decimal(200)
    [told] = to_jane(shop.app.telegram.sent[before:])
    assert told.text.startswith("⭐ +200 points in Widget Rewards.")
    third = await pos.post("purchases", sale)
    assert third.json()["transaction_id"] == made
    assert len(to_jane(shop.app.telegram.sent[before:])) == 1


async def test_a_request_whose_process_died_is_looked_up_after_its_lease(
    shop: Shop, ct_backend: LoyaltyBackend
) -> None:
    """What a process killed mid-request leaves: the request pending under its key and the
    platform's transaction made under its marker (the answer never stored)."""
    code, card = await jane(shop)
    pos = await till(shop)
    sale = {"idempotency_key": "order-kill", "card_number": card, "amount": "1.50"}
    client = await shop.pos.auth.clients.by_key_id(pos.key_id)
    assert client is not None
    requests = ApiRequests(shop.app.db, clock=shop.clock)
    marker = f"POS {client.id}/{hashlib.sha256(b'order-kill').hexdigest()[:16]}"
    _, held, fresh = await requests.begin(
        client.id, "order-kill", _digest("purchase", sale), marker, stale_after=PENDING_STALE
    )
    assert held and fresh
    made = await ct_backend.record_purchase(
        code,
        Purchase(campaign_id=demo.POINTS_CAMPAIGN, amount=Decimal("1.50"), description=marker),
    )
    before = len(shop.app.telegram.sent)

    # While its lease lasts, a retry is told to wait: it may still be under way.
    waiting = await pos.post("purchases", sale)
    assert waiting.status_code == 409 and waiting.json()["error"] == "in_progress"
    shop.clock.advance(seconds=PENDING_STALE.total_seconds() + 1)
    retried = await pos.post("purchases", sale)
    assert retried.status_code == 200, retried.text
    assert retried.json()["transaction_id"] == made.transaction_id
    assert retried.json()["repeated"] is True
    assert await recorded(ct_backend, code) == [made.transaction_id]
    assert await points(ct_backend, code) == Decimal(150)
    [told] = to_jane(shop.app.telegram.sent[before:])
    assert told.text.startswith("⭐ +150 points in Widget Rewards.")
