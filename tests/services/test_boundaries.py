"""Services are shared by the chat and the kiosk: they import neither aiogram nor aiohttp."""

from __future__ import annotations

import ast
from pathlib import Path

import bot.services

FORBIDDEN = ("aiogram", "aiohttp")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_services_import_no_chat_or_web_framework() -> None:
    services = Path(bot.services.__file__).parent
    offenders = {
        f"{path.name}: {module}"
        for path in services.rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in FORBIDDEN
    }
    assert offenders == set()
