"""Generated transaction histories with redemptions: what a merchant exports from a till system,
with each member's redemptions covered by the earnings before them in the file."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

from bot.loyalty.models import (
    CampaignBalance,
    EventsBalance,
    GiftcardBalance,
    PointsBalance,
)
from bot.sandbox.clienttoolbox import demo
from tests.importing.exports import write_csv

HISTORY_HEADER = ("Card", "Campaign", "Redeemed", "Amount", "Date", "Description")
CAMPAIGNS = (demo.POINTS_CAMPAIGN, demo.GIFTCARD_CAMPAIGN, demo.EVENTS_CAMPAIGN)


def card_of(number: int) -> str:
    return f"70{number:08d}"


def members_file(path: Path, cards: int) -> Path:
    rows = ([card_of(n), f"Hist{n}", f"hist{n}@history.example.com"] for n in range(cards))
    return write_csv(path, ["Card", "First name", "E-mail"], rows)


class History:
    """``rows`` history rows over ``cards`` members, seeded; ``nets`` is what each card holds
    per campaign once every row is imported in file order (giftcard in dollars)."""

    def __init__(
        self, rows: int, cards: int, seed: int, campaigns: Sequence[str] = CAMPAIGNS
    ) -> None:
        self.rows = rows
        self.cards = cards
        self.seed = seed
        self.campaigns = tuple(campaigns)
        self.nets: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        self.redemptions = 0

    def _lines(self) -> Iterator[list[str]]:
        chance = random.Random(self.seed)
        for number in range(self.rows):
            card = card_of(chance.randrange(self.cards))
            campaign = chance.choice(self.campaigns)
            held = self.nets[(card, campaign)]
            day = f"2024-{1 + number * 12 // self.rows:02d}-{1 + number % 28:02d}"
            description = f"receipt {number}"
            if held > 0 and chance.random() < 0.4:
                if campaign == demo.GIFTCARD_CAMPAIGN:
                    amount = Decimal(chance.randint(1, int(held * 100))) / 100
                else:
                    amount = Decimal(chance.randint(1, int(held)))
                self.nets[(card, campaign)] -= amount
                self.redemptions += 1
                yield [
                    card,
                    campaign,
                    "Y",
                    f"{amount:.2f}" if _money(campaign) else str(amount),
                    day,
                    description,
                ]
                continue
            if campaign == demo.GIFTCARD_CAMPAIGN:
                amount = Decimal(chance.randint(100, 5_000)) / 100
            elif campaign == demo.EVENTS_CAMPAIGN:
                amount = Decimal(chance.randint(1, 3))
            else:
                amount = Decimal(chance.randint(1, 60))
            self.nets[(card, campaign)] += amount
            text = f"{amount:.2f}" if _money(campaign) else str(amount)
            yield [card, campaign, "", text, day, description]

    def write(self, path: Path) -> Path:
        return write_csv(path, HISTORY_HEADER, self._lines())


def _money(campaign: str) -> bool:
    return campaign == demo.GIFTCARD_CAMPAIGN


def held(balances: Sequence[CampaignBalance]) -> dict[str, Decimal]:
    """What a member holds per campaign, in the file's units (giftcard in dollars)."""
    found: dict[str, Decimal] = {}
    for balance in balances:
        if isinstance(balance, PointsBalance):
            found[balance.campaign_id] = balance.points
        elif isinstance(balance, GiftcardBalance):
            found[balance.campaign_id] = balance.money.amount
        elif isinstance(balance, EventsBalance):
            found[balance.campaign_id] = Decimal(balance.events)
    return found
