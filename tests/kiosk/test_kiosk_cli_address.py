"""``kiosk add`` and ``kiosk pair`` print a pairing link for the port the bot actually serves
on (``run --port N``, or any free port), and the configured public address when there is one."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import AnyHttpUrl

from bot.app import start_services
from bot.config import KioskSettings, Settings
from bot.kiosk.cli import run_kiosk

ADD = argparse.Namespace(kiosk_command="add", store="Main Street", label="", pin=None)


def _link(printed: str) -> str:
    [link] = re.findall(r"https?://\S+#pair=\S+", printed)
    return link


async def test_kiosk_add_and_pair_print_the_port_the_bot_serves_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configured = Settings(_env_file=None, database=tmp_path / "data" / "bot.db")  # type: ignore[call-arg]
    assert configured.port == 8080
    # `run --port 0`: the web server takes any free port.
    async with start_services(configured.model_copy(update={"port": 0})) as (running, _):
        served = urlsplit(running.web_url).port
        assert served is not None and served != 8080
        assert await run_kiosk(ADD, configured) == 0
        link = _link(capsys.readouterr().out)
        assert link.startswith(f"http://127.0.0.1:{served}/kiosk/#pair=")
        pair = argparse.Namespace(kiosk_command="pair", id=1)
        assert await run_kiosk(pair, configured) == 0
        assert _link(capsys.readouterr().out).startswith(f"http://127.0.0.1:{served}/kiosk/")

    public = configured.model_copy(
        update={"kiosk": KioskSettings(public_url=AnyHttpUrl("https://kiosk.example.com"))}
    )
    assert await run_kiosk(ADD, public) == 0
    assert _link(capsys.readouterr().out).startswith("https://kiosk.example.com/kiosk/#pair=")


async def test_a_database_the_disk_refuses_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(_env_file=None, database=Path("/proc/loyalty-bot.db"))  # type: ignore[call-arg]
    assert await run_kiosk(ADD, settings) == 1
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and "DATABASE=/proc/loyalty-bot.db" in printed
