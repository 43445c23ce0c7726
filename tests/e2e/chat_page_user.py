"""A demo user acting through the chat page's JSON API (``/chat/api/…``), as the page does.

Waiting for the bot uses the page's own long poll (``…/events``), so nothing sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

PageMessage = dict[str, Any]


class ChatPageUser:
    def __init__(self, client: httpx.AsyncClient, base_url: str, user_id: int) -> None:
        self._client = client
        self._chat = f"{base_url}/chat/api/chats/{user_id}"
        self.base_url = base_url

    async def chat(self) -> dict[str, Any]:
        response = await self._client.get(self._chat)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def _post(self, path: str, body: dict[str, Any]) -> PageMessage:
        response = await self._client.post(f"{self._chat}/{path}", json=body)
        response.raise_for_status()
        message: PageMessage = response.json()["message"]
        return message

    async def send(self, text: str) -> PageMessage:
        return await self._post("messages", {"text": text})

    async def share_own_contact(self) -> PageMessage:
        return await self._post("contact", {"own": True})

    async def tap(self, button: str) -> PageMessage:
        """Tap a button of the reply keyboard under the input field."""
        return await self._post("reply-button", {"text": button})

    async def reply_buttons(self) -> list[str]:
        keyboard = (await self.chat())["reply_keyboard"] or {}
        return [button["text"] for row in keyboard.get("keyboard", []) for button in row]

    async def photo(self, message: PageMessage) -> bytes:
        """The picture of a bot message, fetched as the page's ``<img>`` does."""
        response = await self._client.get(f"{self.base_url}/chat/files/{message['photo_file_id']}")
        response.raise_for_status()
        return response.content

    async def wait_for_bot(
        self,
        after: PageMessage,
        predicate: Callable[[PageMessage], bool] = lambda message: True,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> PageMessage:
        """The first bot message after ``after`` that matches, waited for with the page's
        long poll; the timeout error lists what the bot did say."""
        deadline = time.monotonic() + timeout
        while True:
            chat = await self.chat()
            messages: list[PageMessage] = chat["messages"]
            bot_messages = [
                m for m in messages if m["from_bot"] and m["message_id"] > after["message_id"]
            ]
            found = next((m for m in bot_messages if predicate(m)), None)
            if found is not None:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                said = [m["text"] or m["caption"] or "[photo]" for m in bot_messages]
                raise TimeoutError(f"no matching bot message within {timeout}s; it said {said!r}")
            response = await self._client.get(
                f"{self._chat}/events",
                params={"after": chat["last_event"], "timeout": min(left, 5.0)},
                timeout=left + 5,
            )
            response.raise_for_status()
