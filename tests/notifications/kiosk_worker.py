"""A kiosk server in its own process, for the crash test: ``python -m
tests.notifications.kiosk_worker DB SANDBOX_URL URL_FILE`` serves the kiosk (as ``run`` does)
on the bot's database and the Client Toolbox sandbox, writes its address to URL_FILE and
serves until it is killed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aiohttp import web

from bot.config import HttpSettings
from bot.kiosk.app import build_kiosk, create_kiosk_app, mount_kiosk
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.sandbox.runner import serve
from bot.storage.database import open_database
from tests.conftest import ct_settings
from tests.notifications.conftest import notice_settings


async def main(db_path: Path, sandbox_url: str, url_file: Path) -> None:
    backend = ClientToolboxClient(ct_settings(sandbox_url), HttpSettings())
    database = await open_database(db_path)
    root = web.Application()
    mount_kiosk(root, create_kiosk_app(build_kiosk(notice_settings(), backend, database)))
    async with serve(root) as url:
        await asyncio.to_thread(url_file.write_text, url)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])))
