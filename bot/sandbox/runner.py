"""Serve an aiohttp application on loopback for the life of an ``async with`` block, and the
set-up every sandbox app shares."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from aiohttp import web

from bot.sandbox.faults import install_faults

_State = TypeVar("_State")


def sandbox_app(
    key: web.AppKey[_State],
    state: _State,
    add_routes: Callable[[web.Application], None],
    close: Callable[[], None],
) -> web.Application:
    """A sandbox's app: fault injection, its ``state`` under ``key``, its routes (and their own
    clean-up), then ``close`` of the state at clean-up."""
    app = web.Application()
    install_faults(app)
    app[key] = state
    add_routes(app)

    async def close_state(_: web.Application) -> None:
        close()

    app.on_cleanup.append(close_state)
    return app


@asynccontextmanager
async def serve(
    app: web.Application, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Start ``app`` and yield its base URL; port 0 picks a free port."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    bound_port = sockets[0].getsockname()[1] if sockets else port
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        await runner.cleanup()


async def serve_until_cancelled(app: web.Application, host: str, port: int) -> None:
    """Serve ``app`` until cancelled (Ctrl-C in the ``sandbox`` command)."""
    async with serve(app, host, port):
        await asyncio.Event().wait()
