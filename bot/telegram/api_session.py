"""The Bot API session: aiogram's aiohttp session, with its answer types kept alive and its
calls sent as one JSON body.

aiogram reads every answer with ``Response[method.__returning__]``. pydantic keeps such
parametrised classes in a ``WeakValueDictionary``, and a generic class sits in reference
cycles, so only the cyclic garbage collector frees it; a process that allocates a lot (this
one: platform calls, card images, SQLite rows) runs that collector often, and then the next
``sendMessage`` builds ``Response[Message]`` again, about 9 ms of CPU each time. Holding one
strong reference per answer type makes every later lookup a cache hit.

aiogram sends every call as a form: each nested value (a keyboard, entities) dumped to JSON on
its own, then the whole form URL-encoded character by character. The Bot API takes the same
parameters as one ``application/json`` body, which is one C-level ``json.dumps``; calls that
upload a file still go as aiogram's multipart form. The body is built from the method's fields
directly (no ``model_dump`` of the whole call first: 70 -> 43 µs for a balance answer with its
keyboard) and encoded by orjson, which also reads every answer (``getUpdates`` batches
included): a third of the standard library's time either way. orjson reads an integer beyond 64
bits as a float; Telegram's ids have at most 52 significant bits.

Those JSON calls go over ``Http1Pool`` (the platform calls' keep-alive connections, with
aiogram's TLS context) rather than aiohttp's client, whose request and response objects were
most of a call's CPU; uploads, and a session with a proxy, stay on aiohttp. Failures are
aiogram's ``TelegramNetworkError`` either way.
"""

from __future__ import annotations

import json
from typing import Any, cast

import httpx
import orjson
from aiogram import Bot, __version__
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ClientError, ClientTimeout, FormData

from bot.loyalty.http1 import Http1Pool

_answer_types: dict[Any, type[Response[Any]]] = {}

JSON_HEADERS = {"Content-Type": "application/json"}


def keep_answer_type(returning: Any) -> None:
    """Build ``Response[returning]`` once and keep it for the life of the process."""
    if returning not in _answer_types:
        _answer_types[returning] = Response[returning]


def dumps(value: Any) -> str:
    """JSON text as aiogram's ``json_dumps`` gives it (its form puts nested values so)."""
    return dump_bytes(value).decode()


def dump_bytes(value: Any) -> bytes:
    """orjson's encoding; what it refuses (an integer beyond 64 bits, a key that is not a
    string) goes through the standard library as before."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()


class BotApiSession(AiohttpSession):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("json_loads", orjson.loads)
        kwargs.setdefault("json_dumps", dumps)
        super().__init__(**kwargs)
        self._calls: Http1Pool | None = None
        self._call_headers = {"User-Agent": f"loyalty-bot aiogram/{__version__}"}

    def _json_calls(self) -> Http1Pool | None:
        """The pool for JSON calls; ``None`` through a proxy (aiohttp's connector does that)."""
        if self.proxy is not None:
            return None
        if self._calls is None:
            self._calls = Http1Pool(
                max_connections=int(self._connector_init.get("limit") or 100),
                connect_timeout=float(self.timeout),
                read_timeout=float(self.timeout),
                ssl_context=self._connector_init.get("ssl"),
            )
        return self._calls

    async def close(self) -> None:
        if self._calls is not None:
            calls, self._calls = self._calls, None
            await calls.aclose()
        await super().close()

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        keep_answer_type(method.__returning__)
        return super().check_response(bot, method, status_code, content)

    def build_json(self, bot: Bot, method: TelegramMethod[TelegramType]) -> bytes | None:
        """The call's parameters as one JSON object, or ``None`` when it uploads a file.

        Values are prepared as aiogram prepares them for its form (defaults such as
        ``parse_mode`` filled in, enums and dates converted), and left out when aiogram leaves
        them out of the form (``None`` and empty text)."""
        files: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        # What ``model_dump`` gives, field by field: declared fields, then extra ones.
        values = [(key, getattr(method, key)) for key in type(method).model_fields]
        values.extend((method.__pydantic_extra__ or {}).items())
        prepare = self.prepare_value
        for key, value in values:
            if value is None:
                continue
            prepared = prepare(value, bot=bot, files=files, _dumps_json=False)
            if prepared is None or prepared == "":
                continue
            fields[key] = prepared
        if files:
            return None
        return dump_bytes(fields)

    async def make_request(  # aiogram's signature, ``timeout`` included
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> TelegramType:
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        body = self.build_json(bot, method)
        calls = self._json_calls() if body is not None else None
        if body is not None and calls is not None:
            try:
                answer = await calls.post(
                    url,
                    body,
                    self._call_headers,
                    "application/json",
                    read_timeout=float(self.timeout if timeout is None else timeout),
                )
            except httpx.TimeoutException as e:
                raise TelegramNetworkError(method=method, message="Request timeout error") from e
            except httpx.HTTPError as e:
                raise TelegramNetworkError(
                    method=method, message=f"{type(e).__name__}: {e}"
                ) from e
            response = self.check_response(
                bot=bot,
                method=method,
                status_code=answer.status_code,
                content=answer.content.decode("utf-8", "replace"),
            )
            return cast(TelegramType, response.result)
        session = await self.create_session()
        data: bytes | FormData = (
            self.build_form_data(bot=bot, method=method) if body is None else body
        )
        try:
            async with session.post(
                url,
                data=data,
                headers=JSON_HEADERS if body is not None else None,
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as resp:
                raw_result = await resp.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        response = self.check_response(
            bot=bot, method=method, status_code=resp.status, content=raw_result
        )
        return cast(TelegramType, response.result)
