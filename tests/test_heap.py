"""``run`` settles the heap once it is built: what exists is frozen out of every collection,
and young collections wait for 50,000 new objects (a fresh process, so this one is untouched)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import gc
from bot.heap import YOUNG_OBJECTS, settle
import bot.telegram.dispatcher
frozen_before, young_before = gc.get_freeze_count(), gc.get_threshold()[0]
settle()
print(frozen_before, young_before < YOUNG_OBJECTS, gc.get_freeze_count() > 100_000,
      gc.get_threshold()[0] == YOUNG_OBJECTS)
"""


def test_settle_freezes_what_start_up_made_and_raises_the_young_threshold() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert done.stdout.split() == ["0", "True", "True", "True"]


CLOCK_PROBE = """
import asyncio, gc, weakref
from bot.heap import settle

class Node:
    pass

async def main():
    collector = settle()
    enabled = gc.isenabled()
    first, second = Node(), Node()
    first.other, second.other = second, first
    gone = weakref.ref(first)
    del first, second
    alive_at_once = gone() is not None
    await asyncio.sleep(1.5)
    print(enabled, alive_at_once, gone() is None, collector.ticks >= 1)
    collector.stop()
    print(gc.isenabled())

asyncio.run(main())
"""


def test_inside_the_event_loop_cycles_are_collected_on_the_clock() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLOCK_PROBE],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    # The automatic collector is off, a cycle outlives its last name until the next tick,
    # and that tick frees it.
    assert done.stdout.split() == ["False", "True", "True", "True", "True"]
