"""End to end: real long polling over HTTP against the local Telegram stand-in, and the
Client Toolbox sandbox as the platform."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import PIL.Image
import pytest
import zxingcpp

from bot.config import Settings
from bot.devtools.telegram_standin import DEMO_USERS, STANDIN, TelegramStandIn, create_app
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.sandbox.runner import serve
from bot.storage.database import open_database
from bot.telegram.dispatcher import build_bot, build_dispatcher

TOKEN = "123456:end-to-end"
IVAN = DEMO_USERS[1]


@dataclass
class Running:
    standin: TelegramStandIn


@pytest.fixture
async def running(
    settings: Settings, ct_backend: ClientToolboxClient, tmp_path: Path
) -> AsyncIterator[Running]:
    app = create_app(TOKEN)
    async with serve(app) as url:
        db = await open_database(tmp_path / "bot.db")
        bot = build_bot(settings, api_base_url=url, token=TOKEN)
        dispatcher = build_dispatcher(settings, backend=ct_backend, db=db)
        polling = asyncio.create_task(
            dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1)
        )
        try:
            yield Running(app[STANDIN])
        finally:
            await dispatcher.stop_polling()
            await asyncio.wait_for(polling, timeout=10)
            await db.close()


async def test_joining_and_balance_over_real_polling(
    running: Running, ct_backend: ClientToolboxClient
) -> None:
    standin = running.standin
    start = await standin.send_command(IVAN.id, "start")
    welcome = await standin.wait_for_message(IVAN.id, after=start.message_id)
    assert welcome.text is not None and welcome.text.startswith("👋 Добро пожаловать")

    shared = await standin.press_reply_button(IVAN.id, "📱 Вступить по номеру телефона")
    card = await standin.wait_for_message(
        IVAN.id, lambda m: bool(m.photo), after=shared.message_id, timeout=10
    )
    member = await ct_backend.find_member_by_phone(IVAN.phone)
    assert member is not None
    assert card.caption is not None and card.caption.startswith("✅ Готово, Иван")
    assert card.photo_bytes is not None
    decoded = zxingcpp.read_barcodes(PIL.Image.open(io.BytesIO(card.photo_bytes)))
    assert [result.text for result in decoded] == [member.card_number]

    # Telegram's flood limit on the next answer is waited out.
    standin.fail_next("sendMessage", times=1, retry_after=1)
    asked = await standin.press_reply_button(IVAN.id, "⭐ Баланс")
    balance = await standin.wait_for_message(IVAN.id, after=asked.message_id, timeout=10)
    assert balance.text is not None and balance.text.startswith("⭐ Ваши балансы")
    refresh = next(b for b in balance.inline_buttons if b["text"] == "🔄 Обновить")
    query = await standin.press_inline_button(
        IVAN.id, balance.message_id, refresh["callback_data"]
    )
    answer = await standin.wait_for_callback_answer(query)
    assert answer.text == "Данные актуальны"

    await standin.wait_for_call("setMyCommands")
    assert [c["command"] for c in standin.commands_for(IVAN.id)][:3] == [
        "start",
        "card",
        "balance",
    ]
