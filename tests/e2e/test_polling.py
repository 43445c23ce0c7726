"""The real bot, long polling the local Telegram stand-in over loopback, on the sandbox platform:
a customer's first minutes, driven as the customer would."""

from __future__ import annotations

from decimal import Decimal

from bot.devtools.telegram_standin import DEMO_USERS, ChatMessage
from bot.loyalty.models import Purchase
from bot.sandbox.clienttoolbox import demo
from bot.telegram.callbacks import LanguageChoice
from tests.e2e.card_scan import grouped, scan_card
from tests.e2e.conftest import LiveBot

JANE = DEMO_USERS[0]


def has_photo(message: ChatMessage) -> bool:
    return bool(message.photo)


async def test_join_balance_card_language_and_a_flood_limit(live_bot: LiveBot) -> None:
    standin, backend = live_bot.standin, live_bot.running.backend

    # /start: the welcome and the join buttons under the input field.
    sent = await standin.send_command(JANE.id, "start")
    welcome = await standin.wait_for_message(JANE.id, after=sent.message_id, timeout=10)
    assert welcome.text is not None
    assert welcome.text.startswith("👋 Welcome to Great Widgets Rewards!")
    assert [b["text"] for b in welcome.reply_buttons] == [
        "📱 Join with my phone",
        "✉️ Join with email",
    ]
    commands = [command["command"] for command in standin.commands_for(JANE.id)]
    assert commands[:3] == ["start", "card", "balance"]

    # Join by sharing her own contact: the card arrives at once, and the till can read it.
    sent = await standin.press_reply_button(JANE.id, "📱 Join with my phone")
    joined = await standin.wait_for_message(JANE.id, has_photo, after=sent.message_id, timeout=10)
    assert joined.photo_bytes is not None
    card_number = scan_card(joined.photo_bytes)
    assert joined.caption == (f"✅ You're in, Jane! Your card number is {grouped(card_number)}.")
    member = await backend.find_member_by_phone(JANE.phone)
    assert member is not None and member.card_number == card_number
    assert member.first_name == "Jane"
    assert "💳 My card" in [b["text"] for b in joined.reply_buttons]

    # Purchases at the till, recorded on the platform; the balance shows each in its unit.
    for purchase in (
        Purchase(campaign_id=demo.POINTS_CAMPAIGN, amount=Decimal("3.20")),
        Purchase(campaign_id=demo.GIFTCARD_CAMPAIGN, amount=Decimal("25.00")),
        Purchase(campaign_id=demo.EVENTS_CAMPAIGN),
        Purchase(campaign_id=demo.EVENTS_CAMPAIGN),
        Purchase(campaign_id=demo.EARNED_CAMPAIGN),
        Purchase(campaign_id=demo.BUYX_CAMPAIGN, item=demo.COFFEES_ITEM, quantity=3),
    ):
        await backend.record_purchase(member.code, purchase)
    sent = await standin.press_reply_button(JANE.id, "⭐ Balance")
    balance = await standin.wait_for_message(JANE.id, after=sent.message_id)
    assert balance.text is not None and balance.text.startswith("⭐ Your balances")
    for line in (
        "Widget Rewards — 320 points (≈ $3.20)",
        "Gift Card — $25.00",
        "Frequent shopper — 2 visits",
        "GateKeeper Rewards — $4.50",
        "Coffee club — Cakes 0 / 5 · Coffees 3 / 10",
        "Available now: Free coffee (300 points)",
    ):
        assert line in balance.text
    assert [b["text"] for b in balance.inline_buttons] == ["🔄 Refresh", "🧾 History"]

    # The card again: sent by the file_id Telegram gave the first upload, not uploaded again.
    sent = await standin.send_command(JANE.id, "card")
    again = await standin.wait_for_message(JANE.id, has_photo, after=sent.message_id)
    assert again.caption == "Show this at the till."
    first_upload, second = standin.method_calls("sendPhoto")
    assert first_upload.uploaded and first_upload.status == 200
    assert not second.uploaded and second.status == 200
    assert second.params["photo"] == joined.photo_file_id
    assert again.photo_bytes is not None and scan_card(again.photo_bytes) == card_number

    # Language: Russian from the choice on, reply keyboard included.
    sent = await standin.press_reply_button(JANE.id, "🌐 Language")
    choice = await standin.wait_for_message(JANE.id, after=sent.message_id)
    assert [b["text"] for b in choice.inline_buttons] == ["✅ English", "Русский", "Español"]
    query = await standin.press_inline_button(
        JANE.id, choice.message_id, LanguageChoice(code="ru").pack()
    )
    await standin.wait_for_callback_answer(query)
    switched = await standin.wait_for_message(
        JANE.id, lambda m: m.text is not None, after=choice.message_id
    )
    assert switched.text == "✅ Теперь я говорю по-русски."
    assert "💳 Моя карта" in [b["text"] for b in switched.reply_buttons]
    sent = await standin.press_reply_button(JANE.id, "⭐ Баланс")
    balance_ru = await standin.wait_for_message(JANE.id, after=sent.message_id)
    assert balance_ru.text is not None and balance_ru.text.startswith("⭐ Ваши балансы")

    # A 429 with retry_after=1 on the answer: it comes late, once, and nothing is lost.
    standin.fail_next("sendMessage", times=1, retry_after=1)
    sent = await standin.send_command(JANE.id, "balance")
    late = await standin.wait_for_message(JANE.id, after=sent.message_id, timeout=10)
    assert late.text is not None and late.text.startswith("⭐ Ваши балансы")
    refused, delivered = standin.method_calls("sendMessage")[-2:]
    assert (refused.status, delivered.status) == (429, 200)
    assert refused.params["text"] == delivered.params["text"]
    assert (delivered.at - refused.at).total_seconds() >= 0.9
    answers = [m for m in standin.messages(JANE.id) if m.message_id > sent.message_id]
    assert answers == [late], "the answer must arrive exactly once"


async def test_a_stop_lets_an_answer_waiting_out_a_flood_limit_arrive(live_bot: LiveBot) -> None:
    standin = live_bot.standin
    standin.fail_next("sendMessage", times=1, retry_after=1)
    sent = await standin.send_command(JANE.id, "start")
    await standin.wait_for_call("sendMessage", lambda call: call.status == 429, timeout=10)

    # Ctrl-C while the answer waits out the limit: the stop waits for it.
    await live_bot.stop()

    [welcome] = [m for m in standin.messages(JANE.id) if m.message_id > sent.message_id]
    assert welcome.text is not None and welcome.text.startswith("👋 Welcome to")
