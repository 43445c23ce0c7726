"""One authenticated API call: its fields, its account, and the ledger it works on."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from bot.sandbox.clienttoolbox.arithmetic import AmountProblem, money_cents, money_value, whole
from bot.sandbox.clienttoolbox.ledger import Account, Campaign, Catalogue, Customer, Ledger

_CUSTOM_FIELD = re.compile(r"^custom_field_(\d+)$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YES = frozenset({"y", "yes", "true", "1"})


class ApiError(Exception):
    """Answered as ``status="error"`` with the message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoMatch(Exception):
    """Answered as ``status="no_match"`` with the message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def now_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso_date(text: str) -> dt.date | None:
    """A ``YYYY-MM-DD`` date, or ``None`` when the text is not one."""
    if not _ISO_DATE.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def custom_field_number(name: str) -> int | None:
    match = _CUSTOM_FIELD.match(name)
    return int(match.group(1)) if match else None


@dataclass
class ApiCall:
    params: Mapping[str, str]
    ledger: Ledger
    account: Account
    user_id: str
    _lower: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._lower = {key.lower(): key for key in self.params}

    @property
    def account_id(self) -> str:
        return self.account.account_id

    @property
    def catalogue(self) -> Catalogue:
        return self.ledger.catalogue(self.account.account_id)

    def given(self, name: str) -> bool:
        return name in self.params

    def raw(self, name: str) -> str:
        return self.params.get(name, "")

    def text(self, name: str) -> str:
        return self.params.get(name, "").strip()

    def text_any_case(self, name: str) -> str | None:
        """A field the docs spell in two capitalisations (``Visits_Data``, ``visits_data``)."""
        key = self._lower.get(name.lower())
        return None if key is None else self.params[key]

    def keys_any_case(self) -> Mapping[str, str]:
        """Lower-cased field name → field name as sent."""
        return self._lower

    def required(self, name: str) -> str:
        value = self.text(name)
        if not value:
            raise ApiError(f"{name} is required")
        return value

    def yes(self, name: str) -> bool:
        return self.text(name).lower() in _YES

    def whole_number(self, name: str, default: int, *, low: int, high: int) -> int:
        text = self.text(name)
        if not text:
            return default
        if not text.isdigit() or not low <= int(text) <= high:
            raise ApiError(f"{name} must be a whole number from {low} to {high}, not {text!r}")
        return int(text)

    def campaign(self, name: str = "campaign_id") -> Campaign:
        return self.campaign_by_id(self.required(name))

    def campaign_by_id(self, campaign_id: str) -> Campaign:
        campaign = self.catalogue.campaigns.get(campaign_id)
        if campaign is None:
            raise ApiError(
                f"campaign_id {campaign_id} is not a campaign of account {self.account_id}"
            )
        return campaign

    def campaign_list(self, name: str) -> list[Campaign]:
        """A comma list (``a,b``) or the old ``a|,|b`` list of campaign ids."""
        text = self.text(name)
        if not text:
            return []
        parts = text.split("|,|") if "|,|" in text else text.split(",")
        return [self.campaign_by_id(part.strip()) for part in parts if part.strip()]

    def add_movement(
        self,
        customer: Customer,
        campaign: Campaign,
        units: int,
        *,
        authorization: str,
        stamp: str | None = None,
        redeemed: bool = False,
        item_pk: int | None = None,
        service_product: str = "",
        custom_fields: Mapping[str, str] | None = None,
    ) -> int:
        """Store a transaction made by this call's user (now, unless ``stamp`` says when);
        a redemption's ``units`` are taken from the balance."""
        return self.ledger.add_movement(
            customer,
            campaign.campaign_id,
            -units if redeemed else units,
            stamp=stamp or now_stamp(),
            redeemed=redeemed,
            item_pk=item_pk,
            authorization=authorization,
            service_product=service_product,
            user_name=self.user_id,
            custom_fields=custom_fields,
        )

    def customer(self, *, code_only: bool = False) -> Customer:
        """The customer named by ``code`` (or ``card_number``), or ``NoMatch``."""
        code = self.text("code")
        if code:
            found = self.ledger.customer_by_code(self.account_id, code)
            if found is None:
                raise NoMatch(f"No customer has code {code}")
            return found
        if code_only:
            raise ApiError("code is required")
        card = self.text("card_number")
        if not card:
            raise ApiError("code or card_number is required")
        found = self.ledger.customer_by_card(self.account_id, card)
        if found is None:
            raise NoMatch(f"No customer has card_number {card}")
        return found

    def custom_fields(self) -> dict[str, str]:
        """``custom_field_N`` fields with N >= 2, by N (``custom_field_1`` is ``custom_field``)."""
        found: dict[str, str] = {}
        for name, value in self.params.items():
            number = custom_field_number(name)
            if number is not None and number >= 2:
                found[str(number)] = value.strip()
        return found

    def money_cents(self, name: str, *, positive: bool = True) -> int:
        try:
            return money_cents(self.required(name), name, positive=positive)
        except AmountProblem as problem:
            raise ApiError(str(problem)) from None

    def money_value(self, name: str) -> Decimal:
        try:
            return money_value(self.required(name), name)
        except AmountProblem as problem:
            raise ApiError(str(problem)) from None

    def whole(self, name: str, *, unit: str) -> int:
        try:
            return whole(self.required(name), name, unit=unit)
        except AmountProblem as problem:
            raise ApiError(str(problem)) from None
