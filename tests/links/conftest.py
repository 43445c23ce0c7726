"""Signup-link fixtures: the flow-test bot of ``tests/telegram`` (real Dispatcher, SQLite file,
Client Toolbox sandbox over loopback) and helpers that read the sandbox like a member would."""

from __future__ import annotations

from decimal import Decimal

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import PointsBalance
from bot.sandbox.clienttoolbox import demo
from bot.services.signup_links import SignupJoins, SignupLinks
from tests.telegram.conftest import (
    BotUnderTest,
    app,
    clock,
    email_codes,
    jane,
    settings,
)

__all__ = ["app", "clock", "email_codes", "jane", "settings"]

POINTS = demo.POINTS_CAMPAIGN
GIFT_CARD = demo.GIFTCARD_CAMPAIGN
VISITS = demo.EVENTS_CAMPAIGN


def signup_links(app: BotUnderTest) -> SignupLinks:
    links: SignupLinks = app.dispatcher["signup_links"]
    return links


def signup_joins(app: BotUnderTest) -> SignupJoins:
    joins: SignupJoins = app.dispatcher["signup_joins"]
    return joins


async def points(backend: ClientToolboxClient, code: str, campaign_id: str = POINTS) -> Decimal:
    """The member's points in a points campaign, as the platform has them."""
    for balance in await backend.balances(code):
        if balance.campaign_id == campaign_id:
            assert isinstance(balance, PointsBalance)
            return balance.points
    raise AssertionError(f"member {code} is not in campaign {campaign_id}")


async def bonus_transactions(backend: ClientToolboxClient, code: str) -> list[str]:
    """Descriptions of the member's bonus credits (``auto_add`` or a marked earn)."""
    return [
        transaction.description
        for transaction in await backend.history(code, limit=100)
        if transaction.description.startswith(("Auto add", "Signup bonus"))
    ]
