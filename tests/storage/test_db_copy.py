"""``loyalty-bot db copy --to postgresql://…``: an install's SQLite tables moved to PostgreSQL,
counted per table, readable by the bot there; a non-empty target refused unless told."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main
from bot.storage import MemberLinks, open_database
from bot.storage.links import LinkRepository, NewLink
from bot.storage.ownership import claim_sessions
from tests.postgres_server import PostgresServer
from tests.storage.test_repositories import _remember_everything_about


async def _fill(path: Path) -> dict[str, int]:
    database = await open_database(path)
    try:
        for user in range(3):
            await _remember_everything_about(database, 7000 + user, f"M-{user}", f"40{user}")
        return {
            table: int((await database.fetch_one(f"SELECT count(*) FROM {table}"))[0])
            for table in await database.tables()
        }
    finally:
        await database.close()


def _copy(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["db", "copy", *argv])
    out, err = capsys.readouterr()
    return code, out, err


async def test_copy_moves_every_row_and_the_bot_reads_them_there(
    tmp_path: Path,
    postgres: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "data" / "loyalty-bot.db"
    counts = await _fill(source)
    assert sum(counts.values()) > 20
    url = postgres.create_database()
    monkeypatch.setenv("DATABASE", str(source))

    code, out, _ = await _in_thread(_copy, capsys, "--to", url)

    assert code == 0, out
    for table, rows in counts.items():
        assert any(line.split() == [table, str(rows), str(rows)] for line in out.splitlines())
    copy = await open_database(url)
    try:
        link = await MemberLinks(copy).get(7001)
        assert link is not None and link.member_code == "M-1" and link.card_number == "401"
        assert await MemberLinks(copy).get_language(7002) == "es"
        # New rows get new ids after the copied ones.
        links = LinkRepository(copy)
        before = max(record.id for record in await links.all())
        added = await links.add(NewLink(token="after-copy", campaign_id=None, source="poster"))
        assert added.id > before
    finally:
        await copy.close()

    code, _, err = await _in_thread(_copy, capsys, "--to", url)  # the target has rows now
    assert code == 1 and "Nothing copied: the target already has rows in" in err
    code, out, _ = await _in_thread(_copy, capsys, "--to", url, "--replace")
    assert code == 0 and "Copied " in out


async def test_copy_refuses_while_a_bot_runs_on_the_file(
    tmp_path: Path,
    postgres: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "loyalty-bot.db"
    await _fill(source)
    monkeypatch.setenv("DATABASE", str(source))
    running = claim_sessions(str(source))
    try:
        code, _, err = await _in_thread(_copy, capsys, "--to", postgres.url())
    finally:
        running.release()
    assert code == 1 and "stop it, then copy" in err
    code, _, err = await _in_thread(_copy, capsys, "--to", "mysql://x/y")
    assert code == 2


async def _in_thread(function, *args):  # type: ignore[no-untyped-def]
    """The command runs its own event loop, so it runs beside the test's."""
    import asyncio

    return await asyncio.to_thread(function, *args)
