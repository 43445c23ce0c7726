"""The router of a feature the member opens by its command or by its keyboard button."""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.dispatcher.event.handler import CallbackType
from aiogram.filters import Command

from bot.telegram.callbacks import Retry
from bot.telegram.i18n import ButtonText


def entry_router(
    name: str,
    show: CallbackType,
    command: str,
    button: str,
    *,
    flags: dict[str, Any] | None = None,
    retry: CallbackType | None = None,
) -> Router:
    """A router ``name`` whose ``show`` answers ``/command`` and the ``button`` (a msgid).

    ``retry`` handles the "try again" button that a failure of these handlers shows: the
    ``Retry`` of the action in their ``retry`` flag."""
    router = Router(name=name)
    router.message.register(show, Command(command), flags=flags)
    router.message.register(show, ButtonText(button), flags=flags)
    if retry is not None:
        if flags is None or "retry" not in flags:
            raise ValueError(f"{name}: a retry handler needs the handlers' retry flag")
        action = flags["retry"]
        router.callback_query.register(retry, Retry.filter(F.action == action), flags=flags)
    return router
