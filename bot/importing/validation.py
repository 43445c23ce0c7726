"""Checking each row before anything is sent: one bad row never stops the good ones.

A row either becomes the domain model the platform clients take (``MemberImportRow``,
``TransactionImportRow``) or a ``RowProblem`` naming the column and what was wrong with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from email_validator import EmailNotValidError, validate_email

from bot.loyalty.amounts import AmountError, parse_amount
from bot.loyalty.models import (
    CampaignKind,
    ImportOutcome,
    MemberImportRow,
    TransactionImportRow,
)
from bot.loyalty.phones import PhoneError, normalize_phone

DateOrder = Literal["dmy", "mdy"]
ImportRow = MemberImportRow | TransactionImportRow

_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")
_CURRENCY_MARK = r"(?:[$€£₽¥₴₸]|usd|eur|gbp|rub|руб\.?|р\.?)"
_CURRENCY = re.compile(rf"^{_CURRENCY_MARK}|{_CURRENCY_MARK}$", re.IGNORECASE)
_TIME = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?: ?[AaPp][Mm])?(?:Z|[+-]\d{2}:?\d{2})?)?"
_ISO = re.compile(rf"^(\d{{4}})[-/.](\d{{1,2}})[-/.](\d{{1,2}}){_TIME}$")
_DOTTED = re.compile(rf"^(\d{{1,2}})\.(\d{{1,2}})\.(\d{{2,4}}){_TIME}$")
_SLASHED = re.compile(rf"^(\d{{1,2}})([/-])(\d{{1,2}})\2(\d{{2,4}}){_TIME}$")
_WORDY = re.compile(
    r"^(\d{1,2})\.? ?([^\d\s.,]+)\.?,? (\d{2,4})$|^([^\d\s.,]+)\.? (\d{1,2}),? (\d{2,4})$"
)
_MONTHS = {
    **{
        name: number
        for number, name in enumerate(
            ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
            start=1,
        )
    },
    **{
        name: number
        for number, name in enumerate(
            ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"),
            start=1,
        )
    },
    **{
        name: number
        for number, name in enumerate(
            ("янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"),
            start=1,
        )
    },
    "май": 5,
    "set": 9,
}
_YES = frozenset({"y", "yes", "true", "1", "x", "д", "да", "s", "si", "sí", "redeemed", "redeem"})
_NO = frozenset({"", "n", "no", "false", "0", "н", "нет", "earn", "purchase"})


_WHOLE_UNITS = {
    CampaignKind.POINTS: "a points campaign takes whole points",
    CampaignKind.EVENTS: "an events campaign counts whole visits",
    CampaignKind.BUYX: "a buy-X campaign counts whole items",
}


class FieldError(ValueError):
    """One cell's value is not acceptable; the text says why, for the report."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row that is not sent, with the reason written to the report."""

    line: int
    message: str
    outcome: ImportOutcome = ImportOutcome.INVALID
    member_code: str = ""


def clean_text(value: str) -> str:
    value = value.strip()
    if not _LINE_BREAKS.isdisjoint(value):
        raise FieldError("holds a line break")
    return value


def parse_email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise FieldError(f"{value!r} is not a valid email ({exc})") from None


def parse_phone(value: str, region: str) -> str:
    """E.164 (``+15555550101``); numbers without a country code are read in ``region``."""
    try:
        return normalize_phone(value, region)
    except PhoneError:
        raise FieldError(f"{value!r} is not a valid phone number for {region} or abroad") from None


def parse_money(value: str) -> Decimal:
    """``9.95``, ``9,95``, ``$9.95``, ``1 234,50``; never negative, never ``1,234.50``."""
    text = _SPACES.sub("", value)
    text = _CURRENCY.sub("", text)
    try:
        amount = parse_amount(text)
    except AmountError:
        raise FieldError(
            f"{value!r} is not an amount (write 1234.50 or 1234,50, no thousands separator)"
        ) from None
    if amount < 0:
        raise FieldError(f"{value!r} is negative")
    return amount


def parse_whole(value: str) -> int:
    amount = parse_money(value)
    if amount != amount.to_integral_value():
        raise FieldError(f"{value!r} is not a whole number")
    return int(amount)


def parse_flag(value: str) -> bool:
    key = value.strip().casefold()
    if key in _YES:
        return True
    if key in _NO:
        return False
    raise FieldError(f"{value!r} is not Y or N")


def _year(text: str) -> int:
    if len(text) != 4:
        raise FieldError(f"the year {text!r} must have four digits")
    return int(text)


def _day(year: int, month: int, day: int, original: str) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise FieldError(f"{original!r} is not a date") from None


def parse_date(
    value: str,
    *,
    order: DateOrder | None = None,
    earliest: dt.date,
    latest: dt.date,
) -> dt.date:
    """A calendar date in a common form; ambiguous forms need ``order``.

    Accepted: ``1970-07-14`` (``/`` or ``.`` too, a time after it is ignored), ``14.07.1970``
    (day first, as written where dots are used), ``07/14/1970`` or ``14/07/1970`` when one part
    is over 12 or ``order`` says which comes first, ``14 Jul 1970``, ``Jul 14, 1970`` (English,
    Spanish or Russian month abbreviations). Two-digit years are refused.
    """
    text = _SPACES.sub(" ", value.strip())
    if match := _ISO.match(text):
        year, month, day = (int(part) for part in match.groups())
        found = _day(year, month, day, value)
    elif match := _DOTTED.match(text):
        found = _day(_year(match[3]), int(match[2]), int(match[1]), value)
    elif match := _SLASHED.match(text):
        first, second, year = int(match[1]), int(match[3]), _year(match[4])
        if first > 12 or (order == "dmy" and second <= 12):
            day, month = first, second
        elif second > 12 or order == "mdy" or first == second:
            month, day = first, second
        else:
            raise FieldError(
                f"{value!r} is ambiguous (day/month or month/day?); use YYYY-MM-DD or pass "
                "--date-order dmy|mdy"
            )
        found = _day(year, month, day, value)
    elif match := _WORDY.match(text):
        if match[1]:
            day_text, month_text, year_text = match[1], match[2], match[3]
        else:
            month_text, day_text, year_text = match[4], match[5], match[6]
        named_month = _MONTHS.get(month_text.casefold()[:3])
        if named_month is None:
            raise FieldError(f"{value!r}: unknown month {month_text!r}")
        found = _day(_year(year_text), named_month, int(day_text), value)
    else:
        raise FieldError(f"{value!r} is not a date (use YYYY-MM-DD)")
    if not earliest <= found <= latest:
        raise FieldError(
            f"{value!r} is out of range ({earliest.isoformat()} to {latest.isoformat()})"
        )
    return found


def _cell(cells: Sequence[str], positions: Mapping[str, int], name: str) -> str:
    index = positions.get(name)
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()


def _check_width(cells: Sequence[str], width: int) -> None:
    extra = [cell for cell in cells[width:] if cell.strip()]
    if extra:
        raise FieldError(
            f"has {len(cells)} values for {width} columns (an unquoted delimiter in a value?)"
        )


def _digest(name: str, value: str) -> int:
    text = f"{name}\x00{value.casefold()}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


class _Rows:
    """What the member and transaction readers share: each field's column, the header's
    width, how dates are read and what today is."""

    def __init__(
        self,
        positions: Mapping[str, int],
        *,
        width: int,
        date_order: DateOrder | None,
        today: dt.date | None,
    ) -> None:
        self._positions = positions
        self._width = width
        self._date_order = date_order
        self._today = today or dt.date.today()

    def _width_problem(self, line: int, cells: Sequence[str]) -> RowProblem | None:
        try:
            _check_width(cells, self._width)
        except FieldError as exc:
            return RowProblem(line, str(exc))
        return None

    def _text(self, cells: Sequence[str], name: str, problems: list[str]) -> str:
        """The field's cleaned text; empty, with the problem noted, when it cannot be read."""
        try:
            return clean_text(_cell(cells, self._positions, name))
        except FieldError as exc:
            problems.append(f"{name}: {exc}")
            return ""

    def _date(self, text: str, earliest: dt.date, latest: dt.date) -> dt.date:
        return parse_date(text, order=self._date_order, earliest=earliest, latest=latest)


class MemberRows(_Rows):
    """Turns member records into ``MemberImportRow`` or ``RowProblem``."""

    def __init__(
        self,
        positions: Mapping[str, int],
        *,
        width: int,
        region: str,
        date_order: DateOrder | None = None,
        today: dt.date | None = None,
    ) -> None:
        super().__init__(positions, width=width, date_order=date_order, today=today)
        self._region = region
        self._seen: dict[int, int] = {}
        """64-bit digest of (field, value) → line of the first good row giving it, for codes and
        card numbers: about 90 bytes a row, where the strings would take twice that."""

    def remember(self, line: int, cells: Sequence[str]) -> None:
        """A row settled by an earlier run: read it so a later duplicate names its line."""
        self.read(line, cells)

    def read(self, line: int, cells: Sequence[str]) -> MemberImportRow | RowProblem:
        row = self._read(line, cells)
        if isinstance(row, RowProblem):
            return row
        keys = [
            (name, value)
            for name, value in (("code", row.code), ("card_number", row.card_number))
            if value
        ]
        for name, value in keys:
            first = self._seen.get(_digest(name, value))
            if first is not None and first != line:
                return RowProblem(
                    line,
                    f"{name}: {value} is already on line {first} of this file (a member's "
                    f"{name.replace('_', ' ')} must be unique); this row is not sent",
                    member_code=row.code,
                )
        for name, value in keys:
            self._seen[_digest(name, value)] = line
        return row

    def _read(self, line: int, cells: Sequence[str]) -> MemberImportRow | RowProblem:
        problems: list[str] = []
        values: dict[str, object] = {}

        def take(name: str) -> str:
            return self._text(cells, name, problems)

        too_wide = self._width_problem(line, cells)
        if too_wide is not None:
            return too_wide
        for name in ("code", "card_number", "first_name", "last_name"):
            values[name] = take(name)
        parsers: dict[str, Callable[[str], object]] = {
            "email": parse_email,
            "phone": lambda text: parse_phone(text, self._region),
            "birthday": lambda text: self._date(text, dt.date(1900, 1, 1), self._today),
            "signup_bonus": parse_money,
        }
        for name, parse in parsers.items():
            text = take(name)
            if text:
                try:
                    values[name] = parse(text)
                except FieldError as exc:
                    problems.append(f"{name}: {exc}")
        code = str(values.get("code", ""))
        if problems:
            return RowProblem(line, "; ".join(problems), member_code=code)
        if not any(values.get(name) for name in ("code", "card_number", "phone", "email")):
            return RowProblem(line, "needs at least one of code, card_number, phone or email")
        return MemberImportRow.model_validate({"line": line, **values})


class TransactionRows(_Rows):
    """Turns transaction records into ``TransactionImportRow`` or ``RowProblem``.

    ``campaigns`` (id → kind) enables the per-kind checks of seed 003: a gift-card row needs an
    amount, a buy-X row an item, a redemption of events or earned money an amount. ``None``
    (campaigns not known, e.g. a dry run without the platform) skips them.
    """

    def __init__(
        self,
        positions: Mapping[str, int],
        *,
        width: int,
        campaigns: Mapping[str, CampaignKind] | None,
        default_campaign: str = "",
        date_order: DateOrder | None = None,
        today: dt.date | None = None,
    ) -> None:
        super().__init__(positions, width=width, date_order=date_order, today=today)
        self._campaigns = campaigns
        self._default_campaign = default_campaign

    def remember(self, line: int, cells: Sequence[str]) -> None:
        """A row settled by an earlier run (nothing to keep about it)."""

    def read(self, line: int, cells: Sequence[str]) -> TransactionImportRow | RowProblem:
        too_wide = self._width_problem(line, cells)
        if too_wide is not None:
            return too_wide
        problems: list[str] = []
        names = ("campaign_id", "member", "redeemed", "amount", "item", "date", "description")
        texts = {name: self._text(cells, name, problems) for name in names}
        member = texts["member"]
        campaign_id = texts["campaign_id"] or self._default_campaign
        if not member:
            problems.append("member: the member's code or card number is missing")
        if not campaign_id:
            problems.append("campaign_id: missing (add the column or pass --campaigns ID)")
        redeemed = False
        try:
            redeemed = parse_flag(texts["redeemed"])
        except FieldError as exc:
            problems.append(f"redeemed: {exc}")
        kind = None if self._campaigns is None else self._campaigns.get(campaign_id)
        amount: Decimal | None = None
        if texts["amount"]:
            try:
                if kind in _WHOLE_UNITS:
                    amount = Decimal(parse_whole(texts["amount"]))
                else:
                    amount = parse_money(texts["amount"])
            except FieldError as exc:
                unit = _WHOLE_UNITS.get(kind) if kind is not None else None
                problems.append(f"amount: {exc}" + (f" ({unit})" if unit else ""))
        date: dt.date | None = None
        if texts["date"]:
            try:
                latest = self._today + dt.timedelta(days=1)
                date = self._date(texts["date"], dt.date(1990, 1, 1), latest)
            except FieldError as exc:
                problems.append(f"date: {exc}")
        if self._campaigns is not None and campaign_id and kind is None:
            if problems:
                problems.append(f"campaign_id: no campaign {campaign_id}")
            else:
                return RowProblem(
                    line,
                    f"no campaign {campaign_id} on the platform",
                    ImportOutcome.NOT_FOUND,
                    member,
                )
        if kind is not None and not problems:
            problems.extend(_kind_problems(kind, redeemed, amount, texts["item"]))
        if problems:
            return RowProblem(line, "; ".join(problems), member_code=member)
        return TransactionImportRow(
            line=line,
            campaign_id=campaign_id,
            member=member,
            redeemed=redeemed,
            amount=amount,
            item=texts["item"],
            date=date,
            description=texts["description"],
        )


def _kind_problems(
    kind: CampaignKind, redeemed: bool, amount: Decimal | None, item: str
) -> list[str]:
    if kind is CampaignKind.GIFTCARD and amount is None:
        return ["amount: a gift-card row needs an amount"]
    if kind is CampaignKind.BUYX and not item:
        return ["item: a buy-X row needs the item (product) name"]
    if kind is not CampaignKind.BUYX and item:
        return [f"item: only buy-X campaigns take an item, this is a {kind.value} campaign"]
    if redeemed and amount is None:
        return [f"amount: a {kind.value} redemption needs the amount to take"]
    return []
