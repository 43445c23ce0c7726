"""``loyalty-bot api-client add|list|revoke``: the POS API's clients (tills, shops).

``add`` prints the client's id and secret once: only the secret's hash is kept. Exit
status: 0 done, 1 no such client (or the database cannot be used), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.platforms import EXIT_OK, EXIT_USAGE, add_actions, local_time, with_settings_database

if TYPE_CHECKING:
    from bot.storage.database import Database

EXIT_NOT_FOUND = 1


def add_api_client_parser(commands: Any) -> None:
    actions = add_actions(
        commands,
        "api-client",
        help="add, list and revoke clients of the POS API (/api/v1/)",
        description="Clients of the POS API: each signs its requests with its own secret.",
    )
    add = actions.add_parser("add", help="add a client and print its secret (shown once)")
    add.add_argument("--name", required=True, help="e.g. 'till-main-street' or 'webshop'")
    actions.add_parser("list", help="list the clients")
    revoke = actions.add_parser("revoke", help="revoke a client: its requests are refused")
    revoke.add_argument("client", help="its name or id (pos_…)")


async def run_api_client(args: argparse.Namespace, settings: Settings) -> int:
    return await with_settings_database(
        settings, lambda database: _api_client(args, settings, database), unusable=EXIT_NOT_FOUND
    )


async def _api_client(args: argparse.Namespace, settings: Settings, database: Database) -> int:
    from bot.api.app import build_auth
    from bot.storage.api_clients import ApiClients

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
            state = f"revoked {local_time(client.revoked_at)}" if client.revoked else "active"
            print(
                f"{client.key_id}  {client.name}  added {local_time(client.created_at)}  {state}"
            )
        return EXIT_OK
    if command == "revoke":
        if not await clients.revoke(args.client):
            print(f"No active client {args.client!r} to revoke.")
            return EXIT_NOT_FOUND
        print(f"Client {args.client} is revoked: its requests are refused from now on.")
        return EXIT_OK
    return EXIT_USAGE  # pragma: no cover - argparse refuses unknown commands


def run_api_client_command(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(run_api_client(args, settings))
