"""Untrusted payloads never credit anything, and ``max_uses`` holds when joins race."""

from __future__ import annotations

import asyncio
import string
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.services.signup_links import LinkOutcome, SignupLinks, is_signed, new_token
from bot.storage.database import open_database
from bot.storage.links import LinkRepository
from tests.links.conftest import POINTS, bonus_transactions, points, signup_links
from tests.telegram.conftest import BotUnderTest

WELCOME = "👋 Welcome to Great Widgets Rewards!"
ALPHABET = string.ascii_letters + string.digits + "_-"


def one_character_edits(token: str) -> list[str]:
    return [
        token[:position] + other + token[position + 1 :]
        for position in range(len(token))
        for other in ALPHABET
        if other != token[position]
    ]


async def test_every_one_character_edit_of_a_token_is_refused_before_any_lookup(
    app: BotUnderTest,
) -> None:
    links = signup_links(app)
    link = await links.create(campaign_id=POINTS, source="poster", bonus=Decimal(25))
    edits = one_character_edits(link.token)
    assert len(edits) == len(link.token) * (len(ALPHABET) - 1)
    outcomes = {(await links.open(3000, edit)).outcome for edit in edits}
    assert outcomes == {LinkOutcome.FORGED}
    assert await LinkRepository(app.db).visit(3000) is None
    assert (await links.open(3000, link.token)).outcome is LinkOutcome.VALID


async def test_edited_tokens_in_the_chat_then_a_join_credit_nothing(
    app: BotUnderTest, ct_backend: ClientToolboxClient
) -> None:
    links = signup_links(app)
    link = await links.create(campaign_id=POINTS, source="poster", bonus=Decimal(25))
    user = app.user(3001, first_name="Eve")
    for edited in one_character_edits(link.token)[:: len(ALPHABET) - 1]:
        [welcome] = await user.send(f"/start {edited}")
        assert welcome.text.startswith(WELCOME)
    await user.share_contact("12025550177")
    member = await ct_backend.find_member_by_phone("+12025550177")
    assert member is not None
    assert await points(ct_backend, member.code) == 0
    assert await bonus_transactions(ct_backend, member.code) == []
    stored = await links.get(link.token)
    assert stored is not None and stored.uses == 0


async def test_tokens_signed_elsewhere_or_never_stored_are_refused(app: BotUnderTest) -> None:
    links = signup_links(app)
    secret = await LinkRepository(app.db).installation_secret()
    from_elsewhere = new_token(b"another installation's key")
    never_stored = new_token(secret)
    assert (await links.open(3002, from_elsewhere)).outcome is LinkOutcome.FORGED
    assert (await links.open(3002, never_stored)).outcome is LinkOutcome.UNKNOWN
    assert await LinkRepository(app.db).visit(3002) is None


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    payload=st.one_of(
        st.text(alphabet=ALPHABET, min_size=1, max_size=64),
        st.text(alphabet=ALPHABET, min_size=16, max_size=16),
        st.text(min_size=1, max_size=80).filter(lambda text: text.strip() != ""),
    )
)
async def test_generated_payloads_get_the_plain_welcome_and_no_link(
    app: BotUnderTest, payload: str
) -> None:
    user = app.user(3100, first_name="Mallory")
    answers = await user.send(f"/start {payload}")
    assert [answer.text[: len(WELCOME)] for answer in answers] == [WELCOME]
    assert await LinkRepository(app.db).visit(3100) is None


async def test_max_uses_holds_when_joins_race(
    app: BotUnderTest, ct_backend: ClientToolboxClient
) -> None:
    links = signup_links(app)
    link = await links.create(campaign_id=POINTS, source="poster", bonus=Decimal(25), max_uses=2)
    users = [app.user(4000 + n, first_name=f"Racer{n}") for n in range(6)]
    for user in users:
        [welcome] = await user.send(f"/start {link.token}")
        assert welcome.text.startswith(WELCOME)

    cards = await asyncio.gather(
        *(user.share_contact(f"1202555{4000 + n:04d}") for n, user in enumerate(users))
    )

    assert all(card.method == "sendPhoto" for [card] in cards)
    balances = []
    for n in range(len(users)):
        member = await ct_backend.find_member_by_phone(f"+1202555{4000 + n:04d}")
        assert member is not None
        balances.append(await points(ct_backend, member.code))
    assert sorted(balances) == [0, 0, 0, 0, 25, 25]
    stored = await links.get(link.token)
    assert stored is not None and stored.uses == 2
    [row] = [row for row in await links.stats() if row.token == link.token]
    assert (row.opened, row.refused, row.signups, row.bonuses) == (6, 4, 2, 2)
    # Once used up, the link is refused at the door.
    late = app.user(4100, first_name="Late")
    [welcome] = await late.send(f"/start {link.token}")
    assert welcome.text.startswith(WELCOME)
    assert await LinkRepository(app.db).visit(4100) is None


async def test_max_uses_holds_across_processes_sharing_the_database(database_target: str) -> None:
    first, second = await open_database(database_target), await open_database(database_target)
    try:
        links = SignupLinks(LinkRepository(first), bot_username="great_widgets_bot")
        link = await links.create(campaign_id=POINTS, source="poster", max_uses=3)
        for user_id in range(20):
            await links.open(user_id, link.token)
        repositories = (LinkRepository(first), LinkRepository(second))
        claims = await asyncio.gather(
            *(
                repositories[user_id % 2].claim(user_id, f"{9000000000000000 + user_id}")
                for user_id in range(20)
            )
        )
        assert sum(claim is not None for claim in claims) == 3
        stored = await links.get(link.token)
        assert stored is not None and stored.uses == 3
    finally:
        await first.close()
        await second.close()


def test_a_token_never_begins_with_a_dash_so_the_cli_takes_it_as_an_argument() -> None:
    # One body in 64 begins with "-"; 3,000 tokens would all but surely show one.
    tokens = [new_token(b"key") for _ in range(3000)]
    assert not [token for token in tokens if token.startswith("-")]
    assert all(is_signed(b"key", token) for token in tokens)
    assert any("-" in token for token in tokens)  # the dash itself is still in the alphabet
