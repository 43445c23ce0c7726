"""Fault injection shared by both sandboxes: added latency, error answers, dropped connections.

Faults are set over HTTP (``POST /_sandbox/faults`` with a JSON body, ``DELETE`` to clear)
or from Python through ``FaultPlan``. A fault applies to the next ``count`` platform
requests (``count`` omitted: until cleared); control routes under ``/_sandbox/`` are never
affected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FaultPlan:
    latency: float = 0.0
    """Seconds to wait before answering."""
    error_status: int | None = None
    """Answer with this HTTP status and a plain body instead of the real answer."""
    drop: bool = False
    """Close the connection without answering."""
    lost_answer: bool = False
    """Handle the request, then close the connection without answering: the platform did it,
    the client never learns."""
    count: int | None = None
    """How many requests the fault applies to; ``None`` means until cleared."""

    @property
    def active(self) -> bool:
        faulty = self.latency > 0 or self.error_status is not None
        return (faulty or self.drop or self.lost_answer) and (self.count is None or self.count > 0)

    def replace_with(self, other: FaultPlan) -> None:
        """Change the plan in place: a started app's state must not be reassigned."""
        self.latency, self.error_status = other.latency, other.error_status
        self.drop, self.count = other.drop, other.count
        self.lost_answer = other.lost_answer

    def consume(self) -> None:
        if self.count is not None:
            self.count -= 1


FAULTS = web.AppKey("faults", FaultPlan)


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_sandbox/"):
        return await handler(request)
    plan = request.app[FAULTS]
    if not plan.active:
        return await handler(request)
    plan.consume()
    if plan.latency:
        await asyncio.sleep(plan.latency)
    if plan.drop:
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError
    if plan.error_status is not None:
        return web.Response(status=plan.error_status, text="sandbox: injected fault")
    if plan.lost_answer:
        await handler(request)
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError
    return await handler(request)


async def _set_faults(request: web.Request) -> web.Response:
    body = await request.json()
    request.app[FAULTS].replace_with(
        FaultPlan(
            latency=float(body.get("latency", 0)),
            error_status=body.get("error_status"),
            drop=bool(body.get("drop", False)),
            lost_answer=bool(body.get("lost_answer", False)),
            count=body.get("count"),
        )
    )
    return web.json_response({"ok": True})


async def _clear_faults(request: web.Request) -> web.Response:
    request.app[FAULTS].replace_with(FaultPlan())
    return web.json_response({"ok": True})


def install_faults(app: web.Application) -> None:
    """Add the fault middleware and its control routes to a sandbox app."""
    app[FAULTS] = FaultPlan()
    app.middlewares.append(fault_middleware)
    app.router.add_post("/_sandbox/faults", _set_faults)
    app.router.add_delete("/_sandbox/faults", _clear_faults)
