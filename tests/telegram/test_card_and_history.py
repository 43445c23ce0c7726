"""The card picture (rendered once, re-sent by file_id, re-uploaded when stale) and history."""

from __future__ import annotations

from decimal import Decimal

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import Purchase
from bot.sandbox.clienttoolbox import demo
from tests.telegram.chat import TelegramUser
from tests.telegram.conftest import BotUnderTest
from tests.telegram.test_join_by_phone import decode_qr


async def join(jane: TelegramUser, ct_backend: ClientToolboxClient) -> tuple[str, str]:
    await jane.share_contact("12025550143")
    member = await ct_backend.find_member_by_phone("+12025550143")
    assert member is not None
    return member.code, member.card_number


async def test_card_is_uploaded_once_then_sent_by_file_id(
    app: BotUnderTest, jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    [joined] = await jane.share_contact("12025550143")
    member = await ct_backend.find_member_by_phone("+12025550143")
    assert member is not None
    assert joined.photo is not None and decode_qr(joined.photo) == [member.card_number]

    [first] = await jane.send("💳 My card")
    [second] = await jane.send("/card")
    assert first.text == second.text == "Show this at the till."
    # The join uploaded the picture; every later card is the same file, by file_id.
    assert first.photo is None and second.photo is None
    assert first.file_id == second.file_id == joined.file_id
    assert len(app.telegram.uploads) == 1


async def test_a_stale_file_id_is_dropped_and_the_card_uploaded_again(
    app: BotUnderTest, jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    _, card_number = await join(jane, ct_backend)
    [cached] = await jane.send("💳 My card")
    assert cached.file_id is not None
    app.telegram.rejected_file_ids.add(cached.file_id)

    [uploaded] = await jane.send("💳 My card")
    assert uploaded.photo is not None and decode_qr(uploaded.photo) == [card_number]
    assert uploaded.file_id != cached.file_id
    [again] = await jane.send("💳 My card")
    assert again.photo is None and again.file_id == uploaded.file_id


async def test_history_pages_back_and_forth_in_place(
    jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    code, _ = await join(jane, ct_backend)
    for cents in range(1, 9):
        await ct_backend.record_purchase(
            code,
            Purchase(
                campaign_id=demo.POINTS_CAMPAIGN,
                amount=Decimal(cents),
                description=f"Purchase {cents}",
            ),
        )
    history = await ct_backend.history(code, limit=100)
    assert len(history) > 10

    [first] = await jane.send("🧾 History")
    assert first.text.startswith("🧾 Your history\n\n")
    assert first.text.count("\n") == 11  # title, blank line, ten transactions
    assert "+800 points · Widget Rewards · <i>Purchase 8</i>" in first.text
    assert first.buttons == ["▶"]

    [older] = await jane.press("▶", on=first)
    assert older.method == "editMessageText" and older.message_id == first.message_id
    assert older.text.startswith("🧾 Your history · page 2")
    assert "Purchase 8" not in older.text
    assert older.buttons == ["◀"] + (["▶"] if len(history) > 20 else [])

    [newer] = await jane.press("◀", on=older)
    assert newer.text == first.text


async def test_history_from_the_balance_screen(
    jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    await join(jane, ct_backend)
    [balance] = await jane.send("⭐ Balance")
    [history] = await jane.press("🧾 History", on=balance)
    assert history.text.startswith("🧾 Your history")
