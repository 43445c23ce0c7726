"""A customer's standing in campaigns, and the answer blocks that show it."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.sandbox.clienttoolbox.arithmetic import (
    format_cents,
    format_units,
    points_value_cents,
)
from bot.sandbox.clienttoolbox.envelope import Many, Node
from bot.sandbox.clienttoolbox.ledger import (
    CONTACT_COLUMNS,
    MONEY_KINDS,
    Campaign,
    Catalogue,
    Customer,
    Item,
    Ledger,
    Reward,
)

UNSET_DATE = "0000-00-00"


@dataclass
class ItemStanding:
    item: Item
    current: int = 0
    cumulative: int = 0


@dataclass
class Standing:
    """Sums of one customer's transactions in one campaign."""

    campaign: Campaign
    balance: int = 0
    cumulative: int = 0
    first_stamp: str = ""
    last_stamp: str = ""
    items: list[ItemStanding] = field(default_factory=list)

    def item(self, item: Item) -> ItemStanding:
        for entry in self.items:
            if entry.item.pk == item.pk:
                return entry
        return ItemStanding(item)


def standings(
    ledger: Ledger,
    catalogue: Catalogue,
    customer: Customer,
    campaign_id: str | None = None,
) -> dict[str, Standing]:
    """The customer's standing in every campaign they belong to (or just ``campaign_id``)."""
    found: dict[str, Standing] = {}
    if campaign_id is not None:
        found[campaign_id] = _empty(catalogue, catalogue.campaigns[campaign_id])
    for total in ledger.totals(customer, campaign_id):
        standing = found.get(total.campaign_id)
        if standing is None:
            standing = found[total.campaign_id] = _empty(
                catalogue, catalogue.campaigns[total.campaign_id]
            )
        standing.balance += total.balance
        standing.cumulative += total.cumulative
        standing.first_stamp = min(filter(None, (standing.first_stamp, total.first_stamp)))
        standing.last_stamp = max(standing.last_stamp, total.last_stamp)
        if total.item_pk is not None:
            for entry in standing.items:
                if entry.item.pk == total.item_pk:
                    entry.current += total.balance
                    entry.cumulative += total.cumulative
    order = list(catalogue.campaigns)
    return dict(sorted(found.items(), key=lambda pair: order.index(pair[0])))


def standing_in(
    ledger: Ledger, catalogue: Catalogue, customer: Customer, campaign: Campaign
) -> Standing:
    return standings(ledger, catalogue, customer, campaign.campaign_id)[campaign.campaign_id]


def _empty(catalogue: Catalogue, campaign: Campaign) -> Standing:
    return Standing(
        campaign, items=[ItemStanding(item) for item in catalogue.items[campaign.campaign_id]]
    )


def stamp_date(stamp: str) -> str:
    return stamp[:10] if stamp else UNSET_DATE


def profile_block(customer: Customer, *, hide_custom_field: bool = False) -> dict[str, Node]:
    """The customer as ``customer_info``, searches and finds show it."""
    profile = customer.profile
    block: dict[str, Node] = {"code": customer.code, "card_number": customer.card_number}
    block.update({name: profile[name] for name in CONTACT_COLUMNS})
    block["custom_date"] = profile["custom_date"] or UNSET_DATE
    if not hide_custom_field:
        block["custom_field"] = profile["custom_field"]
    block["customer_username"] = profile["customer_username"]
    block["registered"] = "Y" if customer.registered else "N"
    block["record_timestamp"] = customer.record_timestamp
    for number in sorted(customer.custom_fields, key=int):
        block[f"custom_field_{number}"] = {
            "label": f"Custom field {number}",
            "data": customer.custom_fields[number],
        }
    return block


def receipt_customer_block(customer: Customer) -> dict[str, Node]:
    profile = customer.profile
    return {
        "first_name": profile["first_name"],
        "last_name": profile["last_name"],
        "card_number": customer.card_number,
        "phone": profile["phone"],
        "email": profile["email"],
        "custom_field": profile["custom_field"],
        "custom_date": profile["custom_date"] or UNSET_DATE,
    }


def reward_block(reward: Reward) -> dict[str, Node]:
    return {
        "id": reward.pk,
        "level": reward.level,
        "description": reward.description,
        "reward_id": reward.reward_id,
    }


def item_block(item: Item) -> dict[str, Node]:
    return {
        "id": item.pk,
        "description": item.description,
        "reward_level": item.reward_level,
        "item_identifier": item.identifier,
    }


def monetary_cents(standing: Standing, units: int) -> int:
    campaign = standing.campaign
    if campaign.kind == "points":
        return points_value_cents(campaign, units)
    return units if campaign.kind in MONEY_KINDS else 0


def available_rewards(catalogue: Catalogue, standing: Standing) -> list[Node]:
    campaign_id = standing.campaign.campaign_id
    if standing.campaign.kind == "buyx":
        return [
            {
                "id": entry.item.pk,
                "level": entry.item.reward_level,
                "description": entry.item.description,
                "reward_id": entry.item.identifier,
            }
            for entry in standing.items
            if 0 < entry.item.reward_level <= entry.current
        ]
    return [
        reward_block(reward)
        for reward in catalogue.rewards[campaign_id]
        if reward.level <= standing.balance
    ]


def campaign_balance_block(catalogue: Catalogue, standing: Standing) -> dict[str, Node]:
    """One campaign of ``customer_info`` / searches with balances."""
    campaign = standing.campaign
    block: dict[str, Node] = {
        "id": campaign.campaign_id,
        "name": campaign.name,
        "type": campaign.kind,
        "balance": format_units(campaign, standing.balance),
        "cumulative": format_units(campaign, standing.cumulative),
        "monetary_balance": format_cents(monetary_cents(standing, standing.balance)),
        "currency": campaign.currency,
        "glyph": campaign.glyph,
        "first_transaction": stamp_date(standing.first_stamp),
        "last_transaction": stamp_date(standing.last_stamp),
        "available_rewards": Many("reward", available_rewards(catalogue, standing)),
    }
    if campaign.kind == "buyx":
        block["balances"] = Many(
            "item",
            [
                {
                    "name": entry.item.description,
                    "current": entry.current,
                    "cumulative": entry.cumulative,
                    "reward_level": entry.item.reward_level,
                }
                for entry in standing.items
            ],
        )
    return block


def campaign_balances(
    ledger: Ledger, catalogue: Catalogue, customer: Customer, campaign_id: str | None = None
) -> Many:
    return Many(
        "campaign",
        [
            campaign_balance_block(catalogue, standing)
            for standing in standings(ledger, catalogue, customer, campaign_id).values()
        ],
    )


def receipt_balance_blocks(standing: Standing) -> dict[str, Node]:
    """``balance`` and ``cumulative_balance`` of a receipt (``balances`` for buy-X)."""
    campaign = standing.campaign
    if campaign.kind == "buyx":
        return {
            "balances": Many(
                "item",
                [
                    {
                        "name": entry.item.description,
                        "current": entry.current,
                        "cumulative": entry.cumulative,
                    }
                    for entry in standing.items
                ],
            )
        }
    blocks: dict[str, Node] = {}
    for name, units in (
        ("balance", standing.balance),
        ("cumulative_balance", standing.cumulative),
    ):
        if campaign.kind == "points":
            blocks[name] = {
                "points": units,
                "monetary": format_cents(monetary_cents(standing, units)),
                "currency": campaign.currency,
            }
        elif campaign.kind == "events":
            blocks[name] = {"events": units}
        else:
            blocks[name] = {"amount": format_cents(units), "currency": campaign.currency}
    return blocks
