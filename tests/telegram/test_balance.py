"""Balances of every campaign kind, in each campaign's own unit, with progress and rewards."""

from __future__ import annotations

from decimal import Decimal

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import Purchase
from bot.sandbox.clienttoolbox import demo
from tests.telegram.chat import TelegramUser


async def join(jane: TelegramUser, ct_backend: ClientToolboxClient) -> str:
    await jane.share_contact("12025550143")
    member = await ct_backend.find_member_by_phone("+12025550143")
    assert member is not None
    return member.code


async def test_balance_of_each_campaign_kind(
    jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    code = await join(jane, ct_backend)
    await ct_backend.record_purchase(
        code, Purchase(campaign_id=demo.POINTS_CAMPAIGN, amount=Decimal("4.50"))
    )
    await ct_backend.record_purchase(
        code, Purchase(campaign_id=demo.GIFTCARD_CAMPAIGN, amount=Decimal("48.75"))
    )
    for _ in range(7):
        await ct_backend.record_purchase(code, Purchase(campaign_id=demo.EVENTS_CAMPAIGN))
    await ct_backend.record_purchase(code, Purchase(campaign_id=demo.EARNED_CAMPAIGN))
    await ct_backend.record_purchase(
        code, Purchase(campaign_id=demo.BUYX_CAMPAIGN, item=demo.COFFEES_ITEM, quantity=6)
    )
    await ct_backend.record_purchase(
        code, Purchase(campaign_id=demo.BUYX_CAMPAIGN, item=demo.CAKES_ITEM, quantity=2)
    )

    [balance] = await jane.send("⭐ Balance")
    text = balance.text
    assert text.startswith("⭐ Your balances")
    assert "<b>Widget Rewards</b> — 450 points (≈ $4.50)" in text
    assert "▓▓▓▓▓▓▓▓▓░ 450 / 500 to 🎁 Free widget" in text
    assert "Available now: Free coffee (300 points)" in text
    assert "<b>Gift Card</b> — $48.75" in text
    assert "<b>Frequent shopper</b> — 7 visits" in text
    assert "▓▓▓▓▓▓▓░░░ 7 / 10 to 🎁 Free widget polish" in text
    assert "10% off your next visit (5 visits)" in text
    assert "<b>GateKeeper Rewards</b> — $4.50" in text
    assert "Cakes 2 / 5" in text and "Coffees 6 / 10" in text
    assert balance.buttons == ["🔄 Refresh", "🧾 History"]


async def test_refresh_edits_the_balance_in_place(
    jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    code = await join(jane, ct_backend)
    [balance] = await jane.send("/balance")
    assert "— 0 points" in balance.text
    await ct_backend.record_purchase(
        code, Purchase(campaign_id=demo.POINTS_CAMPAIGN, amount=Decimal("1"))
    )
    [edited] = await jane.press("🔄 Refresh", on=balance)
    assert edited.method == "editMessageText"
    assert edited.message_id == balance.message_id
    assert "— 100 points (≈ $1.00)" in edited.text


async def test_balance_needs_a_member(jane: TelegramUser) -> None:
    [answer] = await jane.send("⭐ Balance")
    assert answer.text.startswith("You're not a member of Great Widgets Rewards yet.")
    assert answer.keyboard == ["📱 Join with my phone", "✉️ Join with email"]
