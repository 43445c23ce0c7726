"""What the stand-in's chat world is made of: demo users, chat messages as the user sees them,
Bot API calls as they arrived, callback queries and the webhook's settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiogram.types import Chat, Message, User


@dataclass(frozen=True)
class DemoUser:
    """A Telegram account the stand-in can chat as; ``phone`` is E.164."""

    id: int
    first_name: str
    last_name: str
    username: str
    language_code: str
    phone: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def telegram_user(self) -> User:
        return User(
            id=self.id,
            is_bot=False,
            first_name=self.first_name,
            last_name=self.last_name or None,
            username=self.username or None,
            language_code=self.language_code or None,
        )

    def telegram_chat(self) -> Chat:
        return Chat(
            id=self.id,
            type="private",
            first_name=self.first_name,
            last_name=self.last_name or None,
            username=self.username or None,
        )


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser(5210000001, "Jane", "Cooper", "jane_cooper", "en", "+12025550155"),
    DemoUser(5210000002, "Иван", "Петров", "ivan_petrov", "ru", "+79161234567"),
    DemoUser(5210000003, "Lucía", "García", "lucia_garcia", "es", "+34612345678"),
)

SOMEONE_ELSE = DemoUser(5219999999, "Alex", "Morgan", "", "en", "+14155550123")
"""The person whose contact a demo user shares when the contact is not their own."""


@dataclass
class ChatMessage:
    """One message of a private chat as the user sees it now (edits applied)."""

    message_id: int
    chat_id: int
    from_bot: bool
    date: datetime
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    photo: list[dict[str, Any]] = field(default_factory=list)
    """PhotoSize objects, smallest first, as Telegram lists them."""
    photo_bytes: bytes | None = None
    """The largest size exactly as the bot uploaded it."""
    inline_keyboard: list[list[dict[str, Any]]] | None = None
    reply_keyboard: dict[str, Any] | None = None
    """The ReplyKeyboardMarkup this message put under the input field, if any."""
    removes_reply_keyboard: bool = False
    contact: dict[str, Any] | None = None
    edit_date: datetime | None = None
    deleted: bool = False

    @property
    def photo_file_id(self) -> str | None:
        return self.photo[-1]["file_id"] if self.photo else None

    @property
    def inline_buttons(self) -> list[dict[str, Any]]:
        return [button for row in self.inline_keyboard or [] for button in row]

    @property
    def reply_buttons(self) -> list[dict[str, Any]]:
        rows = (self.reply_keyboard or {}).get("keyboard", [])
        return [button for row in rows for button in row]

    def telegram_message(self, bot_user: User, user: DemoUser) -> Message:
        """The Bot API ``Message``; only an inline keyboard travels back to the bot."""
        from_user = bot_user if self.from_bot else user.telegram_user()
        return Message.model_validate(
            {
                "message_id": self.message_id,
                "date": self.date,
                "chat": user.telegram_chat(),
                "from": from_user,
                "text": self.text,
                "entities": self.entities or None,
                "caption": self.caption,
                "caption_entities": self.caption_entities or None,
                "photo": self.photo or None,
                "contact": self.contact,
                "edit_date": int(self.edit_date.timestamp()) if self.edit_date else None,
                "reply_markup": (
                    {"inline_keyboard": self.inline_keyboard} if self.inline_keyboard else None
                ),
            }
        )

    def page_view(self) -> dict[str, Any]:
        """What the browser chat page renders."""
        return {
            "message_id": self.message_id,
            "from_bot": self.from_bot,
            "date": int(self.date.timestamp()),
            "text": self.text,
            "entities": self.entities,
            "caption": self.caption,
            "caption_entities": self.caption_entities,
            "photo_file_id": self.photo_file_id,
            "inline_keyboard": self.inline_keyboard,
            "contact": self.contact,
            "edited": self.edit_date is not None,
        }


@dataclass
class ApiCall:
    """One Bot API request as it arrived, with the status it was answered with."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    at: datetime
    status: int = 200

    @property
    def uploaded(self) -> bool:
        return bool(self.files)


@dataclass
class CallbackAnswer:
    text: str | None
    show_alert: bool
    url: str | None


@dataclass
class PendingCallback:
    query_id: str
    user_id: int
    message_id: int
    data: str
    answer: CallbackAnswer | None = None


@dataclass
class WebhookSettings:
    url: str = ""
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    last_error_date: datetime | None = None
    last_error_message: str | None = None
