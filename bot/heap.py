"""The garbage collector set for a long-running bot.

A ``gc.callbacks`` probe on ``bench/chat_load.py`` (40 users, 10 balance taps each, then card,
history and profile edits) counted about 1 s of the bot's CPU in the cyclic collector: the
~220,000 objects made at start (aiogram's pydantic models, Babel's data, the routers) are
walked by every full collection (250 ms each on this machine), and the default threshold of 700
new objects starts a young collection every few updates. Once the process is built, ``settle``
moves what exists into the permanent generation (``gc.freeze``: no collection walks it) and lets
50,000 objects pile up before a young collection: 0.14 s in 2 collections for the same run.
(Freezing with the default threshold made it far worse: 9 s in 273 collections.)

Under a crowd that was still about 6% of the bot's CPU (the same probe, 40 users tapping
"Balance" 30 times each: 0.94 s in 393 collections, which found about 3,000 objects in cycles
in all): with 40 updates in flight, tens of thousands of their objects are alive at any moment,
so the young generation fills every few dozen updates and each collection walks the objects of
every update in flight, only to find them alive. So when ``settle`` runs inside the event loop
it turns the automatic collector off and collects on a clock instead: the young generation
every ``COLLECT_SECONDS``, the middle one every ``MIDDLE_EVERY`` ticks and everything every
``FULL_EVERY`` ticks. Garbage in reference cycles lives at most that long; everything else is
freed by reference counting at once, as before.
"""

from __future__ import annotations

import asyncio
import gc

YOUNG_OBJECTS = 50_000
"""New container objects between young collections (CPython's default is 700), where the
automatic collector stays on (``settle`` outside an event loop)."""
COLLECT_SECONDS = 1.0
"""Between collections of the young generation once the collector runs on the clock."""
MIDDLE_EVERY = 10
FULL_EVERY = 60


class Collector:
    """Collects on the event loop's clock while the automatic collector is off."""

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float = COLLECT_SECONDS) -> None:
        self._loop = loop
        self._seconds = seconds
        self.ticks = 0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        gc.disable()
        self._handle = self._loop.call_later(self._seconds, self._tick)

    def stop(self) -> None:
        """The automatic collector back on (with ``settle``'s threshold)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        gc.enable()

    def _tick(self) -> None:
        self.ticks += 1
        if self.ticks % FULL_EVERY == 0:
            gc.collect(2)
        elif self.ticks % MIDDLE_EVERY == 0:
            gc.collect(1)
        else:
            gc.collect(0)
        self._handle = self._loop.call_later(self._seconds, self._tick)


def settle() -> Collector | None:
    """Call once, when start-up is done and before updates arrive. Inside an event loop the
    collector then runs on that loop's clock (returned) and the automatic one stays off for
    the life of the process (``Collector.stop`` turns it back on)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, middle, old)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    collector = Collector(loop)
    collector.start()
    return collector
