"""``loyalty-bot api-client add|list|revoke``: the POS API's clients (tills, shops).

``add`` prints the client's id and secret once: only the secret's hash is kept. Exit
status: 0 done, 1 no such client (or the database cannot be used), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from typing import Any

from bot.config import Settings

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2


def add_api_client_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "api-client",
        help="add, list and revoke clients of the POS API (/api/v1/)",
        description="Clients of the POS API: each signs its requests with its own secret.",
    )
    actions = parser.add_subparsers(dest="api_client_command", required=True)
    add = actions.add_parser("add", help="add a client and print its secret (shown once)")
    add.add_argument("--name", required=True, help="e.g. 'till-main-street' or 'webshop'")
    actions.add_parser("list", help="list the clients")
    revoke = actions.add_parser("revoke", help="revoke a client: its requests are refused")
    revoke.add_argument("client", help="its name or id (pos_…)")


def _when(moment: dt.datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M")


async def run_api_client(args: argparse.Namespace, settings: Settings) -> int:
    from bot.api.app import build_auth
    from bot.storage.api_clients import ApiClients
    from bot.storage.opening import DatabaseUnusable, open_configured_database

    try:
        database = await open_configured_database(
            settings.database_target, local_file=settings.database
        )
    except DatabaseUnusable as exc:
        print(exc)
        return EXIT_NOT_FOUND
    try:
        command = args.api_client_command
        if command == "add":
            try:
                client, secret = await build_auth(settings, database).add(args.name)
            except ValueError as exc:
                print(f"--name: {exc}")
                return EXIT_USAGE
            print(f"Client {client.name} added.")
            print(f"  X-Client-Id: {client.key_id}")
            print(f"  Secret:      {secret}")
            print("The secret is shown only now: keep it in the till's configuration.")
            return EXIT_OK
        clients = ApiClients(database)
        if command == "list":
            rows = await clients.all()
            if not rows:
                print("No API clients yet: loyalty-bot api-client add --name NAME")
            for client in rows:
                state = f"revoked {_when(client.revoked_at)}" if client.revoked else "active"
                print(f"{client.key_id}  {client.name}  added {_when(client.created_at)}  {state}")
            return EXIT_OK
        if command == "revoke":
            if not await clients.revoke(args.client):
                print(f"No active client {args.client!r} to revoke.")
                return EXIT_NOT_FOUND
            print(f"Client {args.client} is revoked: its requests are refused from now on.")
            return EXIT_OK
    finally:
        await database.close()
    return EXIT_USAGE  # pragma: no cover - argparse refuses unknown commands


def run_api_client_command(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(run_api_client(args, settings))
