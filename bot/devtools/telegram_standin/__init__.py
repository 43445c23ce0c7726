"""A local Telegram stand-in: a fake Bot API server plus a browser chat page.

Point aiogram at it with
``AiohttpSession(api=TelegramAPIServer.from_base("http://127.0.0.1:PORT"))``; drive the demo
users from Python through ``app[STANDIN]`` or from a browser at ``/chat``.
"""

from bot.devtools.telegram_standin.records import (
    DEMO_USERS,
    SOMEONE_ELSE,
    ApiCall,
    CallbackAnswer,
    ChatMessage,
    DemoUser,
)
from bot.devtools.telegram_standin.server import DEFAULT_TOKEN, STANDIN, create_app, run_standin
from bot.devtools.telegram_standin.state import TelegramStandIn

__all__ = [
    "DEFAULT_TOKEN",
    "DEMO_USERS",
    "SOMEONE_ELSE",
    "STANDIN",
    "ApiCall",
    "CallbackAnswer",
    "ChatMessage",
    "DemoUser",
    "TelegramStandIn",
    "create_app",
    "run_standin",
]
