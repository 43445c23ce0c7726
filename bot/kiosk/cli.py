"""``loyalty-bot kiosk add|pair|revoke|list|log``: kiosks, their pairing links and staff log.

``add`` prints a one-time pairing link: open it on the kiosk's screen (the browser then holds
the kiosk's own secret). Exit status: 0 done, 1 no such kiosk, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.platforms import EXIT_OK, EXIT_USAGE, add_actions, local_time, with_settings_database

if TYPE_CHECKING:
    from bot.storage.database import Database

EXIT_NO_KIOSK = 1
_ANY_ADDRESS = ("0.0.0.0", "::", "")


def add_kiosk_parser(commands: Any) -> None:
    """Add ``kiosk`` to ``loyalty-bot``'s sub-commands (``commands``: from ``add_subparsers``)."""
    actions = add_actions(
        commands,
        "kiosk",
        help="add, re-pair, revoke and list in-store kiosks",
        description="In-store kiosks: each one is a browser paired once with a one-time link.",
    )
    add = actions.add_parser("add", help="add a kiosk and print its one-time pairing link")
    add.add_argument("--store", required=True, help="the store it stands in (signup source)")
    add.add_argument("--label", default="", help="which kiosk of the store, e.g. 'till 2'")
    add.add_argument(
        "--pin",
        help="its own staff PIN (4 to 12 digits); default: the KIOSK__STAFF_PIN setting",
    )
    pair = actions.add_parser(
        "pair", help="print a new pairing link for a kiosk (its old secret stops on pairing)"
    )
    pair.add_argument("id", type=int)
    revoke = actions.add_parser("revoke", help="revoke a kiosk: its browser is refused at once")
    revoke.add_argument("id", type=int)
    actions.add_parser("list", help="list the kiosks")
    log = actions.add_parser("log", help="show what was done at the kiosks, newest first")
    log.add_argument("id", type=int, nargs="?", help="only this kiosk")
    log.add_argument("--limit", type=int, default=30)


def pairing_link(settings: Settings, code: str, served_port: int | None = None) -> str:
    """The configured public address, else this machine at the port the bot's web server
    was last started on (``run --port`` may differ from ``PORT``), else ``PORT``."""
    if settings.kiosk.public_url is not None:
        base = str(settings.kiosk.public_url).rstrip("/")
    else:
        # The camera needs a secure context: localhost is one, a LAN address over http is not.
        host = "localhost" if settings.host in _ANY_ADDRESS else settings.host
        base = f"http://{host}:{served_port or settings.port}"
    return f"{base}/kiosk/#pair={code}"


async def run_kiosk(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services.staff_pin import InvalidPin, check_pin_shape

    if getattr(args, "pin", None) is not None:
        try:
            check_pin_shape(args.pin)
        except InvalidPin as exc:
            print(f"--pin: {exc}")
            return EXIT_USAGE
    return await with_settings_database(
        settings, lambda database: _kiosk(args, settings, database), unusable=EXIT_NO_KIOSK
    )


async def _kiosk(args: argparse.Namespace, settings: Settings, database: Database) -> int:
    from bot.services.kiosk_pairing import KioskPairing
    from bot.storage.kiosks import Kiosks

    kiosks = Kiosks(database)
    pairing = KioskPairing(
        kiosks,
        pairing_ttl=dt.timedelta(hours=settings.kiosk.pairing_hours),
        clock=lambda: dt.datetime.now(dt.UTC),
    )
    command = args.kiosk_command
    if command in ("add", "pair"):
        if command == "add":
            added = await pairing.add(args.store, label=args.label, pin=args.pin)
        else:
            found = await pairing.new_pairing_code(args.id)
            if found is None:
                print(f"No kiosk {args.id} (or it was revoked).")
                return EXIT_NO_KIOSK
            added = found
        kiosk = added.kiosk
        label = f" ({kiosk.label})" if kiosk.label else ""
        print(f"Kiosk {kiosk.id} for {kiosk.store}{label}.")
        print("Open this link once, on the kiosk's screen, to pair it:")
        served_port = await kiosks.served_port()
        print(f"  {pairing_link(settings, added.pairing_code, served_port)}")
        print(f"The link works once, until {local_time(kiosk.pairing_expires_at)}.")
        if kiosk.pin_hash is None and settings.kiosk.staff_pin is None:
            print("No staff PIN: staff mode stays off (use --pin or KIOSK__STAFF_PIN).")
        return EXIT_OK
    if command == "revoke":
        if not await pairing.revoke(args.id):
            print(f"No kiosk {args.id} to revoke (unknown or already revoked).")
            return EXIT_NO_KIOSK
        print(f"Kiosk {args.id} is revoked: its browser is refused from now on.")
        return EXIT_OK
    if command == "list":
        rows = await kiosks.all()
        if not rows:
            print("No kiosks yet: loyalty-bot kiosk add --store NAME")
        for kiosk in rows:
            if kiosk.revoked:
                state = f"revoked {local_time(kiosk.revoked_at)}"
            elif kiosk.paired:
                state = f"paired {local_time(kiosk.paired_at)}"
            else:
                state = "waiting for pairing"
            pin = "own PIN" if kiosk.pin_hash else "default PIN"
            label = f" ({kiosk.label})" if kiosk.label else ""
            print(f"{kiosk.id:>4}  {kiosk.store}{label}  {state}  {pin}")
        return EXIT_OK
    if command == "log":
        for action in await kiosks.actions(args.id, limit=args.limit):
            detail = " ".join(f"{key}={value}" for key, value in action.detail.items())
            print(
                f"{local_time(action.at)}  kiosk {action.kiosk_id}  {action.action}: "
                f"{action.outcome}  {action.member_code}  {action.campaign_id}  {detail}  "
                f"{action.transaction_id}".rstrip()
            )
        return EXIT_OK
    return EXIT_USAGE  # pragma: no cover - argparse refuses unknown commands


def run_kiosk_command(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(run_kiosk(args, settings))
