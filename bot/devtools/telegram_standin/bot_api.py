"""The Bot API over HTTP: ``/bot<token>/<method>``, as aiogram's ``AiohttpSession`` calls it.

Parameters arrive form-encoded, as multipart (files as ``attach://<name>`` or a part named after
the parameter), as JSON, or in the query string; nested objects arrive as JSON strings.  Every
call is recorded on the stand-in before it is answered.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.devtools.telegram_standin.errors import (
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    UNAUTHORIZED,
    BotApiError,
    bad_request,
)
from bot.devtools.telegram_standin.formatting import (
    FormattedText,
    parse_html,
    plain_text_entities,
    utf16_length,
    with_detected_entities,
)
from bot.devtools.telegram_standin.keyboards import ReplyMarkup, parse_reply_markup
from bot.devtools.telegram_standin.photos import StoredPhoto
from bot.devtools.telegram_standin.records import ApiCall, CallbackAnswer, WebhookSettings
from bot.devtools.telegram_standin.state import TelegramStandIn

logger = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_LONG_POLL_SECONDS = 50
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_LANGUAGE_CODE = re.compile(r"[a-z]{2}")
_SCOPE_TYPES = {
    "default",
    "all_private_chats",
    "all_group_chats",
    "all_chat_administrators",
    "chat",
    "chat_administrators",
    "chat_member",
}


@dataclass
class MethodCall:
    """The decoded parameters of one call, with typed accessors that fail like Telegram."""

    standin: TelegramStandIn
    params: dict[str, Any]
    files: dict[str, bytes]

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def integer(self, name: str, *, missing: str | None = None, default: int = 0) -> int:
        value = self.params.get(name)
        if value is None or value == "":
            if missing is not None:
                raise bad_request(missing)
            return default
        if isinstance(value, bool):
            raise bad_request(f'field "{name}" must be of type Integer')
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f'field "{name}" must be of type Integer') from None

    def flag(self, name: str) -> bool:
        value = self.params.get(name)
        if isinstance(value, str):
            return value.strip().lower() in {"true", "1"}
        return bool(value)

    def json_value(self, name: str, object_name: str) -> Any:
        value = self.params.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {object_name} JSON object") from None

    def chat_id(self) -> int:
        value = self.params.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        try:
            chat_id = int(value)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        self.standin.chat_for_bot(chat_id)
        return chat_id

    def formatted(self, name: str, entities_name: str) -> FormattedText | None:
        formatted = self._formatted(name, entities_name)
        return with_detected_entities(formatted) if formatted is not None else None

    def _formatted(self, name: str, entities_name: str) -> FormattedText | None:
        source = self.text(name)
        if source is None:
            return None
        parse_mode = (self.text("parse_mode") or "").lower()
        if parse_mode == "html":
            return parse_html(source)
        if parse_mode in {"markdown", "markdownv2"}:
            raise bad_request(
                "can't parse entities: the local Telegram stand-in understands parse_mode HTML "
                "only"
            )
        if parse_mode:
            raise bad_request("unsupported parse_mode")
        return plain_text_entities(source, self.json_value(entities_name, "entities"))

    def reply_markup(self) -> ReplyMarkup | None:
        return parse_reply_markup(self.json_value("reply_markup", "reply keyboard markup"))

    def message_text(self) -> FormattedText:
        text = self.formatted("text", "entities")
        if text is None or not text.text.strip():
            raise bad_request("message text is empty")
        if utf16_length(text.text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        return text

    def caption(self) -> FormattedText | None:
        caption = self.formatted("caption", "caption_entities")
        if caption is not None and utf16_length(caption.text) > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
        return caption

    def photo(self) -> list[StoredPhoto]:
        value = self.params.get("photo")
        if isinstance(value, str) and value.startswith("attach://"):
            content = self.files.get(value.removeprefix("attach://"))
            if content is None:
                raise bad_request("there is no photo in the request")
            return self.standin.photos.add(content)
        if "photo" in self.files:
            return self.standin.photos.add(self.files["photo"])
        if not isinstance(value, str) or not value:
            raise bad_request("there is no photo in the request")
        if value.startswith(("http://", "https://")):
            raise bad_request("wrong file identifier/HTTP URL specified")
        return self.standin.photos.group(value)

    def edited_message(self) -> tuple[int, int]:
        if self.params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat_id = self.chat_id()
        return chat_id, self.integer("message_id", missing="message identifier is not specified")

    def command_scope(self) -> str:
        scope = self.json_value("scope", "BotCommandScope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in _SCOPE_TYPES:
            raise bad_request("can't parse BotCommandScope JSON object")
        kind = str(scope["type"])
        if kind in {"chat", "chat_administrators", "chat_member"}:
            if "chat_id" not in scope:
                raise bad_request("chat_id is empty")
            key = f"{kind}:{scope['chat_id']}"
            if kind == "chat_member":
                key += f":{scope.get('user_id')}"
            return key
        return kind

    def language_code(self) -> str:
        code = self.text("language_code") or ""
        if code and not _LANGUAGE_CODE.fullmatch(code):
            raise bad_request("invalid language code specified")
        return code


def _dump(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return value


async def _get_me(call: MethodCall) -> Any:
    return call.standin.bot_user


async def _get_updates(call: MethodCall) -> Any:
    offset = call.integer("offset") if call.params.get("offset") not in (None, "") else None
    limit = min(max(call.integer("limit", default=100), 1), 100)
    timeout = min(max(call.integer("timeout"), 0), MAX_LONG_POLL_SECONDS)
    allowed = call.json_value("allowed_updates", "allowed updates")
    if allowed is not None and not isinstance(allowed, list):
        raise bad_request("can't parse allowed updates JSON object")
    return await call.standin.take_updates(offset, limit, timeout, allowed)


async def _send_message(call: MethodCall) -> Any:
    chat_id = call.chat_id()
    text = call.message_text()
    markup = call.reply_markup()
    return await call.standin.record_bot_message(chat_id, text=text, markup=markup)


async def _send_photo(call: MethodCall) -> Any:
    chat_id = call.chat_id()
    caption = call.caption()
    markup = call.reply_markup()
    photo = call.photo()
    return await call.standin.record_bot_message(
        chat_id, caption=caption, photo=photo, markup=markup
    )


def _inline_keyboard(call: MethodCall) -> list[list[dict[str, Any]]] | None:
    markup = call.reply_markup()
    if markup is None:
        return None
    if markup.inline_keyboard is None:
        raise bad_request("inline keyboard expected")
    return markup.inline_keyboard


async def _edit_message_text(call: MethodCall) -> Any:
    chat_id, message_id = call.edited_message()
    message = call.standin.bot_editable(chat_id, message_id, "message to edit not found")
    text = call.message_text()
    keyboard = _inline_keyboard(call)
    if message.text is None:
        raise bad_request("there is no text in the message to edit")
    return await call.standin.record_edit(message, text=text, inline_keyboard=keyboard)


async def _edit_message_caption(call: MethodCall) -> Any:
    chat_id, message_id = call.edited_message()
    message = call.standin.bot_editable(chat_id, message_id, "message to edit not found")
    caption = call.caption() or FormattedText("")
    keyboard = _inline_keyboard(call)
    if not message.photo:
        raise bad_request("there is no caption in the message to edit")
    return await call.standin.record_edit(message, caption=caption, inline_keyboard=keyboard)


async def _edit_message_reply_markup(call: MethodCall) -> Any:
    chat_id, message_id = call.edited_message()
    message = call.standin.bot_editable(chat_id, message_id, "message to edit not found")
    keyboard = _inline_keyboard(call)
    return await call.standin.record_edit(message, inline_keyboard=keyboard)


async def _delete_message(call: MethodCall) -> Any:
    chat_id = call.chat_id()
    message_id = call.integer("message_id", missing="message identifier is not specified")
    await call.standin.record_delete(chat_id, message_id)
    return True


async def _answer_callback_query(call: MethodCall) -> Any:
    query_id = call.text("callback_query_id")
    if query_id is None:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    text = call.text("text")
    if text is not None and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    answer = CallbackAnswer(text=text, show_alert=call.flag("show_alert"), url=call.text("url"))
    await call.standin.record_callback_answer(query_id, answer)
    return True


async def _send_chat_action(call: MethodCall) -> Any:
    chat_id = call.chat_id()
    action = call.text("action")
    if action is None:
        raise bad_request("action is empty")
    await call.standin.record_chat_action(chat_id, action)
    return True


async def _set_my_commands(call: MethodCall) -> Any:
    commands = call.json_value("commands", "commands")
    if commands is None:
        raise bad_request('parameter "commands" is required')
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("can't parse commands JSON object")
    cleaned: list[dict[str, str]] = []
    for command in commands:
        if not isinstance(command, dict):
            raise bad_request("can't parse BotCommand JSON object")
        name = str(command.get("command", "")).removeprefix("/")
        description = str(command.get("description", "")).strip()
        if not _COMMAND_NAME.fullmatch(name):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description) <= 256:
            raise bad_request(
                "command description is empty"
                if not description
                else "BOT_COMMAND_DESCRIPTION_INVALID"
            )
        cleaned.append({"command": name, "description": description})
    await call.standin.set_commands(call.command_scope(), call.language_code(), cleaned)
    return True


async def _get_my_commands(call: MethodCall) -> Any:
    return call.standin.get_commands(call.command_scope(), call.language_code())


async def _delete_my_commands(call: MethodCall) -> Any:
    await call.standin.set_commands(call.command_scope(), call.language_code(), [])
    return True


async def _set_webhook(call: MethodCall) -> Any:
    url = call.text("url") or ""
    if url and not url.startswith(("http://", "https://")):
        raise bad_request("bad webhook: Webhook URL must start with http:// or https://")
    allowed = call.json_value("allowed_updates", "allowed updates")
    if allowed is not None and not isinstance(allowed, list):
        raise bad_request("can't parse allowed updates JSON object")
    settings = WebhookSettings(
        url=url,
        secret_token=call.text("secret_token"),
        max_connections=call.integer("max_connections", default=40),
        allowed_updates=allowed,
    )
    await call.standin.set_webhook(settings, drop_pending=call.flag("drop_pending_updates"))
    return True


async def _delete_webhook(call: MethodCall) -> Any:
    await call.standin.set_webhook(
        WebhookSettings(), drop_pending=call.flag("drop_pending_updates")
    )
    return True


async def _get_webhook_info(call: MethodCall) -> Any:
    webhook = call.standin.webhook
    info: dict[str, Any] = {
        "url": webhook.url,
        "has_custom_certificate": False,
        "pending_update_count": call.standin.pending_update_count,
    }
    if webhook.url:
        info["max_connections"] = webhook.max_connections
        if webhook.allowed_updates is not None:
            info["allowed_updates"] = webhook.allowed_updates
        if webhook.last_error_date is not None:
            info["last_error_date"] = int(webhook.last_error_date.timestamp())
            info["last_error_message"] = webhook.last_error_message
    return info


async def _always_true(call: MethodCall) -> Any:
    return True


MethodHandler = Callable[[MethodCall], Awaitable[Any]]

METHODS: dict[str, MethodHandler] = {
    "getme": _get_me,
    "getupdates": _get_updates,
    "sendmessage": _send_message,
    "sendphoto": _send_photo,
    "editmessagetext": _edit_message_text,
    "editmessagecaption": _edit_message_caption,
    "editmessagereplymarkup": _edit_message_reply_markup,
    "deletemessage": _delete_message,
    "answercallbackquery": _answer_callback_query,
    "sendchataction": _send_chat_action,
    "setmycommands": _set_my_commands,
    "getmycommands": _get_my_commands,
    "deletemycommands": _delete_my_commands,
    "setwebhook": _set_webhook,
    "deletewebhook": _delete_webhook,
    "getwebhookinfo": _get_webhook_info,
    "close": _always_true,
    "logout": _always_true,
}


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    params: dict[str, Any] = dict(request.query)
    files: dict[str, bytes] = {}
    if request.method != "POST" or not request.body_exists:
        return params, files
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON body") from None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON body")
        params.update(body)
        return params, files
    form = await request.post()
    for name, value in form.items():
        if isinstance(value, web.FileField):
            files[name] = value.file.read()
        else:
            params[name] = value
    return params, files


def _answer(body: dict[str, Any], status: int) -> web.Response:
    return web.json_response(body, status=status)


async def execute(standin: TelegramStandIn, method: str, call: MethodCall) -> Any:
    """Run one method; raise ``BotApiError`` with Telegram's wording when it fails."""
    handler = METHODS.get(method.lower())
    if handler is None:
        logger.warning("The Telegram stand-in does not implement %s", method)
        raise METHOD_NOT_FOUND
    injected = standin.injected_failure(method)
    if injected is not None:
        raise injected
    return _dump(await handler(call))


def make_handler(standin: TelegramStandIn) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if not standin.check_token(request.match_info["token"]):
            return _answer(UNAUTHORIZED.body(), 401)
        try:
            params, files = await _read_params(request)
        except BotApiError as error:
            return _answer(error.body(), error.error_code)
        record = ApiCall(method, params, files, datetime.now(UTC))
        await standin.record_call(record)
        try:
            result = await execute(standin, method, MethodCall(standin, params, files))
        except BotApiError as error:
            record.status = error.error_code
            return _answer(error.body(), error.error_code)
        except Exception:
            logger.exception("The Telegram stand-in failed on %s", method)
            record.status = 500
            return _answer(INTERNAL_ERROR.body(), 500)
        return _answer({"ok": True, "result": result}, 200)

    return handle
