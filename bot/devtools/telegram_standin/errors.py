"""Bot API error answers, worded as Telegram words them."""

from __future__ import annotations

from typing import Any


class BotApiError(Exception):
    """An ``{"ok": false}`` answer: ``error_code`` is also the HTTP status."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {reason}")


def too_many_requests(retry_after: int) -> BotApiError:
    return BotApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


METHOD_NOT_FOUND = BotApiError(404, "Not Found: method not found")
UNAUTHORIZED = BotApiError(401, "Unauthorized")
INTERNAL_ERROR = BotApiError(500, "Internal Server Error: the stand-in failed, see its log")
