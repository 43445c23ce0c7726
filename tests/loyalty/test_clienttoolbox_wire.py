"""Client Toolbox answers parsed into models: the seed examples, both formats, and fuzzing.

The seed XML is copied from the vendor pages (../shared/seeds/000–003) with only their typos
mended so that it is well-formed: bare ``&`` escaped, ``<amount>9.90</points>`` closed as
``</amount>``, ``<new>2<new>`` closed, and the ``...`` placeholders dropped.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.loyalty.clienttoolbox.wire import (
    BatchValueError,
    CampaignStanding,
    CustomerBatchAnswer,
    CustomerInfoAnswer,
    CustomerListAnswer,
    ReceiptAnswer,
    RecordedCustomerAnswer,
    TransactionBatchAnswer,
    TransactionLine,
    batch_text,
    choose_delimiter,
    decode_body,
    open_envelope,
    read_payload,
    transaction_columns,
)
from bot.loyalty.errors import (
    AlreadyExists,
    AuthFailed,
    LoyaltyError,
    NotFound,
    ProtocolError,
    Rejected,
)
from bot.loyalty.models import (
    BuyXBalance,
    BuyXCount,
    CampaignKind,
    EarnedBalance,
    EventsBalance,
    GiftcardBalance,
    Money,
    PointsBalance,
    Receipt,
)

CUSTOMER = """
<customer>
    <first_name>John</first_name>
    <last_name>Smmith</last_name>
    <card_number>11112222</card_number>
    <phone>555-5555</phone>
    <email>jsmith@workemail.com</email>
    <custom_field>He likes cheese</custom_field>
    <custom_date>1970-07-14</custom_date>
</customer>"""

AGENCY = """
<agency>
    <id>acmemktg</id>
    <name>ACME Marketing</name>
    <email>server@acmemarkting.com</email>
</agency>"""

BUYX_BALANCES = """
<balances>
    <item><name>Books</name><current>14</current><cumulative>14</cumulative></item>
    <item><name>Coffees &amp; Teas</name><current>6</current><cumulative>43</cumulative></item>
    <item><name>Cakes &amp; Cookies</name><current>2</current><cumulative>12</cumulative></item>
</balances>"""


def receipt(campaign: str, transaction: str, agency: str = "") -> bytes:
    return f"""<response status="success">
    <receipt>
        <account_name>Demo Business</account_name>{agency}
        <campaign><id>{campaign}</id><name>Widget Rewards</name></campaign>{CUSTOMER}
        <transaction>
            <id>1234</id>{transaction}
        </transaction>
    </receipt>
</response>""".encode()


SEED_RECEIPTS: dict[str, bytes] = {
    "points earn": receipt(
        "1111222233334444",
        """
            <purchase><amount>9.95</amount><currency>USD</currency></purchase>
            <promotion>
                <description>Double Points Tuesday</description>
                <operation>x</operation>
                <amount>2</amount>
            </promotion>
            <recorded><points>1990</points><description>Optional note here</description></recorded>
            <balance><points>4590</points><monetary>4.75</monetary><currency>USD</currency></balance>
            <cumulative_balance>
                <points>78390</points><monetary>43.50</monetary><currency>USD</currency>
            </cumulative_balance>""",
    ),
    "giftcard earn": receipt(
        "2222333344445555",
        """
            <add>
                <amount>9.95</amount><currency>USD</currency>
                <description>Optional note here</description>
            </add>
            <balance><amount>48.75</amount><currency>USD</currency></balance>
            <cumulative_balance><amount>413.50</amount><currency>USD</currency></cumulative_balance>""",
    ),
    "events earn": receipt(
        "3333444455556666",
        """
            <event><description>Optional note here</description><amount>9.95</amount></event>
            <balance><events>12</events></balance>
            <cumulative_balance><events>25</events></cumulative_balance>""",
    ),
    "earned earn": receipt(
        "4444555566667777",
        """
            <event><description>Optional note here</description></event>
            <earn><amount>4.50</amount><currency>USD</currency></earn>
            <balance><amount>22.50</amount><currency>USD</currency></balance>
            <cumulative_balance><amount>45.00</amount><currency>USD</currency></cumulative_balance>""",
    ),
    "buyx earn": receipt(
        "5555666677778888",
        """
            <purchase>
                <item>Books</item><quantity>2</quantity>
                <description>Optional note here</description>
            </purchase>"""
        + BUYX_BALANCES,
    ),
    "points redeem": receipt(
        "463789753832",
        """
            <description>Optional note here</description>
            <reward><id>98</id><points>100</points><description>Free Widget!</description></reward>
            <custom><points>150</points></custom>
            <monetary><amount>9.90</amount><currency>USD</currency><points>1990</points></monetary>
            <balance><points>4590</points><monetary>4.75</monetary><currency>USD</currency></balance>
            <cumulative_balance>
                <points>78390</points><monetary>43.50</monetary><currency>USD</currency>
            </cumulative_balance>""",
        AGENCY,
    ),
    "giftcard redeem": receipt(
        "7456756743563456",
        """
            <deduct>
                <amount>14.95</amount><currency>USD</currency>
                <description>Optional note here</description>
            </deduct>
            <balance><amount>40.75</amount><currency>USD</currency></balance>
            <cumulative_balance><amount>413.50</amount><currency>USD</currency></cumulative_balance>""",
        AGENCY,
    ),
    "events redeem": receipt(
        "6576327476742",
        """
            <description>Optional note here</description>
            <reward><id>41</id><amount>9</amount><description>Free Widget!</description></reward>
            <balance><events>12</events></balance>
            <cumulative_balance><events>25</events></cumulative_balance>""",
        AGENCY,
    ),
    "earned redeem": receipt(
        "8875483453453",
        """
            <deduct>
                <amount>14.95</amount><currency>USD</currency>
                <description>Optional note here</description>
            </deduct>
            <balance><amount>22.50</amount><currency>USD</currency></balance>
            <cumulative_balance><amount>45.00</amount><currency>USD</currency></cumulative_balance>""",
        AGENCY,
    ),
    "buyx redeem": receipt(
        "67434675463456",
        """
            <description>Optional note here</description>
            <reward><service_product>Books</service_product><deduct>10</deduct></reward>"""
        + BUYX_BALANCES,
        AGENCY,
    ),
}

USD = {"currency": "USD", "glyph": ""}
BUYX_ITEMS = (
    BuyXCount(item="Books", current=14, cumulative=14),
    BuyXCount(item="Coffees & Teas", current=6, cumulative=43),
    BuyXCount(item="Cakes & Cookies", current=2, cumulative=12),
)


def ids(campaign_id: str) -> dict[str, str]:
    return {"campaign_id": campaign_id, "campaign_name": "Widget Rewards"}


EXPECTED: dict[str, tuple[CampaignKind | None, Receipt]] = {
    "points earn": (
        None,
        Receipt(
            transaction_id="1234",
            campaign_id="1111222233334444",
            campaign_name="Widget Rewards",
            description="Optional note here",
            earned=Decimal(1990),
            balance=PointsBalance(
                points=Decimal(4590),
                money_value=Money(amount=Decimal("4.75"), **USD),
                cumulative_points=Decimal(78390),
                **ids("1111222233334444"),
            ),
        ),
    ),
    "giftcard earn": (
        None,
        Receipt(
            transaction_id="1234",
            campaign_id="2222333344445555",
            campaign_name="Widget Rewards",
            description="Optional note here",
            earned=Decimal("9.95"),
            balance=GiftcardBalance(
                money=Money(amount=Decimal("48.75"), **USD), **ids("2222333344445555")
            ),
        ),
    ),
    "events earn": (
        None,
        Receipt(
            transaction_id="1234",
            campaign_id="3333444455556666",
            campaign_name="Widget Rewards",
            description="Optional note here",
            earned=Decimal(1),
            balance=EventsBalance(events=12, **ids("3333444455556666")),
        ),
    ),
    "earned earn": (
        None,
        Receipt(
            transaction_id="1234",
            campaign_id="4444555566667777",
            campaign_name="Widget Rewards",
            description="Optional note here",
            earned=Decimal("4.50"),
            balance=EarnedBalance(
                money=Money(amount=Decimal("22.50"), **USD), **ids("4444555566667777")
            ),
        ),
    ),
    "buyx earn": (
        None,
        Receipt(
            transaction_id="1234",
            campaign_id="5555666677778888",
            campaign_name="Widget Rewards",
            description="Optional note here",
            earned=Decimal(2),
            balance=BuyXBalance(items=BUYX_ITEMS, **ids("5555666677778888")),
        ),
    ),
    "points redeem": (
        None,
        Receipt(
            transaction_id="1234",
            campaign_id="463789753832",
            campaign_name="Widget Rewards",
            description="Optional note here",
            deducted=Decimal(100 + 150 + 1990),
            balance=PointsBalance(
                points=Decimal(4590),
                money_value=Money(amount=Decimal("4.75"), **USD),
                cumulative_points=Decimal(78390),
                **ids("463789753832"),
            ),
        ),
    ),
    "giftcard redeem": (
        CampaignKind.GIFTCARD,
        Receipt(
            transaction_id="1234",
            campaign_id="7456756743563456",
            campaign_name="Widget Rewards",
            description="Optional note here",
            deducted=Decimal("14.95"),
            balance=GiftcardBalance(
                money=Money(amount=Decimal("40.75"), **USD), **ids("7456756743563456")
            ),
        ),
    ),
    "events redeem": (
        None,
        Receipt(
            transaction_id="1234",
            campaign_id="6576327476742",
            campaign_name="Widget Rewards",
            description="Optional note here",
            deducted=Decimal(9),
            balance=EventsBalance(events=12, **ids("6576327476742")),
        ),
    ),
    "earned redeem": (
        CampaignKind.EARNED,
        Receipt(
            transaction_id="1234",
            campaign_id="8875483453453",
            campaign_name="Widget Rewards",
            description="Optional note here",
            deducted=Decimal("14.95"),
            balance=EarnedBalance(
                money=Money(amount=Decimal("22.50"), **USD), **ids("8875483453453")
            ),
        ),
    ),
    "buyx redeem": (
        None,
        Receipt(
            transaction_id="1234",
            campaign_id="67434675463456",
            campaign_name="Widget Rewards",
            description="Optional note here",
            deducted=Decimal(10),
            balance=BuyXBalance(items=BUYX_ITEMS, **ids("67434675463456")),
        ),
    ),
}


def parse_receipt(body: bytes, hint: CampaignKind | None = None) -> Receipt:
    tree = open_envelope(body)
    assert tree is not None
    return read_payload(ReceiptAnswer, tree, "test").receipt.to_receipt(hint)


WRAPPERS = {
    "campaigns": "campaign",
    "customers": "customer",
    "rewards": "reward",
    "transactions": "transaction",
    "available_rewards": "reward",
    "balances": "item",
    "items": "item",
    "rows": "row",
}


def as_wire_json(tree: Any, parent: str = "") -> Any:
    """The neutral tree of an XML answer re-shaped as the platform's JSON (wrappers → arrays)."""
    if isinstance(tree, dict):
        child = WRAPPERS.get(parent)
        if child is not None and set(tree) == {child}:
            entries = tree[child]
            return [
                as_wire_json(entry)
                for entry in (entries if isinstance(entries, list) else [entries])
            ]
        return {key: as_wire_json(value, key) for key, value in tree.items()}
    if parent in WRAPPERS and tree == "":
        return []
    return tree


@pytest.mark.parametrize("name", list(SEED_RECEIPTS))
def test_seed_receipt_xml(name: str) -> None:
    hint, expected = EXPECTED[name]
    assert parse_receipt(SEED_RECEIPTS[name], hint) == expected


@pytest.mark.parametrize("name", list(SEED_RECEIPTS))
def test_seed_receipt_as_json_reads_the_same(name: str) -> None:
    hint, expected = EXPECTED[name]
    body = json.dumps(as_wire_json(decode_body(SEED_RECEIPTS[name]))).encode()
    assert body.startswith(b'{"status": "success"')
    assert parse_receipt(body, hint) == expected


@pytest.mark.parametrize("name", ["giftcard redeem", "earned redeem"])
def test_money_redeem_without_type_or_hint_is_not_guessed(name: str) -> None:
    with pytest.raises(ProtocolError, match="which kind"):
        parse_receipt(SEED_RECEIPTS[name])


def test_stated_campaign_type_wins_over_hint() -> None:
    body = SEED_RECEIPTS["earned redeem"].replace(
        b"<name>Widget Rewards</name></campaign>",
        b"<name>Widget Rewards</name><type>earned</type></campaign>",
    )
    assert isinstance(parse_receipt(body, CampaignKind.GIFTCARD).balance, EarnedBalance)


def test_negative_deduct_reads_as_amount_taken() -> None:
    body = json.dumps(
        {
            "status": "success",
            "receipt": {
                "campaign": {"id": "9", "name": "Gift", "type": "giftcard"},
                "transaction": {
                    "id": "517",
                    "deduct": {"amount": "-1", "currency": "RWF"},
                    "balance": {"amount": "1.00", "currency": "RWF", "glyph": "Fr"},
                },
            },
        }
    ).encode()
    receipt_ = parse_receipt(body)
    assert receipt_.deducted == Decimal(1)
    assert receipt_.balance == GiftcardBalance(
        campaign_id="9",
        campaign_name="Gift",
        money=Money(amount=Decimal("1.00"), currency="RWF", glyph="Fr"),
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (
            b'<response status="success"><customer status="new">'
            b"<code>1234567890123456</code><card_number>1234567890</card_number>"
            b"</customer></response>",
            "new",
        ),
        (
            b'<response status="success">\n  <customer status="update">\n'
            b"    <code>1234567890123456</code>\n"
            b"    <card_number>1234567890</card_number>\n  </customer>\n</response>",
            "update",
        ),
        (
            b'{"status":"success","customer":{"status":"registered",'
            b'"code":"1234567890123456","card_number":"1234567890"}}',
            "registered",
        ),
    ],
)
def test_record_customer_success(body: bytes, status: str) -> None:
    tree = open_envelope(body)
    assert tree is not None
    customer = read_payload(RecordedCustomerAnswer, tree, "record_customer").customer
    assert (customer.status, customer.code, customer.card_number) == (
        status,
        "1234567890123456",
        "1234567890",
    )


def test_customers_batch_success_seed() -> None:
    body = b"""<response status="success">
    <batch status="imported">
    <customers>
    <new>2</new>
    <updated>1</updated>
    </customers>
    </batch>
    </response>"""
    tree = open_envelope(body)
    assert tree is not None
    batch = read_payload(CustomerBatchAnswer, tree, "customers_batch").batch
    assert (batch.status, batch.customers.new, batch.customers.updated) == ("imported", 2, 1)
    assert batch.rows == []


def test_transaction_batch_success_seed_and_rows() -> None:
    seed = b"""<response status="success">
        <batch status="all_imported"><transactions>7</transactions></batch></response>"""
    tree = open_envelope(seed)
    assert tree is not None
    batch = read_payload(TransactionBatchAnswer, tree, "batch_transactions").batch
    assert (batch.status, batch.transactions, batch.rows) == ("all_imported", 7, [])

    one_row = b"""<response status="success"><batch status="partially_imported">
        <transactions>1</transactions><rows><row><line>1</line><status>error</status>
        <error>unknown customer</error></row></rows></batch></response>"""
    tree = open_envelope(one_row)
    assert tree is not None
    rows = read_payload(TransactionBatchAnswer, tree, "batch_transactions").batch.rows
    assert [(row.line, row.status, row.error) for row in rows] == [
        (1, "error", "unknown customer")
    ]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("Error message", Rejected),
        ("Authentication failed: unknown user or key", AuthFailed),
        ("A customer with card number 1212 already exists", AlreadyExists),
        ("The card has already been registered", AlreadyExists),
        ("Customer not found", NotFound),
        ("Insufficient balance: 50 points needed", Rejected),
    ],
)
@pytest.mark.parametrize("form", ["xml", "json"])
def test_error_answers_become_typed_errors(
    message: str, error: type[LoyaltyError], form: str
) -> None:
    if form == "xml":
        body = f'<response status="error">\n<error>{message}</error>\n</response>'.encode()
    else:
        body = json.dumps({"status": "error", "error": message}).encode()
    with pytest.raises(error) as caught:
        open_envelope(body)
    assert type(caught.value) is error
    assert caught.value.message == message


def test_error_list_is_joined() -> None:
    with pytest.raises(Rejected, match="first; second"):
        open_envelope(b'{"status":"error","errors":["first","second"]}')


def test_no_match_is_none_not_an_error() -> None:
    assert (
        open_envelope(b'<response status="no_match"><message>No match</message></response>')
        is None
    )
    assert open_envelope(b'{"status":"no_match","message":"No match"}') is None


def test_empty_success_and_jsonp() -> None:
    assert open_envelope(b'<response status="success">\n</response>') == {"status": "success"}
    tree = open_envelope(b'callbackFn({"status":"success","customer":{"card_number":"42"}});')
    assert tree == {"status": "success", "customer": {"card_number": "42"}}


CUSTOMER_XML = "<customer><code>{code}</code><card_number>c{code}</card_number></customer>"


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_customer_lists_are_lists_in_both_formats(count: int) -> None:
    codes = [str(100 + n) for n in range(count)]
    xml = (
        '<response status="success"><customers>'
        + "".join(CUSTOMER_XML.format(code=code) for code in codes)
        + "</customers></response>"
    ).encode()
    wire_json = json.dumps(
        {
            "status": "success",
            "customers": [{"code": code, "card_number": f"c{code}"} for code in codes],
        }
    ).encode()
    for body in (xml, wire_json):
        tree = open_envelope(body)
        assert tree is not None
        customers = read_payload(CustomerListAnswer, tree, "customer_search").customers
        assert [customer.code for customer in customers] == codes


def test_self_closing_empty_wrapper_is_an_empty_list() -> None:
    tree = open_envelope(b'<response status="success"><customers/></response>')
    assert tree is not None
    assert read_payload(CustomerListAnswer, tree, "customer_search").customers == []


INFO_XML = b"""<response status="success">
<customer>
  <code>C1</code><card_number>4821</card_number><first_name>Jane</first_name>
  <phone>+13347226715</phone><email>jane@example.com</email>
  <custom_date>0000-00-00</custom_date><registered>Y</registered>
  <record_timestamp>2024-05-01 10:20:30</record_timestamp>
</customer>
<campaigns>
  <campaign>
    <id>111</id><name>Widget Rewards</name><type>points</type><balance>450</balance>
    <cumulative>900</cumulative><monetary_balance>4,50</monetary_balance>
    <currency>USD</currency><glyph>$</glyph>
    <first_transaction>2024-05-01</first_transaction>
    <last_transaction>0000-00-00</last_transaction>
    <available_rewards>
      <reward><id>7</id><level>300</level><description>Free coffee</description></reward>
    </available_rewards>
  </campaign>
  <campaign>
    <id>555</id><name>Coffee club</name><type>buyx</type><balance>8</balance>
    <available_rewards></available_rewards>
    <balances>
      <item><name>Coffees</name><current>6</current><cumulative>16</cumulative>
        <reward_level>10</reward_level></item>
    </balances>
  </campaign>
</campaigns>
</response>"""


def test_customer_info_xml_and_json_agree() -> None:
    xml_tree = open_envelope(INFO_XML)
    assert xml_tree is not None
    from_xml = read_payload(CustomerInfoAnswer, xml_tree, "customer_info").profile()
    json_tree = open_envelope(json.dumps(as_wire_json(decode_body(INFO_XML))).encode())
    assert json_tree is not None
    from_json = read_payload(CustomerInfoAnswer, json_tree, "customer_info").profile()
    assert from_xml == from_json

    member = from_xml.to_member()
    assert member.birthday is None
    assert member.registered is True
    assert member.campaign_ids == ("111", "555")
    assert from_xml.record_timestamp == dt.datetime(2024, 5, 1, 10, 20, 30, tzinfo=dt.UTC)

    points, buyx = (standing.to_balance() for standing in from_xml.campaigns)
    assert isinstance(points, PointsBalance)
    assert points.points == Decimal(450)
    assert points.money_value == Money(amount=Decimal("4.50"), currency="USD", glyph="$")
    assert [reward.id for reward in points.available_rewards] == ["7"]
    assert buyx == BuyXBalance(
        campaign_id="555",
        campaign_name="Coffee club",
        items=(BuyXCount(item="Coffees", current=6, buy_amount=10, cumulative=16),),
    )


def test_unknown_status_and_missing_status_are_protocol_errors() -> None:
    for body in (b'{"status":"maybe"}', b"{}", b"<response><x>1</x></response>", b"<other/>"):
        with pytest.raises(ProtocolError):
            open_envelope(body)


def test_document_type_declarations_are_refused() -> None:
    body = b"""<?xml version="1.0"?>
<!DOCTYPE response [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>
<response status="success"><x>&b;</x></response>"""
    with pytest.raises(ProtocolError, match="document type"):
        open_envelope(body)


def test_batch_text_refuses_delimiter_and_line_breaks() -> None:
    header = ["code", "first_name"]
    assert batch_text(header, [["1", "Jane"], ["2", "Jim"]], "pipe") == "1|Jane\n2|Jim\n"
    with pytest.raises(BatchValueError, match="row 2, column first_name"):
        batch_text(header, [["1", "Jane"], ["2", "Jim|Bob"]], "pipe")
    with pytest.raises(BatchValueError):
        batch_text(header, [["1", "Jane\nDoe"]], "tab")
    with pytest.raises(ValueError, match="1 values for 2 columns"):
        batch_text(header, [["1"]], "comma")


cell_text = st.text(st.characters(codec="utf-8"), max_size=12)


@given(st.lists(st.lists(cell_text, min_size=3, max_size=3), min_size=1, max_size=6))
def test_batch_text_round_trips_or_refuses(rows: list[list[str]]) -> None:
    delimiter = choose_delimiter([value for row in rows for value in row])
    char = {"pipe": "|", "comma": ",", "tab": "\t"}[delimiter]
    try:
        text = batch_text(["a", "b", "c"], rows, delimiter)
    except BatchValueError as refused:
        bad = rows[refused.row]
        assert any(char in value or len(f"{value}x".splitlines()) > 1 for value in bad)
        return
    assert [line.split(char) for line in text.splitlines()] == rows
    assert text.count("\n") == len(rows)


def test_transaction_layouts_of_every_kind() -> None:
    line = TransactionLine(
        campaign_id="111",
        code="12121",
        amount=Decimal("14.95"),
        date=dt.date(2010, 3, 15),
        authorization="API test import 1",
    )
    header, rows = transaction_columns(CampaignKind.POINTS, [line])
    assert header == ["campaign_id", "code", "redeemed", "amount", "date", "authorization"]
    assert rows == [["111", "12121", "N", "14.95", "2010-03-15", "API test import 1"]]

    promo = line.model_copy(update={"promo_ids": ("345", "345", "354")})
    header, rows = transaction_columns(CampaignKind.POINTS, [line, promo])
    assert header[-1] == "promo_id"
    assert [row[-1] for row in rows] == ["", "345,345,354"]
    with pytest.raises(BatchValueError):
        batch_text(header, rows, "comma")

    buyx = TransactionLine(campaign_id="5", code="12121", service_product="Coffees", amount=3)
    header, rows = transaction_columns(CampaignKind.BUYX, [buyx])
    assert header == [
        "campaign_id",
        "code",
        "redeemed",
        "service_product",
        "amount",
        "none",
        "none",
    ]
    assert rows == [["5", "12121", "N", "Coffees", "3", "", ""]]

    visit = TransactionLine(campaign_id="3", code="12121", authorization="API add event")
    redeem = TransactionLine(campaign_id="3", code="12121", redeemed=True, amount=2)
    for kind in (CampaignKind.EVENTS, CampaignKind.EARNED):
        header, rows = transaction_columns(kind, [visit, redeem], ["custom_field_3"])
        assert header == [
            "campaign_id", "code", "redeemed", "none", "authorization", "amount", "custom_field_3"
        ]  # fmt: skip
        assert rows[1][:3] == ["3", "12121", "Y"]
        assert rows[1][5] == "2"

    gift = TransactionLine(campaign_id="2", code="12121", redeemed=True, amount=Decimal("49.62"))
    header, rows = transaction_columns(CampaignKind.GIFTCARD, [gift])
    assert header == ["campaign_id", "code", "redeemed", "amount", "none", "none"]
    assert rows == [["2", "12121", "Y", "49.62", "", ""]]


WIRE_RECEIPT: dict[str, Any] = {
    "status": "success",
    "receipt": {
        "account_name": "Demo Business",
        "campaign": {"id": "111", "name": "Widget Rewards", "type": "points"},
        "customer": {"first_name": "Jane", "card_number": "4821", "custom_date": "1970-07-14"},
        "transaction": {
            "id": "1234",
            "purchase": {"amount": "9.95", "currency": "USD"},
            "recorded": {"points": "995", "description": "Till 3"},
            "balance": {"points": "4590", "monetary": "45.90", "currency": "USD"},
            "cumulative_balance": {"points": "78390", "monetary": "783.90", "currency": "USD"},
        },
    },
}
WIRE_RECEIPT_BYTES = json.dumps(WIRE_RECEIPT).encode()


def leaf_paths(tree: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(tree, dict):
        return [leaf for key, value in tree.items() for leaf in leaf_paths(value, (*path, key))]
    return [path]


RECEIPT_LEAVES = [path for path in leaf_paths(WIRE_RECEIPT) if path[0] == "receipt"]


def read_any(body: bytes) -> None:
    """Everything a client does with an answer; only typed errors may come out."""
    tree = open_envelope(body)
    if tree is None:
        return
    for model in (ReceiptAnswer, CustomerInfoAnswer, CustomerListAnswer, CustomerBatchAnswer):
        try:
            answer = read_payload(model, tree, "fuzz")
        except ProtocolError:
            continue
        if isinstance(answer, ReceiptAnswer):
            with contextlib.suppress(ProtocolError):
                answer.receipt.to_receipt()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_typed_errors(body: bytes) -> None:
    with contextlib.suppress(LoyaltyError):
        read_any(body)


@pytest.mark.parametrize("name", ["points earn", "buyx redeem"])
@settings(max_examples=100)
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_truncated_documents_are_protocol_errors(name: str, cut: int) -> None:
    for document in (SEED_RECEIPTS[name].strip(), WIRE_RECEIPT_BYTES):
        truncated = document[: cut % len(document)]
        with pytest.raises(ProtocolError):
            read_any(truncated)


wrong_types = st.one_of(
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), min_size=1, max_size=2),
)


@settings(max_examples=200)
@given(st.sampled_from(RECEIPT_LEAVES), wrong_types)
def test_a_wrongly_typed_field_is_a_protocol_error(path: tuple[str, ...], value: Any) -> None:
    tree = copy.deepcopy(WIRE_RECEIPT)
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    body = json.dumps(tree).encode()
    open_tree = open_envelope(body)
    assert open_tree is not None
    with pytest.raises(ProtocolError):
        read_payload(ReceiptAnswer, open_tree, "record_activity").receipt.to_receipt()


AMOUNT_SLOTS = [
    ("transaction", "recorded", "points"),
    ("transaction", "balance", "points"),
    ("transaction", "balance", "monetary"),
]
AMOUNT_GRAMMAR = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")


def xml_safe(text: str) -> bool:
    return not re.search("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]", text)


def read_slot(receipt_: Receipt, slot: tuple[str, ...]) -> Decimal | None:
    balance = receipt_.balance
    if slot == ("transaction", "recorded", "points"):
        return receipt_.earned
    if balance is None:
        return None
    assert isinstance(balance, PointsBalance)
    if slot == ("transaction", "balance", "points"):
        return balance.points
    return balance.money_value.amount if balance.money_value else None


@settings(max_examples=300)
@given(
    st.sampled_from(AMOUNT_SLOTS),
    st.one_of(
        st.text(max_size=12),
        st.from_regex(r"\A[+-]?[0-9]{1,12}([.,][0-9]{0,6})?\Z"),
        st.sampled_from(["1e3", "NaN", "Infinity", "1,000.50", "0x10", "1_000", " 7 ", "4.5.6"]),
    ),
    st.sampled_from(["json", "xml"]),
)
def test_an_amount_is_read_exactly_or_refused(slot: tuple[str, ...], text: str, form: str) -> None:
    tree = copy.deepcopy(WIRE_RECEIPT)
    node = tree["receipt"]
    for key in slot[:-1]:
        node = node[key]
    node[slot[-1]] = text
    body = json.dumps(tree).encode() if form == "json" else to_xml(tree).encode()
    stripped = text.strip()
    refused = (bool(stripped) and not AMOUNT_GRAMMAR.match(stripped)) or (
        form == "xml" and not xml_safe(text)
    )
    if refused:
        with pytest.raises(ProtocolError):
            parse_receipt(body)
        return
    read = read_slot(parse_receipt(body), slot)
    if not stripped:
        assert read is None
    else:
        assert isinstance(read, Decimal)
        assert read == Decimal(stripped.replace(",", "."))


def to_xml(tree: dict[str, Any]) -> str:
    from xml.sax.saxutils import escape

    def element(tag: str, value: Any) -> str:
        if isinstance(value, dict):
            return f"<{tag}>" + "".join(element(k, v) for k, v in value.items()) + f"</{tag}>"
        return f"<{tag}>{escape(str(value))}</{tag}>"

    body = {key: value for key, value in tree.items() if key != "status"}
    inner = "".join(element(key, value) for key, value in body.items())
    return f'<response status="{tree["status"]}">{inner}</response>'


def test_kept_texts_read_the_same_every_time_and_refusals_are_not_kept() -> None:
    """Amount, date and time texts are parsed once and kept; a bad one is refused each time."""
    good = {"id": "7", "balance": "12,50", "first_transaction": "2025-01-10", "type": "Points"}
    for _ in range(2):
        standing = CampaignStanding.model_validate(good)
        assert standing.balance == Decimal("12.50")
        assert standing.first_transaction == dt.date(2025, 1, 10)
        assert standing.kind is CampaignKind.POINTS
    for bad in ({"balance": "1e3"}, {"first_transaction": "10/01/2025"}):
        for _ in range(2):
            with pytest.raises(ValidationError):
                CampaignStanding.model_validate(good | bad)
