"""A database place the disk refuses at start (read-only, full) ends ``loyalty-bot run`` with
one line naming DATABASE and exit status 1, not a sqlite traceback."""

from __future__ import annotations

import logging
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from bot.__main__ import main
from tests.e2e.conftest import clean_environment

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READ_ONLY = "/proc/loyalty-bot.db"
"""A place no process may create a file in, root included (tests run as root in CI)."""
CONFIGURED_PLATFORM = {
    # A production-like set-up: no embedded sandbox, so the bot's own database is the first
    # file opened. Nothing is asked of the platform or Telegram before it.
    "PLATFORM": "clienttoolbox",
    "CLIENTTOOLBOX__URL": "http://127.0.0.1:9/api.php",
    "CLIENTTOOLBOX__ACCOUNT_ID": "1",
    "CLIENTTOOLBOX__USER_ID": "1",
    "CLIENTTOOLBOX__USER_API_KEY": "key-for-the-test",
    "BOT_TOKEN": "123456:AAH-token-for-the-test",
}


def _one_line_naming_database(err: str, database: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"DATABASE={database}" in lines[0]
    assert "Traceback" not in err and "sqlite3." not in err


@pytest.mark.parametrize("configured", [False, True], ids=["defaults", "configured-platform"])
def test_a_read_only_database_place_is_one_line_naming_database(
    configured: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in os.environ.keys() - clean_environment().keys():
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE", READ_ONLY)
    for name, value in (CONFIGURED_PLATFORM if configured else {}).items():
        monkeypatch.setenv(name, value)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # main() installs its own
    assert main(["run", "--port", "0"]) == 1
    err = capsys.readouterr().err
    _one_line_naming_database(err, READ_ONLY)
    assert "cannot be created or opened" in err


def _limit_file_size() -> None:
    # Every file the process writes stops growing at 32 KB: a full disk, as SQLite sees it.
    resource.setrlimit(resource.RLIMIT_FSIZE, (32 * 1024, 32 * 1024))


@pytest.mark.parametrize("configured", [False, True], ids=["defaults", "configured-platform"])
def test_a_full_disk_is_one_line_naming_database(configured: bool, tmp_path: Path) -> None:
    environment = clean_environment() | (CONFIGURED_PLATFORM if configured else {})
    environment["PYTHONPATH"] = str(PROJECT_ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--port", "0"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=_limit_file_size,
    )
    assert done.returncode == 1, done.stderr
    _one_line_naming_database(done.stderr, "data/loyalty-bot.db")
