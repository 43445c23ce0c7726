"""Campaign calls (campaigns_list, campaign_rewards, buyx_items_list, campaign_promos) and
lookups in a campaign's rewards, items and promotions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from bot.sandbox.clienttoolbox.arithmetic import format_cents
from bot.sandbox.clienttoolbox.calls import ApiCall, ApiError
from bot.sandbox.clienttoolbox.envelope import Answer, Many, Node
from bot.sandbox.clienttoolbox.ledger import KINDS, Campaign, Catalogue, Item, Promo, Reward
from bot.sandbox.clienttoolbox.standing import UNSET_DATE, item_block, reward_block

T = TypeVar("T")

_SEARCH_FIELDS: dict[str, Callable[[Campaign], str]] = {
    "campaign_name": lambda c: c.name,
    "campaign_type": lambda c: c.kind,
    "campaign_id": lambda c: c.campaign_id,
    "create_date": lambda c: c.created_stamp,
}
_SEARCH_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "eq": lambda value, wanted: value == wanted,
    "ne": lambda value, wanted: value != wanted,
    "bw": lambda value, wanted: value.startswith(wanted),
    "bn": lambda value, wanted: not value.startswith(wanted),
    "ew": lambda value, wanted: value.endswith(wanted),
    "en": lambda value, wanted: not value.endswith(wanted),
    "cn": lambda value, wanted: wanted in value,
    "nc": lambda value, wanted: wanted not in value,
    "nu": lambda value, wanted: value == "",
    "nn": lambda value, wanted: value != "",
    "in": lambda value, wanted: value in {part.strip() for part in wanted.split(",")},
    "ni": lambda value, wanted: value not in {part.strip() for part in wanted.split(",")},
}


def find_reward(catalogue: Catalogue, campaign: Campaign, text: str) -> Reward:
    """A reward by its ``id`` or, failing that, by the merchant's ``reward_id``."""
    rewards = catalogue.rewards[campaign.campaign_id]
    for reward in rewards:
        if str(reward.pk) == text:
            return reward
    for reward in rewards:
        if reward.reward_id and reward.reward_id == text:
            return reward
    raise ApiError(f"reward {text} is not a reward of campaign {campaign.campaign_id}")


def find_item(catalogue: Catalogue, campaign: Campaign, text: str) -> Item | None:
    """A buy-X item by id, ``[identifier]``, identifier or exact description."""
    items = catalogue.items[campaign.campaign_id]
    bracketed = text[1:-1] if text.startswith("[") and text.endswith("]") else None
    for matches in (
        lambda item: str(item.pk) == text,
        lambda item: bracketed is not None and item.identifier == bracketed,
        lambda item: bool(item.identifier) and item.identifier == text,
        lambda item: item.description == text,
    ):
        for item in items:
            if matches(item):
                return item
    return None


def require_item(catalogue: Catalogue, campaign: Campaign, text: str, name: str) -> Item:
    item = find_item(catalogue, campaign, text)
    if item is None:
        raise ApiError(f"{name} {text!r} is not an item of campaign {campaign.campaign_id}")
    return item


def find_promos(catalogue: Catalogue, campaign: Campaign, ids: Sequence[str]) -> list[Promo]:
    """Promotions by id, each once, in the order given."""
    by_id = {str(promo.pk): promo for promo in catalogue.promos[campaign.campaign_id]}
    found: list[Promo] = []
    for promo_id in dict.fromkeys(ids):
        promo = by_id.get(promo_id)
        if promo is None:
            raise ApiError(
                f"promo_id {promo_id} is not a promotion of campaign {campaign.campaign_id}"
            )
        found.append(promo)
    return found


def campaign_block(catalogue: Catalogue, campaign: Campaign) -> dict[str, Node]:
    block: dict[str, Node] = {
        "id": campaign.campaign_id,
        "name": campaign.name,
        "type": campaign.kind,
        "currency": campaign.currency,
        "glyph": campaign.glyph,
        "created_stamp": campaign.created_stamp,
    }
    if campaign.kind == "points":
        block["points_ratio"] = "" if campaign.points_ratio is None else str(campaign.points_ratio)
        block["reward_ratio"] = "" if campaign.reward_ratio is None else str(campaign.reward_ratio)
    elif campaign.kind == "earned":
        block["earned_per_event"] = format_cents(campaign.earned_per_event_cents)
    elif campaign.kind == "buyx":
        block["items"] = Many(
            "item", [item_block(item) for item in catalogue.items[campaign.campaign_id]]
        )
    return block


def _page(call: ApiCall, entries: list[T]) -> list[T]:
    offset = call.whole_number("offset", 0, low=0, high=10**9)
    length = call.whole_number("length", 0, low=0, high=10**9)
    return entries[offset : offset + length] if length else entries[offset:]


def campaigns_list(call: ApiCall) -> Answer:
    campaigns = list(call.catalogue.campaigns.values())
    restrict = [part.strip().lower() for part in call.text("type_restrict").split(",")]
    restrict = [part for part in restrict if part]
    for kind in restrict:
        if kind not in KINDS:
            raise ApiError(f"type_restrict: {kind!r} is not one of {', '.join(KINDS)}")
    if restrict:
        campaigns = [c for c in campaigns if c.kind in restrict]
    if call.text("searchField") or call.text("searchOper"):
        value_of = _SEARCH_FIELDS.get(call.text("searchField"))
        if value_of is None:
            raise ApiError(f"searchField must be one of {', '.join(_SEARCH_FIELDS)}")
        operator = _SEARCH_OPERATORS.get(call.text("searchOper").lower() or "eq")
        if operator is None:
            raise ApiError(f"searchOper must be one of {', '.join(_SEARCH_OPERATORS)}")
        wanted = call.text("searchValue")
        campaigns = [c for c in campaigns if operator(value_of(c), wanted)]
    if call.text("sortField"):
        sort_key = _SEARCH_FIELDS.get(call.text("sortField"))
        if sort_key is None:
            raise ApiError(f"sortField must be one of {', '.join(_SEARCH_FIELDS)}")
        order = call.text("sortOrder").upper() or "ASC"
        if order not in {"ASC", "DESC"}:
            raise ApiError("sortOrder must be ASC or DESC")
        campaigns.sort(key=sort_key, reverse=order == "DESC")
    page = _page(call, campaigns)
    return Answer(
        {
            "account_name": call.account.name,
            "campaigns": Many("campaign", [campaign_block(call.catalogue, c) for c in page]),
            "pagination": {
                "total": len(campaigns),
                "offset": call.whole_number("offset", 0, low=0, high=10**9),
            },
        }
    )


def campaign_rewards(call: ApiCall) -> Answer:
    campaign = call.campaign()
    rewards = call.catalogue.rewards[campaign.campaign_id]
    return Answer(
        {
            "campaign": {"id": campaign.campaign_id},
            "rewards": Many("reward", [reward_block(reward) for reward in rewards]),
        }
    )


def buyx_items_list(call: ApiCall) -> Answer:
    campaign = call.campaign()
    if campaign.kind != "buyx":
        raise ApiError(f"campaign {campaign.campaign_id} is a {campaign.kind} campaign, not buyx")
    items = _page(call, list(call.catalogue.items[campaign.campaign_id]))
    return Answer({"items": Many("item", [item_block(item) for item in items])})


def campaign_promos(call: ApiCall) -> Answer:
    campaign = call.campaign()
    promos = _page(call, list(call.catalogue.promos[campaign.campaign_id]))
    return Answer(
        {
            "promos": Many(
                "promo",
                [
                    {
                        "id": promo.pk,
                        "operand": promo.operation,
                        "value": str(promo.value),
                        "description": promo.description,
                        "promo_custom_id": promo.custom_id,
                        "promo_start_date": UNSET_DATE,
                        "promo_end_date": UNSET_DATE,
                    }
                    for promo in promos
                ],
            )
        }
    )
