"""Transaction calls: record_activity, redeem and transaction_delete, with their receipts."""

from __future__ import annotations

from bot.sandbox.clienttoolbox.arithmetic import (
    apply_promos,
    describe_units,
    format_cents,
    points_for_money,
    purchase_points,
)
from bot.sandbox.clienttoolbox.calls import (
    ApiCall,
    ApiError,
    NoMatch,
    custom_field_number,
    now_stamp,
)
from bot.sandbox.clienttoolbox.campaigns import find_promos, find_reward, require_item
from bot.sandbox.clienttoolbox.envelope import Answer, Node
from bot.sandbox.clienttoolbox.ledger import Campaign, Customer
from bot.sandbox.clienttoolbox.standing import (
    Standing,
    receipt_balance_blocks,
    receipt_customer_block,
    standing_in,
)


def transaction_custom_fields(call: ApiCall) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in call.params.items():
        number = custom_field_number(name)
        if number is not None:
            fields[str(number)] = value.strip()
    return fields


def receipt_answer(
    call: ApiCall,
    campaign: Campaign,
    customer: Customer,
    transaction_id: int,
    description: str,
    movement: dict[str, Node],
    *,
    redemption: bool,
) -> Answer:
    standing = standing_in(call.ledger, call.catalogue, customer, campaign)
    receipt: dict[str, Node] = {"account_name": call.account.name}
    if redemption:
        account = call.account
        receipt["agency"] = {
            "id": account.agency_id,
            "name": account.agency_name,
            "email": account.agency_email,
        }
    receipt["campaign"] = {
        "id": campaign.campaign_id,
        "name": campaign.name,
        "type": campaign.kind,
    }
    receipt["customer"] = receipt_customer_block(customer)
    receipt["transaction"] = {
        "id": transaction_id,
        "description": description,
        **movement,
        **receipt_balance_blocks(standing),
    }
    return Answer({"receipt": receipt})


def _customer_or_new(call: ApiCall) -> Customer:
    """The customer by code or card number; an unknown one is created, as the docs say."""
    ledger, account_id = call.ledger, call.account_id
    code, card = call.text("code"), call.text("card_number")
    if code:
        found = ledger.customer_by_code(account_id, code)
        if found is None:
            found = ledger.add_customer(account_id, code, "", {}, {}, now_stamp())
        return found
    if not card:
        raise ApiError("code or card_number is required")
    found = ledger.customer_by_card(account_id, card) or ledger.customer_by_code(account_id, card)
    if found is None:
        found = ledger.add_customer(account_id, card, card, {}, {}, now_stamp())
    return found


def record_activity(call: ApiCall) -> Answer:
    campaign = call.campaign()
    customer = _customer_or_new(call)
    description = call.text("authorization")
    movement: dict[str, Node]
    item_pk: int | None = None
    service_product = ""
    if campaign.kind == "points":
        cents = call.money_cents("amount", positive=False) if call.text("amount") else 0
        promo_ids = [part.strip() for part in call.text("promo_id").split(",") if part.strip()]
        if len(promo_ids) > 1:
            raise ApiError("promo_id takes one promotion id (batch_transactions takes a list)")
        promos = find_promos(call.catalogue, campaign, promo_ids)
        units = apply_promos(purchase_points(campaign, cents), promos)
        movement = {"purchase": {"amount": format_cents(cents), "currency": campaign.currency}}
        for promo in promos:
            movement["promotion"] = {
                "description": promo.description,
                "operation": promo.operation,
                "amount": str(promo.value),
            }
        movement["recorded"] = {"points": units, "description": description}
    elif campaign.kind == "giftcard":
        units = call.money_cents("amount")
        movement = {
            "add": {
                "amount": format_cents(units),
                "currency": campaign.currency,
                "description": description,
            }
        }
    elif campaign.kind == "events":
        units = 1
        movement = {"event": {"description": description}}
    elif campaign.kind == "earned":
        units = campaign.earned_per_event_cents
        movement = {
            "event": {"description": description},
            "earn": {"amount": format_cents(units), "currency": campaign.currency},
        }
    else:
        item = require_item(
            call.catalogue, campaign, call.required("service_product"), "service_product"
        )
        units = 1
        if call.text("buyx_quantity"):
            units = call.whole("buyx_quantity", unit="items")
        item_pk, service_product = item.pk, item.description
        movement = {
            "purchase": {"item": item.description, "quantity": units, "description": description}
        }
    return _recorded(
        call, customer, campaign, units, description, movement, item_pk, service_product
    )


def ensure_covered(standing: Standing, available: int, needed: int, what: str = "") -> None:
    if needed > available:
        campaign = standing.campaign
        raise ApiError(
            f"Insufficient balance: the customer has {describe_units(campaign, available)}"
            f"{what} in campaign {campaign.campaign_id}, the redemption needs"
            f" {describe_units(campaign, needed)}"
        )


def redeem(call: ApiCall) -> Answer:
    campaign = call.campaign()
    customer = call.customer(code_only=True)
    standing = standing_in(call.ledger, call.catalogue, customer, campaign)
    description = call.text("authorization")
    movement: dict[str, Node] = {}
    item_pk: int | None = None
    service_product = ""
    if campaign.kind == "points":
        units = 0
        if call.text("reward_to_redeem"):
            reward = find_reward(call.catalogue, campaign, call.text("reward_to_redeem"))
            units += reward.level
            service_product = reward.description
            movement["reward"] = {
                "id": reward.pk,
                "points": reward.level,
                "description": reward.description,
            }
        if call.text("custom_points_redeem"):
            points = call.whole("custom_points_redeem", unit="points")
            units += points
            movement["custom"] = {"points": points}
        if call.text("custom_dollars_redeem"):
            if not campaign.reward_ratio:
                raise ApiError(
                    f"custom_dollars_redeem needs a spend-to-reward ratio; campaign"
                    f" {campaign.campaign_id} has none"
                )
            cents = call.money_cents("custom_dollars_redeem")
            points = points_for_money(campaign, cents)
            units += points
            movement["monetary"] = {
                "amount": format_cents(cents),
                "currency": campaign.currency,
                "points": points,
            }
        if not movement:
            raise ApiError(
                "one of reward_to_redeem, custom_points_redeem or custom_dollars_redeem"
                " is required"
            )
        ensure_covered(standing, standing.balance, units)
    elif campaign.kind == "events":
        reward = find_reward(call.catalogue, campaign, call.required("reward_to_redeem"))
        units, service_product = reward.level, reward.description
        movement["reward"] = {"id": reward.pk, "amount": units, "description": reward.description}
        ensure_covered(standing, standing.balance, units)
    elif campaign.kind == "buyx":
        item = require_item(
            call.catalogue, campaign, call.required("reward_to_redeem"), "reward_to_redeem"
        )
        if item.reward_level <= 0:
            raise ApiError(f"item {item.description!r} has no reward level to redeem")
        units, item_pk, service_product = item.reward_level, item.pk, item.description
        movement["reward"] = {"service_product": item.description, "deduct": units}
        ensure_covered(standing, standing.item(item).current, units, f" of {item.description}")
    else:
        units = call.money_cents("reward_to_redeem")
        movement["deduct"] = {
            "amount": format_cents(units),
            "currency": campaign.currency,
            "description": description,
        }
        ensure_covered(standing, standing.balance, units)
    return _recorded(
        call,
        customer,
        campaign,
        units,
        description,
        movement,
        item_pk,
        service_product,
        redeemed=True,
    )


def _recorded(
    call: ApiCall,
    customer: Customer,
    campaign: Campaign,
    units: int,
    description: str,
    movement: dict[str, Node],
    item_pk: int | None,
    service_product: str,
    *,
    redeemed: bool = False,
) -> Answer:
    """Store an accrual or redemption (``authorization``: its description) and answer it."""
    transaction_id = call.add_movement(
        customer,
        campaign,
        units,
        authorization=description,
        redeemed=redeemed,
        item_pk=item_pk,
        service_product=service_product,
        custom_fields=transaction_custom_fields(call),
    )
    return receipt_answer(
        call, campaign, customer, transaction_id, description, movement, redemption=redeemed
    )


def transaction_delete(call: ApiCall) -> Answer:
    for name in ("campaign_id", "code", "transaction_id"):
        call.required(name)
    campaign = call.campaign()
    customer = call.ledger.customer_by_code(call.account_id, call.text("code"))
    if customer is None:
        raise NoMatch(f"No customer has code {call.text('code')}")
    transaction_id = call.text("transaction_id")
    if not transaction_id.isdigit() or not call.ledger.delete_movement(
        customer, campaign.campaign_id, int(transaction_id)
    ):
        raise ApiError(
            f"transaction {transaction_id} is not a transaction of customer {customer.code}"
            f" in campaign {campaign.campaign_id}"
        )
    return Answer()
