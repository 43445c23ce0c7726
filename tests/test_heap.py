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
