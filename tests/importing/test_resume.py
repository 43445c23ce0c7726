"""Interrupted imports (platform down, connection dropped, Ctrl-C, a crash) resume exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.importing.chunking import ChunkLimits
from bot.importing.csv_source import SourceIdentity
from bot.importing.mapping import ImportKind, guess_mapping
from bot.importing.reconcile import MemberLookup, TransactionCount
from bot.importing.runner import IN_DOUBT, ChunkOutcome, checkpoint_key
from bot.importing.sending import BackendMembers, BackendTransactions, ChunkSender
from bot.importing.validation import ImportRow
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.errors import ProtocolError
from bot.loyalty.models import ImportResult, PointsBalance
from bot.sandbox.clienttoolbox import demo
from bot.storage.imports import ImportCheckpoints
from tests.importing.conftest import ImportRun
from tests.importing.exports import MEMBER_HEADER, read_report, write_csv, write_members

DOMAIN = "resume.example.com"


class FaultAfter:
    """Delegates to a sender; just before its ``n``-th request, sets a sandbox fault over HTTP."""

    def __init__(self, sender: ChunkSender, base_url: str, n: int, fault: dict[str, Any]) -> None:
        self._sender = sender
        self._url = f"{base_url}/_sandbox/faults"
        self._n = n
        self._fault = fault
        self.limits: ChunkLimits = sender.limits
        self.row_size: Callable[[ImportRow], int] | None = sender.row_size
        self.sends = 0

    async def send(self, rows: Sequence[ImportRow]) -> list[ImportResult]:
        self.sends += 1
        if self.sends == self._n:
            async with httpx.AsyncClient() as http:
                (await http.post(self._url, json=self._fault)).raise_for_status()
        return await self._sender.send(rows)


async def clear_faults(base_url: str) -> None:
    async with httpx.AsyncClient() as http:
        (await http.delete(f"{base_url}/_sandbox/faults")).raise_for_status()


async def members_on_sandbox(client: ClientToolboxClient) -> list[str]:
    return [profile.code for profile in await client.customer_search(email=f"@{DOMAIN}")]


def members_sender(client: ClientToolboxClient) -> BackendMembers:
    return BackendMembers(client, [demo.POINTS_CAMPAIGN], generate_cards=12)


@pytest.mark.parametrize("fault", [{"error_status": 503}, {"drop": True}], ids=["503", "drop"])
async def test_an_import_stopped_by_the_platform_resumes_exactly_once(
    ct_client: ClientToolboxClient,
    ct_url: str,
    run_import: ImportRun,
    checkpoints: ImportCheckpoints,
    tmp_path: Path,
    fault: dict[str, Any],
) -> None:
    path = write_members(tmp_path / "members.csv", 1_500, domain=DOMAIN)
    flaky = FaultAfter(members_sender(ct_client), ct_url, n=10, fault=fault)

    first = await run_import(ImportKind.MEMBERS, path, flaky, chunk_size=50, concurrency=3)
    sent_first = {o.chunk.first_record for o in run_import.outcomes if o.sent}
    await clear_faults(ct_url)
    imported_first = await members_on_sandbox(ct_client)
    run_import.outcomes.clear()
    second = await run_import(
        ImportKind.MEMBERS, path, members_sender(ct_client), chunk_size=50, concurrency=3
    )
    sent_second = {o.chunk.first_record for o in run_import.outcomes if o.sent}

    assert "unavailable" in first.stopped
    assert 9 * 50 <= len(imported_first) < 1_500
    assert first.counts["created"] == len(imported_first)
    assert not second.stopped
    assert sent_first.isdisjoint(sent_second)
    assert second.resumed_records == len(imported_first)
    assert dict(second.counts) == {"created": 1_500}
    report = read_report(tmp_path / "members.report.csv")
    assert [int(row["line"]) for row in report] == list(range(2, 1_502))
    on_sandbox = await members_on_sandbox(ct_client)
    assert len(on_sandbox) == 1_500 == len(set(on_sandbox))


async def test_a_cancelled_import_finishes_what_is_in_flight_and_resumes(
    ct_client: ClientToolboxClient,
    run_import: ImportRun,
    checkpoints: ImportCheckpoints,
    tmp_path: Path,
) -> None:
    path = write_members(tmp_path / "members.csv", 1_000, domain=DOMAIN)
    task: asyncio.Task[Any] | None = None

    def cancel_after_five(outcome: ChunkOutcome) -> None:
        if len(run_import.outcomes) == 5 and task is not None:
            task.cancel()

    task = asyncio.create_task(
        run_import(
            ImportKind.MEMBERS,
            path,
            members_sender(ct_client),
            chunk_size=50,
            concurrency=3,
            on_settled=cancel_after_five,
        )
    )
    with pytest.raises(asyncio.CancelledError):
        await task
    imported_first = await members_on_sandbox(ct_client)
    record = await only_import(checkpoints)
    ranges = await checkpoints.ranges(record)
    second = await run_import(
        ImportKind.MEMBERS, path, members_sender(ct_client), chunk_size=50, concurrency=3
    )

    assert 250 <= len(imported_first) < 1_000
    assert all(item.state == "done" for item in ranges)
    assert sum(item.end_record - item.first_record for item in ranges) == len(imported_first)
    assert second.resumed_records == len(imported_first)
    assert dict(second.counts) == {"created": 1_000}
    assert len(await members_on_sandbox(ct_client)) == 1_000


async def only_import(checkpoints: ImportCheckpoints) -> int:
    rows = await checkpoints._database.fetch_all("SELECT id FROM imports")
    assert len(rows) == 1
    return int(rows[0]["id"])


async def test_transactions_resumed_after_an_outage_move_each_balance_once(
    ct_client: ClientToolboxClient, ct_url: str, run_import: ImportRun, tmp_path: Path
) -> None:
    members = [f"T{number}" for number in range(10)]
    listed = write_csv(tmp_path / "members.csv", ["Code"], [[member] for member in members])
    await run_import(ImportKind.MEMBERS, listed, members_sender(ct_client))
    rows = [[member, "1", f"visit {n}"] for n in range(100) for member in members]
    path = write_csv(tmp_path / "sales.csv", ["Card", "Amount", "Description"], rows)
    campaigns = {campaign.id: campaign.kind for campaign in await ct_client.campaigns()}
    flaky = FaultAfter(BackendTransactions(ct_client), ct_url, n=8, fault={"error_status": 503})
    options: dict[str, Any] = {
        "chunk_size": 50,
        "concurrency": 3,
        "campaigns": campaigns,
        "default_campaign": demo.POINTS_CAMPAIGN,
    }

    first = await run_import(ImportKind.TRANSACTIONS, path, flaky, **options)
    await clear_faults(ct_url)
    second = await run_import(
        ImportKind.TRANSACTIONS,
        path,
        BackendTransactions(ct_client),
        reconciler=TransactionCount(ct_client),
        **options,
    )

    assert first.stopped and 0 < first.counts["created"] < 1_000
    assert dict(second.counts) == {"created": 1_000}
    for member in members:
        (points,) = await ct_client.balances(member)
        assert isinstance(points, PointsBalance)
        assert points.points == Decimal(100), member


async def test_a_chunk_cut_off_by_a_crash_is_in_doubt_until_resent_on_request(
    ct_client: ClientToolboxClient,
    run_import: ImportRun,
    checkpoints: ImportCheckpoints,
    tmp_path: Path,
) -> None:
    path = write_members(tmp_path / "members.csv", 300, domain=DOMAIN)
    mapping = guess_mapping(ImportKind.MEMBERS, list(MEMBER_HEADER))
    key = checkpoint_key(SourceIdentity.of(path), ImportKind.MEMBERS, mapping, "test")
    record, _ = await checkpoints.start(key, kind="members", source=str(path), options="{}")
    # What a process killed while the request for records 100..199 was on its way leaves.
    await checkpoints.begin_chunk(record.id, 100, 200)

    # Smaller chunks than the cut-off one: each piece of it stays in doubt.
    cautious = await run_import(ImportKind.MEMBERS, path, members_sender(ct_client), chunk_size=30)
    doubtful = [item for item in await checkpoints.ranges(record.id) if item.state == "doubt"]
    report = read_report(tmp_path / "members.report.csv")
    after_cautious = await members_on_sandbox(ct_client)
    resent = await run_import(
        ImportKind.MEMBERS,
        path,
        members_sender(ct_client),
        chunk_size=100,
        resend_in_doubt=True,
        reconciler=MemberLookup(ct_client),
    )

    assert dict(cautious.counts) == {"created": 200, "failed": 100}
    assert sum(item.end_record - item.first_record for item in doubtful) == 100
    assert {row["message"] for row in report[100:200]} == {IN_DOUBT}
    assert "M0000099" in after_cautious and "M0000100" not in after_cautious
    assert len(after_cautious) == 200
    assert dict(resent.counts) == {"created": 300}
    assert len(await members_on_sandbox(ct_client)) == 300


class SlowFirstChunk:
    """Holds the first chunk's request until the third one has been answered."""

    def __init__(self, sender: ChunkSender) -> None:
        self._sender = sender
        self.limits = sender.limits
        self.row_size = sender.row_size
        self._third_done = asyncio.Event()
        self._calls = 0
        self.answered: list[int] = []

    async def send(self, rows: Sequence[ImportRow]) -> list[ImportResult]:
        self._calls += 1
        call = self._calls
        if call == 1:
            await asyncio.wait_for(self._third_done.wait(), timeout=10)
        results = await self._sender.send(rows)
        self.answered.append(call)
        if call == 3:
            self._third_done.set()
        return results


async def test_chunks_answered_out_of_order_are_confirmed_and_reported_in_order(
    ct_client: ClientToolboxClient,
    run_import: ImportRun,
    checkpoints: ImportCheckpoints,
    tmp_path: Path,
) -> None:
    path = write_members(tmp_path / "members.csv", 500, domain=DOMAIN)
    sender = SlowFirstChunk(members_sender(ct_client))

    summary = await run_import(ImportKind.MEMBERS, path, sender, chunk_size=100, concurrency=3)

    assert sorted(sender.answered) == [1, 2, 3, 4, 5]
    assert sender.answered.index(1) > sender.answered.index(3)
    assert [outcome.chunk.number for outcome in run_import.outcomes] == [0, 1, 2, 3, 4]
    assert dict(summary.counts) == {"created": 500}
    lines = [int(row["line"]) for row in read_report(tmp_path / "members.report.csv")]
    assert lines == list(range(2, 502))
    record = await checkpoints.get(
        checkpoint_key(
            SourceIdentity.of(path),
            ImportKind.MEMBERS,
            guess_mapping(ImportKind.MEMBERS, list(MEMBER_HEADER)),
            "test",
        )
    )
    assert record is not None
    assert record.confirmed_records == 500 and record.total_records == 500


async def test_a_batch_whose_answer_was_lost_is_looked_up_not_sent_again(
    ct_client: ClientToolboxClient, ct_url: str, run_import: ImportRun, tmp_path: Path
) -> None:
    # Rows without a card number: sent twice, the platform would give each a second card.
    rows = [[f"Lost{n}", f"lost{n}@{DOMAIN}"] for n in range(300)]
    path = write_csv(tmp_path / "members.csv", ["First name", "E-mail"], rows)
    fault = {"lost_answer": True, "count": 1}
    flaky = FaultAfter(members_sender(ct_client), ct_url, n=3, fault=fault)
    options: dict[str, Any] = {"chunk_size": 50, "concurrency": 1}

    first = await run_import(
        ImportKind.MEMBERS, path, flaky, reconciler=MemberLookup(ct_client), **options
    )
    after_first = await members_on_sandbox(ct_client)
    second = await run_import(
        ImportKind.MEMBERS,
        path,
        members_sender(ct_client),
        reconciler=MemberLookup(ct_client),
        **options,
    )

    assert "unavailable" in first.stopped
    assert len(after_first) == 150 and first.counts["created"] == 100
    assert dict(second.counts) == {"created": 250, "skipped": 50}
    report = read_report(tmp_path / "members.report.csv")
    assert {row["outcome"] for row in report[100:150]} == {"skipped"}
    assert all("found on the platform by email" in row["message"] for row in report[100:150])
    profiles = await ct_client.customer_search(email=f"@{DOMAIN}")
    assert sorted(profile.email for profile in profiles) == sorted(row[1] for row in rows)


class UnreadableSecondAnswer:
    """Delegates to a sender; the second request lands but its answer cannot be read."""

    def __init__(self, sender: ChunkSender) -> None:
        self._sender = sender
        self.limits = sender.limits
        self.row_size = sender.row_size
        self.calls = 0

    async def send(self, rows: Sequence[ImportRow]) -> list[ImportResult]:
        self.calls += 1
        results = await self._sender.send(rows)
        if self.calls == 2:
            raise ProtocolError("customers_batch: the answer is not JSON")
        return results


async def test_rows_whose_answer_was_unreadable_are_looked_up_with_resend_in_doubt(
    ct_client: ClientToolboxClient, run_import: ImportRun, tmp_path: Path
) -> None:
    rows = [[f"Unread{n}", f"unread{n}@{DOMAIN}"] for n in range(90)]
    path = write_csv(tmp_path / "members.csv", ["First name", "E-mail"], rows)
    options: dict[str, Any] = {"chunk_size": 30, "concurrency": 1}
    sender = UnreadableSecondAnswer(members_sender(ct_client))

    first = await run_import(
        ImportKind.MEMBERS, path, sender, reconciler=MemberLookup(ct_client), **options
    )
    first_report = read_report(tmp_path / "members.report.csv")
    again = await run_import(
        ImportKind.MEMBERS,
        path,
        members_sender(ct_client),
        reconciler=MemberLookup(ct_client),
        resend_in_doubt=True,
        **options,
    )

    assert dict(first.counts) == {"created": 60, "failed": 30}
    assert all("--resend-in-doubt" in row["message"] for row in first_report[30:60])
    assert dict(again.counts) == {"created": 60, "skipped": 30}
    profiles = await ct_client.customer_search(email=f"@{DOMAIN}")
    assert sorted(profile.email for profile in profiles) == sorted(row[1] for row in rows)
