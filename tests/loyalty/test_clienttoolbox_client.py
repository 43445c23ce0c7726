"""The Client Toolbox client against the real sandbox over loopback, in JSON and XML output."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, Literal

import httpx
import pytest
from pydantic import AnyHttpUrl, SecretStr

from bot.config import HttpSettings, Settings
from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.clienttoolbox.settings import ClientToolboxSettings
from bot.loyalty.clienttoolbox.wire import BatchValueError, CustomerFields, TransactionLine
from bot.loyalty.errors import (
    AlreadyExists,
    AuthFailed,
    NotFound,
    Rejected,
    Unavailable,
)
from bot.loyalty.models import (
    BuyXBalance,
    BuyXItem,
    CampaignBalance,
    CampaignKind,
    CardFormat,
    EarnedBalance,
    EventsBalance,
    GiftcardBalance,
    ImportOutcome,
    MemberImportRow,
    Money,
    NewMember,
    PointsBalance,
    ProfileChanges,
    Purchase,
    Redemption,
    TransactionImportRow,
)
from bot.platforms import create_backend
from bot.sandbox.clienttoolbox import create_app, demo
from bot.sandbox.runner import serve

Output = Literal["json", "xml"]
CARD = CardFormat(length=12, prefix="48")
POINTS, GIFT, EVENTS, EARNED, BUYX = (
    demo.POINTS_CAMPAIGN,
    demo.GIFTCARD_CAMPAIGN,
    demo.EVENTS_CAMPAIGN,
    demo.EARNED_CAMPAIGN,
    demo.BUYX_CAMPAIGN,
)
WRONG_KEY = "0badc0ffee0badc0ffee"


@pytest.fixture
async def sandbox_url() -> AsyncIterator[str]:
    async with serve(create_app()) as url:
        yield url


def ct_settings(url: str, output: Output = "json", **changes: Any) -> ClientToolboxSettings:
    fields: dict[str, Any] = {
        "url": AnyHttpUrl(f"{url}/api.php"),
        "account_id": demo.ACCOUNT_ID,
        "user_id": demo.USER_ID,
        "user_api_key": SecretStr(demo.API_KEY),
        "output": output,
    }
    return ClientToolboxSettings(**(fields | changes))


@pytest.fixture(params=["json", "xml"])
async def client(
    request: pytest.FixtureRequest, sandbox_url: str
) -> AsyncIterator[ClientToolboxClient]:
    async with ClientToolboxClient(
        ct_settings(sandbox_url, request.param), HttpSettings(read_timeout=5), card=CARD
    ) as instance:
        yield instance


def by_campaign(balances: list[CampaignBalance]) -> dict[str, CampaignBalance]:
    return {balance.campaign_id: balance for balance in balances}


async def set_fault(url: str, **fault: Any) -> None:
    async with httpx.AsyncClient() as control:
        (await control.post(f"{url}/_sandbox/faults", json=fault)).raise_for_status()


async def test_campaigns_rewards_and_items(client: ClientToolboxClient) -> None:
    assert isinstance(client, LoyaltyBackend)
    campaigns = {campaign.id: campaign for campaign in await client.campaigns()}
    assert {campaigns[cid].kind for cid in (POINTS, GIFT, EVENTS, EARNED, BUYX)} == set(
        CampaignKind
    )
    points = campaigns[POINTS]
    assert (points.name, points.points_ratio, points.reward_ratio) == (
        "Widget Rewards",
        Decimal(100),
        Decimal("0.01"),
    )
    assert campaigns[EARNED].earned_per_event == Decimal("4.50")
    assert set(campaigns[BUYX].items) == {
        BuyXItem(id="96", description="Coffees", buy_amount=10, identifier="COFFEE"),
        BuyXItem(id="95", description="Cakes", buy_amount=5, identifier="CAKE"),
    }
    rewards = await client.rewards(POINTS)
    assert [(r.id, r.cost, r.description, r.merchant_reward_id) for r in rewards] == [
        ("97", Decimal(300), "Free coffee", "SKU-COFFEE"),
        ("98", Decimal(500), "Free widget", "SKU-WIDGET"),
    ]
    assert [r.cost for r in await client.campaign_rewards(EVENTS)] == [Decimal(5), Decimal(10)]
    assert await client.buyx_items_list(BUYX) == list(campaigns[BUYX].items)

    events_only = await client.campaigns_list(type_restrict=[CampaignKind.EVENTS])
    assert [entry.id for entry in events_only.campaigns] == [EVENTS]
    page = await client.campaigns_list(offset=1, length=2)
    assert [entry.id for entry in page.campaigns] == [GIFT, EVENTS]
    assert page.pagination.total == len(campaigns)


async def test_balances_of_every_kind_with_rewards(client: ClientToolboxClient) -> None:
    balances = by_campaign(await client.balances(demo.JOHN_CODE))
    points = balances[POINTS]
    assert isinstance(points, PointsBalance)
    assert points.points == Decimal(2600)
    assert points.money_value == Money(amount=Decimal("26.00"), currency="USD", glyph="$")
    assert [reward.id for reward in points.available_rewards] == ["97", "98"]
    assert points.next_reward is None
    gift = balances[GIFT]
    assert isinstance(gift, GiftcardBalance)
    assert gift.money.amount == Decimal("38.75")
    events = balances[EVENTS]
    assert isinstance(events, EventsBalance)
    assert events.events == 6
    assert [reward.id for reward in events.available_rewards] == ["41"]
    assert events.next_reward is not None
    assert (events.next_reward.id, events.next_reward.cost) == ("42", Decimal(10))
    earned = balances[EARNED]
    assert isinstance(earned, EarnedBalance)
    assert earned.money.amount == Decimal("18.00")
    buyx = balances[BUYX]
    assert isinstance(buyx, BuyXBalance)
    assert {(i.item, i.current, i.buy_amount) for i in buyx.items} == {
        ("Coffees", 12, 10),
        ("Cakes", 2, 5),
    }
    with pytest.raises(NotFound):
        await client.balances("no-such-code")


async def test_history_is_newest_first_across_campaigns(client: ClientToolboxClient) -> None:
    everything = await client.history(demo.JOHN_CODE, limit=100)
    assert len(everything) == 5 + 15  # five activations, fifteen demo transactions
    stamps = [tx.at for tx in everything]
    assert stamps == sorted(stamps, reverse=True)
    assert all(tx.at.tzinfo is not None for tx in everything)
    newest = everything[0]
    assert (newest.campaign_id, newest.item, newest.amount) == (BUYX, "Cakes", Decimal(2))
    gift_redemption = next(tx for tx in everything if tx.is_redemption)
    assert (gift_redemption.campaign_id, gift_redemption.amount) == (GIFT, Decimal("11.25"))
    assert await client.history(demo.JOHN_CODE, limit=3, offset=2) == everything[2:5]

    statement = await client.customer_balance(GIFT, code=demo.JOHN_CODE, transactions_number=1)
    assert statement is not None
    assert statement.customer.balance == Decimal("38.75")
    assert len(statement.customer.transactions) == 1
    assert statement.customer.last_redemption == dt.date(2025, 2, 1)
    assert await client.customer_balance(GIFT, code="no-such-code") is None


async def test_enroll_get_and_duplicate(client: ClientToolboxClient) -> None:
    new = NewMember(
        code="bot-0001",
        first_name="Ann",
        phone="+13347226715",
        email="ann@example.com",
        birthday=dt.date(1990, 4, 1),
        campaign_ids=(POINTS, EVENTS),
        signup_bonus=Decimal(25),
    )
    member = await client.enroll(new)
    assert member.code == "bot-0001"
    assert len(member.card_number) == CARD.length
    assert member.card_number.startswith("48") and member.card_number.isdigit()

    fetched = await client.get_member("bot-0001")
    assert fetched is not None
    assert (fetched.card_number, fetched.first_name, fetched.birthday) == (
        member.card_number,
        "Ann",
        dt.date(1990, 4, 1),
    )
    assert set(fetched.campaign_ids) == {POINTS, EVENTS}
    balances = by_campaign(await client.balances("bot-0001"))
    points = balances[POINTS]
    assert isinstance(points, PointsBalance)
    assert points.points == Decimal(25)
    assert points.next_reward is not None and points.next_reward.id == "97"

    with pytest.raises(AlreadyExists):
        await client.enroll(new)
    with pytest.raises(AlreadyExists):
        await client.enroll(NewMember(code="bot-0002", card_number=demo.JOHN_CARD))
    assert await client.get_member("bot-0002") is None


async def test_find_members_by_phone_email_card(client: ClientToolboxClient) -> None:
    await client.enroll(NewMember(code="bot-1", phone="+13347226715", email="Ann@Example.com"))
    found = await client.find_member_by_phone("+13347226715")
    assert found is not None and found.code == "bot-1"

    # A member typed in by staff, with the phone in a local format.
    recorded = await client.record_customer_new(
        CustomerFields(first_name="Bo", phone="(334) 722-6716"), code="desk-7"
    )
    assert (recorded.status, recorded.code) == ("new", "desk-7")
    typed = await client.find_member_by_phone("+13347226716")
    assert typed is not None and typed.code == "desk-7"

    by_email = await client.find_member_by_email("ANN@example.COM")
    assert by_email is not None and by_email.code == "bot-1"
    by_card = await client.find_member_by_card(demo.JANE_CARD)
    assert by_card is not None and by_card.code == demo.JANE_CODE
    assert by_card.registered is False

    assert await client.find_member_by_phone("+13347226799") is None
    assert await client.find_member_by_phone("") is None
    assert await client.find_member_by_email("nobody@example.com") is None
    assert await client.find_member_by_card("999999") is None
    assert await client.get_member("no-such-code") is None


async def test_search_find_info_exists(client: ClientToolboxClient) -> None:
    partial = await client.customer_search(last_name="smi")
    assert [c.code for c in partial] == [demo.JOHN_CODE]
    assert await client.customer_search(last_name="smi", exact_match="insensitive") == []
    with_balances = await client.customer_search(
        email="JDOE@workemail.com", exact_match="insensitive", include_balances=True
    )
    assert [c.code for c in with_balances] == [demo.JANE_CODE]
    assert {standing.id for standing in with_balances[0].campaigns} == {POINTS, EARNED}

    found = await client.customer_find("Jane Doe, cheddar-free Smith")
    assert [c.code for c in found] == [demo.JANE_CODE]
    found = await client.customer_find("jane, john")
    assert {c.code for c in found} == {demo.JANE_CODE, demo.JOHN_CODE}
    assert await client.customer_find("nobody-at-all") == []

    info = await client.customer_info(card_number=demo.JOHN_CARD, campaign_id=GIFT)
    assert info is not None
    assert (info.code, info.custom_date, info.registered) == (
        demo.JOHN_CODE,
        dt.date(1970, 7, 14),
        True,
    )
    assert [standing.id for standing in info.campaigns] == [GIFT]
    bare = await client.customer_info(code=demo.JOHN_CODE, include_balances=False)
    assert bare is not None and bare.campaigns == []
    assert await client.customer_info(code="no-such-code") is None

    assert await client.customer_exists(code=demo.JANE_CODE) is True
    assert await client.customer_exists(email="JSMITH@workemail.com") is True
    assert await client.customer_exists(code="no-such-code") is False


async def test_record_customer_register_edit_password(client: ClientToolboxClient) -> None:
    created = await client.record_customer_new(
        CustomerFields(first_name="Card", last_name="Only"), card_number="7000123"
    )
    assert (created.status, created.code, created.card_number) == ("new", "7000123", "7000123")
    generated = await client.record_customer_new(
        CustomerFields(email="gen@example.com"),
        card_number_generate=10,
        card_number_prefix="77",
        new_code=True,
    )
    assert len(generated.card_number) == 10 and generated.card_number.startswith("77")
    assert len(generated.code) == 16 and generated.code != generated.card_number

    registered = await client.record_customer_register(
        "7000123", "s3cret-pass", CustomerFields(phone="+15550001111")
    )
    assert registered.status == "registered"
    with pytest.raises(AlreadyExists):
        await client.record_customer_register("7000123", "another")
    with pytest.raises(NotFound):
        await client.record_customer_register("7999999", "whatever")

    assert await client.validate_customer_password(card_number="7000123", password="s3cret-pass")
    assert not await client.validate_customer_password(card_number="7000123", password="nope")
    assert await client.validate_customer_password(code=demo.JOHN_CODE, pin=demo.JOHN_PIN)

    edited = await client.record_customer_edit(
        CustomerFields(first_name="Carla", custom_date=dt.date(1980, 2, 5)), code="7000123"
    )
    assert (edited.status, edited.code) == ("update", "7000123")
    member = await client.get_member("7000123")
    assert member is not None
    assert (member.first_name, member.last_name, member.birthday, member.registered) == (
        "Carla",
        "Only",
        dt.date(1980, 2, 5),
        True,
    )

    card = await client.generate_card_number(digits=9, prefix="5", suffix="0")
    assert len(card) == 9 and card.startswith("5") and card.endswith("0") and card.isdigit()
    assert await client.customer_exists(card_number=card) is False


async def test_update_profile(client: ClientToolboxClient) -> None:
    member = await client.update_profile(
        demo.JANE_CODE, ProfileChanges(first_name="Janet", birthday=dt.date(1985, 9, 30))
    )
    assert (member.code, member.first_name, member.last_name, member.birthday) == (
        demo.JANE_CODE,
        "Janet",
        "Doe",
        dt.date(1985, 9, 30),
    )
    with pytest.raises(NotFound):
        await client.update_profile("ghost-code", ProfileChanges(first_name="Casper"))
    assert await client.customer_exists(code="ghost-code") is False


async def test_record_purchase_every_kind(client: ClientToolboxClient) -> None:
    code = demo.JANE_CODE
    points = await client.record_purchase(
        code, Purchase(campaign_id=POINTS, amount=Decimal("4.50"), description="Till 3")
    )
    assert (points.earned, points.description, points.campaign_name) == (
        Decimal(450),
        "Till 3",
        "Widget Rewards",
    )
    assert isinstance(points.balance, PointsBalance)
    assert points.balance.points == Decimal(2450)
    assert points.balance.money_value is not None
    assert points.balance.money_value.amount == Decimal("24.50")

    gift = await client.record_purchase(code, Purchase(campaign_id=GIFT, amount=Decimal("20")))
    assert gift.earned == Decimal("20.00")
    assert isinstance(gift.balance, GiftcardBalance)
    assert gift.balance.money.amount == Decimal("20.00")

    visit = await client.record_purchase(code, Purchase(campaign_id=EVENTS))
    assert visit.earned == Decimal(1)
    assert isinstance(visit.balance, EventsBalance) and visit.balance.events == 1

    earned = await client.record_purchase(code, Purchase(campaign_id=EARNED))
    assert earned.earned == Decimal("4.50")
    assert isinstance(earned.balance, EarnedBalance)
    assert earned.balance.money.amount == Decimal("49.50")

    coffee = await client.record_purchase(code, Purchase(campaign_id=BUYX, item="96", quantity=3))
    assert coffee.earned == Decimal(3)
    assert isinstance(coffee.balance, BuyXBalance)
    assert {(i.item, i.current) for i in coffee.balance.items} == {("Coffees", 3), ("Cakes", 0)}

    receipts = {points.transaction_id, gift.transaction_id, visit.transaction_id}
    assert len(receipts) == 3

    promo = await client.record_activity(
        POINTS, card_number=demo.JANE_CARD, amount=Decimal("1.00"), promo_id="89"
    )
    assert promo.transaction.promotion is not None
    assert promo.to_receipt().earned == Decimal(200)


async def test_redeem_every_kind(client: ClientToolboxClient) -> None:
    code = demo.JOHN_CODE
    combo = await client.redeem(
        code,
        Redemption(
            campaign_id=POINTS,
            reward_id="97",
            points=Decimal(100),
            amount=Decimal("1.00"),
            description="Counter",
        ),
    )
    assert combo.deducted == Decimal(300 + 100 + 100)
    assert isinstance(combo.balance, PointsBalance)
    assert combo.balance.points == Decimal(2100)

    gift = await client.redeem(code, Redemption(campaign_id=GIFT, amount=Decimal("8.75")))
    assert gift.deducted == Decimal("8.75")
    assert isinstance(gift.balance, GiftcardBalance)
    assert gift.balance.money.amount == Decimal("30.00")

    visit_reward = await client.redeem(code, Redemption(campaign_id=EVENTS, reward_id="41"))
    assert visit_reward.deducted == Decimal(5)
    assert isinstance(visit_reward.balance, EventsBalance)
    assert visit_reward.balance.events == 1

    earned = await client.redeem(code, Redemption(campaign_id=EARNED, amount=Decimal("18")))
    assert earned.deducted == Decimal("18.00")
    assert isinstance(earned.balance, EarnedBalance)
    assert earned.balance.money.amount == Decimal("0.00")

    coffee = await client.redeem(code, Redemption(campaign_id=BUYX, item="[COFFEE]"))
    assert coffee.deducted == Decimal(10)
    assert isinstance(coffee.balance, BuyXBalance)
    assert {(i.item, i.current) for i in coffee.balance.items} == {("Coffees", 2), ("Cakes", 2)}

    with pytest.raises(Rejected, match="Insufficient balance"):
        await client.redeem(code, Redemption(campaign_id=GIFT, amount=Decimal(1000)))
    with pytest.raises(NotFound):
        await client.redeem(code, Redemption(campaign_id=POINTS, reward_id="12345"))
    with pytest.raises(NotFound):
        await client.redeem("no-such-code", Redemption(campaign_id=POINTS, points=Decimal(1)))
    with pytest.raises(ValueError, match="nothing to redeem"):
        await client.redeem(code, Redemption(campaign_id=EVENTS, amount=Decimal(1)))
    remaining = by_campaign(await client.balances(code))[GIFT]
    assert isinstance(remaining, GiftcardBalance)
    assert remaining.money.amount == Decimal("30.00")


async def test_transaction_delete(client: ClientToolboxClient) -> None:
    receipt = await client.record_purchase(
        demo.JANE_CODE, Purchase(campaign_id=POINTS, amount=Decimal(3))
    )
    statement = await client.customer_balance(POINTS, code=demo.JANE_CODE)
    assert statement is not None
    assert statement.customer.balance == Decimal(2300)
    assert statement.customer.transactions[0].id == receipt.transaction_id

    await client.transaction_delete(POINTS, demo.JANE_CODE, receipt.transaction_id)
    statement = await client.customer_balance(POINTS, code=demo.JANE_CODE)
    assert statement is not None
    assert statement.customer.balance == Decimal(2000)
    with pytest.raises(NotFound):
        await client.transaction_delete(POINTS, demo.JANE_CODE, receipt.transaction_id)


async def test_join_campaign(client: ClientToolboxClient) -> None:
    await client.enroll(NewMember(code="joiner", campaign_ids=(POINTS,)))
    await client.join_campaign("joiner", GIFT)
    await client.join_campaign("joiner", POINTS)
    await client.join_campaign("joiner", EVENTS, Purchase(campaign_id=EVENTS))
    balances = by_campaign(await client.balances("joiner"))
    assert set(balances) == {POINTS, GIFT, EVENTS}
    gift, points, events = balances[GIFT], balances[POINTS], balances[EVENTS]
    assert isinstance(gift, GiftcardBalance) and gift.money.amount == Decimal(0)
    assert isinstance(points, PointsBalance) and points.points == Decimal(0)
    assert isinstance(events, EventsBalance) and events.events == 1
    with pytest.raises(NotFound):
        await client.join_campaign("ghost", GIFT)


SEED_PROFILES = [
    ["11223344", "11223344", "jane", "doe", "1970-07-14", "555-5555"],
    ["22334455", "22334455", "jim", "mcdoe", "1966-07-28", "555-5556"],
    ["33445566", "33445566", "larry", "smith", "1980-02-05", "555-5557"],
]
PROFILE_HEADER = ["code", "card_number", "first_name", "last_name", "custom_date", "phone"]


@pytest.mark.parametrize("form", ["1.5", "old"])
async def test_customers_batch_both_forms(client: ClientToolboxClient, form: Any) -> None:
    batch = await client.customers_batch(
        PROFILE_HEADER,
        SEED_PROFILES,
        campaign_ids=[POINTS, EVENTS],
        delimiter="comma" if form == "old" else "pipe",
        overwrite="update",
        form=form,
    )
    assert batch.status == "imported"
    assert (batch.customers.new, batch.customers.updated) == (3, 0)
    assert [(row.line, row.status, row.code) for row in batch.rows] == [
        (1, "new", "11223344"),
        (2, "new", "22334455"),
        (3, "new", "33445566"),
    ]
    jim = await client.get_member("22334455")
    assert jim is not None
    assert (jim.first_name, jim.birthday, set(jim.campaign_ids)) == (
        "jim",
        dt.date(1966, 7, 28),
        {POINTS, EVENTS},
    )

    again = await client.customers_batch(
        ["code", "first_name", "email"],
        [["22334455", "", "jim@example.com"], ["44556677", "Lou", ""]],
        campaign_ids=[POINTS],
        delimiter="tab",
        overwrite="update",
        card_number_generate=8,
        allow_undo=True,
        form=form,
    )
    assert [(row.status, row.code) for row in again.rows] == [
        ("updated", "22334455"),
        ("new", "44556677"),
    ]
    assert len(again.rows[1].card_number) == 8
    jim = await client.get_member("22334455")
    assert jim is not None and (jim.first_name, jim.email) == ("jim", "jim@example.com")

    skipped = await client.customers_batch(
        ["code", "first_name"], [["22334455", "James"]], campaign_ids=[POINTS], form=form
    )
    assert [row.status for row in skipped.rows] == ["skipped"]

    with pytest.raises(BatchValueError):
        await client.customers_batch(
            ["code", "first_name"], [["55", "Pipe|Name"]], campaign_ids=[POINTS]
        )
    with pytest.raises(BatchValueError):
        await client.customers_batch(
            ["code", "first_name"], [["55", "Two\nLines"]], campaign_ids=[POINTS], delimiter="tab"
        )
    assert await client.customer_exists(code="55") is False


async def test_import_members_one_result_per_row(client: ClientToolboxClient) -> None:
    rows = [
        MemberImportRow(line=2, code="imp-1", first_name="Ivy", phone="+15550000001"),
        MemberImportRow(line=3, code=demo.JOHN_CODE, first_name="Not John"),
        MemberImportRow(line=4, code="imp-2", first_name="Multi\nline"),
        MemberImportRow(line=5, first_name="Pat|Pipe", signup_bonus=Decimal(40)),
        MemberImportRow(line=6, code="imp-3", birthday=dt.date(2001, 1, 2)),
        MemberImportRow(line=7, code="imp-4", card_number=demo.JANE_CARD),
    ]
    results = await client.import_members(rows, campaign_ids=[POINTS])
    assert [(r.line, r.outcome) for r in results] == [
        (2, ImportOutcome.CREATED),
        (3, ImportOutcome.SKIPPED),
        (4, ImportOutcome.INVALID),
        (5, ImportOutcome.CREATED),
        (6, ImportOutcome.CREATED),
        (7, ImportOutcome.ALREADY_MEMBER),
    ]
    pat = results[3].member_code
    assert len(pat) == 16
    pat_points = by_campaign(await client.balances(pat))[POINTS]
    assert isinstance(pat_points, PointsBalance) and pat_points.points == Decimal(40)
    pat_member = await client.get_member(pat)
    assert pat_member is not None
    assert pat_member.first_name == "Pat|Pipe"
    assert len(pat_member.card_number) == CARD.length
    john = await client.get_member(demo.JOHN_CODE)
    assert john is not None and john.first_name == "John"

    rerun = await client.import_members(rows[:2], campaign_ids=[POINTS])
    assert [r.outcome for r in rerun] == [ImportOutcome.SKIPPED, ImportOutcome.SKIPPED]


@pytest.mark.parametrize("form", ["1.5", "old"])
async def test_batch_transactions_every_layout(client: ClientToolboxClient, form: Any) -> None:
    jane = demo.JANE_CARD
    day = dt.date(2010, 3, 15)
    points = await client.batch_transactions(
        CampaignKind.POINTS,
        [
            TransactionLine(campaign_id=POINTS, code=jane, amount=Decimal("14.95"), date=day),
            TransactionLine(
                campaign_id=POINTS,
                code=jane,
                amount=Decimal("0.50"),
                promo_ids=("345", "345", "354"),
                custom_fields={"custom_field_3": "Store 35"},
            ),
            TransactionLine(campaign_id=POINTS, code=jane, redeemed=True, amount=Decimal(97)),
            TransactionLine(campaign_id=POINTS, code=jane, redeemed=True, amount=Decimal(12345)),
        ],
        apply_ratio=True,
        custom_fields=["custom_field_3"],
        form=form,
    )
    assert points.status == "partially_imported"
    assert [row.status for row in points.rows] == ["imported", "imported", "imported", "error"]
    assert "12345" in points.rows[3].error
    statement = await client.customer_balance(POINTS, card_number=jane)
    assert statement is not None
    assert statement.customer.balance == Decimal(2000 + 1495 + (75 + 250) - 300)

    gift = await client.batch_transactions(
        CampaignKind.GIFTCARD,
        [
            TransactionLine(campaign_id=GIFT, code=jane, amount=Decimal("14.95")),
            TransactionLine(campaign_id=GIFT, code=jane, amount=Decimal("34.67")),
            TransactionLine(campaign_id=GIFT, code=jane, redeemed=True, amount=Decimal("49.62")),
        ],
        delimiter="comma",
        form=form,
    )
    assert (gift.status, gift.transactions) == ("all_imported", 3)

    for kind, campaign, redeem_amount in (
        (CampaignKind.EVENTS, EVENTS, Decimal(2)),
        (CampaignKind.EARNED, EARNED, Decimal("4.50")),
    ):
        batch = await client.batch_transactions(
            kind,
            [
                TransactionLine(campaign_id=campaign, code=jane, authorization="API add event"),
                TransactionLine(campaign_id=campaign, code=jane, date=day),
                TransactionLine(
                    campaign_id=campaign, code=jane, redeemed=True, amount=redeem_amount
                ),
            ],
            delimiter="tab",
            form=form,
        )
        assert batch.status == "all_imported", batch.rows

    coffee = await client.batch_transactions(
        CampaignKind.BUYX,
        [
            TransactionLine(campaign_id=BUYX, code=jane, service_product="Coffees", amount=3),
            TransactionLine(
                campaign_id=BUYX, code=jane, service_product="Coffees", redeemed=True, amount=1
            ),
        ],
        form=form,
    )
    assert coffee.status == "all_imported"

    balances = by_campaign(await client.balances(demo.JANE_CODE))
    assert balances[GIFT] == GiftcardBalance(
        campaign_id=GIFT,
        campaign_name="Gift Card",
        money=Money(amount=Decimal("0.00"), currency="USD", glyph="$"),
    )
    events = balances[EVENTS]
    assert isinstance(events, EventsBalance) and events.events == 0
    earned = balances[EARNED]
    assert isinstance(earned, EarnedBalance) and earned.money.amount == Decimal("49.50")
    buyx = balances[BUYX]
    assert isinstance(buyx, BuyXBalance)
    assert {(i.item, i.current) for i in buyx.items} == {("Coffees", 2), ("Cakes", 0)}

    with pytest.raises(BatchValueError):
        await client.batch_transactions(
            CampaignKind.POINTS,
            [TransactionLine(campaign_id=POINTS, code=jane, promo_ids=("345", "354"))],
            delimiter="comma",
        )


async def test_import_transactions_one_result_per_row(client: ClientToolboxClient) -> None:
    rows = [
        TransactionImportRow(
            line=1, campaign_id=POINTS, member=demo.JANE_CARD, amount=Decimal(50)
        ),
        TransactionImportRow(
            line=2,
            campaign_id=GIFT,
            member=demo.JANE_CODE,
            amount=Decimal("10,5".replace(",", ".")),
        ),
        TransactionImportRow(line=3, campaign_id="9999", member=demo.JANE_CODE, amount=Decimal(1)),
        TransactionImportRow(line=4, campaign_id=POINTS, member="ghost", amount=Decimal(5)),
        TransactionImportRow(
            line=5, campaign_id=POINTS, member=demo.JANE_CODE, redeemed=True, amount=Decimal(1)
        ),
        TransactionImportRow(
            line=6, campaign_id=GIFT, member=demo.JANE_CODE, redeemed=True, amount=Decimal(99)
        ),
    ]
    results = await client.import_transactions(rows)
    assert [(r.line, r.outcome) for r in results] == [
        (1, ImportOutcome.CREATED),
        (2, ImportOutcome.CREATED),
        (3, ImportOutcome.NOT_FOUND),
        (4, ImportOutcome.NOT_FOUND),
        (5, ImportOutcome.CREATED),
        (6, ImportOutcome.FAILED),
    ]
    assert "Insufficient balance" in results[5].message
    assert await client.customer_exists(code="ghost") is False
    balances = by_campaign(await client.balances(demo.JANE_CODE))
    points, gift = balances[POINTS], balances[GIFT]
    assert isinstance(points, PointsBalance) and points.points == Decimal(2049)
    assert isinstance(gift, GiftcardBalance) and gift.money.amount == Decimal("10.50")


async def test_import_transactions_refuses_only_the_row_a_batch_cannot_carry(
    client: ClientToolboxClient,
) -> None:
    rows = [
        TransactionImportRow(
            line=1, campaign_id=POINTS, member=demo.JANE_CODE, amount=Decimal(10)
        ),
        TransactionImportRow(
            line=2,
            campaign_id=POINTS,
            member=demo.JANE_CODE,
            amount=Decimal(20),
            description="Refund\nsee note",
        ),
    ]
    results = await client.import_transactions(rows)
    assert [(r.line, r.outcome, r.member_code) for r in results] == [
        (1, ImportOutcome.CREATED, demo.JANE_CODE),
        (2, ImportOutcome.INVALID, demo.JANE_CODE),
    ]
    assert "line break" in results[1].message
    points = by_campaign(await client.balances(demo.JANE_CODE))[POINTS]
    assert isinstance(points, PointsBalance) and points.points == Decimal(2010)


async def test_credential_styles(sandbox_url: str) -> None:
    sent: list[httpx.Request] = []

    class Recording(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return await super().handle_async_request(request)

    styles: list[dict[str, Any]] = [
        {},
        {"key_in_header": True},
        {"user_api_key": None, "user_password": SecretStr(demo.API_KEY)},
    ]
    for changes in styles:
        sent.clear()
        async with ClientToolboxClient(
            ct_settings(sandbox_url, "xml", **changes), HttpSettings(), transport=Recording()
        ) as styled:
            member = await styled.get_member(demo.JANE_CODE)
            assert member is not None and member.card_number == demo.JANE_CARD
        body = sent[0].content.decode()
        assert "output=XML" in body
        if changes.get("key_in_header"):
            assert sent[0].headers["api_access_key"] == demo.API_KEY
            assert demo.API_KEY not in body
        else:
            assert "api_access_key" not in sent[0].headers
            assert demo.API_KEY in body


async def test_built_from_settings_through_the_registry(sandbox_url: str) -> None:
    settings = Settings(
        platform="clienttoolbox",
        clienttoolbox=ct_settings(sandbox_url),
        card=CARD,
        default_region="US",
        _env_file=None,
    )
    built = create_backend(settings)
    assert isinstance(built, ClientToolboxClient)
    async with built:
        member = await built.enroll(NewMember(code="from-settings"))
        assert member.card_number.startswith(CARD.prefix)


@pytest.mark.parametrize("key_in_header", [False, True])
async def test_auth_failure_leaks_no_secret(
    sandbox_url: str, caplog: pytest.LogCaptureFixture, key_in_header: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = ct_settings(
        sandbox_url,
        user_api_key=SecretStr(WRONG_KEY),
        user_password=SecretStr(WRONG_KEY + "pw"),
        key_in_header=key_in_header,
    )
    async with ClientToolboxClient(settings, HttpSettings()) as wrong:
        with pytest.raises(AuthFailed) as caught:
            await wrong.get_member(demo.JANE_CODE)
        with pytest.raises(AuthFailed):
            await wrong.record_purchase(demo.JANE_CODE, Purchase(campaign_id=POINTS))
        shown = [str(caught.value), repr(caught.value), caught.value.message, repr(wrong)]
    assert caught.value.message.startswith("Authentication failed")
    assert caplog.records, "the failure is logged"
    shown += [record.getMessage() for record in caplog.records]
    shown += [record.exc_text or "" for record in caplog.records]
    for text in shown:
        assert WRONG_KEY not in text


@pytest.fixture
async def quick_client(sandbox_url: str) -> AsyncIterator[ClientToolboxClient]:
    async with ClientToolboxClient(
        ct_settings(sandbox_url), HttpSettings(connect_timeout=1, read_timeout=0.3)
    ) as instance:
        yield instance


async def jane_points(client: ClientToolboxClient) -> Decimal:
    statement = await client.customer_balance(POINTS, code=demo.JANE_CODE, transactions_number=0)
    assert statement is not None and statement.customer.balance is not None
    return statement.customer.balance


async def test_timeout_is_unavailable_and_never_retried(
    quick_client: ClientToolboxClient, sandbox_url: str
) -> None:
    # The fault slows one request only: a second attempt would be answered at once.
    await set_fault(sandbox_url, latency=1, count=1)
    with pytest.raises(Unavailable, match="in time"):
        await quick_client.record_purchase(
            demo.JANE_CODE, Purchase(campaign_id=POINTS, amount=Decimal(1))
        )
    await set_fault(sandbox_url, latency=1, count=1)
    with pytest.raises(Unavailable, match="in time"):
        await quick_client.get_member(demo.JANE_CODE)
    assert await quick_client.get_member(demo.JANE_CODE) is not None


async def test_dropped_connection(quick_client: ClientToolboxClient, sandbox_url: str) -> None:
    await set_fault(sandbox_url, drop=True, count=1)
    member = await quick_client.get_member(demo.JANE_CODE)
    assert member is not None, "a lookup is asked once more after a dropped connection"

    await set_fault(sandbox_url, drop=True, count=2)
    with pytest.raises(Unavailable):
        await quick_client.get_member(demo.JANE_CODE)

    await set_fault(sandbox_url, drop=True, count=1)
    with pytest.raises(Unavailable):
        await quick_client.record_purchase(
            demo.JANE_CODE, Purchase(campaign_id=POINTS, amount=Decimal(1))
        )
    assert await jane_points(quick_client) == Decimal(2000)


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_unavailable(
    quick_client: ClientToolboxClient, sandbox_url: str, status: int
) -> None:
    await set_fault(sandbox_url, error_status=status, count=2)
    with pytest.raises(Unavailable, match=str(status)):
        await quick_client.get_member(demo.JANE_CODE)
    with pytest.raises(Unavailable):
        await quick_client.redeem(
            demo.JANE_CODE, Redemption(campaign_id=POINTS, points=Decimal(1))
        )
    assert await jane_points(quick_client) == Decimal(2000)


async def test_unreachable_platform_is_unavailable() -> None:
    async with serve(create_app()) as url:
        settings = ct_settings(url)
    async with ClientToolboxClient(settings, HttpSettings(connect_timeout=1)) as orphan:
        with pytest.raises(Unavailable):
            await orphan.get_member(demo.JANE_CODE)
