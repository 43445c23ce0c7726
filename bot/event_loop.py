"""The event loop of ``loyalty-bot run``: uvloop's where it is installed, else asyncio's.

Every update, platform call and Bot API call of the bot goes through one event loop, and on a
crowd of balance taps that loop is the bottleneck. uvloop (libuv, in C) does the same work as
asyncio's selector loop with less Python on each socket read, write and callback: in
``bench/chat_load.py``'s balance taps (40 users, rounds alternating with the bot on asyncio's
loop, same source otherwise) the bot's CPU per update went from 3.74 to 2.96 ms (median of 6
rounds; 2.98 to 2.60 ms at best). Without uvloop (Windows, or not installed) nothing changes
but the speed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

Result = TypeVar("Result")


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Coroutine[Any, Any, Result]) -> Result:
    """``asyncio.run`` on ``new_event_loop``'s loop."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
