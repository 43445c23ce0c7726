"""Client Toolbox answers: the envelope, its XML/JSON/JSONP bodies, and typed payload models.

The shapes follow ``docs/clienttoolbox-wire.md``. A body is first turned into one neutral tree
(dicts, lists, strings), whatever its format; the payload models then read that tree. Two XML
habits the models absorb: a plural wrapper with one child is not a list (``<customers><customer>``
reads as one object), and an empty wrapper is an empty string. Every failure to read an answer
raises ``ProtocolError``; a number is either read exactly or refused, never guessed.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from bot.loyalty.amounts import AmountError, parse_amount
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
    BuyXItem,
    Campaign,
    CampaignBalance,
    CampaignKind,
    EarnedBalance,
    EventsBalance,
    GiftcardBalance,
    Member,
    Money,
    PointsBalance,
    Receipt,
    Reward,
    Transaction,
)

PLATFORM_TIMEZONE = dt.UTC
"""The platform writes local times without a zone; this project reads them as UTC [A]."""

_JSONP = re.compile(rb"^[A-Za-z_$][\w$.]*\s*\((?P<body>.*)\)\s*;?\s*$", re.DOTALL)
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_STAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$")
_YES = frozenset({"y", "yes", "true", "1"})
_NO = frozenset({"n", "no", "false", "0", ""})
_TEXTS_KEPT = 4096
"""Distinct amount, date and time texts whose parsed values are kept (immutable values)."""


def decode_body(body: bytes) -> dict[str, Any]:
    """Turn an XML, JSON or JSONP answer into a tree of dicts, lists and scalars.

    For XML the root's attributes (``status``) and children become keys of one dict, as in JSON.
    """
    text = body.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        return _decode_xml(text)
    if text.startswith((b"{", b"[")):
        return _decode_json(text)
    wrapped = _JSONP.match(text.rstrip())
    if wrapped:
        return _decode_json(wrapped.group("body"))
    raise ProtocolError("the answer is neither XML nor JSON")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number the platform sends")


def _decode_json(text: bytes) -> dict[str, Any]:
    try:
        tree = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("the answer is not valid JSON") from exc
    if not isinstance(tree, dict):
        raise ProtocolError("the JSON answer is not an object")
    return tree


def _decode_xml(text: bytes) -> dict[str, Any]:
    if _DTD.search(text):
        raise ProtocolError("the XML answer carries a document type declaration")
    try:
        root = ET.fromstring(text)
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise ProtocolError("the answer is not well-formed XML") from exc
    if root.tag != "response":
        raise ProtocolError("the XML answer has no <response> root")
    try:
        tree = _xml_node(root)
    except RecursionError as exc:
        raise ProtocolError("the XML answer is nested too deeply") from exc
    return tree if isinstance(tree, dict) else {}


def _xml_node(element: ET.Element) -> Any:
    children = list(element)
    if not children and not element.attrib:
        return (element.text or "").strip()
    node: dict[str, Any] = dict(element.attrib)
    for child in children:
        value = _xml_node(child)
        if child.tag in node:
            previous = node[child.tag]
            if isinstance(previous, _Repeated):
                previous.append(value)
            else:
                node[child.tag] = _Repeated([previous, value])
        else:
            node[child.tag] = value
    return node


class _Repeated(list[Any]):
    """Siblings with one tag; a list subtype so a first value that is a list stays distinct."""


def open_envelope(body: bytes) -> dict[str, Any] | None:
    """Read the envelope: the payload on success, ``None`` on ``no_match``, typed errors else."""
    tree = decode_body(body)
    status = tree.get("status")
    if not isinstance(status, str):
        raise ProtocolError("the answer has no status")
    status = status.strip().lower()
    if status in ("success", "valid"):
        return tree
    if status == "no_match":
        return None
    if status == "error":
        raise error_for(_error_text(tree))
    raise ProtocolError(f"the answer has an unknown status {status[:40]!r}")


def _error_text(tree: dict[str, Any]) -> str:
    for key in ("error", "errors"):
        value = tree.get(key)
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return "; ".join(v.strip() for v in value)
        if isinstance(value, dict) and isinstance(value.get("error"), str | list):
            return _error_text(value)
    raise ProtocolError("the error answer carries no readable message")


_DUPLICATE = (
    "already exist",
    "duplicate",
    "already registered",
    "already been registered",
    "already used",
    "already in use",
)
_UNKNOWN = ("not found", "does not exist", "no such", "unknown", "no customer", "no matching")
_NOT_ONE_OF = re.compile(
    r"\bis not an? (campaign|reward|transaction|item|promotion|customer) of\b"
)


def error_for(message: str) -> LoyaltyError:
    """The typed error for a platform error message (the message is kept for the log)."""
    lowered = message.lower()
    if lowered.startswith("authentication failed"):
        return AuthFailed(message)
    if any(marker in lowered for marker in _DUPLICATE):
        return AlreadyExists(message)
    if any(marker in lowered for marker in _UNKNOWN) or _NOT_ONE_OF.search(lowered):
        return NotFound(message)
    return Rejected(message)


Payload = TypeVar("Payload", bound=BaseModel)


def read_payload(model: type[Payload], tree: dict[str, Any], call: str) -> Payload:
    """Validate a payload tree into ``model`` or raise ``ProtocolError`` naming the call."""
    try:
        return model.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "answer"
        message = first["msg"][:160]
        raise ProtocolError(f"unexpected {call} answer at {where}: {message}") from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    raise ValueError("expected text")


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, str):
        return _amount_text(value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("expected an amount")
    return _parsed_amount(value)


@functools.lru_cache(maxsize=_TEXTS_KEPT)
def _amount_text(text: str) -> Decimal | None:
    """An amount written as text; kept per text, as answers repeat a few (``0``, ``0.00``)."""
    if not text.strip():
        return None
    return _parsed_amount(text)


def _parsed_amount(value: str | int | Decimal) -> Decimal:
    try:
        return parse_amount(value)
    except AmountError as exc:
        raise ValueError(str(exc)) from None


def _count(value: Any) -> int | None:
    amount = _amount(value)
    if amount is None:
        return None
    if amount != amount.to_integral_value():
        raise ValueError("expected a whole number")
    return int(amount)


def _flag(value: Any) -> bool:
    text = _text(value).lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError("expected Y or N")


def _day(value: Any) -> dt.date | None:
    return _day_text(_text(value))


def _stamp(value: Any) -> dt.datetime | None:
    return _stamp_text(_text(value))


@functools.lru_cache(maxsize=_TEXTS_KEPT)
def _day_text(value: str) -> dt.date | None:
    parts = _time_parts(value, _DAY, "YYYY-MM-DD date")
    if parts is None:
        return None
    year, month, day = parts
    return dt.date(year, month, day)


@functools.lru_cache(maxsize=_TEXTS_KEPT)
def _stamp_text(value: str) -> dt.datetime | None:
    parts = _time_parts(value, _STAMP, "YYYY-MM-DD HH:MM:SS time")
    if parts is None:
        return None
    year, month, day, hour, minute, second = parts
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=PLATFORM_TIMEZONE)


def _time_parts(text: str, pattern: re.Pattern[str], shape: str) -> tuple[int, ...] | None:
    """The numbers of a date or time in ``pattern``'s groups (a missing one: 0); ``None`` for
    no value or the platform's zero date."""
    if not text or text.startswith("0000-00-00"):
        return None
    match = pattern.match(text)
    if not match:
        raise ValueError(f"expected a {shape}")
    return tuple(int(part or 0) for part in match.groups())


def _listed(child: str) -> Callable[[Any], list[Any]]:
    def convert(value: Any) -> list[Any]:
        if value is None or value == "":
            return []
        if isinstance(value, _Repeated):
            raise ValueError(f"expected one list of {child}")
        if isinstance(value, list):
            return value
        if isinstance(value, dict):
            if child in value:
                inner = value[child]
                return list(inner) if isinstance(inner, list) else [inner]
            if not value or set(value) <= {"status", "total", "count"}:
                return []
        raise ValueError(f"expected a list of {child}")

    return convert


Text = Annotated[str, BeforeValidator(_text)]
Amount = Annotated[Decimal | None, BeforeValidator(_amount)]
Count = Annotated[int | None, BeforeValidator(_count)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Day = Annotated[dt.date | None, BeforeValidator(_day)]
Stamp = Annotated[dt.datetime | None, BeforeValidator(_stamp)]


def _single(value: Any) -> Any:
    if isinstance(value, _Repeated):
        raise ValueError("expected one element, got several")
    return value


class WireModel(BaseModel):
    """Payload base: unknown keys are ignored; an empty XML element is an empty object."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _empty_element(cls, value: Any) -> Any:
        value = _single(value)
        if value == "":
            return {}
        return value


_KINDS = {kind.value: kind for kind in CampaignKind}


def _kind(type_text: str) -> CampaignKind | None:
    return _KINDS.get(type_text.strip().lower())


class CustomerFields(BaseModel):
    """Profile fields of ``record_customer`` and ``customers_batch``; empty ones are not sent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    email: str = ""
    street1: str = ""
    street2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    custom_date: dt.date | None = None
    custom_field: str = ""
    customer_username: str = ""
    customer_PIN: str = ""
    custom_fields: dict[str, str] = Field(default_factory=dict)
    """Added fields by platform name (``custom_field_2`` …)."""

    def form(self) -> dict[str, str]:
        fields = {
            name: str(value)
            for name, value in self.model_dump(exclude={"custom_fields", "custom_date"}).items()
            if value
        }
        if self.custom_date is not None:
            fields["custom_date"] = self.custom_date.isoformat()
        fields.update({name: value for name, value in self.custom_fields.items() if value})
        return fields


class RecordedCustomer(WireModel):
    """``record_customer`` answer: ``status`` is ``new``, ``registered`` or ``update``."""

    status: Text = ""
    code: Text
    card_number: Text = ""


class RecordedCustomerAnswer(WireModel):
    customer: RecordedCustomer


class RewardEntry(WireModel):
    id: Text
    level: Amount = None
    description: Text = ""
    reward_id: Text = ""

    def to_reward(self, campaign_id: str) -> Reward:
        if self.level is None:
            raise ProtocolError(f"reward {self.id} has no level")
        return Reward(
            id=self.id,
            campaign_id=campaign_id,
            description=self.description,
            cost=self.level,
            merchant_reward_id=self.reward_id,
        )


class ItemCount(WireModel):
    name: Text
    current: Count = 0
    cumulative: Count = None
    reward_level: Count = None

    def to_count(self) -> BuyXCount:
        return BuyXCount(
            item=self.name,
            current=self.current or 0,
            buy_amount=self.reward_level,
            cumulative=self.cumulative,
        )


class CampaignRef(WireModel):
    """A campaign's id, name and type, as every answer naming a campaign gives them."""

    id: Text
    name: Text = ""
    type: Text = ""

    @property
    def kind(self) -> CampaignKind | None:
        return _kind(self.type)

    def known_kind(self) -> CampaignKind:
        kind = self.kind
        if kind is None:
            raise ProtocolError(f"campaign {self.id} has an unknown type {self.type[:40]!r}")
        return kind


class CampaignStanding(CampaignRef):
    """A member's balance in one campaign (customer_info, search with balances)."""

    balance: Amount = None
    cumulative: Amount = None
    monetary_balance: Amount = None
    currency: Text = ""
    glyph: Text = ""
    first_transaction: Day = None
    last_transaction: Day = None
    available_rewards: Annotated[list[RewardEntry], BeforeValidator(_listed("reward"))] = []
    balances: Annotated[list[ItemCount], BeforeValidator(_listed("item"))] = []

    def to_balance(self, rewards: Sequence[Reward] | None = None) -> CampaignBalance:
        """The domain balance; ``rewards`` (the campaign's list) yields available and next."""
        kind = self.known_kind()
        balance = self.balance if self.balance is not None else Decimal(0)
        if rewards is None:
            rewards = [entry.to_reward(self.id) for entry in self.available_rewards]
        ordered = sorted(rewards, key=lambda reward: reward.cost)
        available = tuple(reward for reward in ordered if reward.cost <= balance)
        upcoming = [reward for reward in ordered if reward.cost > balance]
        common: dict[str, Any] = {
            "campaign_id": self.id,
            "campaign_name": self.name,
            "available_rewards": available,
            "next_reward": upcoming[0] if upcoming else None,
        }
        money = Money(amount=balance, currency=self.currency, glyph=self.glyph)
        if kind is CampaignKind.POINTS:
            value = None
            if self.monetary_balance is not None:
                value = Money(
                    amount=self.monetary_balance, currency=self.currency, glyph=self.glyph
                )
            return PointsBalance(
                points=balance, money_value=value, cumulative_points=self.cumulative, **common
            )
        if kind is CampaignKind.GIFTCARD:
            return GiftcardBalance(money=money, **common)
        if kind is CampaignKind.EARNED:
            return EarnedBalance(money=money, **common)
        if kind is CampaignKind.EVENTS:
            if balance != balance.to_integral_value():
                raise ProtocolError(f"campaign {self.id} has a fractional event count")
            return EventsBalance(events=int(balance), **common)
        items = tuple(count.to_count() for count in self.balances)
        return BuyXBalance(
            items=items,
            campaign_id=self.id,
            campaign_name=self.name,
        )


class CustomerProfile(WireModel):
    """A customer as ``customer_info``, ``customer_search`` and ``customer_find`` answer it."""

    code: Text
    card_number: Text = ""
    first_name: Text = ""
    last_name: Text = ""
    phone: Text = ""
    email: Text = ""
    street1: Text = ""
    street2: Text = ""
    city: Text = ""
    state: Text = ""
    postal_code: Text = ""
    country: Text = ""
    custom_date: Day = None
    custom_field: Text = ""
    customer_username: Text = ""
    registered: Flag = False
    record_timestamp: Stamp = None
    campaigns: Annotated[list[CampaignStanding], BeforeValidator(_listed("campaign"))] = []

    def to_member(self) -> Member:
        return Member(
            code=self.code,
            card_number=self.card_number,
            first_name=self.first_name,
            last_name=self.last_name,
            phone=self.phone,
            email=self.email,
            birthday=self.custom_date,
            registered=self.registered,
            campaign_ids=tuple(campaign.id for campaign in self.campaigns),
        )


class CustomerInfoAnswer(WireModel):
    customer: CustomerProfile
    campaigns: Annotated[list[CampaignStanding], BeforeValidator(_listed("campaign"))] = []

    def profile(self) -> CustomerProfile:
        """The customer with the answer's top-level campaign balances attached."""
        if not self.campaigns:
            return self.customer
        return self.customer.model_copy(update={"campaigns": self.campaigns})


class CustomerListAnswer(WireModel):
    customers: Annotated[list[CustomerProfile], BeforeValidator(_listed("customer"))] = []


class GeneratedCard(WireModel):
    card_number: Text


class GeneratedCardAnswer(WireModel):
    customer: GeneratedCard


class HistoryEntry(WireModel):
    """One transaction of ``customer_balance``."""

    id: Text
    date: Stamp = None
    authorization: Text = ""
    service_product: Text = ""
    redeemed: Flag = False
    amount: Amount = None
    campaign: Text = ""
    user_name: Text = ""

    def to_transaction(self, campaign_id: str, kind: CampaignKind | None) -> Transaction:
        if self.date is None:
            raise ProtocolError(f"transaction {self.id} has no date")
        return Transaction(
            id=self.id,
            campaign_id=self.campaign or campaign_id,
            at=self.date,
            amount=self.amount if self.amount is not None else Decimal(0),
            description=self.authorization,
            is_redemption=self.redeemed,
            item=self.service_product if kind is CampaignKind.BUYX else "",
        )


class StatementCustomer(WireModel):
    code: Text = ""
    card_number: Text = ""
    first_name: Text = ""
    last_name: Text = ""
    balance: Amount = None
    last_transaction: Day = None
    last_transaction_points: Amount = None
    last_redemption: Day = None
    last_redemption_points: Amount = None
    transactions: Annotated[list[HistoryEntry], BeforeValidator(_listed("transaction"))] = []


class BalanceStatement(WireModel):
    """``customer_balance``: one campaign's balance and history for one customer."""

    campaign_id: Text
    campaign_type: Text = ""
    campaign_name: Text = ""
    reward_ratio: Amount = None
    customer: StatementCustomer = StatementCustomer()

    def to_transactions(self) -> list[Transaction]:
        kind = _kind(self.campaign_type)
        return [
            entry.to_transaction(self.campaign_id, kind) for entry in self.customer.transactions
        ]


class BalanceStatementAnswer(WireModel):
    campaign: BalanceStatement


class ItemEntry(WireModel):
    """A buy-X item (``campaigns_list`` items, ``buyx_items_list``)."""

    id: Text
    description: Text = ""
    reward_level: Count = None
    item_identifier: Text = ""

    def to_item(self) -> BuyXItem:
        if self.reward_level is None:
            raise ProtocolError(f"item {self.id} has no reward level")
        return BuyXItem(
            id=self.id,
            description=self.description,
            buy_amount=self.reward_level,
            identifier=self.item_identifier,
        )


class CampaignEntry(CampaignRef):
    currency: Text = ""
    glyph: Text = ""
    created_stamp: Stamp = None
    points_ratio: Amount = None
    reward_ratio: Amount = None
    earned_per_event: Amount = None
    items: Annotated[list[ItemEntry], BeforeValidator(_listed("item"))] = []

    def to_campaign(self, items: Sequence[ItemEntry] | None = None) -> Campaign:
        kind = self.known_kind()
        chosen = self.items if items is None else items
        return Campaign(
            id=self.id,
            name=self.name,
            kind=kind,
            currency=self.currency,
            glyph=self.glyph,
            points_ratio=self.points_ratio,
            reward_ratio=self.reward_ratio,
            earned_per_event=self.earned_per_event,
            items=tuple(item.to_item() for item in chosen),
        )


class Pagination(WireModel):
    total: Count = None
    offset: Count = None


class CampaignList(WireModel):
    campaigns: Annotated[list[CampaignEntry], BeforeValidator(_listed("campaign"))] = []
    pagination: Pagination = Pagination()


class RewardsCampaign(WireModel):
    id: Text = ""


class CampaignRewardList(WireModel):
    campaign: RewardsCampaign = RewardsCampaign()
    rewards: Annotated[list[RewardEntry], BeforeValidator(_listed("reward"))] = []


class ItemList(WireModel):
    items: Annotated[list[ItemEntry], BeforeValidator(_listed("item"))] = []


class ReceiptCustomer(WireModel):
    first_name: Text = ""
    last_name: Text = ""
    card_number: Text = ""
    phone: Text = ""
    email: Text = ""
    custom_field: Text = ""
    custom_date: Day = None


class PurchaseBlock(WireModel):
    amount: Amount = None
    currency: Text = ""
    item: Text = ""
    quantity: Count = None
    description: Text = ""


class Promotion(WireModel):
    description: Text = ""
    operation: Text = ""
    amount: Amount = None


class Recorded(WireModel):
    points: Amount = None
    description: Text = ""


class MoneyMove(WireModel):
    """``add``, ``earn`` and ``deduct`` blocks."""

    amount: Amount = None
    currency: Text = ""
    glyph: Text = ""
    description: Text = ""


class EventBlock(WireModel):
    description: Text = ""
    amount: Amount = None


class RewardTaken(WireModel):
    id: Text = ""
    points: Amount = None
    amount: Amount = None
    description: Text = ""
    service_product: Text = ""
    deduct: Amount = None


class CustomPoints(WireModel):
    points: Amount = None


class MonetaryRedeem(WireModel):
    amount: Amount = None
    currency: Text = ""
    points: Amount = None


class BalanceBlock(WireModel):
    points: Amount = None
    monetary: Amount = None
    amount: Amount = None
    events: Amount = None
    currency: Text = ""
    glyph: Text = ""


class ReceiptTransaction(WireModel):
    id: Text
    description: Text = ""
    purchase: PurchaseBlock | None = None
    promotion: Promotion | None = None
    recorded: Recorded | None = None
    add: MoneyMove | None = None
    earn: MoneyMove | None = None
    deduct: MoneyMove | None = None
    event: EventBlock | None = None
    reward: RewardTaken | None = None
    custom: CustomPoints | None = None
    monetary: MonetaryRedeem | None = None
    balance: BalanceBlock | None = None
    cumulative_balance: BalanceBlock | None = None
    balances: Annotated[list[ItemCount], BeforeValidator(_listed("item"))] = []


class Agency(WireModel):
    id: Text = ""
    name: Text = ""
    email: Text = ""


class ReceiptDoc(WireModel):
    """The ``receipt`` of ``record_activity`` and ``redeem``, per seed 003."""

    account_name: Text = ""
    campaign: CampaignRef
    customer: ReceiptCustomer = ReceiptCustomer()
    transaction: ReceiptTransaction
    agency: Agency | None = None

    def kind(self, hint: CampaignKind | None = None) -> CampaignKind:
        """The campaign kind: stated, else the caller's hint, else read from the blocks."""
        stated = self.campaign.kind
        if stated is not None:
            return stated
        if hint is not None:
            return hint
        tx = self.transaction
        balance = tx.balance or BalanceBlock()
        if tx.balances or (tx.purchase and tx.purchase.item) or (tx.reward and tx.reward.deduct):
            return CampaignKind.BUYX
        if balance.points is not None or tx.recorded or tx.custom or tx.monetary:
            return CampaignKind.POINTS
        if balance.events is not None:
            return CampaignKind.EVENTS
        if tx.earn is not None:
            return CampaignKind.EARNED
        if tx.add is not None:
            return CampaignKind.GIFTCARD
        raise ProtocolError("the receipt does not say which kind of campaign it is")

    def to_receipt(self, hint: CampaignKind | None = None) -> Receipt:
        kind = self.kind(hint)
        tx = self.transaction
        earned, deducted = self._movement(kind)
        return Receipt(
            transaction_id=tx.id,
            campaign_id=self.campaign.id,
            campaign_name=self.campaign.name,
            description=self._description(),
            earned=earned,
            deducted=deducted,
            balance=self._balance(kind),
        )

    def _description(self) -> str:
        tx = self.transaction
        for block in (tx.recorded, tx.add, tx.deduct, tx.event, tx.purchase):
            if block is not None and block.description:
                return block.description
        return tx.description

    def _movement(self, kind: CampaignKind) -> tuple[Decimal | None, Decimal | None]:
        tx = self.transaction
        if kind is CampaignKind.POINTS:
            parts = [
                tx.reward.points if tx.reward else None,
                tx.custom.points if tx.custom else None,
                tx.monetary.points if tx.monetary else None,
            ]
            taken = [abs(part) for part in parts if part is not None]
            earned = tx.recorded.points if tx.recorded else None
            return earned, (sum(taken, Decimal(0)) if taken else None)
        if kind in (CampaignKind.GIFTCARD, CampaignKind.EARNED):
            credit = tx.add if kind is CampaignKind.GIFTCARD else tx.earn
            earned = credit.amount if credit else None
            deducted = abs(tx.deduct.amount) if tx.deduct and tx.deduct.amount else None
            return earned, deducted
        if kind is CampaignKind.EVENTS:
            if tx.reward is not None:
                level = tx.reward.amount if tx.reward.amount is not None else tx.reward.points
                return None, abs(level) if level is not None else None
            return (Decimal(1) if tx.event is not None else None), None
        if tx.reward is not None:
            return None, abs(tx.reward.deduct) if tx.reward.deduct is not None else None
        quantity = tx.purchase.quantity if tx.purchase else None
        return (Decimal(quantity) if quantity is not None else None), None

    def _balance(self, kind: CampaignKind) -> CampaignBalance | None:
        tx = self.transaction
        block = tx.balance
        ids: dict[str, Any] = {
            "campaign_id": self.campaign.id,
            "campaign_name": self.campaign.name,
        }
        if kind is CampaignKind.BUYX:
            if not tx.balances:
                return None
            return BuyXBalance(items=tuple(count.to_count() for count in tx.balances), **ids)
        if block is None:
            return None
        if kind is CampaignKind.POINTS:
            if block.points is None:
                return None
            value = None
            if block.monetary is not None:
                value = Money(amount=block.monetary, currency=block.currency, glyph=block.glyph)
            cumulative = tx.cumulative_balance.points if tx.cumulative_balance else None
            return PointsBalance(
                points=block.points, money_value=value, cumulative_points=cumulative, **ids
            )
        if kind is CampaignKind.EVENTS:
            if block.events is None:
                return None
            if block.events != block.events.to_integral_value():
                raise ProtocolError("the receipt has a fractional event count")
            return EventsBalance(events=int(block.events), **ids)
        if block.amount is None:
            return None
        money = Money(amount=block.amount, currency=block.currency, glyph=block.glyph)
        if kind is CampaignKind.GIFTCARD:
            return GiftcardBalance(money=money, **ids)
        return EarnedBalance(money=money, **ids)


class ReceiptAnswer(WireModel):
    receipt: ReceiptDoc


class CustomerBatchRow(WireModel):
    line: Count = None
    status: Text = ""
    code: Text = ""
    card_number: Text = ""
    error: Text = ""


class CustomerCounts(WireModel):
    new: Count = None
    updated: Count = None
    skipped: Count = None


class CustomerBatch(WireModel):
    status: Text = ""
    customers: CustomerCounts = CustomerCounts()
    rows: Annotated[list[CustomerBatchRow], BeforeValidator(_listed("row"))] = []


class CustomerBatchAnswer(WireModel):
    batch: CustomerBatch


class TransactionBatchRow(WireModel):
    line: Count = None
    status: Text = ""
    transaction_id: Text = ""
    error: Text = ""


class TransactionBatch(WireModel):
    status: Text = ""
    transactions: Count = None
    new_customers: Count = None
    rows: Annotated[list[TransactionBatchRow], BeforeValidator(_listed("row"))] = []


class TransactionBatchAnswer(WireModel):
    batch: TransactionBatch


Delimiter = Literal["pipe", "comma", "tab"]
DELIMITER_CHARS: dict[Delimiter, str] = {"pipe": "|", "comma": ",", "tab": "\t"}


class BatchValueError(ValueError):
    """A batch value holds the delimiter or a line break; the format has no escape for it."""

    def __init__(self, row: int, column: str) -> None:
        super().__init__(f"row {row + 1}, column {column}: holds the delimiter or a line break")
        self.row = row
        self.column = column


_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
"""Everything ``str.splitlines`` ends a line at: a receiving side may split on any of them."""


def refusal(value: str, delimiter: Delimiter) -> bool:
    """Whether ``value`` cannot travel in a batch cell with this delimiter."""
    return DELIMITER_CHARS[delimiter] in value or not _LINE_BREAKS.isdisjoint(value)


def choose_delimiter(values: Sequence[str]) -> Delimiter:
    """The first of pipe, tab, comma that no value contains (pipe if all are used)."""
    for delimiter in ("pipe", "tab", "comma"):
        if not any(DELIMITER_CHARS[delimiter] in value for value in values):
            return delimiter
    return "pipe"


def batch_text(header: Sequence[str], rows: Sequence[Sequence[str]], delimiter: Delimiter) -> str:
    """The data field of a batch: one line per row, refusing cells it cannot carry."""
    char = DELIMITER_CHARS[delimiter]
    for index, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"row {index + 1} has {len(row)} values for {len(header)} columns")
        for column, value in zip(header, row, strict=True):
            if refusal(value, delimiter):
                raise BatchValueError(index, column)
    return "".join(char.join(row) + "\n" for row in rows)


class TransactionLine(BaseModel):
    """One row of ``batch_transactions``; ``code`` is the customer's code or card number."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    campaign_id: str
    code: str
    redeemed: bool = False
    amount: Decimal | None = None
    service_product: str = ""
    date: dt.date | None = None
    authorization: str = ""
    promo_ids: tuple[str, ...] = ()
    custom_fields: dict[str, str] = Field(default_factory=dict)

    def cell(self, column: str) -> str:
        if column == "redeemed":
            return "Y" if self.redeemed else "N"
        if column == "amount":
            return "" if self.amount is None else format(self.amount, "f")
        if column == "date":
            return "" if self.date is None else self.date.isoformat()
        if column == "promo_id":
            return ",".join(self.promo_ids)
        if column in ("campaign_id", "code", "service_product", "authorization"):
            return str(getattr(self, column))
        return self.custom_fields.get(column, "")


TRANSACTION_LAYOUTS: dict[CampaignKind, tuple[str, ...]] = {
    CampaignKind.POINTS: (
        "campaign_id",
        "code",
        "redeemed",
        "amount",
        "date",
        "authorization",
        "promo_id",
    ),
    CampaignKind.GIFTCARD: ("campaign_id", "code", "redeemed", "amount", "date", "authorization"),
    CampaignKind.BUYX: (
        "campaign_id",
        "code",
        "redeemed",
        "service_product",
        "amount",
        "date",
        "authorization",
    ),
    CampaignKind.EVENTS: ("campaign_id", "code", "redeemed", "date", "authorization", "amount"),
    CampaignKind.EARNED: ("campaign_id", "code", "redeemed", "date", "authorization", "amount"),
}
"""Column order of ``batch_transactions`` per campaign kind (seed 003)."""

_DECLARED_WHEN_UNUSED = frozenset({"amount", "date", "authorization"})


def transaction_columns(
    kind: CampaignKind, lines: Sequence[TransactionLine], custom_fields: Sequence[str] = ()
) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of a transaction batch.

    A documented column no row uses is declared as ``none``, as the pages ask; an unused
    ``promo_id`` (optional, last) is left out.
    """
    columns = [*TRANSACTION_LAYOUTS[kind], *custom_fields]
    cells = [[line.cell(column) for column in columns] for line in lines]
    header: list[str] = []
    keep: list[int] = []
    for index, column in enumerate(columns):
        used = any(row[index] for row in cells)
        if column == "promo_id" and not used:
            continue
        keep.append(index)
        header.append("none" if column in _DECLARED_WHEN_UNUSED and not used else column)
    return header, [[row[index] for index in keep] for row in cells]
