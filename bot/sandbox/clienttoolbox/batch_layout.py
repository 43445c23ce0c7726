"""What the two batch calls share: the delimiter, numbered headers and the lines of data."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.sandbox.clienttoolbox.calls import ApiCall, ApiError

_DELIMITERS = {"pipe": "|", "comma": ",", "tab": "\t", "|": "|", ",": ",", "\t": "\t"}
_END_OF_LINE = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Column:
    number: int
    """The ``N`` of ``profiles_header_N`` / ``visits_header_N``."""
    name: str
    """The field, lower-cased; ``none`` marks a column to skip."""


def batch_delimiter(call: ApiCall) -> str:
    text = call.raw("delimiter")
    delimiter = _DELIMITERS.get(text if text == "\t" else text.strip().lower())
    if delimiter is None:
        if not text.strip():
            raise ApiError("delimiter is required: pipe, comma or tab")
        raise ApiError(f"delimiter must be pipe, comma or tab, not {text!r}")
    return delimiter


def batch_columns(call: ApiCall, prefix: str, known: Callable[[str], bool]) -> list[Column]:
    """The headers in number order; a gap of one number is allowed, a longer one is not."""
    pattern = re.compile(rf"^{prefix}_(\d+)$")
    named: dict[int, str] = {}
    for lowered, original in call.keys_any_case().items():
        match = pattern.match(lowered)
        if match:
            named[int(match.group(1))] = call.params[original].strip()
    if not named:
        raise ApiError(f"{prefix}_1 is required: name the field of each column")
    previous = 0
    for number in sorted(named):
        if number - previous > 2:
            after = f"{prefix}_{previous}" if previous else "the start"
            raise ApiError(
                f"{prefix}_{number} comes after {after}: number the headers from 1"
                " and do not skip more than one"
            )
        previous = number
    columns: list[Column] = []
    seen: set[str] = set()
    for number in sorted(named):
        name = named[number]
        lowered = name.lower()
        if not lowered:
            raise ApiError(f"{prefix}_{number} is empty: give a field name or none")
        if lowered != "none":
            if not known(lowered):
                raise ApiError(f"{prefix}_{number} names an unknown field {name!r}")
            if lowered in seen:
                raise ApiError(f"{prefix}_{number} names {name!r} a second time")
            seen.add(lowered)
        columns.append(Column(number, lowered))
    return columns


def batch_data(call: ApiCall, name: str) -> list[tuple[int, str]]:
    """Non-blank lines of the data field with their line numbers (from 1, as sent)."""
    text = call.text_any_case(name)
    if text is None or not text.strip():
        raise ApiError(f"{name} is required: one line per row")
    return [
        (number, line)
        for number, line in enumerate(_END_OF_LINE.split(text), start=1)
        if line.strip()
    ]


def split_row(line: str, delimiter: str, columns: list[Column]) -> dict[str, str]:
    """Field name → value; missing trailing values are empty, extra values are an error."""
    # A tab delimiter makes leading and trailing tabs meaningful (empty first/last fields).
    padding = " " if delimiter == "\t" else " \t"
    values = [value.strip(padding) for value in line.strip(padding).split(delimiter)]
    if len(values) > len(columns):
        raise ApiError(f"the line has {len(values)} fields but only {len(columns)} headers")
    values += [""] * (len(columns) - len(values))
    return {
        column.name: value
        for column, value in zip(columns, values, strict=True)
        if column.name != "none"
    }
