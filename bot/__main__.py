"""The ``loyalty-bot`` command and its sub-commands (run, sandbox, doctor, import, …)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import sys
from collections.abc import Callable, Sequence

from bot.config import ConfigError, Settings, load_settings

# The sub-commands that live in their own modules (imported when used): the module, the
# function adding its parser to ``loyalty-bot``'s sub-commands, and the one running it
# (``args``, ``Settings`` -> exit status).
_COMMANDS = {
    "import": ("bot.importing.cli", "add_import_parser", "run_import_command"),
    "links": ("bot.links.cli", "add_links_parser", "run_links_command"),
    "kiosk": ("bot.kiosk.cli", "add_kiosk_parser", "run_kiosk_command"),
    "api-client": ("bot.api.cli", "add_api_client_parser", "run_api_client_command"),
    "broadcast": ("bot.telegram.broadcast_cli", "add_broadcast_parser", "run_broadcast_command"),
    "db": ("bot.db_cli", "add_db_parser", "run_db_command"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loyalty-bot",
        description="Self-service loyalty bot for Telegram and in-store kiosks.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run the bot (with nothing configured: the sandbox platform and a local "
        "Telegram stand-in with a browser chat page)",
    )
    run.add_argument(
        "--port",
        type=int,
        help="port of the local web server (chat page, kiosk); 0 = any free one",
    )

    sandbox = commands.add_parser("sandbox", help="serve a local sandbox of a loyalty platform")
    from bot.loyalty.registry import names

    sandbox.add_argument("--platform", choices=names(), default=names()[0])
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8090)
    sandbox.add_argument("--db", default=":memory:", help="SQLite file (default: in memory)")

    commands.add_parser("doctor", help="check the configuration and reach the platform")

    for module, add_parser, _ in _COMMANDS.values():
        getattr(importlib.import_module(module), add_parser)(commands)
    return parser


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "sandbox":
        return _run_sandbox(args.platform, args.host, args.port, args.db)
    overrides = {"port": args.port} if getattr(args, "port", None) is not None else {}
    settings = _settings(**overrides)
    from bot.logs import configure_logging

    configure_logging(settings)
    if args.command == "run":
        from bot import event_loop
        from bot.app import StartupError, run
        from bot.storage.database import SchemaError

        try:
            with contextlib.suppress(KeyboardInterrupt):
                event_loop.run(run(settings))
        except (StartupError, SchemaError) as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    if args.command == "doctor":
        from bot.app import doctor

        return asyncio.run(doctor(settings))
    if args.command in _COMMANDS:
        module, _, function = _COMMANDS[args.command]
        command: Callable[[argparse.Namespace, Settings], int] = getattr(
            importlib.import_module(module), function
        )
        return command(args, settings)
    return 2  # pragma: no cover - argparse refuses unknown commands


def _run_sandbox(platform: str, host: str, port: int, db: str) -> int:
    from bot.platforms import sandbox_module

    sandbox = sandbox_module(platform)
    print(f"{platform} sandbox on http://{host}:{port} (database: {db}); Ctrl-C stops it")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(sandbox.run_sandbox(host, port, db))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
