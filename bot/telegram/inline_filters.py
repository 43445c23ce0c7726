"""Plain (non-async) filters run on the event loop, not in a thread.

aiogram calls every filter that is not a coroutine function, ``F.text == …`` and
``F.contact`` included, through ``asyncio.to_thread``: a thread-pool hand-off and a wake-up
of the loop for each filter checked, for every update, in every router it passes. Ours are
tiny checks of the update (no I/O), so the hop costs far more than the check: about 12% of the
bot's loop time for a balance tap (py-spy, bench/chat_load.py). ``run_filters_inline`` wraps
each such filter of a router tree in a coroutine that calls it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject


def _inline(check: Callable[..., Any]) -> Callable[..., Any]:
    async def run(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)

    return run


def _make_inline(filter_object: FilterObject) -> None:
    if not filter_object.awaitable:
        filter_object.callback = _inline(filter_object.callback)
        filter_object.awaitable = True


def run_filters_inline(root: Router) -> int:
    """Make every plain filter of ``root`` and the routers below it run inline; returns how
    many were changed. Call once every router is included."""
    changed = 0
    for router in root.chain_tail:
        for observer in router.observers.values():
            # The observer's own filters (``router.message.filter(…)``) sit in ``_handler``.
            own = getattr(observer, "_handler", None)
            for handler in [*observer.handlers, *([own] if own is not None else [])]:
                for filter_object in handler.filters or ():
                    changed += not filter_object.awaitable
                    _make_inline(filter_object)
    return changed
