"""``reply_markup`` as a bot sends it: decoded, checked like Telegram checks it, and classified."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from aiogram.types import (
    ForceReply,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from pydantic import ValidationError

from bot.devtools.telegram_standin.errors import bad_request

_MARKUP_ERROR = "can't parse reply keyboard markup JSON object"
_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


@dataclass(frozen=True)
class ReplyMarkup:
    """Exactly one of the fields is set, matching what the bot sent."""

    inline_keyboard: list[list[dict[str, Any]]] | None = None
    reply_keyboard: dict[str, Any] | None = None
    remove_keyboard: bool = False
    force_reply: dict[str, Any] | None = None


def _dump(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True, by_alias=True)
    return dumped


def _check_inline_button(button: dict[str, Any]) -> None:
    actions = [name for name in _INLINE_ACTIONS if name in button]
    if len(actions) != 1:
        raise bad_request(
            "can't parse inline keyboard button: exactly one of the optional fields must be used"
        )
    if "callback_data" in button:
        size = len(str(button["callback_data"]).encode("utf-8"))
        if not 1 <= size <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button:
        url = str(button["url"])
        parsed = urlparse(url)
        if parsed.scheme not in {"http", "https", "tg"} or (
            parsed.scheme != "tg" and not parsed.netloc
        ):
            raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def parse_reply_markup(raw: Any) -> ReplyMarkup | None:
    """Decode a ``reply_markup`` value (already JSON-decoded); ``None`` when absent."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, dict):
        raise bad_request(_MARKUP_ERROR)
    try:
        if "inline_keyboard" in raw:
            inline = _dump(InlineKeyboardMarkup.model_validate(raw))
            rows: list[list[dict[str, Any]]] = inline["inline_keyboard"]
            for row in rows:
                for button in row:
                    _check_inline_button(button)
            return ReplyMarkup(inline_keyboard=rows)
        if "keyboard" in raw:
            rows_in = raw["keyboard"]
            if not isinstance(rows_in, list):
                raise bad_request(_MARKUP_ERROR)
            normalised = {
                **raw,
                "keyboard": [
                    [{"text": button} if isinstance(button, str) else button for button in row]
                    for row in rows_in
                    if isinstance(row, list)
                ],
            }
            keyboard = _dump(ReplyKeyboardMarkup.model_validate(normalised))
            if not any(keyboard["keyboard"]):
                raise bad_request("keyboard must be non-empty")
            return ReplyMarkup(reply_keyboard=keyboard)
        if "remove_keyboard" in raw:
            ReplyKeyboardRemove.model_validate(raw)
            return ReplyMarkup(remove_keyboard=True)
        if "force_reply" in raw:
            return ReplyMarkup(force_reply=_dump(ForceReply.model_validate(raw)))
    except ValidationError:
        raise bad_request(_MARKUP_ERROR) from None
    raise bad_request(_MARKUP_ERROR)
