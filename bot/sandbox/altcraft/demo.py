"""The sandbox's demo account. Token and program id are the ones of Altcraft's seed examples,
so the documented request examples work against the sandbox as they are."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

TOKEN = "abc123def456"
PROGRAM_ID = 123
PROGRAM_NAME = "Great Widgets Rewards"
DB_ID = 1
DB_NAME = "Customers"
CURRENCY_IID = 1
CURRENCY_EID = "points"
CURRENCY_NAME = "Points"

CODE_FIELD = "loyalty_code"
CARD_FIELD = "card_number"


@dataclass(frozen=True)
class DemoProfile:
    id: str
    fields: dict[str, object]
    member: bool = False
    movements: tuple[tuple[str, Decimal, str], ...] = field(default=())
    """``(accrual|redemption, points, description)`` applied in order."""


PROFILES: tuple[DemoProfile, ...] = (
    DemoProfile(
        id="5a61f87d69d42678a8dc6dd9",
        fields={
            "_fname": "Ann",
            "_lname": "Member",
            "email": "ann@example.com",
            "phones": ["+15555550101"],
            CODE_FIELD: "DEMO0001",
            CARD_FIELD: "400000000001",
        },
        member=True,
        movements=(
            ("accrual", Decimal("100.00"), "Signup bonus"),
            ("accrual", Decimal("50.00"), "Purchase"),
            ("redemption", Decimal("30.00"), "Free coffee"),
        ),
    ),
    DemoProfile(
        id="69df4fd5ff232800e2d1e2d6",
        fields={
            "_fname": "Bob",
            "_lname": "Already",
            "email": "user2@example.com",
            "phones": ["+15555550102"],
            CODE_FIELD: "DEMO0002",
            CARD_FIELD: "400000000002",
        },
        member=True,
        movements=(("accrual", Decimal("250.00"), "Welcome"),),
    ),
    DemoProfile(
        id="663a138cee44bb50a67115cd",
        fields={
            "_fname": "Cleo",
            "_lname": "Newsletter",
            "email": "user1@example.com",
            "phones": ["+15555550103"],
        },
    ),
)
"""Ann and Bob are members; Cleo's profile exists (a newsletter subscriber) but is not one.
``user1``/``user2`` answer the seed 004 batch example with codes 0 and 409."""
