"""The layering of docs/architecture.md, enforced: import-linter's contracts (``.importlinter``)
hold, they catch a forbidden import when one is added, and the two platforms are reached only
through the registry."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.loyalty import registry

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"
LINT_IMPORTS = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
PLATFORM_HOMES = (
    "bot/loyalty/clienttoolbox/",
    "bot/loyalty/altcraft/",
    "bot/sandbox/clienttoolbox/",
    "bot/sandbox/altcraft/",
    "bot/loyalty/registry.py",
)


def lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(CONFIG), "--no-cache"],
        cwd=source_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_import_contracts_hold() -> None:
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


VIOLATIONS = {
    # The kiosk borrowing the chat's wording.
    "bot/kiosk/borrowed.py": "from bot.telegram import texts\n",
    # A service reaching for aiogram.
    "bot/services/chatty.py": "import aiogram\n",
    # The import naming a platform instead of asking the registry.
    "bot/importing/shortcut.py": "from bot.loyalty.altcraft.wire import MAX_BATCH_ROWS\n",
    # The sandbox sharing the client's parser.
    "bot/sandbox/clienttoolbox/shared.py": "from bot.loyalty.amounts import parse_amount\n",
    # A layer importing upwards: storage from services.
    "bot/storage/upwards.py": "from bot.services import enrollment\n",
}


def test_the_contracts_catch_a_forbidden_import(tmp_path: Path) -> None:
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT / "bot", copy / "bot", ignore=shutil.ignore_patterns("__pycache__", "static")
    )
    clean = lint_imports(copy)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    for path, line in VIOLATIONS.items():
        (copy / path).write_text(line)
    broken = lint_imports(copy)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    report = " ".join(broken.stdout.split())
    for contract in (
        "The chat and the kiosk import nothing from each other BROKEN",
        "Services, wording and storage know neither aiogram nor aiohttp BROKEN",
        "Only a platform's own packages and the registry name a platform BROKEN",
        "(nor anything else of the bot) BROKEN",
        "platform boundary BROKEN",
    ):
        assert contract in report
    for path in VIOLATIONS:
        module = path.removesuffix(".py").replace("/", ".")
        assert module in report


def test_both_platforms_are_in_the_registry() -> None:
    assert registry.names() == ("clienttoolbox", "altcraft")
    for entry in registry.PLATFORMS:
        assert registry.platform(entry.name) is entry
        assert entry.settings_model.__module__.startswith(f"bot.loyalty.{entry.name}.")
        assert entry.sandbox == f"bot.sandbox.{entry.name}"
    with pytest.raises(KeyError, match="the platforms are clienttoolbox, altcraft"):
        registry.platform("loyaltyplant")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            # A docstring, and the attribute docstrings that follow assignments.
            for statement in body:
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                    ids.add(id(statement.value))
    return ids


def test_no_code_outside_a_platform_names_one() -> None:
    """Besides imports (the contracts), no string in code names a platform outside its
    packages and the registry: a comparison like ``backend.platform == "altcraft"`` fails."""
    names = registry.names()
    found = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(PLATFORM_HOMES):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
                and any(name in node.value.lower() for name in names)
            ):
                found.append(f"{relative}:{node.lineno}: {node.value!r}")
    assert found == []
