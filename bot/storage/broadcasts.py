"""Who a broadcast goes to: linked members, filtered, less those who turned news off or
whose chat is out of reach (counted, for the report)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.storage.database import Database
from bot.storage.timestamps import to_text


@dataclass(frozen=True, slots=True)
class Recipient:
    telegram_user_id: int
    member_code: str
    language: str
    """The language the member chose; empty: never chose (the default language)."""


@dataclass(frozen=True)
class Audience:
    recipients: list[Recipient]
    opted_out: int
    unreachable: int


async def broadcast_audience(
    database: Database,
    *,
    language: str | None = None,
    default_language: str = "en",
    source: str | None = None,
    joined_since: dt.datetime | None = None,
) -> Audience:
    """Members matching the filters: ``language`` (chosen, or the default for those who never
    chose), ``source`` (joined through a signup link of that source), ``joined_since`` (linked
    to the bot since). Members who turned news off or are unreachable are counted apart."""
    rows = await database.fetch_all(
        "SELECT ml.telegram_user_id, ml.member_code, coalesce(ul.language, '') AS language, "
        "coalesce(ns.broadcasts, 1) AS broadcasts, ns.unreachable_at "
        "FROM member_links AS ml "
        "LEFT JOIN user_languages AS ul ON ul.telegram_user_id = ml.telegram_user_id "
        "LEFT JOIN notification_settings AS ns ON ns.telegram_user_id = ml.telegram_user_id "
        "WHERE (CAST(? AS BIGINT) IS NULL OR ml.linked_at >= ?) "
        "AND (CAST(? AS TEXT) IS NULL OR EXISTS ("
        "SELECT 1 FROM link_signups AS s JOIN signup_links AS l ON l.id = s.link_id "
        "WHERE s.member_code = ml.member_code AND s.state = 'joined' AND l.source = ?)) "
        "ORDER BY ml.telegram_user_id",
        (
            None if joined_since is None else 1,
            None if joined_since is None else to_text(joined_since),
            source,
            source,
        ),
    )
    recipients: list[Recipient] = []
    opted_out = unreachable = 0
    for row in rows:
        chosen = row["language"]
        if language is not None and (chosen or default_language) != language:
            continue
        if not row["broadcasts"]:
            opted_out += 1
        elif row["unreachable_at"] is not None:
            unreachable += 1
        else:
            recipients.append(Recipient(int(row["telegram_user_id"]), row["member_code"], chosen))
    return Audience(recipients, opted_out, unreachable)
