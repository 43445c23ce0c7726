"""The kiosk under attack and bad luck: parallel PIN guessing, unknown-card limits, inputs
that are not what they seem."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import httpx
import pytest

from bot.kiosk.api import KEY_HEADER, STAFF_HEADER
from bot.sandbox.clienttoolbox import demo
from tests.kiosk.conftest import STAFF_PIN, KioskServer, MovableClock, SandboxMember, points_of

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_parallel_burst_of_pin_guesses_gets_no_more_checks_than_the_lockout_allows(
    kiosk_server: KioskServer, clock: MovableClock
) -> None:
    key = await kiosk_server.add_kiosk()
    guesses = [f"{n:04d}" for n in range(199)]
    assert STAFF_PIN not in guesses
    # The right PIN inside the burst, well after the first few guesses.
    guesses.insert(100, STAFF_PIN)
    async with httpx.AsyncClient(
        base_url=f"{kiosk_server.url}/kiosk/",
        headers={KEY_HEADER: key},
        limits=httpx.Limits(max_connections=200),
        timeout=60,
    ) as http:
        answers = await asyncio.gather(
            *(http.post("api/staff/unlock", json={"pin": pin}) for pin in guesses)
        )
    statuses = Counter(answer.status_code for answer in answers)
    assert 200 not in statuses, "the burst unlocked staff mode"
    # Five PINs were checked (four answered "wrong", the fifth set the lock); the rest were
    # refused unchecked.
    assert statuses == {403: 4, 423: 196}
    outcomes = Counter(action.outcome for action in await kiosk_server.kiosks.actions(limit=500))
    assert outcomes == {"wrong PIN": 4, "locked": 196}
    clock.advance(minutes=5, seconds=1)
    async with kiosk_server.client(key) as http:
        assert (await http.post("api/staff/unlock", json={"pin": STAFF_PIN})).status_code == 200


async def test_amounts_in_other_scripts_digits_are_refused_and_not_recorded(
    kiosk_server: KioskServer, member: SandboxMember
) -> None:
    key = await kiosk_server.add_kiosk()
    async with kiosk_server.client(key) as http:
        visit = (await http.post("api/lookup", json={"card": member.card_number})).json()["visit"]
        staff = (await http.post("api/staff/unlock", json={"pin": STAFF_PIN})).json()["staff"]
        http.headers[STAFF_HEADER] = staff
        for action, body in (
            ("record", {"campaign_id": demo.POINTS_CAMPAIGN, "amount": "٣٠٠"}),
            ("record", {"campaign_id": demo.POINTS_CAMPAIGN, "amount": "１２"}),
            ("record", {"campaign_id": demo.POINTS_CAMPAIGN, "amount": "1٢.50"}),
            ("redeem", {"campaign_id": demo.POINTS_CAMPAIGN, "amount": "३"}),
            (
                "record",
                {"campaign_id": demo.BUYX_CAMPAIGN, "item": demo.COFFEES_ITEM, "quantity": "٣"},
            ),
        ):
            answer = await http.post(f"api/staff/{action}", json={"visit": visit, **body})
            assert answer.status_code == 422, body
            assert answer.json() == {
                "error": "invalid_digits",
                "message": "Please type the amount with the digits 0 to 9.",
            }
            russian = await http.post(
                f"api/staff/{action}",
                json={"visit": visit, **body},
                headers={"X-Kiosk-Language": "ru"},
            )
            assert russian.json()["message"] == "Введите сумму цифрами от 0 до 9."
    assert await points_of(kiosk_server.backend, member.code) == Decimal(450)
    assert [a.outcome for a in await kiosk_server.kiosks.actions()] == ["unlocked"]


async def test_json_nested_thousands_deep_is_a_clean_400(kiosk_server: KioskServer) -> None:
    key = await kiosk_server.add_kiosk()
    deep = "[" * 8000 + "]" * 8000
    async with kiosk_server.client(key) as http:
        for path in ("api/lookup", "api/pair", "api/staff/unlock"):
            answer = await http.post(
                path, content=deep, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["error"] == "bad_request"
        nested_object = '{"card": ' + "[" * 8000 + "]" * 8000 + "}"
        answer = await http.post(
            "api/lookup", content=nested_object, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400


async def test_the_staff_receipt_comes_in_every_kiosk_language(
    kiosk_server: KioskServer, member: SandboxMember
) -> None:
    key = await kiosk_server.add_kiosk()
    async with kiosk_server.client(key) as http:
        visit = (await http.post("api/lookup", json={"card": member.card_number})).json()["visit"]
        staff = (await http.post("api/staff/unlock", json={"pin": STAFF_PIN})).json()["staff"]
        bought = await http.post(
            "api/staff/record",
            json={"visit": visit, "campaign_id": demo.POINTS_CAMPAIGN, "amount": "1.00"},
            headers={STAFF_HEADER: staff},
        )
    assert bought.status_code == 200, bought.text
    receipts = bought.json()["receipts"]
    assert set(receipts) == {"en", "ru", "es"}
    assert receipts["en"] == bought.json()["receipt"]
    assert receipts["en"]["text"].startswith("Widget Rewards · +100 points")
    assert "+100 баллов" in receipts["ru"]["text"]
    assert receipts["ru"]["transaction"].startswith("Операция ")
    assert "+100 puntos" in receipts["es"]["text"]


async def test_contacts_of_members_count_as_misses_without_blocking_valid_cards(
    kiosk_server: KioskServer, member: SandboxMember
) -> None:
    key = await kiosk_server.add_kiosk()
    async with kiosk_server.client(key) as http:
        for _ in range(3):
            known = await http.post("api/join", json={"contact": member.phone})
            assert known.status_code == 200 and known.json()["already_member"] is True
        limited = await http.post("api/join", json={"contact": member.phone})
        assert limited.status_code == 429
        assert limited.json() == {
            "error": "rate_limited",
            "message": "Too many tries. Please wait 10 minutes and try again.",
            "retry_after": 600,
        }
        assert (
            await http.post("api/lookup", json={"card": member.card_number})
        ).status_code == 200
