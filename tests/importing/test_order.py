"""A transaction history with redemptions, imported at the default concurrency: each member's rows
reach the platform in file order, so no good redemption is refused and every balance matches."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from bot.importing.cli import DEFAULT_CONCURRENCY
from bot.importing.mapping import ImportKind
from bot.importing.sending import BackendMembers, BackendTransactions
from bot.importing.validation import ImportRow
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import ImportResult, TransactionImportRow
from tests.importing.conftest import ImportRun
from tests.importing.history import CAMPAIGNS, History, card_of, held, members_file

ROWS = 20_000
CARDS = 2_000


class Arrivals:
    """Delegates to a sender and notes, per card, the file lines in the order they were sent."""

    def __init__(self, sender: BackendTransactions) -> None:
        self._sender = sender
        self.limits = sender.limits
        self.row_size = sender.row_size
        self.several_requests = True
        self.lines: dict[str, list[int]] = {}
        self.in_flight = 0
        self.most_in_flight = 0

    async def send(self, rows: Sequence[ImportRow]) -> list[ImportResult]:
        for row in rows:
            assert isinstance(row, TransactionImportRow)
            self.lines.setdefault(row.member, []).append(row.line)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._sender.send(rows)
        finally:
            self.in_flight -= 1


@pytest.mark.slow
async def test_a_history_with_redemptions_keeps_every_members_order_at_default_concurrency(
    ct_client: ClientToolboxClient, run_import: ImportRun, tmp_path: Path
) -> None:
    members = members_file(tmp_path / "members.csv", CARDS)
    joined = await run_import(
        ImportKind.MEMBERS,
        members,
        BackendMembers(ct_client, list(CAMPAIGNS), generate_cards=0),
        concurrency=DEFAULT_CONCURRENCY,
    )
    history = History(ROWS, CARDS, seed=12)
    path = history.write(tmp_path / "history.csv")
    campaigns = {campaign.id: campaign.kind for campaign in await ct_client.campaigns()}
    sender = Arrivals(BackendTransactions(ct_client))

    summary = await run_import(
        ImportKind.TRANSACTIONS,
        path,
        sender,
        campaigns=campaigns,
        concurrency=DEFAULT_CONCURRENCY,
    )

    assert dict(joined.counts) == {"created": CARDS}
    assert history.redemptions > ROWS // 5
    assert dict(summary.counts) == {"created": ROWS}
    assert sender.most_in_flight == DEFAULT_CONCURRENCY
    for card, lines in sender.lines.items():
        assert lines == sorted(lines), card
    semaphore = asyncio.Semaphore(8)

    async def holdings(number: int) -> tuple[str, dict[str, Decimal]]:
        async with semaphore:
            member = await ct_client.find_member_by_card(card_of(number))
            assert member is not None
            return card_of(number), held(await ct_client.balances(member.code))

    found = dict(await asyncio.gather(*(holdings(number) for number in range(CARDS))))
    wrong = [
        (card, campaign, net, found[card].get(campaign, Decimal(0)))
        for (card, campaign), net in history.nets.items()
        if found[card].get(campaign, Decimal(0)) != net
    ]
    assert wrong == []
