"""The chat world behind the fake Bot API: demo users, their chats with the bot, pending updates.

``TelegramStandIn`` has two faces.  The user side (``send_text``, ``share_contact``,
``press_inline_button`` …) is what tests and the browser chat page drive; it creates real Bot API
``Update`` objects.  The bot side (``record_*``, ``take_updates`` …) is called by the HTTP layer
in ``bot_api`` when the bot calls a method.  Every change wakes one ``asyncio.Condition``, so
long polls and test waits never sleep in a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiogram.types import (
    CallbackQuery,
    Contact,
    Message,
    Update,
    User,
)

from bot.devtools.telegram_standin import records
from bot.devtools.telegram_standin.errors import BotApiError, bad_request, too_many_requests
from bot.devtools.telegram_standin.formatting import FormattedText, with_detected_entities
from bot.devtools.telegram_standin.keyboards import ReplyMarkup
from bot.devtools.telegram_standin.photos import PhotoStore, StoredPhoto
from bot.devtools.telegram_standin.records import (
    ApiCall,
    CallbackAnswer,
    ChatMessage,
    DemoUser,
    PendingCallback,
    WebhookSettings,
)

T = TypeVar("T")

_DEFAULT_UPDATE_TYPES = frozenset({"message", "edited_message", "callback_query"})
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"


@dataclass
class _InjectedFailure:
    remaining: int
    error: BotApiError


@dataclass
class _Flood:
    ratio: float
    retry_after: int
    chooser: random.Random


@dataclass
class _Chat:
    user: DemoUser
    messages: list[ChatMessage] = field(default_factory=list)
    reply_keyboard: dict[str, Any] | None = None
    keyboard_collapsed: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _update_type(update: dict[str, Any]) -> str:
    return next(key for key in update if key != "update_id")


class TelegramStandIn:
    """Demo users chatting with one bot, observed and driven from Python."""

    def __init__(
        self,
        token: str,
        *,
        bot_username: str = "great_widgets_bot",
        bot_first_name: str = "Great Widgets Rewards",
        users: Iterable[DemoUser] = records.DEMO_USERS,
    ) -> None:
        bot_id, _, _ = token.partition(":")
        self.token = token
        self.bot_user = User(
            id=int(bot_id) if bot_id.isdigit() else 1000000001,
            is_bot=True,
            first_name=bot_first_name,
            username=bot_username,
            can_join_groups=True,
            can_read_all_group_messages=False,
            supports_inline_queries=False,
        )
        self.users: dict[int, DemoUser] = {}
        self.blocked: set[int] = set()
        self.calls: list[ApiCall] = []
        self.photos = PhotoStore()
        self.webhook = WebhookSettings()
        self._chats: dict[int, _Chat] = {}
        self._updates: list[dict[str, Any]] = []
        # Rising across restarts, as Telegram's ids do: a bot that remembers the ids it has
        # handled (its inbox) must not take a new stand-in's updates for ones it has seen.
        self._next_update_id = time.time_ns() // 1000
        self._allowed_updates: frozenset[str] = _DEFAULT_UPDATE_TYPES
        self._callbacks: dict[str, PendingCallback] = {}
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._failures: dict[str, _InjectedFailure] = {}
        self._floods: dict[str, _Flood] = {}
        self._changed = asyncio.Condition()
        self._poll_generation = 0
        self._event_seq = 0
        self.closing = False
        for user in users:
            self.add_user(user)

    def add_user(self, user: DemoUser) -> None:
        self.users[user.id] = user
        self._chats[user.id] = _Chat(user)

    def user(self, user_id: int) -> DemoUser:
        try:
            return self.users[user_id]
        except KeyError:
            raise ValueError(f"no demo user with id {user_id}") from None

    # Observing.

    def messages(self, user_id: int) -> list[ChatMessage]:
        """The bot's messages in this user's chat, in order, edits applied, deleted ones gone."""
        return [m for m in self._chat(user_id).messages if m.from_bot and not m.deleted]

    def transcript(self, user_id: int) -> list[ChatMessage]:
        """Both sides of the chat, in order, as the user sees it now."""
        return [m for m in self._chat(user_id).messages if not m.deleted]

    def message(self, user_id: int, message_id: int) -> ChatMessage | None:
        return next((m for m in self._chat(user_id).messages if m.message_id == message_id), None)

    def reply_keyboard(self, user_id: int) -> dict[str, Any] | None:
        """The reply keyboard the bot last set here (shown, or folded after a one-time tap)."""
        return self._chat(user_id).reply_keyboard

    def keyboard_collapsed(self, user_id: int) -> bool:
        return self._chat(user_id).keyboard_collapsed

    def method_calls(self, method: str) -> list[ApiCall]:
        name = method.lower()
        return [call for call in self.calls if call.method.lower() == name]

    def commands_for(self, user_id: int) -> list[dict[str, str]]:
        """The command menu this user sees, resolved by scope and language as Telegram does."""
        user = self.user(user_id)
        for scope in (f"chat:{user_id}", "all_private_chats", "default"):
            for language in (user.language_code, ""):
                commands = self._commands.get((scope, language))
                if commands:
                    return commands
        return []

    def callback(self, query_id: str) -> PendingCallback:
        return self._callbacks[query_id]

    async def wait_for(self, probe: Callable[[], T | None], timeout: float = 5.0) -> T:  # noqa: ASYNC109
        """Wait until ``probe()`` returns something other than ``None``; return it."""
        async with self._changed:
            result: T | None = None

            def ready() -> bool:
                nonlocal result
                result = probe()
                return result is not None

            await asyncio.wait_for(self._changed.wait_for(ready), timeout)
            assert result is not None
            return result

    async def wait_for_message(
        self,
        user_id: int,
        predicate: Callable[[ChatMessage], bool] = lambda message: True,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        after: int = 0,
    ) -> ChatMessage:
        """The first bot message with ``message_id > after`` matching ``predicate``, waited for."""

        def probe() -> ChatMessage | None:
            return next(
                (m for m in self.messages(user_id) if m.message_id > after and predicate(m)),
                None,
            )

        try:
            return await self.wait_for(probe, timeout)
        except TimeoutError:
            seen = [m.text or m.caption or "[photo]" for m in self.messages(user_id)]
            raise TimeoutError(
                f"no matching bot message for user {user_id} within {timeout}s; "
                f"the bot's messages so far: {seen!r}"
            ) from None

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[ApiCall], bool] = lambda call: True,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> ApiCall:
        def probe() -> ApiCall | None:
            return next((c for c in self.method_calls(method) if predicate(c)), None)

        return await self.wait_for(probe, timeout)

    async def wait_for_callback_answer(
        self,
        query_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        return await self.wait_for(lambda: self._callbacks[query_id].answer, timeout)

    def events_after(self, user_id: int, seq: int) -> list[dict[str, Any]]:
        return [event for event in self._chat(user_id).events if event["seq"] > seq]

    @property
    def last_event_seq(self) -> int:
        return self._event_seq

    async def wait_for_events(
        self, user_id: int, seq: int, seconds: float
    ) -> list[dict[str, Any]]:
        """Chat page long poll: events after ``seq``, or ``[]`` after ``seconds`` or on close."""
        try:
            await self.wait_for(
                lambda: True if self.closing or self.events_after(user_id, seq) else None,
                seconds,
            )
        except TimeoutError:
            return []
        return self.events_after(user_id, seq)

    # Driving: what a user does.

    def fail_next(
        self,
        method: str,
        times: int = 1,
        retry_after: int = 5,
        *,
        error_code: int = 429,
        description: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error (429 unless told)."""
        if error_code == 429:
            error = too_many_requests(retry_after)
        else:
            error = BotApiError(error_code, description or f"Error {error_code}")
        self._failures[method.lower()] = _InjectedFailure(times, error)

    def flood(
        self, methods: Iterable[str], ratio: float, retry_after: int = 2, *, seed: int = 0
    ) -> None:
        """From now on answer about ``ratio`` of the calls of ``methods`` with 429 and this
        ``retry_after`` (chosen by a generator seeded with ``seed``); ``ratio`` 0 ends it."""
        if not 0 <= ratio <= 1:
            raise ValueError("ratio must be between 0 and 1")
        for method in methods:
            if ratio:
                self._floods[method.lower()] = _Flood(ratio, retry_after, random.Random(seed))
            else:
                self._floods.pop(method.lower(), None)

    async def inject_update(self, content: dict[str, Any]) -> int:
        """Queue an update exactly as given (it need not be valid); returns its ``update_id``."""
        async with self._changed:
            update_id = self._next_update_id
            self._next_update_id += 1
            self._updates.append({"update_id": update_id, **content})
            self._changed.notify_all()
        return update_id

    async def send_text(self, user_id: int, text: str) -> ChatMessage:
        """The user types and sends ``text``; ``/commands`` in it get ``bot_command`` entities."""
        if not text.strip():
            raise ValueError("Telegram does not send an empty message")
        entities = with_detected_entities(FormattedText(text)).entities
        return await self._user_message(user_id, text=text, entities=entities)

    async def send_command(self, user_id: int, command: str, args: str = "") -> ChatMessage:
        text = "/" + command.removeprefix("/")
        return await self.send_text(user_id, f"{text} {args}" if args else text)

    async def share_contact(
        self, user_id: int, *, own: bool = True, with_user_id: bool = True
    ) -> ChatMessage:
        """Share a contact: the user's own (``contact.user_id`` is the sender), or someone else's.

        Telegram clients send the phone without the leading ``+``.
        """
        person = self.user(user_id) if own else records.SOMEONE_ELSE
        contact: dict[str, Any] = {
            "phone_number": person.phone.removeprefix("+"),
            "first_name": person.first_name,
            "last_name": person.last_name or None,
            "user_id": person.id if own or with_user_id else None,
        }
        contact = Contact.model_validate(contact).model_dump(exclude_none=True)
        return await self._user_message(user_id, contact=contact)

    async def press_reply_button(self, user_id: int, text: str) -> ChatMessage:
        """Tap a reply keyboard button; a ``request_contact`` one shares the user's own contact."""
        keyboard = self.reply_keyboard(user_id)
        rows = (keyboard or {}).get("keyboard", [])
        button = next((b for row in rows for b in row if b["text"] == text), None)
        if keyboard is None or button is None:
            raise ValueError(f"no reply keyboard button {text!r} in user {user_id}'s chat")
        if keyboard.get("one_time_keyboard"):
            chat = self._chat(user_id)
            async with self._changed:
                self._apply_reply_keyboard(chat, keyboard, collapsed=True)
                self._changed.notify_all()
        if button.get("request_contact"):
            return await self.share_contact(user_id, own=True)
        if button.get("request_location") or button.get("request_poll"):
            raise ValueError("the stand-in cannot share a location or create a poll")
        return await self._user_message(user_id, text=text)

    async def press_inline_button(self, user_id: int, message_id: int, callback_data: str) -> str:
        """Tap an inline button with this ``callback_data``; return the callback query id."""
        chat = self._chat(user_id)
        message = self.message(user_id, message_id)
        if (
            message is None
            or message.deleted
            or not any(
                button.get("callback_data") == callback_data for button in message.inline_buttons
            )
        ):
            raise ValueError(
                f"message {message_id} in user {user_id}'s chat has no button "
                f"with callback data {callback_data!r}"
            )
        query_id = str(secrets.randbits(63))
        async with self._changed:
            self._callbacks[query_id] = PendingCallback(
                query_id, user_id, message_id, callback_data
            )
            query = CallbackQuery(
                id=query_id,
                from_user=chat.user.telegram_user(),
                chat_instance=str(user_id * 7919 % 10**18),
                message=message.telegram_message(self.bot_user, chat.user),
                data=callback_data,
            )
            self._enqueue({"callback_query": query})
            self._changed.notify_all()
        return query_id

    async def _user_message(self, user_id: int, **content: Any) -> ChatMessage:
        chat = self._chat(user_id)
        async with self._changed:
            message = ChatMessage(self._next_message_id(chat), user_id, False, _now(), **content)
            chat.messages.append(message)
            self._enqueue({"message": message.telegram_message(self.bot_user, chat.user)})
            self._event(chat, "message", message=message.page_view())
            self._changed.notify_all()
        return message

    # The bot side: called by the Bot API layer.

    def check_token(self, token: str) -> bool:
        return secrets.compare_digest(token.encode(), self.token.encode())

    def injected_failure(self, method: str) -> BotApiError | None:
        flood = self._floods.get(method.lower())
        if flood is not None and flood.chooser.random() < flood.ratio:
            return too_many_requests(flood.retry_after)
        failure = self._failures.get(method.lower())
        if failure is None or failure.remaining <= 0:
            return None
        failure.remaining -= 1
        return failure.error

    async def record_call(self, call: ApiCall) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def chat_for_bot(self, chat_id: int) -> DemoUser:
        if chat_id not in self._chats:
            raise bad_request("chat not found")
        if chat_id in self.blocked:
            raise BotApiError(403, "Forbidden: bot was blocked by the user")
        return self._chats[chat_id].user

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sending to their chat is refused with 403 from now on."""
        self.user(user_id)
        self.blocked.add(user_id)

    async def record_bot_message(
        self,
        chat_id: int,
        *,
        text: FormattedText | None = None,
        caption: FormattedText | None = None,
        photo: list[StoredPhoto] | None = None,
        markup: ReplyMarkup | None = None,
    ) -> Message:
        chat = self._bot_chat(chat_id)
        async with self._changed:
            message = ChatMessage(
                self._next_message_id(chat),
                chat_id,
                True,
                _now(),
                text=text.text if text else None,
                entities=text.entities if text else [],
                caption=caption.text if caption and caption.text else None,
                caption_entities=caption.entities if caption else [],
                photo=[size.photo_size() for size in photo or []],
                photo_bytes=photo[-1].content if photo else None,
                inline_keyboard=markup.inline_keyboard if markup else None,
                reply_keyboard=markup.reply_keyboard if markup else None,
                removes_reply_keyboard=bool(markup and markup.remove_keyboard),
            )
            chat.messages.append(message)
            self._event(chat, "message", message=message.page_view())
            if markup is not None and (markup.reply_keyboard or markup.remove_keyboard):
                self._apply_reply_keyboard(chat, markup.reply_keyboard)
            self._changed.notify_all()
        return message.telegram_message(self.bot_user, chat.user)

    def bot_editable(self, chat_id: int, message_id: int, missing: str) -> ChatMessage:
        chat = self._bot_chat(chat_id)
        message = next((m for m in chat.messages if m.message_id == message_id), None)
        if message is None or message.deleted:
            raise bad_request(missing)
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return message

    async def record_edit(
        self,
        message: ChatMessage,
        *,
        text: FormattedText | None = None,
        caption: FormattedText | None = None,
        inline_keyboard: list[list[dict[str, Any]]] | None,
    ) -> Message:
        """Apply an edit; without ``reply_markup`` the inline keyboard goes, as in Telegram."""
        edited = replace(message, inline_keyboard=inline_keyboard)
        if text is not None:
            edited.text, edited.entities = text.text, text.entities
        if caption is not None:
            edited.caption, edited.caption_entities = caption.text or None, caption.entities
        if (edited.text, edited.entities, edited.caption, edited.caption_entities) == (
            message.text,
            message.entities,
            message.caption,
            message.caption_entities,
        ) and (edited.inline_keyboard or None) == (message.inline_keyboard or None):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        chat = self._bot_chat(message.chat_id)
        async with self._changed:
            message.text, message.entities = edited.text, edited.entities
            message.caption, message.caption_entities = edited.caption, edited.caption_entities
            message.inline_keyboard = edited.inline_keyboard
            message.edit_date = _now()
            self._event(chat, "edit", message=message.page_view())
            self._changed.notify_all()
        return message.telegram_message(self.bot_user, chat.user)

    async def record_delete(self, chat_id: int, message_id: int) -> None:
        chat = self._bot_chat(chat_id)
        message = next((m for m in chat.messages if m.message_id == message_id), None)
        if message is None or message.deleted:
            raise bad_request("message to delete not found")
        async with self._changed:
            message.deleted = True
            self._event(chat, "delete", message_id=message_id)
            self._changed.notify_all()

    async def record_callback_answer(self, query_id: str, answer: CallbackAnswer) -> None:
        pending = self._callbacks.get(query_id)
        if pending is None or pending.answer is not None:
            raise bad_request(_QUERY_INVALID)
        async with self._changed:
            pending.answer = answer
            self._event(
                self._chat(pending.user_id),
                "callback_answer",
                callback_query_id=query_id,
                message_id=pending.message_id,
                text=answer.text,
                show_alert=answer.show_alert,
                url=answer.url,
            )
            self._changed.notify_all()

    async def record_chat_action(self, chat_id: int, action: str) -> None:
        chat = self._bot_chat(chat_id)
        async with self._changed:
            self._event(chat, "chat_action", action=action)
            self._changed.notify_all()

    async def set_commands(
        self, scope: str, language_code: str, commands: list[dict[str, str]]
    ) -> None:
        async with self._changed:
            if commands:
                self._commands[(scope, language_code)] = commands
            else:
                self._commands.pop((scope, language_code), None)
            for user_id, chat in self._chats.items():
                self._event(chat, "commands", commands=self.commands_for(user_id))
            self._changed.notify_all()

    def get_commands(self, scope: str, language_code: str) -> list[dict[str, str]]:
        return list(self._commands.get((scope, language_code), []))

    async def set_webhook(self, settings: WebhookSettings, *, drop_pending: bool) -> None:
        async with self._changed:
            self.webhook = settings
            if settings.allowed_updates is not None:
                self._allowed_updates = frozenset(
                    settings.allowed_updates or _DEFAULT_UPDATE_TYPES
                )
            if drop_pending:
                self._updates.clear()
            self._changed.notify_all()

    @property
    def pending_update_count(self) -> int:
        return len(self._updates)

    async def take_updates(
        self, offset: int | None, limit: int, seconds: float, allowed: list[str] | None
    ) -> list[dict[str, Any]]:
        """``getUpdates``: confirm below ``offset``, then wait up to ``seconds`` for more."""
        if self.webhook.url:
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        async with self._changed:
            self._poll_generation += 1
            generation = self._poll_generation
            if offset is not None:
                self._confirm(offset)
            if allowed is not None:
                self._allowed_updates = frozenset(allowed or _DEFAULT_UPDATE_TYPES)
            self._drop_unwanted()
            self._changed.notify_all()
            if seconds > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(
                            lambda: (
                                self._has_wanted_update()
                                or self.closing
                                or generation != self._poll_generation
                            )
                        ),
                        seconds,
                    )
            if generation != self._poll_generation:
                raise BotApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            self._drop_unwanted()
            return self._updates[:limit]

    async def next_webhook_update(self) -> dict[str, Any] | None:
        """The oldest pending update for webhook delivery; ``None`` once closing."""
        async with self._changed:
            self._drop_unwanted()
            await self._changed.wait_for(
                lambda: self.closing or (bool(self.webhook.url) and bool(self._updates))
            )
            return None if self.closing else self._updates[0]

    async def confirm_webhook_update(self, update_id: int) -> None:
        async with self._changed:
            self._confirm(update_id + 1)
            self.webhook.last_error_date = None
            self.webhook.last_error_message = None
            self._changed.notify_all()

    async def wait_closing(self, seconds: float) -> None:
        """Wait ``seconds``, ending early when the stand-in shuts down."""
        with contextlib.suppress(TimeoutError):
            await self.wait_for(lambda: True if self.closing else None, seconds)

    async def close(self) -> None:
        """Release every long poll at once, so the server can shut down without waiting."""
        async with self._changed:
            self.closing = True
            self._changed.notify_all()

    # Internals.

    def _chat(self, user_id: int) -> _Chat:
        try:
            return self._chats[user_id]
        except KeyError:
            raise ValueError(f"no demo user with id {user_id}") from None

    def _bot_chat(self, chat_id: int) -> _Chat:
        if chat_id not in self._chats:
            raise bad_request("chat not found")
        return self._chats[chat_id]

    @staticmethod
    def _next_message_id(chat: _Chat) -> int:
        return chat.messages[-1].message_id + 1 if chat.messages else 1

    def _enqueue(self, content: dict[str, Any]) -> None:
        update = Update.model_validate({"update_id": self._next_update_id, **content})
        self._next_update_id += 1
        self._updates.append(update.model_dump(mode="json", by_alias=True, exclude_none=True))

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            self._updates = self._updates[offset:]
        else:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]

    def _drop_unwanted(self) -> None:
        self._updates = [u for u in self._updates if _update_type(u) in self._allowed_updates]

    def _event(self, chat: _Chat, kind: str, **payload: Any) -> None:
        self._event_seq += 1
        chat.events.append({"seq": self._event_seq, "type": kind, **payload})

    def _apply_reply_keyboard(
        self, chat: _Chat, keyboard: dict[str, Any] | None, *, collapsed: bool = False
    ) -> None:
        chat.reply_keyboard = keyboard
        chat.keyboard_collapsed = collapsed
        self._event(chat, "reply_keyboard", keyboard=keyboard, collapsed=collapsed)

    def _has_wanted_update(self) -> bool:
        return any(_update_type(u) in self._allowed_updates for u in self._updates)
