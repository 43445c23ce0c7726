"""Making a customer belong to campaigns, and the ``auto_add`` sign-up credit."""

from __future__ import annotations

from collections.abc import Sequence

from bot.sandbox.clienttoolbox.arithmetic import AmountProblem, money_cents, whole
from bot.sandbox.clienttoolbox.calls import ApiCall, ApiError, now_stamp
from bot.sandbox.clienttoolbox.campaigns import require_item
from bot.sandbox.clienttoolbox.ledger import MONEY_KINDS, Campaign, Customer

ACTIVATION = "Account Activated."
AUTO_ADD = "Auto add."


def enroll(call: ApiCall, customer: Customer, campaigns: Sequence[Campaign]) -> None:
    """An activation transaction in each campaign the customer does not belong to yet."""
    belongs = {total.campaign_id for total in call.ledger.totals(customer)}
    stamp = now_stamp()
    for campaign in campaigns:
        if campaign.campaign_id in belongs:
            continue
        call.add_movement(
            customer,
            campaign,
            0,
            stamp=stamp,
            authorization=ACTIVATION,
            service_product="Activation",
        )
        belongs.add(campaign.campaign_id)


def credit_auto_add(call: ApiCall, customer: Customer, campaign: Campaign, value: str) -> None:
    """Points, visits, money or one item (by name), depending on the campaign kind."""
    item_pk: int | None = None
    service_product = ""
    try:
        if campaign.kind in MONEY_KINDS:
            units = money_cents(value, "auto_add")
        elif campaign.kind == "buyx":
            item = require_item(call.catalogue, campaign, value, "auto_add")
            units, item_pk, service_product = 1, item.pk, item.description
        else:
            units = whole(value, "auto_add", unit=campaign.kind)
    except AmountProblem as problem:
        raise ApiError(str(problem)) from None
    call.add_movement(
        customer,
        campaign,
        units,
        authorization=AUTO_ADD,
        item_pk=item_pk,
        service_product=service_product,
    )
