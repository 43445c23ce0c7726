"""A kiosk server SIGKILLed while a staff purchase is at the platform (before the platform
handles it, or after it recorded it and before the answer comes back): the pending notice
written before the call is settled by the bot at its start by the transaction's marker, so
the member gets exactly one message for the one transaction, or none when nothing was
recorded."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.kiosk.api import KEY_HEADER, STAFF_HEADER
from bot.kiosk.app import build_kiosk
from bot.loyalty.base import LoyaltyBackend
from bot.sandbox.clienttoolbox import create_app, demo
from bot.sandbox.faults import Handler
from bot.sandbox.runner import serve
from bot.storage.kiosk_notices import PendingNotices
from bot.telegram.balance_messages import connect_balance_messages
from tests.e2e.conftest import clean_environment
from tests.notifications.conftest import STAFF_PIN, Shop, points
from tests.notifications.test_balance_messages import join, to_jane

CHECKOUT = Path(__file__).resolve().parents[2]


@dataclass
class Killer:
    """Kills the kiosk process on its purchase: before the platform handles it, or after."""

    process: asyncio.subprocess.Process | None = None
    after: bool = False
    killed: int = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        form = await request.post()
        process = self.process
        if str(form.get("type", "")) != "record_activity" or process is None:
            return await handler(request)
        self.process = None
        response = await handler(request) if self.after else web.Response(status=503)
        self.killed += 1
        process.send_signal(signal.SIGKILL)
        # The answer must not reach the kiosk before the signal does.
        await process.wait()
        return response


@pytest.fixture
def killer() -> Killer:
    return Killer()


@pytest.fixture
async def ct_sandbox_url(tmp_path: Path, killer: Killer) -> AsyncIterator[str]:
    app = create_app(tmp_path / "clienttoolbox-sandbox.db")
    app.middlewares.append(killer.middleware)
    async with serve(app) as url:
        yield url


async def kiosk_process(
    shop: Shop, sandbox_url: str, tmp_path: Path
) -> tuple[asyncio.subprocess.Process, str]:
    url_file = tmp_path / "kiosk-url"
    env = clean_environment()
    env["PYTHONPATH"] = str(CHECKOUT)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.notifications.kiosk_worker",
        str(shop.db_path),
        sandbox_url,
        str(url_file),
        env=env,
        cwd=CHECKOUT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=(tmp_path / "kiosk.log").open("w"),
    )
    while not url_file.exists() or not url_file.read_text():
        assert process.returncode is None, (tmp_path / "kiosk.log").read_text()
        await asyncio.sleep(0.05)
    return process, url_file.read_text()


async def kiosk_marked(backend: LoyaltyBackend, code: str) -> list[str]:
    """The ids of the member's transactions the kiosk recorded (by their description)."""
    return [
        t.id for t in await backend.history(code, limit=100) if t.description.startswith("Kiosk")
    ]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("after", [False, True], ids=["before-handled", "after-handled"])
async def test_a_kiosk_killed_during_a_purchase_tells_the_member_once_after_restart(
    shop: Shop,
    ct_backend: LoyaltyBackend,
    ct_sandbox_url: str,
    killer: Killer,
    tmp_path: Path,
    after: bool,
) -> None:
    _, code, card = await join(shop)
    welcomed = len(shop.app.telegram.sent)
    start = await points(ct_backend, code)
    process, url = await kiosk_process(shop, ct_sandbox_url, tmp_path)
    try:
        added = await shop.kiosk.pairing.add("Main Street", pin=STAFF_PIN)
        paired = await shop.kiosk.pairing.pair(added.pairing_code)
        assert paired is not None
        async with httpx.AsyncClient(
            base_url=f"{url}/kiosk/", headers={KEY_HEADER: paired.key}, timeout=30
        ) as http:
            looked_up = await http.post("api/lookup", json={"card": card})
            assert looked_up.status_code == 200, looked_up.text
            unlocked = await http.post("api/staff/unlock", json={"pin": STAFF_PIN})
            http.headers[STAFF_HEADER] = unlocked.json()["staff"]
            killer.process, killer.after = process, after
            with pytest.raises(httpx.TransportError):
                await http.post(
                    "api/staff/record",
                    json={
                        "visit": looked_up.json()["visit"],
                        "campaign_id": demo.POINTS_CAMPAIGN,
                        "amount": "1.25",
                    },
                )
        assert await process.wait() == -signal.SIGKILL
    finally:
        if process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)
            await process.wait()

    assert killer.killed == 1
    notices = PendingNotices(shop.app.db)
    [pending] = await notices.older_than(shop.clock() + dt.timedelta(days=1))
    assert pending.member_code == code
    recorded = await kiosk_marked(ct_backend, code)
    assert len(recorded) == (1 if after else 0)
    assert to_jane(shop.app.telegram.sent[welcomed:]) == []

    # The bot restarts; its settler (as started with the bot) looks the marker up once the
    # notice is a minute old.
    shop.clock.advance(seconds=30)
    await shop.restart()
    # The kiosk restarts on the bot's new database connection, told by the bot's notifier.
    desk = build_kiosk(shop.settings, ct_backend, shop.app.db, clock=shop.clock).desk
    desk.set_notifier(connect_balance_messages(shop.app.bot, shop.app.dispatcher))
    notices = PendingNotices(shop.app.db)
    assert await desk.settle_notices() == 0  # too young: the purchase may still be under way
    shop.clock.advance(minutes=2)
    stop = asyncio.Event()
    settling = asyncio.create_task(desk.keep_settling_notices(stop))
    while await notices.count():
        assert not settling.done()
        await asyncio.sleep(0.05)
    stop.set()
    await settling

    messages = to_jane(shop.app.telegram.sent)
    outbox_keys = [
        m.key
        for m in await shop.app.dispatcher["outbox"].repository.all()
        if m.key.startswith("balance:")
    ]
    if after:
        [message] = messages
        assert message.text.splitlines()[:2] == [
            "⭐ +125 points in Widget Rewards.",
            f"Your balance: {start + 125} points.",
        ]
        assert outbox_keys == [f"balance:tx:{recorded[0]}"]
        assert await points(ct_backend, code) == start + 125
    else:
        assert messages == [] and outbox_keys == []
        assert await points(ct_backend, code) == start

    # Settled again (another replica, the next round) and the notifier told again by hand:
    # nothing more is recorded or sent.
    assert await desk.settle_notices() == 0
    assert await kiosk_marked(ct_backend, code) == recorded
    assert len(to_jane(shop.app.telegram.sent)) == (1 if after else 0)
