"""``links stats --by inviter``: referrals per inviter and month, as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.loyalty.clienttoolbox import ClientToolboxClient
from tests.links.test_cli import links, workdir
from tests.rewards.conftest import member_code, referrals
from tests.telegram.conftest import BotUnderTest, MovableClock, start_bot, stop_bot

__all__ = ["workdir"]


@pytest.fixture
async def chat(
    workdir: Path, settings: Settings, ct_backend: ClientToolboxClient, clock: MovableClock
) -> AsyncIterator[BotUnderTest]:
    running = await start_bot(settings, ct_backend, workdir / "bot.db", clock)
    try:
        yield running
    finally:
        await stop_bot(running)


async def test_referrals_per_inviter_and_month_in_csv_and_json(
    chat: BotUnderTest,
    ct_backend: ClientToolboxClient,
    clock: MovableClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    anna = chat.user(2001, first_name="Anna")
    await anna.share_contact("12025550101")
    anna_code = await member_code(ct_backend, "+12025550101")
    token = await referrals(chat).invite_token(anna_code)
    month = referrals(chat).month()

    boris = chat.user(2002, first_name="Boris")
    await boris.send(f"/start {token}")
    await boris.share_contact("12025550102")
    await anna.send(f"/start {token}")  # her own link: refused
    await boris.send(f"/start {token}")  # already a member: refused

    run = await links(capsys, "stats", "--by", "inviter", "--format", "csv")
    assert run.status == 0, run.err
    assert list(csv.DictReader(io.StringIO(run.out))) == [
        {
            "month": month,
            "inviter": anna_code,
            "opened": "3",
            "refused": "2",
            "joined": "1",
            "friend_bonuses": "1",
            "inviter_bonuses": "1",
        }
    ]
    as_json = json.loads((await links(capsys, "stats", "--by", "inviter", "--format", "json")).out)
    assert as_json == [
        {
            "month": month,
            "inviter": anna_code,
            "opened": 3,
            "refused": 2,
            "joined": 1,
            "friend_bonuses": 1,
            "inviter_bonuses": 1,
        }
    ]
    table = await links(capsys, "stats", "--by", "inviter")
    assert anna_code in table.out and "inviter" in table.err
