"""A real ``redis-server`` (Debian's package) on a free loopback port, for one test.

Without the binary the test is skipped, except in CI, where a missing server is a broken
set-up and the test fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

REDIS_SERVER = "redis-server"
START_SECONDS = 15.0


def free_port() -> int:
    """A loopback port nothing listens on (at the time of asking)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def redis_server() -> AsyncIterator[str]:
    """Start a throw-away server (it writes no files) and yield its ``redis://`` URL."""
    binary = shutil.which(REDIS_SERVER)
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed; .ci/run installs Debian's redis-server")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *(binary, "--bind", "127.0.0.1", "--port", str(port)),
        *("--save", "", "--appendonly", "no"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        await _wait_until_it_answers(url, process)
        yield url
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _wait_until_it_answers(url: str, process: asyncio.subprocess.Process) -> None:
    client = Redis.from_url(url)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_SECONDS
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"redis-server exited at start ({process.returncode})")
            try:
                await client.ping()
                return
            except (RedisConnectionError, OSError):
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()
