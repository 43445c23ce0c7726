"""A tiny bot for the stand-in tests: echo, a contact check, an inline menu and a photo card."""

from __future__ import annotations

import html
import io

import qrcode
from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)

JOIN_BUTTON = "📱 Join with my phone"
HELP_BUTTON = "❓ Help"
CARD_NUMBER = "482100931174"


def card_png() -> bytes:
    buffer = io.BytesIO()
    qrcode.make(CARD_NUMBER, box_size=6, border=2).save(buffer, format="PNG")
    return buffer.getvalue()


def build_router() -> Router:
    router = Router(name="standin-test-bot")
    card_file_ids: dict[str, str] = {}
    card = card_png()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        assert message.from_user is not None
        keyboard = ReplyKeyboardMarkup(
            keyboard=[
                [KeyboardButton(text=JOIN_BUTTON, request_contact=True)],
                [KeyboardButton(text=HELP_BUTTON)],
            ],
            resize_keyboard=True,
        )
        await message.answer(
            f"👋 Welcome, {html.escape(message.from_user.first_name)}!", reply_markup=keyboard
        )

    @router.message(Command("menu"))
    async def menu(message: Message) -> None:
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text="⭐ Balance", callback_data="balance")],
                [InlineKeyboardButton(text="🌐 Website", url="https://example.com/rewards")],
            ]
        )
        await message.answer("Pick one:", reply_markup=keyboard)

    @router.callback_query(F.data == "balance")
    async def balance(query: CallbackQuery) -> None:
        await query.answer("Balance updated")
        assert isinstance(query.message, Message)
        await query.message.edit_text("⭐ Your balance: <b>450</b> points")

    @router.message(Command("card"))
    async def send_card(message: Message) -> None:
        cached = card_file_ids.get(CARD_NUMBER)
        photo = cached or BufferedInputFile(card, filename="card.png")
        sent = await message.answer_photo(photo, caption="Show this at the till.")
        assert sent.photo
        card_file_ids[CARD_NUMBER] = sent.photo[-1].file_id

    @router.message(F.contact)
    async def contact(message: Message) -> None:
        assert message.contact is not None and message.from_user is not None
        if message.contact.user_id != message.from_user.id:
            await message.answer(
                f'That contact isn\'t yours. Please tap "{JOIN_BUTTON}" to share your own number.'
            )
            return
        await message.answer(
            f"✅ You're in, {html.escape(message.from_user.first_name)}! "
            f"Phone: {html.escape(message.contact.phone_number)}"
        )

    @router.message(F.text == HELP_BUTTON)
    async def help_text(message: Message) -> None:
        await message.answer("Here's what I can do: /menu /card")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        assert message.text is not None
        await message.answer(f"You said: <b>{html.escape(message.text)}</b>")

    return router
