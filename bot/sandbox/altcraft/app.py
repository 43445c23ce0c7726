"""The Altcraft sandbox application: routes, state, demo account, fault injection."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from aiohttp import web

from bot.sandbox.altcraft import demo
from bot.sandbox.altcraft.api import AltcraftApi, balances
from bot.sandbox.altcraft.store import AltcraftStore, now_stamp
from bot.sandbox.runner import sandbox_app, serve_until_cancelled

STORE = web.AppKey("altcraft_store", AltcraftStore)

MAX_BATCH_ITEMS = 10_000
MAX_BODY_BYTES = 10 * 1024 * 1024


def create_app(
    db_path: str | Path = ":memory:",
    *,
    demo: bool = True,
    max_batch_items: int = MAX_BATCH_ITEMS,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> web.Application:
    """An Altcraft look-alike under ``/api/v1.1/``.

    The token, profile database, program and points currency of ``demo`` always exist (an
    account without them cannot answer anything); ``demo=True`` adds the demo profiles and
    members. A database file keeps its state across restarts and is seeded only once.
    """
    store = AltcraftStore(db_path)
    store.ensure_account(
        token=_demo.TOKEN,
        db_id=_demo.DB_ID,
        db_name=_demo.DB_NAME,
        program_id=_demo.PROGRAM_ID,
        program_name=_demo.PROGRAM_NAME,
        currency_iid=_demo.CURRENCY_IID,
        currency_eid=_demo.CURRENCY_EID,
        currency_name=_demo.CURRENCY_NAME,
    )
    if demo:
        seed_demo(store)
    api = AltcraftApi(store, max_batch_items=max_batch_items, max_body_bytes=max_body_bytes)
    return sandbox_app(STORE, store, api.install, store.close)


_demo = demo


def seed_demo(store: AltcraftStore) -> None:
    for profile in _demo.PROFILES:
        if store.has_profile(profile.id):
            continue
        store.add_profile(_demo.DB_ID, profile.fields, profile.id)
        if not profile.member:
            continue
        store.add_member(_demo.PROGRAM_ID, profile.id, now_stamp())
        for kind, points, description in profile.movements:
            ledger = list(store.ledger(_demo.PROGRAM_ID, profile.id, _demo.CURRENCY_IID))
            total, _ = balances(ledger, now_stamp())
            after = total + points if kind == "accrual" else total - points
            store.add_transaction(
                program_id=_demo.PROGRAM_ID,
                profile_id=profile.id,
                currency_iid=_demo.CURRENCY_IID,
                type=kind,
                amount=Decimal(points),
                balance_before=total,
                balance_after=after,
                description=description,
            )


async def run_sandbox(host: str, port: int, db_path: str) -> None:
    """Serve the sandbox until cancelled (Ctrl-C in the CLI)."""
    await serve_until_cancelled(create_app(db_path), host, port)
