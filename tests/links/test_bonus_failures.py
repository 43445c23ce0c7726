"""The bonus is paid exactly once when the platform fails: before the request arrives, after
it took effect but its answer was lost, during the member's create, or across two workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from bot.config import HttpSettings, Settings
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import NewMember
from bot.storage.links import BonusState, LinkRepository
from tests.conftest import ct_settings
from tests.links.conftest import POINTS, bonus_transactions, points, signup_joins, signup_links
from tests.telegram.conftest import BotUnderTest, MovableClock, start_bot, stop_bot

PHONE = "12025550143"
E164 = "+12025550143"
UNREACHABLE = (
    "We can't reach the rewards system right now. Your details are saved — try again in a minute."
)


class FlakyPlatform(httpx.AsyncHTTPTransport):
    """Passes requests to the sandbox, but can fail the next one of a given call type:
    ``refuse`` never delivers it, ``lose`` delivers it and loses the answer."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: dict[bytes, str] = {}

    def fail_next(self, call: str, how: str) -> None:
        self.failures[f"type={call}".encode()] = how

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for call, how in list(self.failures.items()):
            if call in request.content:
                del self.failures[call]
                if how == "refuse":
                    raise httpx.ConnectError("the platform is down", request=request)
                response = await super().handle_async_request(request)
                await response.aread()
                raise httpx.ReadTimeout("the answer was lost", request=request)
        return await super().handle_async_request(request)


@pytest.fixture
async def flaky(
    settings: Settings, ct_sandbox_url: str, tmp_path: Path, clock: MovableClock
) -> AsyncIterator[tuple[BotUnderTest, FlakyPlatform]]:
    transport = FlakyPlatform()
    backend = ClientToolboxClient(ct_settings(ct_sandbox_url), HttpSettings(), transport=transport)
    running = await start_bot(settings, backend, tmp_path / "bot.db", clock)
    try:
        yield running, transport
    finally:
        await stop_bot(running)
        await backend.aclose()


async def existing_member(backend: ClientToolboxClient) -> str:
    member = await backend.enroll(
        NewMember(code="7000000000000007", first_name="Janet", phone=E164, campaign_ids=(POINTS,))
    )
    return member.code


@pytest.mark.parametrize("how", ["refuse", "lose"])
async def test_a_bonus_in_doubt_is_checked_and_paid_once_on_the_next_start(
    flaky: tuple[BotUnderTest, FlakyPlatform], ct_backend: ClientToolboxClient, how: str
) -> None:
    running, platform = flaky
    code = await existing_member(ct_backend)
    link = await signup_links(running).create(
        campaign_id=POINTS, source="poster", bonus=Decimal(40)
    )
    jane = running.user(1001, first_name="Jane")
    await jane.send(f"/start {link.token}")
    platform.fail_next("record_activity", how)

    [card] = await jane.share_contact(PHONE)

    # The join itself succeeded: the card arrives, the bonus waits (and is not announced).
    assert card.method == "sendPhoto"
    assert "bonus" not in card.text
    assert await LinkRepository(running.db).bonus_state(code, POINTS) is BonusState.DOUBT
    paid_before = 40 if how == "lose" else 0
    assert await points(ct_backend, code) == paid_before

    [menu] = await jane.send("/start")
    assert menu.text == "👋 Welcome back, Janet!"
    assert await points(ct_backend, code) == 40
    assert len(await bonus_transactions(ct_backend, code)) == 1
    assert await LinkRepository(running.db).bonus_state(code, POINTS) is BonusState.CREDITED
    # Nothing more on later openings or background rounds.
    await jane.send(f"/start {link.token}")
    assert await signup_joins(running).settle_owed() == 0
    assert await points(ct_backend, code) == 40


async def test_two_workers_settling_the_same_owed_bonus_pay_it_once(
    flaky: tuple[BotUnderTest, FlakyPlatform], ct_backend: ClientToolboxClient
) -> None:
    running, platform = flaky
    code = await existing_member(ct_backend)
    link = await signup_links(running).create(
        campaign_id=POINTS, source="poster", bonus=Decimal(40)
    )
    jane = running.user(1001, first_name="Jane")
    await jane.send(f"/start {link.token}")
    platform.fail_next("record_activity", "refuse")
    await jane.share_contact(PHONE)

    joins = signup_joins(running)
    credited = await asyncio.gather(joins.settle_owed(), joins.settle_owed())

    assert sorted(credited) == [0, 1]
    assert await points(ct_backend, code) == 40
    assert len(await bonus_transactions(ct_backend, code)) == 1


async def test_a_lost_create_answer_keeps_the_auto_add_bonus_single(
    flaky: tuple[BotUnderTest, FlakyPlatform], ct_backend: ClientToolboxClient
) -> None:
    running, platform = flaky
    link = await signup_links(running).create(
        campaign_id=POINTS, source="poster", bonus=Decimal(25)
    )
    jane = running.user(1001, first_name="Jane")
    await jane.send(f"/start {link.token}")
    platform.fail_next("record_customer", "lose")

    [told] = await jane.share_contact(PHONE)
    assert told.text == UNREACHABLE
    [card] = await jane.press("🔄 Try again", on=told)

    assert card.text.startswith("✅ You're in, Jane! Your card number is")
    member = await ct_backend.find_member_by_phone(E164)
    assert member is not None
    assert await points(ct_backend, member.code) == 25
    assert await bonus_transactions(ct_backend, member.code) == ["Auto add."]
    stored = await signup_links(running).get(link.token)
    assert stored is not None and stored.uses == 1


async def test_a_create_that_never_arrived_is_made_with_the_bonus_on_the_retry(
    flaky: tuple[BotUnderTest, FlakyPlatform], ct_backend: ClientToolboxClient
) -> None:
    running, platform = flaky
    link = await signup_links(running).create(
        campaign_id=POINTS, source="poster", bonus=Decimal(25), max_uses=1
    )
    jane = running.user(1001, first_name="Jane")
    await jane.send(f"/start {link.token}")
    platform.fail_next("record_customer", "refuse")

    [told] = await jane.share_contact(PHONE)
    assert told.text == UNREACHABLE
    [card] = await jane.press("🔄 Try again", on=told)

    assert card.method == "sendPhoto"
    member = await ct_backend.find_member_by_phone(E164)
    assert member is not None
    assert await points(ct_backend, member.code) == 25
    # The retry reused the use claimed by the first attempt instead of taking a second one.
    stored = await signup_links(running).get(link.token)
    assert stored is not None and stored.uses == 1


async def test_a_link_opened_while_a_join_waits_pays_by_earn_not_by_create(
    flaky: tuple[BotUnderTest, FlakyPlatform], ct_backend: ClientToolboxClient
) -> None:
    """The first attempt may have created the member without the bonus; the link's bonus
    must then be paid after the join, not assumed to ride on the create."""
    running, platform = flaky
    jane = running.user(1001, first_name="Jane")
    platform.fail_next("record_customer", "lose")
    [told] = await jane.share_contact(PHONE)
    assert told.text == UNREACHABLE
    link = await signup_links(running).create(
        campaign_id=POINTS, source="poster", bonus=Decimal(25)
    )
    await jane.send(f"/start {link.token}")

    [card] = await jane.press("🔄 Try again", on=told)

    assert card.method == "sendPhoto"
    member = await ct_backend.find_member_by_phone(E164)
    assert member is not None
    assert await points(ct_backend, member.code) == 25
    [credit] = await bonus_transactions(ct_backend, member.code)
    assert credit.startswith("Signup bonus #")
