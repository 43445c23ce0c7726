"""aiogram's objects learn their ``Bot`` in one step instead of one per class they inherit.

Every aiogram type and method is a ``BotContextController``, a pydantic model with one private
attribute (``_bot``) and a ``model_post_init`` that sets it from the validation context.
pydantic wraps a ``model_post_init`` in every class that has private attributes, so a
``Message`` runs a chain of wrappers (one per class between it and ``BotContextController``),
each initialising the private attributes again, before the assignment goes through
``BaseModel.__setattr__``. Reading an ``Update``, building a ``SendMessage`` and reading the
sent ``Message`` paid that for every nested object: 7.4% of the bot's CPU samples on balance
taps (``bench/chat_load.py --profile balance``).

``speed_up_bot_context`` gives each such class a ``model_post_init`` that leaves the object
exactly as the chain did (``__pydantic_private__ == {"_bot": <the context's bot or None>}``)
in one step. Classes with other private attributes or a ``model_post_init`` of their own keep
pydantic's.
"""

from __future__ import annotations

import inspect
from typing import Any

from aiogram.client.context_controller import BotContextController

_ORIGINAL = inspect.unwrap(BotContextController.model_post_init)


def _post_init(self: BotContextController, context: Any, /) -> None:
    bot = context.get("bot") if context else None
    private = getattr(self, "__pydantic_private__", None)
    if private is None:
        object.__setattr__(self, "__pydantic_private__", {"_bot": bot})
    else:
        private["_bot"] = bot


def _plain(cls: type[BotContextController]) -> bool:
    """Only ``_bot`` as private state, and no ``model_post_init`` but aiogram's."""
    if set(cls.__private_attributes__) != {"_bot"}:
        return False
    # A class made after an earlier call wraps the one-step version: plain too.
    return inspect.unwrap(cls.model_post_init) in (_ORIGINAL, _post_init)


def speed_up_bot_context() -> int:
    """Give every plain ``BotContextController`` class defined so far the one-step
    ``model_post_init``; returns how many were changed. Safe to call again."""
    changed = 0
    waiting: list[type[BotContextController]] = [BotContextController]
    seen: set[type[BotContextController]] = set()
    while waiting:
        cls = waiting.pop()
        if cls in seen:
            continue
        seen.add(cls)
        waiting.extend(cls.__subclasses__())
        if cls.__dict__.get("model_post_init") is _post_init:
            continue
        if _plain(cls):
            cls.model_post_init = _post_init  # type: ignore[method-assign,assignment]
            changed += 1
    return changed
