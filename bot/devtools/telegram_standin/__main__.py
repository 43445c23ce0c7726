"""``python -m bot.devtools.telegram_standin``: serve the stand-in on its own for a bot to poll."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from bot.devtools.telegram_standin.server import DEFAULT_TOKEN, run_standin


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Telegram stand-in with a chat page")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--bot-username", default="great_widgets_bot")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_standin(args.host, args.port, args.token, bot_username=args.bot_username))


if __name__ == "__main__":
    main()
