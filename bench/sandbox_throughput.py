"""How fast the sandboxes answer over loopback, against the floor of the same HTTP stack.

Run: ``python bench/sandbox_throughput.py [--requests N] [--concurrency C]``

Baseline, measured in the same run on the same harness: a bare aiohttp handler that reads the
request body and returns a fixed JSON answer. The ratio ``sandbox / floor`` says how much of the
loopback HTTP budget the sandbox's own work takes; a ratio near 1 means the sandbox is never the
bottleneck of a benchmark that goes through it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from aiohttp import web

from bot.sandbox import altcraft, clienttoolbox
from bot.sandbox.altcraft import demo as altcraft_demo
from bot.sandbox.clienttoolbox import demo as ct_demo
from bot.sandbox.runner import serve

BATCH_ROWS = 500


def floor_app() -> web.Application:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "success", "error": 0})

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    return app


async def measure(
    requests: int, concurrency: int, send: Callable[[int], Awaitable[None]]
) -> float:
    """Requests per second for ``requests`` calls of ``send`` over ``concurrency`` workers."""
    counter = iter(range(requests))

    async def worker() -> None:
        for index in counter:
            await send(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


def customer_info_form(code: str) -> dict[str, str]:
    return {
        "type": "customer_info",
        "user_id": ct_demo.USER_ID,
        "user_password": ct_demo.API_KEY,
        "account_id": ct_demo.ACCOUNT_ID,
        "code": code,
        "output": "JSON",
    }


def batch_body(emails: list[str]) -> dict[str, Any]:
    return {
        "token": altcraft_demo.TOKEN,
        "loyalty_program_id": altcraft_demo.PROGRAM_ID,
        "matching": "email",
        "data": [{"email": email} for email in emails],
    }


async def bench_customer_info(
    http: httpx.AsyncClient, requests: int, concurrency: int
) -> dict[str, float]:
    async with serve(floor_app()) as floor_url, serve(clienttoolbox.create_app()) as ct_url:

        async def floor(_: int) -> None:
            (
                await http.post(f"{floor_url}/api.php", data=customer_info_form(ct_demo.JOHN_CODE))
            ).raise_for_status()

        async def sandbox(_: int) -> None:
            answer = await http.post(
                f"{ct_url}/api.php", data=customer_info_form(ct_demo.JOHN_CODE)
            )
            if answer.json()["status"] != "success":
                raise RuntimeError(answer.text)

        # Both warmed up alike, so neither side pays for opening connections in the ratio.
        await measure(50, concurrency, floor)
        await measure(50, concurrency, sandbox)
        return {
            "floor": await measure(requests, concurrency, floor),
            "sandbox": await measure(requests, concurrency, sandbox),
        }


async def bench_register_batch(
    http: httpx.AsyncClient, batches: int, concurrency: int
) -> dict[str, float]:
    emails = [f"bench{n}@example.com" for n in range(BATCH_ROWS)]
    async with serve(floor_app()) as floor_url, serve(altcraft.create_app()) as ac_url:
        for email in emails:  # profiles must exist before they can become members
            answer = await http.post(
                f"{ac_url}/api/v1.1/profiles/add",
                json={
                    "token": altcraft_demo.TOKEN,
                    "db_id": altcraft_demo.DB_ID,
                    "data": {"email": email},
                },
            )
            if answer.json()["error"] != 0:
                raise RuntimeError(answer.text)
        body = batch_body(emails)

        async def floor(_: int) -> None:
            (
                await http.post(f"{floor_url}/api/v1.1/loyalty/register_member_batch", json=body)
            ).raise_for_status()

        async def sandbox(_: int) -> None:
            # The first pass registers every row (code 0); later passes answer 409 per row.
            answer = await http.post(f"{ac_url}/api/v1.1/loyalty/register_member_batch", json=body)
            if len(answer.json()["result"]) != BATCH_ROWS:
                raise RuntimeError(answer.text[:300])

        return {
            "floor": await measure(batches, concurrency, floor),
            "sandbox": await measure(batches, concurrency, sandbox),
        }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        info = await bench_customer_info(http, args.requests, args.concurrency)
        batch = await bench_register_batch(http, args.batches, args.concurrency)
    print(f"{'measure':<44} {'floor':>10} {'sandbox':>10} {'ratio':>7}")
    print(
        f"{'Client Toolbox customer_info, requests/s':<44} "
        f"{info['floor']:>10.0f} {info['sandbox']:>10.0f} {info['sandbox'] / info['floor']:>7.2f}"
    )
    ratio = batch["sandbox"] / batch["floor"]
    print(
        f"{f'Altcraft register_member_batch ({BATCH_ROWS} rows), req/s':<44} "
        f"{batch['floor']:>10.1f} {batch['sandbox']:>10.1f} {ratio:>7.2f}"
    )
    print(
        f"{'Altcraft register_member_batch, rows/s':<44} "
        f"{batch['floor'] * BATCH_ROWS:>10.0f} {batch['sandbox'] * BATCH_ROWS:>10.0f} "
        f"{batch['sandbox'] / batch['floor']:>7.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
