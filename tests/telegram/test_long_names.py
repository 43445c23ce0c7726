"""Texts built from platform data fit Telegram's limits: a very long stored name is shortened,
the card number never is. The fake Bot API refuses what Telegram would refuse."""

from __future__ import annotations

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import NewMember
from bot.services.cards import group_card_number
from tests.telegram.chat import TelegramUser
from tests.telegram.fake_telegram import CAPTION_LIMIT, MESSAGE_LIMIT, visible_length
from tests.telegram.test_join_by_phone import decode_qr

PHONE = "12025550143"
LONG_NAME = "Maximiliana" * 100  # 1,100 characters


async def test_a_1100_character_stored_first_name_still_gets_the_card(
    jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    existing = await ct_backend.enroll(
        NewMember(
            code="7000000000000011",
            first_name=LONG_NAME,
            last_name="Q" * 1100,
            phone="+" + PHONE,
            campaign_ids=(),
        )
    )
    assert len(existing.first_name) == 1100, "the platform kept the whole name"

    [card] = await jane.share_contact(PHONE)
    assert card.method == "sendPhoto"
    assert card.photo is not None and decode_qr(card.photo) == [existing.card_number]
    assert visible_length(card.text) <= CAPTION_LIMIT
    assert card.text.startswith("✅ You're in, Maximiliana")
    assert group_card_number(existing.card_number) in card.text

    [again] = await jane.send("/card")
    assert again.method == "sendPhoto"

    [welcome] = await jane.send("/start")
    assert welcome.text.startswith("👋 Welcome back, Maximiliana")
    assert visible_length(welcome.text) <= MESSAGE_LIMIT

    [profile] = await jane.send("/profile")
    assert visible_length(profile.text) <= MESSAGE_LIMIT
    assert group_card_number(existing.card_number) in profile.text
    assert "Maximiliana" in profile.text
