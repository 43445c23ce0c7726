"""What the Client Toolbox client keeps between calls: reward lists, per campaign, for a short
while; never a member's profile or balances. A kiosk scan is one platform round trip."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import pytest

from bot.config import HttpSettings
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.errors import Unavailable
from bot.loyalty.models import NewMember, PointsBalance, Purchase
from bot.loyalty.ttl_cache import TtlCache
from bot.sandbox.clienttoolbox import demo
from tests.conftest import ct_settings


class CountsCalls(httpx.AsyncHTTPTransport):
    """Delivers every request to the sandbox and counts them by the call's ``type``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        self.calls[form["type"][0]] += 1
        return await super().handle_async_request(request)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def counts() -> CountsCalls:
    return CountsCalls()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(
    ct_sandbox_url: str, counts: CountsCalls, clock: Clock
) -> AsyncIterator[ClientToolboxClient]:
    client = ClientToolboxClient(
        ct_settings(ct_sandbox_url),
        HttpSettings(),
        rewards_ttl=60,
        cache_clock=clock,
        transport=counts,
    )
    try:
        yield client
    finally:
        await client.aclose()


async def enroll(client: ClientToolboxClient, n: int, dollars: str) -> str:
    member = await client.enroll(
        NewMember(
            code=f"CACHE{n}",
            card_number=f"90000000000{n}",
            first_name=f"Member{n}",
            phone=f"+1202555010{n}",
            campaign_ids=(demo.POINTS_CAMPAIGN,),
        )
    )
    await client.record_purchase(
        member.code, Purchase(campaign_id=demo.POINTS_CAMPAIGN, amount=Decimal(dollars))
    )
    return member.code


def points(balances: list[object]) -> Decimal:
    [balance] = [b for b in balances if isinstance(b, PointsBalance)]
    return balance.points


async def test_reward_lists_are_fetched_once_per_lifetime(
    client: ClientToolboxClient, counts: CountsCalls, clock: Clock
) -> None:
    code = await enroll(client, 1, "4.50")
    for _ in range(5):
        await client.balances(code)
    assert counts.calls["customer_info"] == 5
    assert counts.calls["campaign_rewards"] == 1
    clock.now += 61
    await client.balances(code)
    assert counts.calls["campaign_rewards"] == 2


async def test_concurrent_misses_share_one_request(
    client: ClientToolboxClient, counts: CountsCalls
) -> None:
    code = await enroll(client, 1, "1")
    await asyncio.gather(*(client.balances(code) for _ in range(20)))
    assert counts.calls["campaign_rewards"] == 1


async def test_no_member_ever_sees_another_members_balances(
    client: ClientToolboxClient, counts: CountsCalls
) -> None:
    first, second = await enroll(client, 1, "4.50"), await enroll(client, 2, "0.75")
    results = await asyncio.gather(
        *(client.balances(first if n % 2 else second) for n in range(40))
    )
    for n, balances in enumerate(results):
        assert points(balances) == (Decimal(450) if n % 2 else Decimal(75))
    # Balances are never kept: a purchase shows on the next view at once.
    await client.record_purchase(
        first, Purchase(campaign_id=demo.POINTS_CAMPAIGN, amount=Decimal("1"))
    )
    assert points(await client.balances(first)) == Decimal(550)
    assert points(await client.balances(second)) == Decimal(75)


async def test_a_card_scan_is_one_round_trip(
    client: ClientToolboxClient, counts: CountsCalls
) -> None:
    await enroll(client, 1, "4.50")
    await client.balances("CACHE1")  # the reward list is in memory now
    counts.calls.clear()
    found = await client.find_member_with_balances("900000000001")
    assert found is not None
    member, balances = found
    assert member.code == "CACHE1" and points(balances) == Decimal(450)
    assert counts.calls == Counter({"customer_info": 1})
    assert await client.find_member_with_balances("900000000009") is None


async def test_a_failed_fetch_is_not_kept() -> None:
    cache: TtlCache[list[str]] = TtlCache(60, clock=Clock())
    answers: list[list[str] | Exception] = [Unavailable("down"), ["Free coffee"]]

    async def load() -> list[str]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with pytest.raises(Unavailable):
        await cache.get("campaign 1", load)
    assert await cache.get("campaign 1", load) == ["Free coffee"]
    assert await cache.get("campaign 1", load) == ["Free coffee"]  # kept now


async def test_a_fresh_look_never_loads_and_ends_with_the_lifetime() -> None:
    clock = Clock()
    cache: TtlCache[list[str]] = TtlCache(60, clock=clock)
    assert cache.fresh("campaign 1") is None

    async def load() -> list[str]:
        return ["Free coffee"]

    await cache.get("campaign 1", load)
    assert cache.fresh("campaign 1") == ["Free coffee"]
    assert cache.fresh("campaign 2") is None
    clock.now += 61
    assert cache.fresh("campaign 1") is None
    off: TtlCache[list[str]] = TtlCache(0, clock=clock)
    await off.get("campaign 1", load)
    assert off.fresh("campaign 1") is None
