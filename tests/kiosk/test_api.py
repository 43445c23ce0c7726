"""The kiosk's API over loopback: pairing and kiosk keys, lookups and their limits, what
leaves the server about a member, walk-in joins, and staff mode against the sandbox."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image

from bot.config import HttpSettings
from bot.kiosk.api import STAFF_HEADER
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.sandbox.clienttoolbox import demo
from bot.storage.database import Database
from bot.storage.kiosks import Kiosks
from tests.conftest import ct_settings
from tests.kiosk.conftest import (
    DEFAULT_PIN,
    STAFF_PIN,
    KioskServer,
    MovableClock,
    SandboxMember,
    points_of,
)
from tests.lost_answers import LosesCreateAnswers

pytestmark = pytest.mark.asyncio(loop_scope="module")

NOT_FOUND = "Card not found. Please check the number or ask staff."
TOO_MANY_UNKNOWN = (
    "Too many unknown cards. Please ask staff, or try another card in {minutes} minutes."
)


def decode_qr(data_url: str) -> list[str]:
    assert data_url.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))
    return [result.text for result in zxingcpp.read_barcodes(image)]


async def test_without_a_kiosk_key_only_the_page_and_its_words_answer(
    kiosk_server: KioskServer, member: SandboxMember
) -> None:
    key = await kiosk_server.add_kiosk()
    kiosk_id, secret = key.split(".")
    wrong_secret = f"{kiosk_id}.{'A' * len(secret)}"
    async with kiosk_server.client() as http:
        page = await http.get("")
        assert page.status_code == 200 and "jsQR.js" in page.text
        assert (await http.get("static/vendor/jsQR.js")).status_code == 200
        words = await http.get("api/words", params={"lang": "es"})
        assert words.json()["words"]["scan_title"] == "Escanea tu tarjeta"
        for bad in (None, "", "garbage", wrong_secret, f"99.{secret}", f"{kiosk_id}.{secret}x"):
            headers = {} if bad is None else {"X-Kiosk-Key": bad}
            for method, path, body in (
                ("GET", "api/session", None),
                ("POST", "api/lookup", {"card": member.card_number}),
                ("POST", "api/join", {"contact": "+12025550177"}),
                ("POST", "api/staff/unlock", {"pin": STAFF_PIN}),
            ):
                answer = await http.request(method, path, json=body, headers=headers)
                assert answer.status_code == 401, (bad, path)
                assert answer.json()["error"] == "not_paired"
                assert "Jane" not in answer.text
        good = await http.get("api/session", headers={"X-Kiosk-Key": key})
        assert good.status_code == 200
        assert good.json()["store"] == "Main Street"


async def test_a_pairing_code_works_once_and_only_until_it_expires(
    kiosk_server: KioskServer, clock: MovableClock
) -> None:
    pairing = kiosk_server.context.pairing
    added = await pairing.add("Harbour Road")
    async with kiosk_server.client() as http:
        link = f"http://localhost/kiosk/#pair={added.pairing_code}"
        first = await http.post("api/pair", json={"code": link})
        assert first.status_code == 200
        key = first.json()["key"]
        assert re.fullmatch(rf"{added.kiosk.id}\.[A-Za-z0-9_-]{{40,}}", key)
        again = await http.post("api/pair", json={"code": added.pairing_code})
        assert again.status_code == 403
        assert (await http.get("api/session", headers={"X-Kiosk-Key": key})).status_code == 200

        late = await pairing.add("Harbour Road")
        clock.advance(hours=24, seconds=1)
        expired = await http.post("api/pair", json={"code": late.pairing_code})
        assert expired.status_code == 403
        assert "expired" in expired.json()["message"]
    stored = await kiosk_server.kiosks.get(added.kiosk.id)
    assert stored is not None and stored.pairing_hash is None
    assert stored.secret_hash is not None and key.split(".")[1] not in stored.secret_hash


async def test_a_revoked_kiosk_is_refused(kiosk_server: KioskServer) -> None:
    key = await kiosk_server.add_kiosk()
    async with kiosk_server.client(key) as http:
        assert (await http.get("api/session")).status_code == 200
        assert await kiosk_server.context.pairing.revoke(int(key.split(".")[0]))
        assert (await http.get("api/session")).status_code == 401


async def test_a_lookup_shows_first_name_masked_contact_and_balances_only(
    kiosk_server: KioskServer, member: SandboxMember
) -> None:
    key = await kiosk_server.add_kiosk()
    async with kiosk_server.client(key) as http:
        answer = await http.post("api/lookup", json={"card": member.card_number})
        assert answer.status_code == 200
        assert answer.headers["Cache-Control"] == "no-store"
        shown = answer.json()
        assert shown["greeting"] == "Hi, Jane!"
        assert shown["contact"] == "+1 ••• ••• 01 55"
        by_name = {balance["name"]: balance for balance in shown["balances"]}
        assert by_name["Widget Rewards"]["headline"] == "450 points (≈ $4.50)"
        assert by_name["Widget Rewards"]["available"] == [
            {"id": demo.FREE_COFFEE_REWARD, "text": "Free coffee (300 points)"}
        ]
        assert by_name["Widget Rewards"]["progress"] == {
            "percent": 90,
            "text": "450 / 500 to Free widget",
        }
        assert by_name["Frequent shopper"]["headline"] == "6 visits"
        for private in (
            member.code,
            member.card_number,
            "Kioskova",
            "2025550155",
            "jane.kioskova",
            "example.com",
        ):
            assert private not in answer.text

        russian = await http.post(
            "api/lookup", json={"card": member.card_number}, headers={"X-Kiosk-Language": "ru"}
        )
        ru = {balance["campaign_id"]: balance for balance in russian.json()["balances"]}
        assert ru[demo.POINTS_CAMPAIGN]["headline"].startswith("450 баллов")


async def test_unknown_cards_are_not_found_and_soon_refused_while_valid_cards_still_work(
    kiosk_server: KioskServer, member: SandboxMember, clock: MovableClock
) -> None:
    key, other = await kiosk_server.add_kiosk(), await kiosk_server.add_kiosk("Other store")
    async with kiosk_server.client(key) as http:
        for card in ("00000001", "00000002", "not a card!"):
            answer = await http.post("api/lookup", json={"card": card})
            assert answer.status_code == 404
            assert answer.json() == {"error": "card_not_found", "message": NOT_FOUND}
        # The limit is on unknown cards: a member's card still works at this kiosk.
        valid = await http.post("api/lookup", json={"card": member.card_number})
        assert valid.status_code == 200
        limited = await http.post("api/lookup", json={"card": "00000004"})
        assert limited.status_code == 429
        assert limited.json()["error"] == "unknown_cards_limited"
        # The real wait (the 10-minute window), not "a minute".
        assert limited.json()["message"] == TOO_MANY_UNKNOWN.format(minutes=10)
        assert 540 < int(limited.headers["Retry-After"]) <= 600
        assert (
            await http.post("api/lookup", json={"card": member.card_number})
        ).status_code == 200
        # Another kiosk has its own limit.
        elsewhere = await http.post(
            "api/lookup", json={"card": "00000005"}, headers={"X-Kiosk-Key": other}
        )
        assert elsewhere.status_code == 404
        clock.advance(minutes=7)
        later = await http.post("api/lookup", json={"card": "00000006"})
        assert later.json()["message"] == TOO_MANY_UNKNOWN.format(minutes=3)
        clock.advance(minutes=3, seconds=1)
        assert (await http.post("api/lookup", json={"card": "00000007"})).status_code == 404


async def test_every_lookup_counts_toward_the_kiosk_limit(
    kiosk_factory: Callable[..., Any], member: SandboxMember, clock: MovableClock
) -> None:
    server: KioskServer = await kiosk_factory(lookup_limit=3, lookup_window_seconds=60)
    key = await server.add_kiosk()
    async with server.client(key) as http:
        for _ in range(3):
            ok = await http.post("api/lookup", json={"card": member.card_number})
            assert ok.status_code == 200
        limited = await http.post("api/lookup", json={"card": member.card_number})
        assert limited.status_code == 429
        assert limited.json()["message"] == "Too many tries. Please wait 1 minute and try again."
        assert (await http.post("api/join", json={"contact": "+12025550199"})).status_code == 429
        clock.advance(seconds=61)
        assert (
            await http.post("api/lookup", json={"card": member.card_number})
        ).status_code == 200


async def test_a_walk_in_joins_like_in_the_bot_and_gets_a_card_that_scans(
    kiosk_server: KioskServer, ct_backend: ClientToolboxClient
) -> None:
    key = await kiosk_server.add_kiosk()
    async with kiosk_server.client(key) as http:
        answer = await http.post("api/join", json={"contact": "(202) 555-0188"})
        assert answer.status_code == 201, answer.text
        joined = answer.json()
        created = await ct_backend.find_member_by_phone("+12025550188")
        assert created is not None
        assert joined["card_number"].replace(" ", "") == created.card_number
        assert decode_qr(joined["card_image"]) == [created.card_number]
        # Like the bot: a 16-digit code, every campaign of the program.
        assert re.fullmatch(r"\d{16}", created.code)
        campaigns = {campaign.id for campaign in await ct_backend.campaigns()}
        assert set(created.campaign_ids) == campaigns

        # One tap in Telegram claims the card: a personal, single-use link of this member.
        [claim_url] = decode_qr(joined["claim_qr"])
        assert claim_url.startswith("https://t.me/great_widgets_bot?start=")
        assert kiosk_server.links is not None
        claim = await kiosk_server.links.get(claim_url.rpartition("=")[2])
        assert claim is not None and claim.member_code == created.code
        assert claim.max_uses == 1 and claim.expires_at is not None

        again = await http.post("api/join", json={"contact": "+1 202 555 0188"})
        assert again.status_code == 200
        assert again.json()["already_member"] is True
        assert created.card_number not in again.text

        bad = await http.post("api/join", json={"contact": "12"})
        assert bad.status_code == 422
        assert bad.json()["error"] == "invalid_contact"

        email = await http.post("api/join", json={"contact": "Walk.In@Example.com"})
        assert email.status_code == 201
        by_email = await ct_backend.find_member_by_email("walk.in@example.com")
        assert by_email is not None
        assert email.json()["card_number"].replace(" ", "") == by_email.card_number
    actions = await kiosk_server.kiosks.actions()
    assert [(a.action, a.outcome) for a in reversed(actions)] == [
        ("join", "created"),
        ("join", "already a member"),
        ("join", "created"),
    ]


async def test_the_idle_screen_shows_the_stores_signup_link(
    kiosk_factory: Callable[..., Any],
) -> None:
    server: KioskServer = await kiosk_factory()
    first, second = await server.add_kiosk(), await server.add_kiosk()
    elsewhere = await server.add_kiosk("Harbour Road")
    urls = []
    async with server.client() as http:
        for key in (first, second, elsewhere):
            session = (await http.get("api/session", headers={"X-Kiosk-Key": key})).json()
            [url] = decode_qr(session["store_qr"])
            urls.append(url)
    assert urls[0] == urls[1] != urls[2]
    assert server.links is not None
    for url, store in ((urls[0], "Main Street"), (urls[2], "Harbour Road")):
        assert url.startswith("https://t.me/great_widgets_bot?start=")
        link = await server.links.get(url.rpartition("=")[2])
        assert link is not None and link.source == f"store:{store}"
        assert link.member_code is None and link.usable(link.created_at)
    # Marketing disables the store's link: the kiosk shows the new one at once.
    await server.links.disable(urls[0].rpartition("=")[2])
    async with server.client(first) as http:
        [renewed] = decode_qr((await http.get("api/session")).json()["store_qr"])
    assert renewed != urls[0] and renewed.startswith("https://t.me/great_widgets_bot?start=")

    # Before the bot knows its username there is no link to show, and nothing breaks.
    unnamed: KioskServer = await kiosk_factory(bot_username="")
    key = await unnamed.add_kiosk()
    async with unnamed.client(key) as http:
        assert (await http.get("api/session")).json()["store_qr"] is None
        joined = await http.post("api/join", json={"contact": "+12025550144"})
        assert joined.status_code == 201 and joined.json()["claim_qr"] is None


async def test_a_walk_in_whose_create_answer_was_lost_gets_their_card_on_retry(
    ct_sandbox_url: str, database: Database, clock: MovableClock
) -> None:
    from aiohttp import web

    from bot.kiosk.app import build_kiosk, create_kiosk_app, mount_kiosk
    from bot.sandbox.runner import serve
    from tests.kiosk.conftest import kiosk_settings

    transport = LosesCreateAnswers()
    backend = ClientToolboxClient(ct_settings(ct_sandbox_url), HttpSettings(), transport=transport)
    context = build_kiosk(kiosk_settings(), backend, database, clock=clock)
    root = web.Application()
    mount_kiosk(root, create_kiosk_app(context))
    try:
        async with serve(root) as url:
            server = KioskServer(url, context, Kiosks(database), backend, database)
            key = await server.add_kiosk()
            async with server.client(key) as http:
                transport.lose_next_create = True
                lost = await http.post("api/join", json={"contact": "+12025550166"})
                assert lost.status_code == 503
                assert "can't reach" in lost.json()["message"]
                retry = await http.post("api/join", json={"contact": "+12025550166"})
                assert retry.status_code == 201, retry.text
                found = await backend.find_member_by_phone("+12025550166")
                assert found is not None
                assert retry.json()["card_number"].replace(" ", "") == found.card_number
    finally:
        await backend.aclose()
    # Nothing about the walk-in stays behind once the join is done.
    row = await database.fetch_one("SELECT count(*) FROM kiosk_joins")
    assert row is not None and row[0] == 0


async def test_staff_mode_needs_the_pin_and_locks_after_five_wrong_ones(
    kiosk_server: KioskServer, member: SandboxMember, clock: MovableClock
) -> None:
    key = await kiosk_server.add_kiosk()
    async with kiosk_server.client(key) as http:
        visit = (await http.post("api/lookup", json={"card": member.card_number})).json()["visit"]
        purchase = {"visit": visit, "campaign_id": demo.POINTS_CAMPAIGN, "amount": "2.00"}
        refused = await http.post("api/staff/record", json=purchase)
        assert refused.status_code == 403 and refused.json()["error"] == "staff_only"
        forged = await http.post("api/staff/record", json=purchase, headers={STAFF_HEADER: "x"})
        assert forged.status_code == 403

        wrong = await http.post("api/staff/unlock", json={"pin": "0000"})
        assert wrong.status_code == 403
        assert wrong.json()["message"] == "Wrong PIN. 4 tries left."
        # The configured default PIN is not this kiosk's: it has its own.
        assert (await http.post("api/staff/unlock", json={"pin": DEFAULT_PIN})).status_code == 403
        for tries_left in (2, 1):
            answer = await http.post("api/staff/unlock", json={"pin": "9999"})
            assert (
                answer.json()["message"]
                == f"Wrong PIN. {tries_left} {'tries' if tries_left > 1 else 'try'} left."
            )
        locked = await http.post("api/staff/unlock", json={"pin": "1111"})
        assert locked.status_code == 423
        assert locked.json()["message"] == (
            "Too many wrong PINs. Staff mode is locked for 5 minutes."
        )
        # Locked means locked, even for the right PIN.
        assert (await http.post("api/staff/unlock", json={"pin": STAFF_PIN})).status_code == 423
        clock.advance(minutes=5, seconds=1)
        unlocked = await http.post("api/staff/unlock", json={"pin": STAFF_PIN})
        assert unlocked.status_code == 200
        assert unlocked.json()["expires_in"] == 300
    outcomes = [action.outcome for action in reversed(await kiosk_server.kiosks.actions())]
    assert outcomes == ["wrong PIN"] * 4 + ["locked", "locked", "unlocked"]


async def test_staff_records_and_redeems_on_the_platform(
    kiosk_server: KioskServer, member: SandboxMember, clock: MovableClock
) -> None:
    key = await kiosk_server.add_kiosk()
    kiosk_id = int(key.split(".")[0])
    async with kiosk_server.client(key) as http:
        visit = (await http.post("api/lookup", json={"card": member.card_number})).json()["visit"]
        staff = (await http.post("api/staff/unlock", json={"pin": STAFF_PIN})).json()["staff"]
        http.headers[STAFF_HEADER] = staff

        bought = await http.post(
            "api/staff/record",
            json={"visit": visit, "campaign_id": demo.POINTS_CAMPAIGN, "amount": "2,50"},
        )
        assert bought.status_code == 200, bought.text
        assert bought.json()["receipt"]["text"] == (
            "Widget Rewards · +250 points · Balance: 700 points (≈ $7.00)"
        )
        assert re.fullmatch(r"Transaction \d+", bought.json()["receipt"]["transaction"])
        assert await points_of(kiosk_server.backend, member.code) == Decimal(700)

        redeemed = await http.post(
            "api/staff/redeem",
            json={
                "visit": visit,
                "campaign_id": demo.POINTS_CAMPAIGN,
                "reward_id": demo.FREE_WIDGET_REWARD,
            },
        )
        assert redeemed.status_code == 200, redeemed.text
        assert "−500 points" in redeemed.json()["receipt"]["text"]
        assert await points_of(kiosk_server.backend, member.code) == Decimal(200)

        too_much = await http.post(
            "api/staff/redeem",
            json={"visit": visit, "campaign_id": demo.POINTS_CAMPAIGN, "reward_id": "97"},
        )
        assert too_much.status_code == 409 and too_much.json()["error"] == "refused"
        assert await points_of(kiosk_server.backend, member.code) == Decimal(200)

        visit_recorded = await http.post(
            "api/staff/record", json={"visit": visit, "campaign_id": demo.EVENTS_CAMPAIGN}
        )
        assert "7 visits" in visit_recorded.json()["receipt"]["text"]
        coffee = await http.post(
            "api/staff/record",
            json={
                "visit": visit,
                "campaign_id": demo.BUYX_CAMPAIGN,
                "item": demo.COFFEES_ITEM,
                "quantity": "3",
            },
        )
        assert coffee.status_code == 200, coffee.text

        for bad in (
            {"campaign_id": demo.POINTS_CAMPAIGN, "amount": "-1"},
            {"campaign_id": demo.POINTS_CAMPAIGN, "amount": "1.005"},
            {"campaign_id": demo.POINTS_CAMPAIGN},
            {"campaign_id": demo.GIFTCARD_CAMPAIGN, "amount": "5"},
            {"campaign_id": demo.BUYX_CAMPAIGN, "item": "999"},
            {"campaign_id": demo.BUYX_CAMPAIGN, "item": demo.COFFEES_ITEM, "quantity": "²"},
        ):
            answer = await http.post("api/staff/record", json={"visit": visit, **bad})
            assert answer.status_code == 422, bad

        # Back to idle ends the visit and the staff session.
        assert (await http.post("api/idle", json={"visit": visit})).status_code == 204
        after = await http.post(
            "api/staff/record",
            json={"visit": visit, "campaign_id": demo.EVENTS_CAMPAIGN},
        )
        assert after.status_code == 403

    done = [a for a in await kiosk_server.kiosks.actions(kiosk_id) if a.outcome == "done"]
    assert [(a.action, a.campaign_id) for a in reversed(done)] == [
        ("purchase", demo.POINTS_CAMPAIGN),
        ("redeem", demo.POINTS_CAMPAIGN),
        ("purchase", demo.EVENTS_CAMPAIGN),
        ("purchase", demo.BUYX_CAMPAIGN),
    ]
    assert all(a.member_code == member.code and a.transaction_id for a in done)
    assert done[-1].detail == {"amount": "2.50"}
    assert all(a.at == clock.now for a in done)


async def test_a_kiosk_without_its_own_pin_takes_the_default_one(
    kiosk_server: KioskServer,
) -> None:
    key = await kiosk_server.add_kiosk(pin=None)
    async with kiosk_server.client(key) as http:
        assert (await http.post("api/staff/unlock", json={"pin": DEFAULT_PIN})).status_code == 200


async def test_no_staff_mode_without_any_pin(kiosk_factory: Callable[..., Any]) -> None:
    server: KioskServer = await kiosk_factory(staff_pin=None)
    key = await server.add_kiosk(pin=None)
    async with server.client(key) as http:
        assert (await http.get("api/session")).json()["staff_mode"] is False
        answer = await http.post("api/staff/unlock", json={"pin": "0000"})
        assert answer.json()["error"] == "no_staff_mode"


async def test_the_page_is_locked_down(kiosk_server: KioskServer) -> None:
    async with kiosk_server.client() as http:
        page = await http.get("")
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert page.headers["Referrer-Policy"] == "no-referrer"
        huge = await http.post("api/pair", content=b'{"code": "' + b"x" * 20_000 + b'"}')
        assert huge.status_code == 413
        bare = await http.get(f"{kiosk_server.url}/kiosk", follow_redirects=True)
        assert bare.url.path == "/kiosk/"
        assert (await http.get("static/../app.py")).status_code in (403, 404)


async def test_the_platform_down_is_said_plainly(
    kiosk_server: KioskServer, member: SandboxMember, ct_sandbox_url: str
) -> None:
    key = await kiosk_server.add_kiosk()
    async with kiosk_server.client(key) as http, httpx.AsyncClient() as control:
        await control.post(f"{ct_sandbox_url}/_sandbox/faults", json={"error_status": 503})
        answer = await http.post("api/lookup", json={"card": member.card_number})
        await control.delete(f"{ct_sandbox_url}/_sandbox/faults")
    assert answer.status_code == 503
    assert answer.json()["error"] == "unavailable"
    assert "503" not in answer.json()["message"]


async def test_a_kiosk_on_altcraft_shows_the_member_records_a_purchase_and_redeems_points(
    database: Database, clock: MovableClock
) -> None:
    from aiohttp import web

    from bot.kiosk.app import build_kiosk, create_kiosk_app, mount_kiosk
    from bot.loyalty.altcraft import AltcraftClient
    from bot.sandbox.altcraft import create_app as create_altcraft
    from bot.sandbox.runner import serve
    from tests.kiosk.conftest import kiosk_settings
    from tests.loyalty.test_altcraft_client import altcraft_settings

    async with serve(create_altcraft()) as sandbox:
        backend = AltcraftClient(altcraft_settings(sandbox), HttpSettings())
        context = build_kiosk(kiosk_settings(), backend, database, clock=clock)
        root = web.Application()
        mount_kiosk(root, create_kiosk_app(context))
        try:
            async with serve(root) as url:
                server = KioskServer(url, context, Kiosks(database), backend, database)
                key = await server.add_kiosk()
                async with server.client(key) as http:
                    shown = await http.post("api/lookup", json={"card": "400000000001"})
                    assert shown.status_code == 200, shown.text
                    member = shown.json()
                    assert member["greeting"] == "Hi, Ann!"
                    assert member["contact"] == "+1 ••• ••• 01 01"
                    [points] = member["balances"]
                    assert points["headline"].startswith("120 points")
                    staff = await http.post("api/staff/unlock", json={"pin": STAFF_PIN})
                    bought = await http.post(
                        "api/staff/record",
                        json={
                            "visit": member["visit"],
                            "campaign_id": points["campaign_id"],
                            "amount": "30",
                        },
                        headers={STAFF_HEADER: staff.json()["staff"]},
                    )
                    assert bought.status_code == 200, bought.text
                    again = await http.post("api/visit", json={"visit": member["visit"]})
                    assert again.json()["balances"][0]["headline"] != points["headline"]
                    assert "DEMO0001" not in shown.text and "ann@" not in shown.text
                    before = (await backend.balances("DEMO0001"))[0]
                    redeemed = await http.post(
                        "api/staff/redeem",
                        json={
                            "visit": member["visit"],
                            "campaign_id": points["campaign_id"],
                            "amount": "50",
                        },
                        headers={STAFF_HEADER: staff.json()["staff"]},
                    )
                    assert redeemed.status_code == 200, redeemed.text
                    after = (await backend.balances("DEMO0001"))[0]
                    assert before.kind == after.kind == "points"
                    assert after.points == before.points - 50
        finally:
            await backend.aclose()
