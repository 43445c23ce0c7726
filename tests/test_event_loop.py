"""``loyalty-bot run`` runs on uvloop when it is installed, and on asyncio's loop without it."""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

import pytest

from bot import event_loop


async def loop_class() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_where_installed() -> None:
    pytest.importorskip("uvloop")
    assert event_loop.run(loop_class()).startswith("uvloop")


def test_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_uvloop(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uvloop":
            raise ImportError("no uvloop here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_uvloop)
    assert event_loop.run(loop_class()).startswith("asyncio")
