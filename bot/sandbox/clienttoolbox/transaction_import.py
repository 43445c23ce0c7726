"""``batch_transactions``: import earn and redeem rows for any campaign kind.

``apply_ratio`` follows the vendor's table (seed 003): without it an amount is already in the
campaign's unit; with ``yes`` points earn from money, points and events redeem by reward id,
earned campaigns earn per event and buy-X redeems by number of free items.
"""

from __future__ import annotations

import datetime as dt
import re

from bot.sandbox.clienttoolbox.activity import ensure_covered
from bot.sandbox.clienttoolbox.arithmetic import (
    AmountProblem,
    apply_promos,
    money_cents,
    purchase_points,
    whole,
)
from bot.sandbox.clienttoolbox.batch_layout import (
    batch_columns,
    batch_data,
    batch_delimiter,
    split_row,
)
from bot.sandbox.clienttoolbox.calls import (
    ApiCall,
    ApiError,
    custom_field_number,
    iso_date,
    now_stamp,
)
from bot.sandbox.clienttoolbox.campaigns import find_promos, find_reward
from bot.sandbox.clienttoolbox.envelope import Answer, Many, Node
from bot.sandbox.clienttoolbox.ledger import Campaign, Customer, Item
from bot.sandbox.clienttoolbox.standing import standing_in

_FIELDS = frozenset(
    {
        "campaign_id",
        "code",
        "card_number",
        "redeemed",
        "amount",
        "date",
        "authorization",
        "promo_id",
        "service_product",
    }
)
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _known(name: str) -> bool:
    return name in _FIELDS or custom_field_number(name) is not None


def batch_transactions(call: ApiCall) -> Answer:
    delimiter = batch_delimiter(call)
    apply_ratio = call.text("apply_ratio").lower() or "no"
    if apply_ratio not in {"yes", "no"}:
        raise ApiError(f"apply_ratio must be yes or no, not {apply_ratio!r}")
    create_customers = call.text("create_new_customers").upper() not in {"N", "NO"}
    columns = batch_columns(call, "visits_header", _known)
    names = {column.name for column in columns}
    for required in ("campaign_id", "redeemed"):
        if required not in names:
            raise ApiError(f"a visits_header_N must name the {required} column")
    if not names & {"code", "card_number"}:
        raise ApiError("a visits_header_N must name the code column")
    lines = batch_data(call, "visits_data")
    rows: list[Node] = []
    imported = new_customers = 0
    for number, line in lines:
        try:
            record = split_row(line, delimiter, columns)
            with call.ledger.savepoint():
                transaction_id, created = _import_row(
                    call, record, apply_ratio == "yes", create_customers
                )
        except ApiError as problem:
            rows.append(
                {"line": number, "status": "error", "transaction_id": "", "error": problem.message}
            )
            continue
        imported += 1
        new_customers += created
        rows.append(
            {"line": number, "status": "imported", "transaction_id": transaction_id, "error": ""}
        )
    if imported == len(rows):
        status = "all_imported"
    elif imported == 0:
        status = "none_imported"
    else:
        status = "partially_imported"
    return Answer(
        {
            "batch": {
                "@status": status,
                "transactions": imported,
                "new_customers": new_customers,
                "rows": Many("row", rows),
            }
        }
    )


def _stamp(text: str) -> str:
    if not text:
        return now_stamp()
    day = iso_date(text)
    match = _US_DATE.match(text)
    if day is None and match:
        month, day_of_month, year = (int(part) for part in match.groups())
        try:
            day = dt.date(year, month, day_of_month)
        except ValueError:
            day = None
    if day is None:
        raise ApiError(f"date {text!r} is not YYYY-MM-DD (or MM/DD/YYYY)")
    return f"{day.isoformat()} 00:00:00"


def _customer(call: ApiCall, member: str, create: bool) -> tuple[Customer, bool]:
    ledger, account_id = call.ledger, call.account_id
    found = ledger.customer_by_code(account_id, member) or ledger.customer_by_card(
        account_id, member
    )
    if found is not None:
        return found, False
    if not create:
        raise ApiError(f"no customer has code or card_number {member}")
    return ledger.add_customer(account_id, member, "", {}, {}, now_stamp()), True


def _import_row(
    call: ApiCall, record: dict[str, str], apply_ratio: bool, create_customers: bool
) -> tuple[int, bool]:
    campaign_id = record.get("campaign_id", "")
    if not campaign_id:
        raise ApiError("campaign_id is empty")
    campaign = call.campaign_by_id(campaign_id)
    flag = record.get("redeemed", "").upper()
    if flag not in {"Y", "N", "YES", "NO"}:
        raise ApiError(f"redeemed must be Y or N, not {record.get('redeemed', '')!r}")
    redeemed = flag.startswith("Y")
    stamp = _stamp(record.get("date", ""))
    member = record.get("code") or record.get("card_number") or ""
    if not member:
        raise ApiError("code is empty")
    promo_ids = [part.strip() for part in record.get("promo_id", "").split(",") if part.strip()]
    if promo_ids and campaign.kind != "points":
        raise ApiError(
            f"promo_id is for points campaigns; campaign {campaign_id} is a {campaign.kind}"
            " campaign"
        )
    product = record.get("service_product", "")
    if product and campaign.kind != "buyx":
        raise ApiError(
            f"service_product is for buy-X campaigns; campaign {campaign_id} is a"
            f" {campaign.kind} campaign"
        )
    customer, created = _customer(call, member, create_customers)
    amount = record.get("amount", "")
    item: Item | None = None
    try:
        if campaign.kind == "buyx":
            item = _item(call, campaign, product, create=not redeemed)
            units = _buyx_units(item, amount, redeemed, apply_ratio)
        elif redeemed:
            units = _redeemed_units(call, campaign, amount, apply_ratio)
        else:
            units = _earned_units(call, campaign, amount, apply_ratio, promo_ids)
    except AmountProblem as problem:
        raise ApiError(str(problem)) from None
    if redeemed:
        standing = standing_in(call.ledger, call.catalogue, customer, campaign)
        if item is None:
            ensure_covered(standing, standing.balance, units)
        else:
            ensure_covered(standing, standing.item(item).current, units, f" of {item.description}")
    transaction_id = call.add_movement(
        customer,
        campaign,
        units,
        stamp=stamp,
        redeemed=redeemed,
        item_pk=None if item is None else item.pk,
        authorization=record.get("authorization", ""),
        service_product="" if item is None else item.description,
        custom_fields={
            str(number): value
            for name, value in record.items()
            if (number := custom_field_number(name)) is not None
        },
    )
    return transaction_id, created


def _earned_units(
    call: ApiCall, campaign: Campaign, amount: str, apply_ratio: bool, promo_ids: list[str]
) -> int:
    if campaign.kind == "points":
        if apply_ratio:
            cents = money_cents(amount, "amount", positive=False) if amount else 0
            points = purchase_points(campaign, cents)
        elif amount:
            points = whole(
                amount,
                "amount",
                unit="points (apply_ratio is no: amount is points)",
                positive=False,
            )
        else:
            points = 0
        return apply_promos(points, find_promos(call.catalogue, campaign, promo_ids))
    if campaign.kind == "giftcard":
        return money_cents(_required(amount), "amount")
    if campaign.kind == "events":
        return whole(amount, "amount", unit="events") if amount else 1
    if apply_ratio:
        events = whole(amount, "amount", unit="events") if amount else 1
        return events * campaign.earned_per_event_cents
    return money_cents(amount, "amount") if amount else campaign.earned_per_event_cents


def _redeemed_units(call: ApiCall, campaign: Campaign, amount: str, apply_ratio: bool) -> int:
    amount = _required(amount)
    if campaign.kind in {"points", "events"}:
        if apply_ratio:
            return find_reward(call.catalogue, campaign, amount).level
        return whole(amount, "amount", unit=campaign.kind)
    return money_cents(amount, "amount")


def _buyx_units(item: Item, amount: str, redeemed: bool, apply_ratio: bool) -> int:
    if not redeemed:
        return whole(amount, "amount", unit="items") if amount else 1
    count = whole(_required(amount), "amount", unit="items")
    if not apply_ratio:
        return count
    if item.reward_level <= 0:
        raise ApiError(f"item {item.description!r} has no reward level to redeem")
    return count * item.reward_level


def _item(call: ApiCall, campaign: Campaign, description: str, *, create: bool) -> Item:
    """An item by its exact description; a purchase of a new description adds the item."""
    if not description:
        raise ApiError(f"service_product is required for buy-X campaign {campaign.campaign_id}")
    for item in call.catalogue.items[campaign.campaign_id]:
        if item.description == description:
            return item
    if not create:
        raise ApiError(
            f"service_product {description!r} is not an item of campaign {campaign.campaign_id}"
        )
    return call.ledger.add_item(campaign.campaign_id, description)


def _required(amount: str) -> str:
    if not amount:
        raise ApiError("amount is required")
    return amount
