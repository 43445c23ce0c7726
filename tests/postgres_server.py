"""A real PostgreSQL server (Debian's ``postgresql`` package) on a free loopback port.

One server per test session (``initdb`` takes seconds); every test gets a database of its own
(``fresh_database``). The cluster lives in a temporary folder and is removed at the end.
Tuned for tests: no ``fsync`` (the tests kill the bot, never the server).

Without the binaries the tests are skipped, except in CI, where a missing server is a broken
set-up and the tests fail. As root (CI, containers), the server runs as the ``postgres`` user,
because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.redis_server import free_port

START_SECONDS = 30.0
SETTINGS = (
    *("-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"),
    *("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
)
_names = itertools.count(1)


def _binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"test_{os.getpid()}_{next(_names)}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def psql(self, sql: str, database: str = "postgres") -> str:
        psql = _binary("psql")
        assert psql is not None
        done = subprocess.run(
            [psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql, self.url(database)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout


def _run_as() -> dict[str, int]:
    """Popen's user and group: the ``postgres`` account when we are root."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("running as root needs the postgres account (Debian's postgresql package)")
    return {"user": account.pw_uid, "group": account.pw_gid}


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a throw-away cluster and yield how to reach it."""
    initdb, postgres = _binary("initdb"), _binary("postgres")
    if initdb is None or postgres is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; .ci/run installs Debian's postgresql")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    run_as = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="loyalty-pg-"))
    if run_as:
        os.chown(folder, run_as["user"], run_as["group"])
    data = folder / "data"
    subprocess.run(
        [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
        **run_as,  # type: ignore[arg-type]
    )
    port = free_port()
    process = subprocess.Popen(
        [postgres, "-D", str(data), "-p", str(port), "-k", str(folder), *SETTINGS],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "server.log", "wb"),  # noqa: SIM115 - closed with the process
        **run_as,  # type: ignore[arg-type]
    )
    server = PostgresServer("127.0.0.1", port, "postgres")
    try:
        _wait_until_it_answers(server, process, folder)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_it_answers(
    server: PostgresServer, process: subprocess.Popen[bytes], folder: Path
) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            log = (folder / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"postgres exited at start ({process.returncode}): {log}")
        try:
            server.psql("SELECT 1")
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
