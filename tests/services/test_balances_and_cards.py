"""The balances view model and the card picture."""

from __future__ import annotations

import io
from decimal import Decimal

import PIL.Image
import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.loyalty.models import (
    BuyXBalance,
    BuyXCount,
    CampaignKind,
    EventsBalance,
    GiftcardBalance,
    Money,
    PointsBalance,
    Reward,
)
from bot.services.balances import balance_lines, progress_bar
from bot.services.cards import group_card_number, render_card

COFFEE = Reward(id="97", campaign_id="p", description="Free coffee", cost=Decimal(300))
WIDGET = Reward(id="98", campaign_id="p", description="Free widget", cost=Decimal(500))


@pytest.mark.parametrize(
    ("current", "target", "bar"),
    [
        (0, 500, "░░░░░░░░░░"),
        (450, 500, "▓▓▓▓▓▓▓▓▓░"),
        (7, 10, "▓▓▓▓▓▓▓░░░"),
        (500, 500, "▓▓▓▓▓▓▓▓▓▓"),
        (900, 500, "▓▓▓▓▓▓▓▓▓▓"),
        (-5, 10, "░░░░░░░░░░"),
        (3, 0, "▓▓▓▓▓▓▓▓▓▓"),
    ],
)
def test_progress_bar(current: int, target: int, bar: str) -> None:
    assert progress_bar(current, target) == bar


def test_each_kind_keeps_its_unit() -> None:
    points, gift, visits, coffee = balance_lines(
        [
            PointsBalance(
                campaign_id="p",
                campaign_name="Widget Rewards",
                points=Decimal(450),
                money_value=Money(amount=Decimal("4.50"), currency="USD", glyph="$"),
                available_rewards=(COFFEE,),
                next_reward=WIDGET,
            ),
            GiftcardBalance(
                campaign_id="g",
                campaign_name="Gift card",
                money=Money(amount=Decimal("48.75"), currency="USD", glyph="$"),
            ),
            EventsBalance(campaign_id="e", campaign_name="Frequent shopper", events=7),
            BuyXBalance(
                campaign_id="b",
                campaign_name="Coffee club",
                items=(
                    BuyXCount(item="Coffees", current=6, buy_amount=10),
                    BuyXCount(item="Cakes", current=2, buy_amount=5),
                ),
            ),
        ]
    )
    assert points.kind is CampaignKind.POINTS and points.amount == 450
    assert points.money is not None and points.money.amount == Decimal("4.50")
    assert points.available == (COFFEE,)
    assert points.progress is not None
    assert (points.progress.current, points.progress.target) == (450, 500)
    assert points.progress.reward == "Free widget" and points.progress.bar == "▓▓▓▓▓▓▓▓▓░"
    assert gift.amount == Decimal("48.75") and gift.progress is None
    assert visits.amount == 7 and visits.progress is None
    assert [(i.item, i.current, i.buy_amount) for i in coffee.items] == [
        ("Coffees", 6, 10),
        ("Cakes", 2, 5),
    ]
    assert coffee.amount == 8


def test_card_numbers_are_grouped_in_fours() -> None:
    assert group_card_number("482100931174") == "4821 0093 1174"
    assert group_card_number("12121") == "1212 1"
    assert group_card_number("4821 0093 1174") == "4821 0093 1174"


def decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(PIL.Image.open(io.BytesIO(png)))]


def test_the_card_qr_encodes_exactly_the_card_number() -> None:
    png = render_card("Great Widgets Rewards", "482100931174", "Jane")
    image = PIL.Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width == 720
    assert decode(png) == ["482100931174"]


@settings(max_examples=15, deadline=None)
@given(
    st.text("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ-", min_size=4, max_size=32),
    st.text(max_size=40),
    st.text(max_size=20),
)
def test_any_card_renders_and_scans_back(card: str, program: str, name: str) -> None:
    assert decode(render_card(program, card, name)) == [card]
