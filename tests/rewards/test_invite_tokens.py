"""Forged and edited invite tokens never credit anything: refused before any lookup, no visit
kept, and a join after them pays no one."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.services.referrals import (
    INVITE_TOKEN_LENGTH,
    InviteOutcome,
    is_signed_invite,
    new_invite_token,
)
from bot.services.signup_links import new_token
from bot.storage.database import Database
from bot.storage.links import LinkRepository
from tests.rewards.conftest import marked_credits, member_code, points, referrals
from tests.telegram.conftest import BotUnderTest

ALPHABET = string.ascii_letters + string.digits + "_-"
WELCOME = "👋 Welcome to Great Widgets Rewards!"
ANNA_PHONE, ANNA = "12025550101", "+12025550101"


async def visits(db: Database) -> int:
    row = await db.fetch_one("SELECT count(*) FROM referral_visits")
    assert row is not None
    return int(row[0])


async def anna_and_her_token(
    app: BotUnderTest, ct_backend: ClientToolboxClient
) -> tuple[str, str]:
    await app.user(2001, first_name="Anna").share_contact(ANNA_PHONE)
    code = await member_code(ct_backend, ANNA)
    return code, await referrals(app).invite_token(code)


def one_character_edits(token: str) -> list[str]:
    return [
        token[:position] + other + token[position + 1 :]
        for position in range(len(token))
        for other in ALPHABET
        if other != token[position]
    ]


async def test_every_one_character_edit_of_an_invite_is_refused_and_a_join_pays_nobody(
    app: BotUnderTest, ct_backend: ClientToolboxClient
) -> None:
    anna_code, token = await anna_and_her_token(app, ct_backend)
    service = referrals(app)
    edits = one_character_edits(token)
    assert len(edits) == INVITE_TOKEN_LENGTH * (len(ALPHABET) - 1)
    outcomes = set()
    for edit in edits:
        opening = await service.open(3000, edit, member_code=None)
        # An edited first character is no invite at all (it goes to the signup links).
        outcomes.add(None if opening is None else opening.outcome)
    assert outcomes == {None, InviteOutcome.FORGED}
    assert await visits(app.db) == 0

    eve = app.user(3000, first_name="Eve")
    for edit in edits[:: len(ALPHABET) - 1]:
        [welcome] = await eve.send(f"/start {edit}")
        assert welcome.text.startswith(WELCOME)
    [card] = await eve.share_contact("12025550177")
    assert "bonus" not in card.text
    eve_code = await member_code(ct_backend, "+12025550177")
    assert await points(ct_backend, eve_code) == 0
    assert await points(ct_backend, anna_code) == 0
    assert await marked_credits(ct_backend, anna_code, "Invite bonus") == []


async def test_invites_signed_elsewhere_never_stored_or_of_the_signup_kind_are_refused(
    app: BotUnderTest, ct_backend: ClientToolboxClient
) -> None:
    await anna_and_her_token(app, ct_backend)
    service = referrals(app)
    secret = await LinkRepository(app.db).installation_secret()
    from_elsewhere = new_invite_token(b"another installation's key")
    never_stored = new_invite_token(secret)
    opening = await service.open(3002, from_elsewhere, member_code=None)
    assert opening is not None and opening.outcome is InviteOutcome.FORGED
    opening = await service.open(3002, never_stored, member_code=None)
    assert opening is not None and opening.outcome is InviteOutcome.UNKNOWN
    # A signup token is not an invite, and an invite is not a signup token.
    assert await service.open(3002, new_token(secret), member_code=None) is None
    assert not is_signed_invite(secret, "r" + new_token(secret) + "abc")
    assert await visits(app.db) == 0


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    payload=st.one_of(
        st.text(alphabet=ALPHABET, min_size=INVITE_TOKEN_LENGTH - 1, max_size=INVITE_TOKEN_LENGTH)
        .map(lambda text: "r" + text[1:])
        .filter(lambda text: len(text) == INVITE_TOKEN_LENGTH),
        st.text(alphabet=ALPHABET, min_size=1, max_size=64),
        st.text(min_size=1, max_size=80).filter(lambda text: text.strip() != ""),
    )
)
async def test_generated_invite_payloads_get_the_plain_welcome_and_credit_nothing(
    app: BotUnderTest, payload: str
) -> None:
    user = app.user(3100, first_name="Mallory")
    answers = await user.send(f"/start {payload}")
    assert [answer.text[: len(WELCOME)] for answer in answers] == [WELCOME]
    assert await visits(app.db) == 0
    row = await app.db.fetch_one("SELECT count(*) FROM owed_bonuses")
    assert row is not None and row[0] == 0
