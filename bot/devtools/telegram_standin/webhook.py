"""Webhook delivery: once the bot calls ``setWebhook``, updates are POSTed to it one at a time.

As Telegram does, an update is dropped only after a 2xx answer; on failure the error shows in
``getWebhookInfo`` and the update is retried.  A method in the webhook's answer (aiogram's
``handle_in_background=False``) is executed like a normal call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, MultipartReader, web

from bot.devtools.telegram_standin.bot_api import MethodCall, execute
from bot.devtools.telegram_standin.errors import BotApiError
from bot.devtools.telegram_standin.records import ApiCall
from bot.devtools.telegram_standin.state import TelegramStandIn

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0
_TIMEOUT = ClientTimeout(total=10)


async def _read_reply(response: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    if response.content_type == "application/json":
        body = await response.json()
        if isinstance(body, dict):
            params.update(body)
    elif response.content_type == "multipart/form-data":
        reader = MultipartReader(response.headers, response.content)
        while (part := await reader.next()) is not None:
            if isinstance(part, MultipartReader) or part.name is None:
                continue
            if part.filename:
                files[part.name] = await part.read()
            else:
                params[part.name] = await part.text()
    return params, files


async def _run_reply(
    standin: TelegramStandIn, params: dict[str, Any], files: dict[str, bytes]
) -> None:
    method = params.pop("method", None)
    if not isinstance(method, str):
        return
    record = ApiCall(method, params, files, datetime.now(UTC))
    await standin.record_call(record)
    try:
        await execute(standin, method, MethodCall(standin, params, files))
    except BotApiError as error:
        record.status = error.error_code
        logger.warning("Webhook reply %s failed: %s", method, error.description)


async def _record_failure(standin: TelegramStandIn, message: str) -> None:
    standin.webhook.last_error_date = datetime.now(UTC)
    standin.webhook.last_error_message = message
    await standin.wait_closing(RETRY_SECONDS)


async def deliver_updates(standin: TelegramStandIn, session: ClientSession) -> None:
    while (update := await standin.next_webhook_update()) is not None:
        webhook = standin.webhook
        headers = {}
        if webhook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = webhook.secret_token
        try:
            async with session.post(
                webhook.url,
                json=update,
                headers=headers,
                timeout=_TIMEOUT,
            ) as response:
                if not 200 <= response.status < 300:
                    await _record_failure(
                        standin,
                        f"Wrong response from the webhook: {response.status} {response.reason}",
                    )
                    continue
                reply = await _read_reply(response)
        except (ClientError, TimeoutError, ValueError) as error:
            await _record_failure(standin, f"Connection failed: {type(error).__name__}")
            continue
        await standin.confirm_webhook_update(update["update_id"])
        await _run_reply(standin, *reply)


def webhook_delivery(
    standin: TelegramStandIn,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """An ``app.cleanup_ctx`` entry running the delivery loop for the life of the app."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        async with ClientSession() as session:
            task = asyncio.create_task(deliver_updates(standin, session))
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return context
