"""``python -m bot run`` as a person starts it: a fresh folder, nothing configured. It prints
the chat page's address, a customer joins through the page, Ctrl-C stops it cleanly, and a
restart on the same folder still knows the customer."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bot.__main__ import main
from bot.devtools.telegram_standin import DEMO_USERS
from tests.e2e.card_scan import grouped, scan_card
from tests.e2e.chat_page_user import ChatPageUser, PageMessage
from tests.e2e.conftest import clean_environment
from tests.redis_server import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHAT_URL = re.compile(r"http://127\.0\.0\.1:\d+/chat")
STARTUP_SECONDS = 120.0
"""Importing aiogram alone takes seconds; on a busy shared machine start-up can take long."""
STOP_SECONDS = 10.0
JANE = DEMO_USERS[0]


@dataclass
class Session:
    """One run of the product: what it printed, how it ended, what the customer saw."""

    stdout: list[str] = field(default_factory=list)
    stderr: str = ""
    returncode: int | None = None
    stop_seconds: float = 0.0
    card_number: str = ""
    captions: list[str] = field(default_factory=list)


def has_photo(message: PageMessage) -> bool:
    return message["photo_file_id"] is not None


@asynccontextmanager
async def product(
    workdir: Path, logs: Path, port: int = 0, settings: dict[str, str] | None = None
) -> AsyncIterator[tuple[str, Session]]:
    """Start ``python -m bot run --port PORT`` in ``workdir`` with these extra ``settings``;
    yield the chat page URL it printed; on leaving, press Ctrl-C (SIGINT) and record how it
    ended."""
    session = Session()
    environment = clean_environment() | (settings or {})
    # The checkout's code, even where the package is not installed.
    environment["PYTHONPATH"] = str(PROJECT_ROOT)
    with logs.open("w+") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--port",
            str(port),
            cwd=workdir,
            env=environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
        assert process.stdout is not None
        stdout = process.stdout

        async def chat_url() -> str:
            while line := (await stdout.readline()).decode():
                session.stdout.append(line.rstrip("\n"))
                if CHAT_URL.fullmatch(line.strip()):
                    return line.strip()
            raise AssertionError(f"the product ended without a chat URL: {session.stdout!r}")

        async def read_the_rest() -> None:
            while line := (await stdout.readline()).decode():
                session.stdout.append(line.rstrip("\n"))

        try:
            url = await asyncio.wait_for(chat_url(), STARTUP_SECONDS)
            rest = asyncio.create_task(read_the_rest())
            yield url.removesuffix("/chat"), session
            process.send_signal(signal.SIGINT)
            pressed = time.monotonic()
            session.returncode = await asyncio.wait_for(process.wait(), STOP_SECONDS)
            session.stop_seconds = time.monotonic() - pressed
            await rest
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            stderr.seek(0)
            session.stderr = stderr.read()


@dataclass(frozen=True)
class Runs:
    workdir: Path
    first: Session
    restart: Session


async def first_run(workdir: Path, logs: Path) -> Session:
    async with product(workdir, logs) as (base_url, session), httpx.AsyncClient() as client:
        page = await client.get(f"{base_url}/chat")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        jane = ChatPageUser(client, base_url, JANE.id)
        sent = await jane.send("/start")
        welcome = await jane.wait_for_bot(sent, timeout=30)
        session.captions.append(welcome["text"])
        assert "📱 Join with my phone" in await jane.reply_buttons()
        sent = await jane.share_own_contact()
        card = await jane.wait_for_bot(sent, has_photo, timeout=30)
        session.captions.append(card["caption"])
        session.card_number = scan_card(await jane.photo(card))
    return session


async def restart(workdir: Path, logs: Path) -> Session:
    async with product(workdir, logs) as (base_url, session), httpx.AsyncClient() as client:
        jane = ChatPageUser(client, base_url, JANE.id)
        sent = await jane.send("/start")
        welcome = await jane.wait_for_bot(sent, timeout=30)
        session.captions.append(welcome["text"])
        sent = await jane.tap("💳 My card")
        card = await jane.wait_for_bot(sent, has_photo, timeout=30)
        session.captions.append(card["caption"])
        session.card_number = scan_card(await jane.photo(card))
    return session


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Both runs, once for the module: starting the product takes most of the time."""
    workdir = tmp_path_factory.mktemp("fresh-checkout")
    logs = tmp_path_factory.mktemp("logs")

    async def both() -> Runs:
        first = await first_run(workdir, logs / "first.log")
        return Runs(workdir, first, await restart(workdir, logs / "restart.log"))

    return asyncio.run(both())


def assert_stopped_cleanly(session: Session) -> None:
    assert session.returncode == 0, session.stderr
    assert session.stop_seconds < STOP_SECONDS
    assert "Traceback" not in session.stderr, session.stderr
    assert " ERROR " not in session.stderr and " CRITICAL " not in session.stderr, session.stderr


def test_a_fresh_run_prints_the_chat_page_and_a_customer_joins(runs: Runs) -> None:
    first = runs.first
    [url] = [line for line in first.stdout if CHAT_URL.fullmatch(line)]
    assert not url.endswith(":0/chat"), "the printed port must be the real one"
    assert "Press Ctrl-C to stop." in first.stdout
    assert "Start polling" in first.stderr  # no webhook configured
    welcome, joined = first.captions
    assert welcome.startswith("👋 Welcome to Great Widgets Rewards!")
    assert re.fullmatch(r"\d{12}", first.card_number)
    assert joined == f"✅ You're in, Jane! Your card number is {grouped(first.card_number)}."
    # Its data lives in the folder it was started in, not in the checkout.
    assert (runs.workdir / "data" / "loyalty-bot.db").is_file()
    assert (runs.workdir / "data" / "sandbox-clienttoolbox.db").is_file()


def test_ctrl_c_stops_it_cleanly(runs: Runs) -> None:
    assert_stopped_cleanly(runs.first)
    assert_stopped_cleanly(runs.restart)


def test_a_restart_on_the_same_folder_keeps_the_member(runs: Runs) -> None:
    welcome, card = runs.restart.captions
    assert welcome == "👋 Welcome back, Jane!"
    assert card == "Show this at the till."
    assert runs.restart.card_number == runs.first.card_number


def test_a_taken_port_is_said_in_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in os.environ.keys() - clean_environment().keys():
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # main() installs its own
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        port = other_program.getsockname()[1]
        assert main(["run", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"Cannot serve the chat and kiosk pages on 127.0.0.1:{port}" in err
    assert "Traceback" not in err


async def test_a_configured_webhook_replaces_long_polling(tmp_path: Path) -> None:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/telegram/webhook"
    async with (
        product(tmp_path, tmp_path / "run.log", port, {"WEBHOOK__URL": hook}) as (url, session),
        httpx.AsyncClient() as client,
    ):
        jane = ChatPageUser(client, url, JANE.id)
        sent = await jane.send("/start")
        welcome = await jane.wait_for_bot(sent, timeout=30)
    assert welcome["text"].startswith("👋 Welcome to Great Widgets Rewards!")
    assert f"Receiving updates by webhook at {hook}" in session.stdout
    assert "Start polling" not in session.stderr
    assert_stopped_cleanly(session)
