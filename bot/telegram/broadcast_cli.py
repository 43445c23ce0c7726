"""``loyalty-bot broadcast --text FILE.md [filters] [--dry-run] [--test-to ID]``.

Sends from this process, through the outbox on the bot's database (so the running bot's
outbox finishes what waits for a flood or a network failure), paced at
``BROADCAST__PER_SECOND``. Ctrl-C stops it; the same command again carries on. Exit status:
0 done (or held by quiet hours, or stopped), 1 the database or Telegram cannot be used,
2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import signal
import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.config import Settings
from bot.platforms import EXIT_OK, EXIT_USAGE, add_command, with_settings_database

if TYPE_CHECKING:
    from aiogram import Bot

    from bot.storage.database import Database
    from bot.storage.timestamps import Clock
    from bot.telegram.broadcast import BroadcastReport

EXIT_UNUSABLE = 1


def add_broadcast_parser(commands: Any) -> None:
    parser = add_command(
        commands,
        "broadcast",
        help="send a message to members who have not turned news off",
        description="Send a Markdown message to linked members, once each, within Telegram's "
        "limits; quiet hours (BROADCAST__QUIET_FROM/UNTIL, shop time) hold it.",
    )
    parser.add_argument("--text", required=True, type=Path, help="the message, a Markdown file")
    parser.add_argument("--photo", type=Path, help="a picture sent with the text as caption")
    parser.add_argument("--language", help="only members speaking this language")
    parser.add_argument("--source", help="only members who joined through links of this source")
    parser.add_argument(
        "--joined-since", type=dt.date.fromisoformat, help="only members linked since this date"
    )
    parser.add_argument("--dry-run", action="store_true", help="count and show, send nothing")
    parser.add_argument("--test-to", type=int, help="send only to this Telegram user id")


async def broadcast(
    settings: Settings,
    database: Database,
    bot: Bot,
    args: argparse.Namespace,
    *,
    out: TextIO = sys.stdout,
    stop: asyncio.Event | None = None,
    clock: Clock | None = None,
    wait_quiet: bool = True,
    workers: int | None = None,
    progress: Callable[[BroadcastReport], None] | None = None,
) -> BroadcastReport:
    """The command's work, on an open database and a Bot (tests call it directly)."""
    from bot.storage.broadcasts import Recipient, broadcast_audience
    from bot.storage.cards import CardImages
    from bot.storage.notifications import NotificationSettings
    from bot.storage.outbox import OutboxRepository
    from bot.storage.timestamps import utc_now
    from bot.telegram.broadcast import (
        Broadcaster,
        BroadcastReport,
        QuietHours,
        WindowPace,
        broadcast_id,
        load_photo,
        progress_bar,
        read_text,
    )
    from bot.telegram.outbox import Outbox

    clock = clock or utc_now
    text = read_text(args.text)
    joined_since = (
        None
        if args.joined_since is None
        else dt.datetime.combine(args.joined_since, dt.time(), settings.shop_zone)
    )
    filters = (args.language, args.source, None if joined_since is None else str(joined_since))
    photo: Path | None = None
    picture: bytes | None = None
    if getattr(args, "photo", None) is not None:
        photo, picture = load_photo(args.photo)
    ident = broadcast_id(text, picture, filters)
    outbox = Outbox(
        OutboxRepository(database, clock=clock),
        CardImages(database, clock=clock),
        clock=clock,
        pace=WindowPace(settings.broadcast.per_second),
    )
    switches = NotificationSettings(database, clock=clock)
    quiet = QuietHours(
        settings.broadcast.quiet_from, settings.broadcast.quiet_until, settings.shop_zone
    )
    broadcaster = Broadcaster(
        outbox,
        bot,
        switches,
        quiet=quiet,
        clock=clock,
        **({"workers": workers} if workers else {}),
    )
    if args.test_to is not None:
        # A test copy each time it is asked for: its key carries the moment.
        report = BroadcastReport(f"{ident}-test-{clock():%Y%m%dT%H%M%S%f}", audience=1)
        await broadcaster.run(
            report,
            [Recipient(args.test_to, "", "")],
            text,
            photo=photo,
            stop=stop,
            wait_quiet=False,
        )
        print("\n".join(report.lines()), file=out)
        return report
    audience = await broadcast_audience(
        database,
        language=args.language,
        default_language=settings.default_language,
        source=args.source,
        joined_since=joined_since,
    )
    report = BroadcastReport(
        ident,
        audience=len(audience.recipients),
        opted_out=audience.opted_out,
        unreachable=audience.unreachable,
    )
    if args.dry_run:
        print(f"Dry run: broadcast {ident} would go to {report.audience} members", file=out)
        print(
            f"  skipped: {audience.opted_out} turned news off, {audience.unreachable} unreachable",
            file=out,
        )
        print("--- message ---", file=out)
        print(text, file=out)
        return report

    def show(report: BroadcastReport) -> None:
        print(progress_bar(report), end="", file=sys.stderr, flush=True)

    await broadcaster.run(
        report,
        audience.recipients,
        text,
        photo=photo,
        stop=stop,
        wait_quiet=wait_quiet,
        progress=progress or (show if out is sys.stdout else None),
    )
    if out is sys.stdout:
        print(file=sys.stderr)
    print("\n".join(report.lines()), file=out)
    return report


async def run_broadcast(args: argparse.Namespace, settings: Settings) -> int:
    if not args.text.is_file():
        print(f"--text: no such file {args.text}")
        return EXIT_USAGE
    if args.photo is not None:
        if not args.photo.is_file():
            print(f"--photo: no such file {args.photo}")
            return EXIT_USAGE
        from bot.telegram.broadcast import caption_fits, read_text

        if not caption_fits(read_text(args.text)):
            print("--text: with --photo the text is a caption: at most 1024 characters")
            return EXIT_USAGE
    return await with_settings_database(
        settings, lambda database: _broadcast_on(args, settings, database), unusable=EXIT_UNUSABLE
    )


async def _broadcast_on(args: argparse.Namespace, settings: Settings, database: Database) -> int:
    from bot.devtools.standin_identity import RUN_TOKEN as STANDIN_TOKEN
    from bot.storage.kiosks import Kiosks
    from bot.telegram.dispatcher import build_bot

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    api_url = token = None
    if settings.uses_embedded_telegram:
        # The local stand-in lives in the running bot's web server.
        port = await Kiosks(database).served_port() or settings.port
        api_url, token = f"http://{settings.host}:{port}", STANDIN_TOKEN
    bot = build_bot(settings, api_base_url=api_url, token=token)
    try:
        await broadcast(settings, database, bot, args, stop=stop)
    finally:
        await bot.session.close()
    return EXIT_OK


def run_broadcast_command(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(run_broadcast(args, settings))
