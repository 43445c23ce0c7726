"""``loyalty-bot links …`` as marketing runs it, against the Client Toolbox sandbox over
loopback; what it makes is then opened in the chat of a bot on the same database."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import PIL.Image
import pytest
import zxingcpp

from bot.__main__ import main
from bot.config import Settings
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import NewMember
from bot.sandbox.clienttoolbox import demo
from bot.storage.members import MemberLinks
from tests.links.conftest import POINTS, VISITS, points
from tests.telegram.conftest import BotUnderTest, MovableClock, start_bot, stop_bot

WELCOME = "👋 Welcome to Great Widgets Rewards!"


@dataclass
class Run:
    status: int
    out: str
    err: str


@pytest.fixture
def workdir(tmp_path: Path, ct_sandbox_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with no ``.env``, and the environment of a merchant on Client Toolbox."""
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "PLATFORM": "clienttoolbox",
        "CLIENTTOOLBOX__URL": f"{ct_sandbox_url}/api.php",
        "CLIENTTOOLBOX__ACCOUNT_ID": demo.ACCOUNT_ID,
        "CLIENTTOOLBOX__USER_ID": demo.USER_ID,
        "CLIENTTOOLBOX__USER_API_KEY": demo.API_KEY,
        "DATABASE": str(tmp_path / "bot.db"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("BOT_TOKEN", "BOT_USERNAME", "LINKS_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
async def chat(
    workdir: Path, settings: Settings, ct_backend: ClientToolboxClient, clock: MovableClock
) -> AsyncIterator[BotUnderTest]:
    """The bot, on the database the commands write."""
    running = await start_bot(settings, ct_backend, workdir / "bot.db", clock)
    try:
        yield running
    finally:
        await stop_bot(running)


async def links(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    capsys.readouterr()
    try:
        # In a thread: the command runs its own event loop, the sandbox runs in this one.
        status = await asyncio.to_thread(main, ["links", *argv])
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return Run(status, out, err)


def decode(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(PIL.Image.open(io.BytesIO(png)))]


async def test_create_prints_the_link_and_a_poster_that_scans_to_exactly_it(
    workdir: Path,
    chat: BotUnderTest,
    ct_backend: ClientToolboxClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = await links(
        capsys,
        "create",
        "--campaign",
        POINTS,
        "--source",
        "poster",
        "--bonus",
        "25",
        "--note",
        "spring windows",
        "--caption",
        "Scan for 25 points",
    )

    assert run.status == 0, run.err
    url = run.out.strip()
    token = url.rsplit("=", 1)[1]
    assert url == f"https://t.me/great_widgets_bot?start={token}"
    assert POINTS not in url and "25" not in token
    png = (workdir / "posters" / f"{token}.png").read_bytes()
    assert decode(png) == [url]
    image = PIL.Image.open(io.BytesIO(png))
    assert image.size == (1240, 1748)
    assert round(image.info["dpi"][0]) == 300
    svg = (workdir / "posters" / f"{token}.svg").read_text()
    assert 'width="105mm" height="148mm"' in svg
    assert "Scan for 25 points" in svg and f"t.me/great_widgets_bot?start={token}" in svg

    jane = chat.user(1001, first_name="Jane")
    [welcome] = await jane.send(f"/start {token}")
    assert welcome.text.startswith(WELCOME)
    await jane.share_contact("12025550143")
    member = await ct_backend.find_member_by_phone("+12025550143")
    assert member is not None and await points(ct_backend, member.code) == 25

    stats = await links(capsys, "stats", "--format", "json")
    [row, total] = json.loads(stats.out)
    assert row == {
        "token": token,
        "source": "poster",
        "campaign": POINTS,
        "opened": 1,
        "refused": 0,
        "members": 0,
        "signups": 1,
        "bonuses": 1,
    }
    assert total["token"] == "total" and total["signups"] == 1
    by_day = await links(capsys, "stats", "--by", "day", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(by_day.out)))
    assert rows == [
        {
            "day": dt.datetime.now(dt.UTC).date().isoformat(),
            "source": "poster",
            "token": token,
            "opened": "1",
            "refused": "0",
            "members": "0",
            "signups": "1",
            "bonuses": "1",
        }
    ]
    listed = json.loads((await links(capsys, "list", "--format", "json")).out)
    [entry] = listed
    assert (entry["token"], entry["bonus"], entry["note"], entry["uses"]) == (
        token,
        "25",
        "spring windows",
        1,
    )


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--campaign", "9999", "--source", "poster"], "no campaign 9999"),
        (["--campaign", VISITS, "--source", "poster", "--bonus", "2"], "points or gift-card"),
        (["--source", "poster", "--bonus", "10"], "--bonus needs --campaign"),
        (["--campaign", POINTS, "--source", "poster", "--bonus", "2.5"], "whole number"),
        (["--campaign", POINTS, "--source", "poster", "--bonus", "-3"], "more than zero"),
        (["--campaign", POINTS, "--source", "poster", "--bonus", "lots"], "not a number"),
        (["--source", "poster", "--expires", "2001-01-01"], "already past"),
        (["--source", "poster", "--expires", "next week"], "expected a date"),
        (["--source", "poster", "--max-uses", "0"], "at least 1"),
    ],
)
async def test_create_refuses_what_could_not_work(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], complaint: str
) -> None:
    run = await links(capsys, "create", *argv)
    assert run.status == 2
    assert complaint in run.err
    assert not (workdir / "posters").exists()


async def test_a_disabled_link_gets_the_plain_welcome(
    workdir: Path, chat: BotUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    made = await links(capsys, "create", "--source", "email", "--no-poster", "--no-check")
    token = made.out.strip().rsplit("=", 1)[1]
    disabled = await links(capsys, "disable", token)
    assert disabled.status == 0 and "disabled" in disabled.out
    assert (await links(capsys, "disable", token[:-1] + "x")).status == 2

    user = chat.user(1002, first_name="Ann")
    [welcome] = await user.send(f"/start {token}")
    assert welcome.text.startswith(WELCOME)
    listed = json.loads((await links(capsys, "list", "--format", "json")).out)
    assert listed[0]["disabled"] is True
    stats = json.loads((await links(capsys, "stats", "--by", "source", "--format", "json")).out)
    assert stats[0] == {
        "source": "email",
        "opened": 1,
        "refused": 1,
        "members": 0,
        "signups": 0,
        "bonuses": 0,
    }


async def test_a_store_link_is_enough_for_a_kiosk(
    workdir: Path, chat: BotUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    made = await links(capsys, "create", "--source", "store:downtown", "--no-poster")
    token = made.out.strip().rsplit("=", 1)[1]
    store_link = await chat.dispatcher["signup_links"].store_link("downtown")
    assert store_link.token == token
    again = await links(capsys, "poster", token, "--caption", "Join at the till")
    assert decode((workdir / "posters" / f"{token}.png").read_bytes()) == [again.out.strip()]


async def test_the_configured_username_is_used(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_USERNAME", "@shop_rewards_bot")
    made = await links(capsys, "create", "--source", "email", "--no-poster", "--no-check")
    assert made.out.startswith("https://t.me/shop_rewards_bot?start=")


async def test_personal_links_for_a_member_file(
    workdir: Path,
    chat: BotUnderTest,
    ct_backend: ClientToolboxClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    anna = await ct_backend.enroll(
        NewMember(code="7200000000000001", first_name="Anna", phone="+12025550131")
    )
    boris = await ct_backend.enroll(
        NewMember(code="7200000000000002", first_name="Boris", email="boris@example.com")
    )
    clara = await ct_backend.enroll(
        NewMember(code="7200000000000003", first_name="Clara", phone="+12025550133")
    )
    (workdir / "members.csv").write_text(
        "Name;Card Number;E-mail;Phone;Member code\n"
        f"Anna;{anna.card_number};;;\n"
        "Boris;;Boris@Example.com;;\n"
        "Clara;;;(202) 555-0133;\n"
        f"Anna again;;;;{anna.code}\n"
        "Nobody;;nobody@example.com;;\n"
        "Typo;;;not a phone;\n"
        "Empty;;;;\n",
        encoding="utf-8",
    )

    run = await links(
        capsys,
        "personal",
        "--input",
        "members.csv",
        "--output",
        "out/links.csv",
        "--expires",
        (dt.date.today() + dt.timedelta(days=30)).isoformat(),
    )

    assert run.status == 1
    assert "3 personal links" in run.err and "3 rows match no member (lines 6, 7, 8)" in run.err
    rows = list(csv.DictReader(io.StringIO((workdir / "out" / "links.csv").read_text())))
    assert [row["Name"] for row in rows] == [
        "Anna",
        "Boris",
        "Clara",
        "Anna again",
        "Nobody",
        "Typo",
        "Empty",
    ]
    assert [row["member_code"] for row in rows] == [
        anna.code,
        boris.code,
        clara.code,
        anna.code,
        "",
        "",
        "",
    ]
    assert [row["status"] for row in rows] == [
        "ok",
        "ok",
        "ok",
        "same member as line 2",
        "no member with this email",
        "no member with this phone (not valid)",
        "no member: the row names no card, code, email or phone",
    ]
    assert rows[3]["link"] == rows[0]["link"]
    assert len({row["link"] for row in rows[:3]}) == 3

    # Boris taps his link: linked to Boris, with no code to type; the link is then spent.
    tapper = chat.user(1003, first_name="Boris")
    [card] = await tapper.send(f"/start {rows[1]['token']}")
    assert card.text.startswith("✅ You're in, Boris! We found your card:")
    linked = await MemberLinks(chat.db).get(1003)
    assert linked is not None and linked.member_code == boris.code
    [welcome] = await chat.user(1004, first_name="Eve").send(f"/start {rows[1]['token']}")
    assert welcome.text.startswith(WELCOME)
    assert await MemberLinks(chat.db).get(1004) is None


async def test_personal_refuses_a_file_with_no_member_column(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "members.csv").write_text("name,city\nAnna,Paris\n", encoding="utf-8")
    run = await links(capsys, "personal", "--input", "members.csv", "--output", "out.csv")
    assert run.status == 2
    assert "no column named card_number, code, email or phone" in run.err
    assert not (workdir / "out.csv").exists()
