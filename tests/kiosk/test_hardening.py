"""The kiosk under attack and bad luck: parallel PIN guessing, unknown-card limits, inputs
that are not what they seem."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from bot.kiosk.api import KEY_HEADER
from tests.kiosk.conftest import STAFF_PIN, KioskServer, MovableClock

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
