"""Altcraft's wire format: JSON or XML bodies, the ``{error, error_text}`` envelope, typed answers.

Nothing here does I/O. ``docs/altcraft-wire.md`` says which parts are documented by Altcraft
and which this project assumed.
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from bot.loyalty.amounts import AmountError, format_amount, parse_amount
from bot.loyalty.errors import (
    AlreadyExists,
    AuthFailed,
    LoyaltyError,
    NotFound,
    ProtocolError,
    Rejected,
    Unavailable,
)

BodyFormat = Literal["json", "xml"]
Matching = Literal["email", "phone", "profile_id", "custom"]

MAX_BATCH_ROWS = 10_000
MAX_BODY_BYTES = 10 * 1024 * 1024
"""Altcraft's advice per request: at most 10,000 profiles and 10 MB of data."""

CONTENT_TYPES: dict[BodyFormat, str] = {
    "json": "application/json",
    "xml": "application/xml",
}


class BatchTooLarge(Rejected):
    """A batch over Altcraft's per-request limits, refused before anything was sent."""


@dataclass(frozen=True)
class ProfileRef:
    """How one profile is looked up: Altcraft's ``matching`` plus its lookup field(s)."""

    matching: Matching
    value: str
    field_name: str = ""

    @classmethod
    def email(cls, email: str) -> ProfileRef:
        return cls("email", email)

    @classmethod
    def phone(cls, phone: str) -> ProfileRef:
        return cls("phone", phone)

    @classmethod
    def profile_id(cls, profile_id: str) -> ProfileRef:
        return cls("profile_id", profile_id)

    @classmethod
    def custom(cls, field_name: str, value: str) -> ProfileRef:
        return cls("custom", value, field_name)

    def lookup_fields(self) -> dict[str, str]:
        """The lookup fields without ``matching`` (a batch row carries only these)."""
        if self.matching == "custom":
            return {"field_name": self.field_name, "field_value": self.value}
        return {self.matching: self.value}

    def params(self) -> dict[str, str]:
        return {"matching": self.matching, **self.lookup_fields()}


@dataclass(frozen=True)
class BatchMember:
    """One row of ``register_member_batch``."""

    ref: ProfileRef
    registration_date: dt.datetime | None = None


@dataclass(frozen=True)
class BatchRowResult:
    """The platform's answer for one batch row: ``0`` added, ``404`` no profile, ``409`` member."""

    error: int
    error_text: str
    profile_id: str | None


@dataclass(frozen=True)
class AccountBalance:
    total: Decimal
    """Every point, including ones not active yet."""
    active: Decimal
    """Points that can be spent now."""


@dataclass(frozen=True)
class AccountTransaction:
    transaction_id: str
    transaction_eid: str
    created_at: dt.datetime
    transaction_type: str
    amount: Decimal
    balance_before: Decimal | None
    balance_after: Decimal | None
    description: str = ""
    status: str = ""

    @property
    def takes_points(self) -> bool:
        """A redemption, or a cancellation that took points back."""
        if self.transaction_type == "redemption":
            return True
        if self.transaction_type == "accrual":
            return False
        if self.balance_before is not None and self.balance_after is not None:
            return self.balance_after < self.balance_before
        return False


@dataclass(frozen=True)
class PointsOperation:
    """The answer to accrue, redeem and cancel: the transaction and the active balance after it."""

    transaction_id: str
    balance: Decimal | None


@dataclass(frozen=True)
class TaskStatus:
    task_id: str
    status: str
    progress: int
    result: Mapping[str, Any] = field(default_factory=dict)
    items: tuple[BatchRowResult, ...] = ()

    @property
    def finished(self) -> bool:
        return self.status in {"completed", "failed", "error", "cancelled"}


@dataclass(frozen=True)
class Profile:
    """A profile of an Altcraft profile database; ``fields`` holds every field as answered."""

    id: str
    fields: Mapping[str, Any]

    def text(self, name: str) -> str:
        value = self.fields.get(name)
        if value is None or isinstance(value, (dict, list)):
            return ""
        return str(value)

    @property
    def phones(self) -> tuple[str, ...]:
        value = self.fields.get("phones")
        if isinstance(value, list):
            return tuple(str(phone) for phone in value if phone)
        if isinstance(value, str) and value:
            return (value,)
        single = self.text("phone")
        return (single,) if single else ()


def encode_body(body: Mapping[str, Any], body_format: BodyFormat) -> bytes:
    if body_format == "json":
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    root = ET.Element("xml")
    for name, value in body.items():
        _append_xml(root, name, value)
    return ET.tostring(root, encoding="unicode").encode()


def _append_xml(parent: ET.Element, name: str, value: Any) -> None:
    element = ET.SubElement(parent, name)
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _append_xml(element, str(key), inner)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            _append_xml(element, "item", inner)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)


def decode_answer(raw: bytes, content_type: str = "") -> dict[str, Any]:
    """Parse a JSON or XML answer; XML scalars stay strings and empty elements are ``None``.

    JSON fractions are read as ``Decimal`` (never through a float) and ``NaN``/``Infinity``
    are refused, so a balance is exactly what Altcraft sent.
    """
    text = raw.lstrip()
    is_xml = "xml" in content_type.lower() or text.startswith(b"<")
    try:
        if is_xml:
            root = ET.fromstring(text)
            if root.tag != "xml":
                raise ProtocolError(f"XML answer has root <{root.tag}>, expected <xml>")
            value = _xml_value(root)
            return value if isinstance(value, dict) else {}
        parsed = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ET.ParseError, ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"answer is not valid {'XML' if is_xml else 'JSON'}: {exc}") from None
    if not isinstance(parsed, dict):
        raise ProtocolError("JSON answer is not an object")
    return parsed


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not an amount Altcraft sends")


def _xml_value(element: ET.Element) -> Any:
    children = list(element)
    if element.get("array") == "true" or (children and all(c.tag == "item" for c in children)):
        return [_xml_value(child) for child in children]
    if children:
        value: dict[str, Any] = {}
        for child in children:
            inner = _xml_value(child)
            if child.tag in value:
                previous = value[child.tag]
                value[child.tag] = [*_as_items(previous), inner]
            else:
                value[child.tag] = inner
        return value
    text = element.text
    if text is None or not text.strip():
        return None
    return text


def error_for(code: int, text: str, method: str) -> LoyaltyError:
    message = f"{method}: {text or 'no error text'} (error {code})"
    if code in (401, 403):
        return AuthFailed(message)
    if code == 404:
        return NotFound(message)
    if code == 409:
        return AlreadyExists(message)
    if code == 429 or code >= 500:
        return Unavailable(message)
    return Rejected(message)


def as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ProtocolError(f"{name} is not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ProtocolError(f"{name} is not an integer: {value!r}")


def as_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise ProtocolError(f"expected text, got {type(value).__name__}")
    return str(value)


def as_decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, (str, int, Decimal)) and not isinstance(value, bool):
        try:
            return parse_amount(value)
        except AmountError:
            pass
    raise ProtocolError(f"{name} is not an amount: {value!r}")


def as_optional_decimal(value: Any, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    return as_decimal(value, name)


def as_list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value]
    raise ProtocolError(f"{name} is not a list")


def as_dict(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise ProtocolError(f"{name} is not an object")


def as_datetime(value: Any, name: str) -> dt.datetime:
    text = as_str(value).strip()
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ProtocolError(f"{name} is not an RFC 3339 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def rfc3339(moment: dt.datetime) -> str:
    """``2024-09-01T12:34:56Z``; a naive time is taken as UTC."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def points_text(amount: Decimal) -> str:
    return format_amount(amount, 2)


def parse_batch_rows(value: Any) -> tuple[BatchRowResult, ...]:
    rows = []
    for item in as_list(value, "result"):
        row = as_dict(item, "result item")
        profile_id = as_str(row.get("profile_id")) or None
        rows.append(
            BatchRowResult(
                error=as_int(row.get("error"), "result item error"),
                error_text=as_str(row.get("error_text")),
                profile_id=profile_id,
            )
        )
    return tuple(rows)


def parse_balance(answer: Mapping[str, Any]) -> AccountBalance:
    data = as_dict(answer.get("data"), "data")
    return AccountBalance(
        total=as_decimal(data.get("total_balance"), "total_balance"),
        active=as_decimal(data.get("active_balance"), "active_balance"),
    )


def parse_transactions(answer: Mapping[str, Any]) -> list[AccountTransaction]:
    transactions = []
    for item in as_list(answer.get("data"), "data"):
        row = as_dict(item, "transaction")
        transactions.append(
            AccountTransaction(
                transaction_id=as_str(row.get("transaction_id")),
                transaction_eid=as_str(row.get("transaction_eid")),
                created_at=as_datetime(row.get("created_at"), "created_at"),
                transaction_type=as_str(row.get("transaction_type")),
                amount=as_decimal(row.get("amount"), "amount"),
                balance_before=as_optional_decimal(row.get("balance_before"), "balance_before"),
                balance_after=as_optional_decimal(row.get("balance_after"), "balance_after"),
                description=as_str(row.get("description")),
                status=as_str(row.get("status")),
            )
        )
    return transactions


def parse_points_operation(answer: Mapping[str, Any]) -> PointsOperation:
    data = as_dict(answer.get("data"), "data")
    transaction_id = as_str(data.get("transaction_id"))
    if not transaction_id:
        raise ProtocolError("points operation answer has no transaction_id")
    return PointsOperation(
        transaction_id=transaction_id,
        balance=as_optional_decimal(data.get("balance"), "balance"),
    )


def parse_task_status(answer: Mapping[str, Any], task_id: str) -> TaskStatus:
    data = as_dict(answer.get("data"), "data")
    result = as_dict(data.get("result"), "result")
    return TaskStatus(
        task_id=as_str(data.get("task_id")) or task_id,
        status=as_str(data.get("status")),
        progress=as_int(data.get("progress") or 0, "progress"),
        result=result,
        items=parse_batch_rows(result.get("items")),
    )


def parse_profile(answer: Mapping[str, Any]) -> Profile:
    data = as_dict(answer.get("data"), "data")
    profile_id = as_str(data.get("id") or data.get("profile_id"))
    if not profile_id:
        raise ProtocolError("profile answer has no id")
    return Profile(id=profile_id, fields=data)


def batch_rows_body(rows: Sequence[BatchMember]) -> tuple[Matching, list[dict[str, str]]]:
    """The ``matching`` and ``data`` of a batch; every row must use the same matching."""
    if not rows:
        raise ValueError("a batch needs at least one row")
    matching = rows[0].ref.matching
    data = []
    for row in rows:
        if row.ref.matching != matching:
            raise ValueError("every row of one batch must use the same matching")
        item = row.ref.lookup_fields()
        if row.registration_date is not None:
            item["registration_date"] = rfc3339(row.registration_date)
        data.append(item)
    return matching, data


def _as_items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
