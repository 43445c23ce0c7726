"""Invite-a-friend and birthday fixtures: the flow-test bot of ``tests/telegram`` (real
Dispatcher, SQLite file, a platform sandbox over loopback) with invite and birthday bonuses
configured, and helpers that read the platform like a member would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from bot.config import BirthdaySettings, HttpSettings, ReferralSettings, Settings
from bot.loyalty.altcraft import AltcraftClient
from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.models import PointsBalance
from bot.sandbox.altcraft import create_app as create_altcraft
from bot.sandbox.clienttoolbox import demo
from bot.sandbox.runner import serve
from bot.services.referrals import Referrals
from tests.importing.conftest import altcraft_settings
from tests.telegram.conftest import BotUnderTest, app, clock, email_codes, jane

__all__ = ["app", "clock", "email_codes", "jane"]

POINTS = demo.POINTS_CAMPAIGN
FRIEND_BONUS = Decimal(25)
INVITER_BONUS = Decimal(50)
BIRTHDAY_BONUS = Decimal(100)
MONTHLY_CAP = 3
INVITE_URL = re.compile(r"https://t\.me/great_widgets_bot\?start=(r[A-Za-z0-9_-]{19})")


def rewards_settings(**overrides: object) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        platform="sandbox",
        bot_token=SecretStr("123456:TEST"),
        bot_username="great_widgets_bot",
        referral=ReferralSettings(
            friend_bonus=FRIEND_BONUS, inviter_bonus=INVITER_BONUS, monthly_cap=MONTHLY_CAP
        ),
        birthday=BirthdaySettings(bonus=BIRTHDAY_BONUS),
        shop_timezone="Europe/Madrid",
        **overrides,
    )


@pytest.fixture
def settings() -> Settings:
    return rewards_settings()


def referrals(app: BotUnderTest) -> Referrals:
    service: Referrals = app.dispatcher["referrals"]
    return service


async def points(backend: LoyaltyBackend, code: str) -> Decimal:
    """The member's points in the (first) points campaign, as the platform has them."""
    for balance in await backend.balances(code):
        if isinstance(balance, PointsBalance):
            return balance.points
    return Decimal(0)


async def marked_credits(backend: LoyaltyBackend, code: str, label: str) -> list[str]:
    """Descriptions of the member's credits paid under ``label`` (``Invite bonus #…``)."""
    return [
        transaction.description
        for transaction in await backend.history(code, limit=100)
        if transaction.description.startswith(label + " #")
    ]


async def member_code(backend: LoyaltyBackend, e164: str) -> str:
    member = await backend.find_member_by_phone(e164)
    assert member is not None, f"no member with {e164} on the platform"
    return member.code


@pytest.fixture
async def altcraft_backend() -> AsyncIterator[AltcraftClient]:
    app = create_altcraft(":memory:")
    async with serve(app) as url:
        client = AltcraftClient(
            altcraft_settings(url), HttpSettings(connect_timeout=2, read_timeout=2)
        )
        try:
            yield client
        finally:
            await client.aclose()
