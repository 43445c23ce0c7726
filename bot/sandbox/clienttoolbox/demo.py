"""The demo account: "Great Widgets Rewards", with the ids the vendor's examples use.

Credentials, account and campaign ids come from the seed pages so that their example requests
work as written (see the package docstring for which ones cannot).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.sandbox.clienttoolbox.enrollment import ACTIVATION
from bot.sandbox.clienttoolbox.ledger import Account, Campaign, Ledger, Promo, Reward

ACCOUNT_ID = "greatwidgets"
ACCOUNT_NAME = "Great Widgets Rewards"
USER_ID = "john1970"
API_KEY = "1959caadac9b13dcb3"
AGENCY_ID = "acmemktg"
AGENCY_NAME = "ACME Marketing"
AGENCY_EMAIL = "server@acmemarketing.example"

POINTS_CAMPAIGN = "1111222233334444"
GIFTCARD_CAMPAIGN = "22223333444455555"
EVENTS_CAMPAIGN = "3333444455556666"
EARNED_CAMPAIGN = "4444555566667777"
BUYX_CAMPAIGN = "5555666677778888"
SIGNUP_CAMPAIGN = "1234567890123456"
"""Points campaign of seed 001's ``record_customer`` example."""
IMPORT_CAMPAIGN = "4638472975924871"
"""Points campaign of seed 003's ``batch_transactions`` PHP example."""

FREE_COFFEE_REWARD = "97"
FREE_WIDGET_REWARD = "98"
FIFTH_VISIT_REWARD = "41"
TENTH_VISIT_REWARD = "42"
GIFT_BOX_REWARD = "1500"
"""On ``IMPORT_CAMPAIGN``: the PHP batch example redeems ``1500`` with ``apply_ratio=yes``."""

COFFEES_ITEM = "96"
COFFEES_IDENTIFIER = "COFFEE"
CAKES_ITEM = "95"
CAKES_IDENTIFIER = "CAKE"

DOUBLE_POINTS_PROMO = "89"
WELCOME_PROMO = "123"
HAPPY_HOUR_PROMO = "345"
WEEKEND_PROMO = "354"

JOHN_CODE = "1234567890123456"
JOHN_CARD = "11112222"
JOHN_PASSWORD = "cheddar1970"
JOHN_PIN = "1970"
JANE_CODE = "6000000000012121"
JANE_CARD = "12121"
"""Jane's card is the ``12121`` of every seed batch row; she has no password (not registered)."""


@dataclass(frozen=True)
class DemoItem:
    id: str
    description: str
    reward_level: int
    identifier: str


def _points_campaign(campaign_id: str, name: str, created_stamp: str) -> Campaign:
    """The demo's points campaigns all earn 100 points a dollar, a point worth a cent."""
    return Campaign(
        campaign_id,
        name,
        "points",
        created_stamp=created_stamp,
        points_ratio=Decimal(100),
        reward_ratio=Decimal("0.01"),
    )


CAMPAIGNS = (
    _points_campaign(POINTS_CAMPAIGN, "Widget Rewards", "2024-01-02 09:00:00"),
    Campaign(GIFTCARD_CAMPAIGN, "Gift Card", "giftcard", created_stamp="2024-01-02 09:05:00"),
    Campaign(EVENTS_CAMPAIGN, "Frequent shopper", "events", created_stamp="2024-01-02 09:10:00"),
    Campaign(
        EARNED_CAMPAIGN,
        "GateKeeper Rewards",
        "earned",
        created_stamp="2024-01-02 09:15:00",
        earned_per_event_cents=450,
    ),
    Campaign(BUYX_CAMPAIGN, "Coffee club", "buyx", created_stamp="2024-01-02 09:20:00"),
    _points_campaign(SIGNUP_CAMPAIGN, "Welcome Points", "2024-03-01 09:00:00"),
    _points_campaign(IMPORT_CAMPAIGN, "Store Points (imports)", "2024-03-01 09:05:00"),
)

REWARDS = (
    Reward(int(FREE_COFFEE_REWARD), POINTS_CAMPAIGN, 300, "Free coffee", "SKU-COFFEE"),
    Reward(int(FREE_WIDGET_REWARD), POINTS_CAMPAIGN, 500, "Free widget", "SKU-WIDGET"),
    Reward(int(FIFTH_VISIT_REWARD), EVENTS_CAMPAIGN, 5, "10% off your next visit"),
    Reward(int(TENTH_VISIT_REWARD), EVENTS_CAMPAIGN, 10, "Free widget polish"),
    Reward(int(GIFT_BOX_REWARD), IMPORT_CAMPAIGN, 1500, "Widget gift box"),
)

ITEMS = (
    DemoItem(COFFEES_ITEM, "Coffees", 10, COFFEES_IDENTIFIER),
    DemoItem(CAKES_ITEM, "Cakes", 5, CAKES_IDENTIFIER),
)

PROMOS = (
    Promo(int(DOUBLE_POINTS_PROMO), POINTS_CAMPAIGN, "x", Decimal(2), "Double Points Tuesday"),
    Promo(int(WELCOME_PROMO), POINTS_CAMPAIGN, "+", Decimal(100), "Welcome bonus"),
    Promo(int(HAPPY_HOUR_PROMO), POINTS_CAMPAIGN, "x", Decimal("1.5"), "Happy hour"),
    Promo(int(WEEKEND_PROMO), POINTS_CAMPAIGN, "+", Decimal(250), "Weekend bonus"),
)

JOHN_PROFILE = {
    "first_name": "John",
    "last_name": "Smith",
    "phone": "555-5555",
    "email": "jsmith@workemail.com",
    "city": "Anytown",
    "country": "NZ",
    "custom_date": "1970-07-14",
    "custom_field": "He likes cheese",
    "customer_username": "jsmith",
    "customer_password": JOHN_PASSWORD,
    "customer_pin": JOHN_PIN,
}
JANE_PROFILE = {
    "first_name": "Jane",
    "last_name": "Doe",
    "phone": "555-5556",
    "email": "jdoe@workemail.com",
    "custom_field": "She likes cheese",
}

# (campaign, units, redeemed, item, day): points, cents, events or items, as the ledger keeps them.
_JOHN_HISTORY = (
    (POINTS_CAMPAIGN, 2600, False, None, "2025-01-10"),
    (GIFTCARD_CAMPAIGN, 5000, False, None, "2025-01-12"),
    (GIFTCARD_CAMPAIGN, -1125, True, None, "2025-02-01"),
    *((EVENTS_CAMPAIGN, 1, False, None, f"2025-02-{day:02d}") for day in range(3, 9)),
    *((EARNED_CAMPAIGN, 450, False, None, f"2025-02-{day:02d}") for day in range(10, 14)),
    (BUYX_CAMPAIGN, 12, False, COFFEES_ITEM, "2025-02-20"),
    (BUYX_CAMPAIGN, 2, False, CAKES_ITEM, "2025-02-21"),
)
_JANE_HISTORY = (
    (POINTS_CAMPAIGN, 2000, False, None, "2025-01-15"),
    *((EARNED_CAMPAIGN, 450, False, None, f"2025-03-{day:02d}") for day in range(1, 11)),
)


def install_demo(ledger: Ledger) -> None:
    """Add the demo account, its user, campaigns and two members, unless it is already there."""
    if ledger.account(ACCOUNT_ID) is not None:
        return
    with ledger.transaction():
        ledger.add_account(Account(ACCOUNT_ID, ACCOUNT_NAME, AGENCY_ID, AGENCY_NAME, AGENCY_EMAIL))
        ledger.add_user(USER_ID, API_KEY, ACCOUNT_ID)
        for campaign in CAMPAIGNS:
            ledger.add_campaign(ACCOUNT_ID, campaign)
        for reward in REWARDS:
            ledger.add_reward(reward)
        for item in ITEMS:
            ledger.add_item(
                BUYX_CAMPAIGN, item.description, item.reward_level, item.identifier, int(item.id)
            )
        for promo in PROMOS:
            ledger.add_promo(promo)
        descriptions = {item.id: item.description for item in ITEMS}
        members = (
            (JOHN_CODE, JOHN_CARD, JOHN_PROFILE, _JOHN_HISTORY),
            (JANE_CODE, JANE_CARD, JANE_PROFILE, _JANE_HISTORY),
        )
        for code, card, profile, history in members:
            customer = ledger.add_customer(
                ACCOUNT_ID, code, card, profile, {}, "2025-01-05 10:00:00"
            )
            for campaign_id in dict.fromkeys(entry[0] for entry in history):
                ledger.add_movement(
                    customer,
                    campaign_id,
                    0,
                    stamp="2025-01-05 10:00:00",
                    authorization=ACTIVATION,
                    service_product="Activation",
                    user_name=USER_ID,
                )
            for campaign_id, units, redeemed, item_id, day in history:
                ledger.add_movement(
                    customer,
                    campaign_id,
                    units,
                    stamp=f"{day} 12:00:00",
                    redeemed=redeemed,
                    item_pk=None if item_id is None else int(item_id),
                    authorization="Demo history",
                    service_product=descriptions.get(item_id or "", ""),
                    user_name=USER_ID,
                )
