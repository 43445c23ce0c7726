"""Rows in doubt after a crash are looked up on the platform: found ones are not sent again,
missing ones are, and rows that cannot be told apart from other transactions stay in doubt."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from bot.importing.csv_source import SourceIdentity
from bot.importing.mapping import ImportKind, guess_mapping
from bot.importing.reconcile import MemberLookup, TransactionCount, TransactionEids
from bot.importing.runner import checkpoint_key
from bot.importing.sending import BackendMembers, BackendTransactions
from bot.loyalty.altcraft import AltcraftClient
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import (
    DuplicatePolicy,
    MemberImportRow,
    PointsBalance,
    TransactionImportRow,
)
from bot.sandbox.clienttoolbox import demo
from bot.storage.imports import ImportCheckpoints
from tests.importing.conftest import ImportRun
from tests.importing.exports import read_report, write_csv

HEADER = ["Card", "Amount", "Date", "Description"]
ROWS = [
    ["R1", "10", "2024-01-02", "r1"],
    ["R1", "10", "2024-01-02", "r1"],
    ["R1", "5", "2024-01-03", "r2"],
    ["R1", "7", "2024-01-04", "r3"],
    ["R1", "3", "2024-01-05", "r4"],
]


def row(line: int, amount: str, day: str, description: str) -> TransactionImportRow:
    return TransactionImportRow(
        line=line,
        campaign_id=demo.POINTS_CAMPAIGN,
        member="R1",
        amount=Decimal(amount),
        date=dt.date.fromisoformat(day),
        description=description,
    )


async def cut_off(checkpoints: ImportCheckpoints, path: Path, end: int) -> int:
    """What a process killed while the request for records 0..end was on its way leaves."""
    mapping = guess_mapping(ImportKind.TRANSACTIONS, HEADER)
    key = checkpoint_key(SourceIdentity.of(path), ImportKind.TRANSACTIONS, mapping, "test")
    record, _ = await checkpoints.start(key, kind="transactions", source=str(path), options="{}")
    await checkpoints.begin_chunk(record.id, 0, end)
    return record.id


async def history(client: ClientToolboxClient) -> list[tuple[Decimal, str]]:
    found = await client.campaign_history("R1", demo.POINTS_CAMPAIGN)
    assert found is not None
    return sorted((tx.amount, tx.description) for tx in found if tx.description.startswith("r"))


async def test_client_toolbox_rows_in_doubt_are_counted_in_the_members_history(
    ct_client: ClientToolboxClient,
    run_import: ImportRun,
    checkpoints: ImportCheckpoints,
    tmp_path: Path,
) -> None:
    members = write_csv(tmp_path / "members.csv", ["Card"], [["R1"]])
    await run_import(
        ImportKind.MEMBERS, members, BackendMembers(ct_client, [demo.POINTS_CAMPAIGN])
    )
    path = write_csv(tmp_path / "sales.csv", HEADER, ROWS)
    campaigns = {campaign.id: campaign.kind for campaign in await ct_client.campaigns()}
    sender = BackendTransactions(ct_client)
    # The cut-off request had landed for lines 2 and 4; two transactions like line 5 are on the
    # platform from elsewhere (not this file).
    landed = [row(2, "10", "2024-01-02", "r1"), row(4, "5", "2024-01-03", "r2")]
    foreign = [row(90, "7", "2024-01-04", "r3"), row(91, "7", "2024-01-04", "r3")]
    await sender.send([*landed, *foreign])
    import_id = await cut_off(checkpoints, path, len(ROWS))
    options = {"campaigns": campaigns, "default_campaign": demo.POINTS_CAMPAIGN}

    first = await run_import(
        ImportKind.TRANSACTIONS, path, sender, reconciler=TransactionCount(ct_client), **options
    )
    report = read_report(tmp_path / "sales.report.csv")
    after_first = await history(ct_client)
    ranges = await checkpoints.ranges(import_id)
    again = await run_import(
        ImportKind.TRANSACTIONS,
        path,
        sender,
        reconciler=TransactionCount(ct_client),
        resend_in_doubt=True,
        **options,
    )

    assert [(line["line"], line["outcome"]) for line in report] == [
        ("2", "created"),
        ("3", "created"),
        ("4", "created"),
        ("5", "failed"),
        ("6", "created"),
    ]
    assert "found on the platform" in report[0]["message"]
    assert report[1]["message"] == "" and "found on the platform" in report[2]["message"]
    assert "in doubt" in report[3]["message"] and "holds 2 transaction(s)" in report[3]["message"]
    assert after_first == [
        (Decimal(3), "r4"),
        (Decimal(5), "r2"),
        (Decimal(7), "r3"),
        (Decimal(7), "r3"),
        (Decimal(10), "r1"),
        (Decimal(10), "r1"),
    ]
    assert [item.state for item in ranges] == ["doubt"]
    assert dict(first.counts) == {"created": 4, "failed": 1}
    assert again.counts["failed"] == 1
    assert await history(ct_client) == after_first


async def test_altcraft_rows_in_doubt_are_found_by_their_external_id(
    altcraft_client: AltcraftClient,
    run_import: ImportRun,
    checkpoints: ImportCheckpoints,
    tmp_path: Path,
) -> None:
    (program,) = await altcraft_client.campaigns()
    members = write_csv(
        tmp_path / "members.csv", ["Card", "E-mail"], [["R1", "r1@ac.example.com"]]
    )
    await run_import(
        ImportKind.MEMBERS, members, BackendMembers(altcraft_client, []), platform="altcraft"
    )
    path = write_csv(tmp_path / "sales.csv", HEADER, ROWS)
    sender = BackendTransactions(altcraft_client)
    landed = row(3, "10", "2024-01-02", "r1").model_copy(update={"campaign_id": program.id})
    await sender.send([landed])
    await cut_off(checkpoints, path, len(ROWS))

    summary = await run_import(
        ImportKind.TRANSACTIONS,
        path,
        sender,
        platform="altcraft",
        campaigns={program.id: program.kind},
        default_campaign=program.id,
        reconciler=TransactionEids(altcraft_client),
    )

    report = read_report(tmp_path / "sales.report.csv")
    assert dict(summary.counts) == {"created": 5}
    assert "by its external id" in report[1]["message"]
    assert all("external id" not in line["message"] for i, line in enumerate(report) if i != 1)
    member = await altcraft_client.find_member_by_card("R1")
    assert member is not None
    (balance,) = await altcraft_client.balances(member.code)
    assert isinstance(balance, PointsBalance) and balance.points == Decimal(35)


async def test_members_in_doubt_found_by_code_are_sent_again_to_update_them(
    ct_client: ClientToolboxClient,
    run_import: ImportRun,
    checkpoints: ImportCheckpoints,
    tmp_path: Path,
) -> None:
    header = ["Customer ID", "First name", "E-mail"]
    old = write_csv(tmp_path / "old.csv", header, [["U1", "Old", "u1@rec.example.com"]])
    await run_import(ImportKind.MEMBERS, old, BackendMembers(ct_client, [demo.POINTS_CAMPAIGN]))
    rows = [["U1", "New", "u1@rec.example.com"], ["", "Mail only", "u2@rec.example.com"]]
    path = write_csv(tmp_path / "members.csv", header, rows)
    # What a process killed while the request for both rows was on its way leaves: the row
    # without a code landed, the other did not.
    await BackendMembers(ct_client, [demo.POINTS_CAMPAIGN]).send(
        [MemberImportRow(line=3, first_name="Mail only", email="u2@rec.example.com")]
    )
    mapping = guess_mapping(ImportKind.MEMBERS, header)
    key = checkpoint_key(SourceIdentity.of(path), ImportKind.MEMBERS, mapping, "test")
    record, _ = await checkpoints.start(key, kind="members", source=str(path), options="{}")
    await checkpoints.begin_chunk(record.id, 0, 2)
    sender = BackendMembers(ct_client, [demo.POINTS_CAMPAIGN], on_duplicate=DuplicatePolicy.UPDATE)

    summary = await run_import(
        ImportKind.MEMBERS, path, sender, reconciler=MemberLookup(ct_client, updates=True)
    )

    assert dict(summary.counts) == {"updated": 1, "skipped": 1}
    u1 = await ct_client.get_member("U1")
    assert u1 is not None and u1.first_name == "New"
    mail_only = await ct_client.customer_search(email="u2@rec.example.com")
    assert len(mail_only) == 1
