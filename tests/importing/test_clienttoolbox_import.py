"""Imports into the Client Toolbox sandbox over loopback HTTP, checked through the client."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from bot.importing.mapping import ImportKind
from bot.importing.sending import BackendMembers, BackendTransactions
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import (
    BuyXBalance,
    CampaignKind,
    DuplicatePolicy,
    EarnedBalance,
    EventsBalance,
    GiftcardBalance,
    PointsBalance,
)
from bot.sandbox.clienttoolbox import demo
from tests.importing.conftest import ImportRun
from tests.importing.exports import read_report, report_summary, write_csv

BAD_ROWS_HEADER = [
    "Customer ID",
    "Card",
    "First name",
    "Last name",
    "E-mail",
    "Phone number",
    "DOB",
    "Bonus",
    "Notes",
]
BAD_ROWS = (
    "Customer ID,Card,First name,Last name,E-mail,Phone number,DOB,Bonus,Notes\n"
    "G1,,Ann,Good,ann.good@example.com,(212) 555-0101,1970-07-14,25,vip\n"
    ",,Nobody,Atall,,,,,\n"
    "B1,,Bob,Mail,bob@,,,,\n"
    "B2,,Cy,Phone,,555-5555,,,\n"
    "B3,,Di,Ambiguous,,,04/03/2010,,\n"
    "B4,,Ed,Future,,,2099-01-01,,\n"
    "B5,,Flo,Short year,,,04-06-05,,\n"
    'B6,,Gil,Thousands,,,,"1,234.50",\n'
    "B7,,Hal,Negative,,,,-5,\n"
    "B8,,Ida,Shifted,ida@example.com,,,,note,surplus\n"
    'B9,,"Jo\nLine",Break,jo@example.com,,,,\n'
    "\n"
    "G2,,Kim,Good,kim.good@example.com,+44 20 7946 0958,14.07.1970,10,\n"
    f"B10,{demo.JOHN_CARD},Lou,Card taken,lou@example.com,,,,\n"
    'B11,,Max,Half point,max@example.com,,,"2,5",\n'
    "G1,,Ann,Again,ann.again@example.com,,,,\n"
)
EXPECTED = {
    2: ("created", "G1", ""),
    3: ("invalid", "", "needs at least one of code, card_number, phone or email"),
    4: ("invalid", "B1", "email: 'bob@' is not a valid email"),
    5: ("invalid", "B2", "phone: '555-5555' is not a valid phone number"),
    6: ("invalid", "B3", "birthday: '04/03/2010' is ambiguous"),
    7: ("invalid", "B4", "birthday: '2099-01-01' is out of range"),
    8: ("invalid", "B5", "the year '05' must have four digits"),
    9: ("invalid", "B6", "signup_bonus: '1,234.50' is not an amount"),
    10: ("invalid", "B7", "signup_bonus: '-5' is negative"),
    11: ("invalid", "", "has 10 values for 9 columns"),
    12: ("invalid", "B9", "first_name: holds a line break"),
    15: ("created", "G2", ""),
    16: ("already a member", "B10", "card_number 11112222 is already used"),
    17: ("failed", "B11", ""),
    18: ("invalid", "G1", "code: G1 is already on line 2 of this file"),
}


async def test_a_file_with_every_kind_of_bad_row(
    ct_client: ClientToolboxClient, run_import: ImportRun, tmp_path: Path
) -> None:
    path = tmp_path / "members.csv"
    path.write_text(BAD_ROWS, encoding="utf-8", newline="")
    sender = BackendMembers(ct_client, [demo.POINTS_CAMPAIGN], generate_cards=12)

    summary = await run_import(ImportKind.MEMBERS, path, sender)

    report = {int(row["line"]): row for row in read_report(tmp_path / "members.report.csv")}
    assert sorted(report) == sorted(EXPECTED)
    for line, (outcome, code, message) in EXPECTED.items():
        assert report[line]["outcome"] == outcome, (line, report[line])
        assert report[line]["member_code"] == code, (line, report[line])
        assert message in report[line]["message"], (line, report[line])
    assert "whole number" in report[17]["message"]
    assert dict(summary.counts) == {
        "created": 2,
        "invalid": 11,
        "already a member": 1,
        "failed": 1,
    }
    assert summary.unknown_columns == ("Notes",)
    lines = report_summary(tmp_path / "members.report.csv")
    assert "unknown columns (not imported): 'Notes'" in lines
    assert "  invalid: 11" in lines

    ann = await ct_client.get_member("G1")
    assert ann is not None
    assert (ann.first_name, ann.last_name) == ("Ann", "Good")
    assert (ann.email, ann.phone) == ("ann.good@example.com", "+12125550101")
    assert ann.birthday == dt.date(1970, 7, 14)
    assert len(ann.card_number) == 12 and ann.card_number in report[2]["message"]
    (points,) = [b for b in await ct_client.balances("G1") if isinstance(b, PointsBalance)]
    assert points.points == Decimal(25)
    kim = await ct_client.get_member("G2")
    assert kim is not None and kim.phone == "+442079460958"
    for code in ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B9", "B10", "B11"):
        assert await ct_client.get_member(code) is None, code
    john = await ct_client.find_member_by_card(demo.JOHN_CARD)
    assert john is not None and john.code == demo.JOHN_CODE


SEED_000 = (
    "code|card_number|first_name|last_name|custom_date|phone\n"
    "11223344|11223344|jane|doe|1970-07-14|555-5555\n"
    "22334455|22334455|jim|mcdoe|1966-07-28|555-5556\n"
    "33445566|33445566|larry|smith|1980-02-05|555-5557\n"
)


async def test_seed_000_rows_are_refused_for_their_phones_then_imported_without_them(
    ct_client: ClientToolboxClient, run_import: ImportRun, tmp_path: Path
) -> None:
    path = tmp_path / "seed000.csv"
    path.write_text(SEED_000, encoding="utf-8")
    without_phone = tmp_path / "seed000-no-phone.csv"
    without_phone.write_text(
        "\n".join(line.rsplit("|", 1)[0] for line in SEED_000.splitlines()) + "\n",
        encoding="utf-8",
    )
    sender = BackendMembers(
        ct_client, [demo.POINTS_CAMPAIGN, demo.EVENTS_CAMPAIGN], on_duplicate="update"
    )

    refused = await run_import(ImportKind.MEMBERS, path, sender)
    imported = await run_import(ImportKind.MEMBERS, without_phone, sender)

    assert dict(refused.counts) == {"invalid": 3}
    assert "not a valid phone number" in read_report(tmp_path / "seed000.report.csv")[0]["message"]
    assert dict(imported.counts) == {"created": 3}
    larry = await ct_client.get_member("33445566")
    assert larry is not None
    assert (larry.card_number, larry.first_name, larry.birthday) == (
        "33445566",
        "larry",
        dt.date(1980, 2, 5),
    )
    kinds = {balance.kind for balance in await ct_client.balances("33445566")}
    assert kinds == {CampaignKind.POINTS, CampaignKind.EVENTS}


def seed_003_rows() -> list[list[str]]:
    """Seed 003's batch rows for Jane's card 12121, each in the demo campaign of its kind."""
    card = demo.JANE_CARD
    points, gift = demo.POINTS_CAMPAIGN, demo.GIFTCARD_CAMPAIGN
    buyx, events, earned = demo.BUYX_CAMPAIGN, demo.EVENTS_CAMPAIGN, demo.EARNED_CAMPAIGN
    return [
        [points, card, "N", "", "14,95", "2013-0315", "API test import 1"],
        [points, card, "N", "", "50", "2010-03-15", "API test import 2"],
        [points, card, "N", "", "34.67", "2010-03-15", "API test import 3"],
        [points, card, "N", "", "0,50", "2010-03-15", "API test import 4"],
        [points, card, "N", "", ".75", "2010-03-15", "API test import 5"],
        [points, card, "N", "", "2.00", "2010-03-15", "API test import 6"],
        [points, card, "Y", "", "1500", "2010-03-15", "API test redeem 1"],
        [gift, card, "N", "", "14,95", "2010-03-15", "API test import 1"],
        [gift, card, "N", "", "34.67", "2010-03-15", "API test import 2"],
        [gift, card, "Y", "", "49.62", "2010-03-15", "API test redeem 1"],
        [buyx, card, "N", "Coffees", "3", "2010-03-15", "API test import 1"],
        [buyx, card, "N", "Cakes", "1", "2010-03-15", "API test import 2"],
        [buyx, card, "Y", "Coffees", "1", "2010-03-15", "API test redeem 1"],
        [events, card, "N", "", "", "2010-03-15", "API add event"],
        [events, card, "N", "", "", "2010-03-15", "API add event"],
        [events, card, "Y", "", "2", "2010-03-15", "API redeem"],
        [earned, card, "N", "", "", "2010-03-15", "API add event"],
        [earned, card, "N", "", "", "2010-03-15", "API add event"],
        [earned, card, "Y", "", "46.95", "2010-03-15", "API redeem"],
        ["9999", card, "N", "", "5", "2010-03-15", "No such campaign"],
        [points, card, "Y", "", "999999", "2010-03-15", "More than the balance"],
    ]


async def test_seed_003_transactions_in_all_five_campaign_kinds(
    ct_client: ClientToolboxClient, run_import: ImportRun, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "seed003.csv",
        ["Campaign", "Card", "Redeemed", "Product", "Amount", "Date", "Description"],
        seed_003_rows(),
        delimiter="|",
    )
    campaigns = {campaign.id: campaign.kind for campaign in await ct_client.campaigns()}

    summary = await run_import(
        ImportKind.TRANSACTIONS, path, BackendTransactions(ct_client), campaigns=campaigns
    )

    outcomes = [row["outcome"] for row in read_report(tmp_path / "seed003.report.csv")]
    assert outcomes == [
        "invalid",
        "created",
        "invalid",
        "invalid",
        "invalid",
        *(["created"] * 14),
        "not found",
        "failed",
    ]
    assert dict(summary.counts) == {"created": 15, "invalid": 4, "not found": 1, "failed": 1}
    report = read_report(tmp_path / "seed003.report.csv")
    assert "whole points" in report[2]["message"]
    assert "not a date" in report[0]["message"]
    assert report[-1]["message"]
    balances = {
        balance.campaign_id: balance for balance in await ct_client.balances(demo.JANE_CODE)
    }
    points = balances[demo.POINTS_CAMPAIGN]
    gift = balances[demo.GIFTCARD_CAMPAIGN]
    buyx = balances[demo.BUYX_CAMPAIGN]
    events = balances[demo.EVENTS_CAMPAIGN]
    earned = balances[demo.EARNED_CAMPAIGN]
    assert isinstance(points, PointsBalance) and points.points == Decimal(2000 + 50 + 2 - 1500)
    assert isinstance(gift, GiftcardBalance) and gift.money.amount == Decimal("0.00")
    assert isinstance(buyx, BuyXBalance)
    assert {item.item: item.current for item in buyx.items} == {"Coffees": 2, "Cakes": 1}
    assert isinstance(events, EventsBalance) and events.events == 0
    assert isinstance(earned, EarnedBalance)
    assert earned.money.amount == Decimal("45.00") + Decimal("9.00") - Decimal("46.95")


@pytest.mark.parametrize(
    ("mode", "outcome", "first_name", "last_name"),
    [
        ("ignore", "skipped", "Ann", "Old"),
        ("update", "updated", "Anna", "Old"),
        ("overwrite", "updated", "Anna", ""),
    ],
)
async def test_duplicates_follow_the_chosen_mode(
    ct_client: ClientToolboxClient,
    run_import: ImportRun,
    tmp_path: Path,
    mode: str,
    outcome: str,
    first_name: str,
    last_name: str,
) -> None:
    header = ["Code", "First name", "Last name", "Email"]
    first = write_csv(tmp_path / "first.csv", header, [["D1", "Ann", "Old", "d1@example.com"]])
    second = write_csv(tmp_path / "second.csv", header, [["D1", "Anna", "", "d1@example.com"]])
    campaigns = [demo.POINTS_CAMPAIGN]

    await run_import(
        ImportKind.MEMBERS, first, BackendMembers(ct_client, campaigns, generate_cards=0)
    )
    summary = await run_import(
        ImportKind.MEMBERS,
        second,
        BackendMembers(ct_client, campaigns, on_duplicate=DuplicatePolicy(mode)),
    )

    assert dict(summary.counts) == {outcome: 1}
    member = await ct_client.get_member("D1")
    assert member is not None
    assert (member.first_name, member.last_name) == (first_name, last_name)


async def test_cards_are_generated_with_the_requested_length_or_not_at_all(
    ct_client: ClientToolboxClient, run_import: ImportRun, tmp_path: Path
) -> None:
    header = ["Code", "Email"]
    eight = write_csv(tmp_path / "eight.csv", header, [["E1", "e1@example.com"]])
    none = write_csv(tmp_path / "none.csv", header, [["E2", "e2@example.com"]])
    campaigns = [demo.POINTS_CAMPAIGN]

    await run_import(
        ImportKind.MEMBERS, eight, BackendMembers(ct_client, campaigns, generate_cards=8)
    )
    await run_import(
        ImportKind.MEMBERS, none, BackendMembers(ct_client, campaigns, generate_cards=0)
    )

    with_card, without_card = await ct_client.get_member("E1"), await ct_client.get_member("E2")
    assert with_card is not None and without_card is not None
    assert len(with_card.card_number) == 8 and with_card.card_number.isdigit()
    assert without_card.card_number == ""
    assert read_report(tmp_path / "eight.report.csv")[0]["message"] == (
        f"card {with_card.card_number}"
    )
