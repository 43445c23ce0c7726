"""Timestamps as the tables keep them: UTC, ISO-8601 text of one fixed width.

A fixed width (always microseconds, always ``+00:00``) makes text order equal time order,
so ``WHERE next_attempt_at <= ?`` compares instants correctly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]

_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def to_text(moment: dt.datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got naive {moment.isoformat()}")
    return moment.astimezone(dt.UTC).strftime(_FORMAT)


def from_text(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)
