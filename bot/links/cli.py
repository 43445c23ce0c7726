"""``loyalty-bot links create|list|disable|stats|personal|poster``: signup links for marketing.

Exit status: 0 done; 1 done, but some rows of ``personal`` matched no member (see the output
file); 2 the command cannot be used as given; 3 the platform could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import io
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.config import Settings
from bot.devtools.standin_identity import BOT_USERNAME as STANDIN_USERNAME
from bot.platforms import (
    EXIT_OK,
    EXIT_USAGE,
    add_actions,
    connected_backend,
    open_settings_database,
)

if TYPE_CHECKING:
    from bot.loyalty.base import LoyaltyBackend
    from bot.loyalty.models import Member
    from bot.services.referrals import ReferralStats
    from bot.services.signup_links import LinkStats, SignupLink, SignupLinks
    from bot.storage.database import Database

EXIT_UNMATCHED = 1
EXIT_PLATFORM = 3
DEFAULT_POSTERS = Path("posters")
PERSONAL_CONCURRENCY = 4


class UsageProblem(Exception):
    """The command cannot run as given; the text says what to change."""


def add_links_parser(commands: Any) -> None:
    """Add ``links`` to ``loyalty-bot``'s sub-commands (``commands``: from ``add_subparsers``)."""
    actions = add_actions(
        commands,
        "links",
        help="signup links for posters, emails, social posts and stores",
        description="Signup links carry only a short signed token; campaign, source and bonus "
        "stay in the bot's database.",
    )

    create = actions.add_parser("create", help="make a link, print it and write its poster")
    create.add_argument("--campaign", help="campaign the member joins (and gets the bonus in)")
    create.add_argument(
        "--source",
        required=True,
        help="where the link is used: poster, email, instagram, store:<name> …",
    )
    create.add_argument(
        "--bonus",
        help="signup bonus in the campaign's unit (points, or money on a gift card), once per "
        "member",
    )
    create.add_argument(
        "--expires",
        help="last day (YYYY-MM-DD, to the end of that day on this machine's clock) or an "
        "ISO time",
    )
    create.add_argument("--max-uses", type=int, help="at most this many signups")
    create.add_argument("--note", default="", help="a note for yourself (not shown to members)")
    _poster_arguments(create)
    create.add_argument(
        "--no-check",
        action="store_true",
        help="do not ask the platform whether the campaign exists",
    )

    listing = actions.add_parser("list", help="list the links")
    listing.add_argument("--personal", action="store_true", help="include personal links")
    listing.add_argument("--format", choices=["table", "csv", "json"], default="table")

    disable = actions.add_parser("disable", help="disable a link for good")
    disable.add_argument("token")

    stats = actions.add_parser(
        "stats",
        help="openings and signups per link, source or day; referrals per inviter and month",
    )
    stats.add_argument("--by", choices=["link", "source", "day", "inviter"], default="link")
    stats.add_argument("--format", choices=["table", "csv", "json"], default="table")

    personal = actions.add_parser(
        "personal",
        help="one single-use link per existing member of a CSV file",
        description="Columns (by header, any order): card_number, code, email or phone. Every "
        "row comes out in --output with its link or the reason it has none.",
    )
    personal.add_argument("--input", type=Path, required=True)
    personal.add_argument("--output", type=Path, required=True)
    personal.add_argument("--expires", help="as for create")
    personal.add_argument(
        "--concurrency", type=int, default=PERSONAL_CONCURRENCY, help="platform lookups at once"
    )

    poster = actions.add_parser("poster", help="write the poster of an existing link again")
    poster.add_argument("token")
    _poster_arguments(poster)


def _poster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--caption", help='text above the QR code (default: "Scan to join <program>")'
    )
    parser.add_argument(
        "--posters",
        type=Path,
        default=DEFAULT_POSTERS,
        help=f"folder for <token>.png and <token>.svg (default: {DEFAULT_POSTERS})",
    )
    parser.add_argument("--no-poster", action="store_true", help="print the link only")


def run_links_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(run_links(args, settings))
    except UsageProblem as exc:
        print(f"links: {exc}", file=sys.stderr)
        return EXIT_USAGE


def parse_expiry(text: str, now: dt.datetime) -> dt.datetime:
    """``2025-12-31`` → the end of that day on this machine's clock; an ISO time as given
    (without an offset: this machine's). Refuses a moment already past."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day + dt.timedelta(days=1), dt.time()).astimezone()
        else:
            moment = dt.datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.astimezone()
    except ValueError:
        raise UsageProblem(
            f"--expires {text!r}: expected a date like 2025-12-31 or a time like "
            "2025-12-31T18:00+01:00"
        ) from None
    if moment <= now:
        raise UsageProblem(f"--expires {text!r} is already past")
    return moment


def parse_bonus(text: str | None) -> Decimal | None:
    from bot.loyalty.amounts import AmountError, parse_amount

    if text is None:
        return None
    try:
        bonus = parse_amount(text)
    except AmountError:
        raise UsageProblem(f"--bonus {text!r} is not a number") from None
    if bonus <= 0:
        raise UsageProblem("--bonus must be more than zero")
    return bonus


async def bot_username(settings: Settings) -> str:
    """``BOT_USERNAME``, else the stand-in's without a token, else Telegram's ``getMe``."""
    if settings.bot_username:
        return settings.bot_username.lstrip("@")
    if settings.uses_embedded_telegram:
        return STANDIN_USERNAME
    return await ask_bot_username(settings)


TELEGRAM_API = "https://api.telegram.org"


async def ask_bot_username(settings: Settings) -> str:
    """The bot's username from one plain ``getMe`` (no Bot, no Dispatcher is built). An error
    names its kind only: the request's address holds the token."""
    import httpx

    assert settings.bot_token is not None
    base = str(settings.telegram_api_url or TELEGRAM_API).rstrip("/")
    url = f"{base}/bot{settings.bot_token.get_secret_value()}/getMe"
    timeout = httpx.Timeout(settings.http.read_timeout, connect=settings.http.connect_timeout)
    problem = ""
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            answer = await client.get(url)
        reply = answer.json()
        username = reply["result"]["username"] if reply.get("ok") else None
        if not isinstance(username, str):
            problem = str(reply.get("description") or f"HTTP {answer.status_code}")
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
        problem = type(exc).__name__
    if problem:
        problem = problem.replace(settings.bot_token.get_secret_value(), "***")
        raise UsageProblem(
            f"could not ask Telegram for the bot's username ({problem}); set BOT_USERNAME"
        )
    return str(username)


@dataclass
class _Context:
    settings: Settings
    links: SignupLinks
    database: Database


@asynccontextmanager
async def _links(settings: Settings, *, username: bool) -> AsyncIterator[_Context]:
    from bot.services.signup_links import SignupLinks
    from bot.storage.links import LinkRepository

    name = await bot_username(settings) if username else ""
    database = await open_settings_database(settings)
    try:
        secret = settings.links_secret.get_secret_value() if settings.links_secret else None
        yield _Context(
            settings,
            SignupLinks(LinkRepository(database), bot_username=name, secret=secret),
            database,
        )
    finally:
        await database.close()


async def run_links(args: argparse.Namespace, settings: Settings) -> int:
    command = args.links_command
    if command == "create":
        return await _create(args, settings)
    if command == "personal":
        return await _personal(args, settings)
    needs_username = command in ("list", "poster")
    async with _links(settings, username=needs_username) as context:
        if command == "list":
            return await _list(context, args, sys.stdout)
        if command == "disable":
            return await _disable(context, args.token)
        if command == "stats":
            return await _stats(context, args, sys.stdout)
        return await _poster(context, args)


async def _check_campaign(
    settings: Settings, campaign_id: str, bonus: Decimal | None
) -> str | None:
    """Refuse a campaign the platform does not have, or a bonus it cannot pay.

    Returns a warning when the platform cannot be asked.
    """
    from bot.loyalty.errors import LoyaltyError
    from bot.loyalty.models import CampaignKind
    from bot.services.signup_links import BONUS_KINDS

    try:
        async with connected_backend(settings) as backend:
            campaigns = {campaign.id: campaign for campaign in await backend.campaigns()}
    except LoyaltyError as exc:
        return f"campaign not checked: the platform answered {type(exc).__name__}: {exc.message}"
    campaign = campaigns.get(campaign_id)
    if campaign is None:
        known = ", ".join(f"{c.id} ({c.name})" for c in campaigns.values())
        raise UsageProblem(f"no campaign {campaign_id}; the campaigns are {known}")
    if bonus is not None:
        if campaign.kind not in BONUS_KINDS:
            raise UsageProblem(
                f"campaign {campaign_id} is a {campaign.kind.value} campaign: a bonus needs a "
                "points or gift-card campaign"
            )
        if campaign.kind is CampaignKind.POINTS and bonus != bonus.to_integral_value():
            raise UsageProblem("a points bonus is a whole number of points")
    return None


async def _create(args: argparse.Namespace, settings: Settings) -> int:
    from bot.storage.timestamps import utc_now

    bonus = parse_bonus(args.bonus)
    expires = None if args.expires is None else parse_expiry(args.expires, utc_now())
    if args.max_uses is not None and args.max_uses < 1:
        raise UsageProblem("--max-uses must be at least 1")
    if bonus is not None and not args.campaign:
        raise UsageProblem("--bonus needs --campaign: the campaign the bonus is credited in")
    if args.campaign and not args.no_check:
        warning = await _check_campaign(settings, args.campaign, bonus)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    async with _links(settings, username=True) as context:
        link = await context.links.create(
            campaign_id=args.campaign,
            source=args.source,
            bonus=bonus,
            expires_at=expires,
            max_uses=args.max_uses,
            note=args.note,
        )
        print(context.links.url(link))
        print(f"token: {link.token}", file=sys.stderr)
        _write_poster(context, link, args)
    return EXIT_OK


def _write_poster(context: _Context, link: SignupLink, args: argparse.Namespace) -> None:
    from bot.links.poster import poster_for, write_poster

    if args.no_poster:
        return
    caption = args.caption or f"Scan to join {context.settings.program_name}"
    png, svg = write_poster(poster_for(context.links.url(link), caption), args.posters, link.token)
    print(f"poster: {png} and {svg}", file=sys.stderr)


async def _poster(context: _Context, args: argparse.Namespace) -> int:
    link = await context.links.get(args.token)
    if link is None:
        raise UsageProblem(f"no link {args.token}")
    print(context.links.url(link))
    if args.no_poster:
        return EXIT_OK
    _write_poster(context, link, args)
    return EXIT_OK


async def _disable(context: _Context, token: str) -> int:
    link = await context.links.disable(token)
    if link is None:
        raise UsageProblem(f"no link {token}")
    print(f"disabled {link.token} ({link.source}); it now gets the plain welcome")
    return EXIT_OK


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _emit(rows: Sequence[dict[str, object]], fields: Sequence[str], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump([{k: _json(row[k]) for k in fields} for row in rows], out, indent=2)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(fields)
        writer.writerows([[_text(row[k]) for k in fields] for row in rows])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*fields)
    for row in rows:
        table.add_row(*(_text(row[k]) for k in fields))
    Console(file=out, width=200).print(table)


def _json(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


LIST_FIELDS = (
    "token",
    "url",
    "source",
    "campaign",
    "bonus",
    "expires",
    "uses",
    "max_uses",
    "disabled",
    "member",
    "note",
    "created",
)


async def _list(context: _Context, args: argparse.Namespace, out: TextIO) -> int:
    rows: list[dict[str, object]] = [
        {
            "token": link.token,
            "url": context.links.url(link),
            "source": link.source,
            "campaign": link.campaign_id,
            "bonus": link.bonus,
            "expires": link.expires_at,
            "uses": link.uses,
            "max_uses": link.max_uses,
            "disabled": link.disabled,
            "member": link.member_code,
            "note": link.note,
            "created": link.created_at,
        }
        for link in await context.links.links(personal=args.personal)
    ]
    _emit(rows, LIST_FIELDS, args.format, out)
    return EXIT_OK


def stats_rows(stats: Sequence[LinkStats], by: str) -> tuple[list[dict[str, object]], list[str]]:
    fields = {
        "link": ["token", "source", "campaign", "opened", "refused", "members", "signups"],
        "source": ["source", "opened", "refused", "members", "signups"],
        "day": ["day", "source", "token", "opened", "refused", "members", "signups"],
    }[by] + ["bonuses"]
    rows: list[dict[str, object]] = [
        {
            "day": row.day,
            "source": row.source,
            "token": row.token,
            "campaign": row.campaign_id,
            "opened": row.opened,
            "refused": row.refused,
            "members": row.already_members,
            "signups": row.signups,
            "bonuses": row.bonuses,
        }
        for row in stats
    ]
    if by != "day":
        totals: dict[str, object] = dict.fromkeys(fields, "")
        totals[fields[0]] = "total"
        for name in ("opened", "refused", "members", "signups", "bonuses"):
            totals[name] = sum(int(str(row[name])) for row in rows)
        rows.append(totals)
    return rows, fields


INVITER_FIELDS = (
    "month",
    "inviter",
    "opened",
    "refused",
    "joined",
    "friend_bonuses",
    "inviter_bonuses",
)


def referral_rows(stats: Sequence[ReferralStats]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {
            "month": row.month,
            "inviter": row.inviter_code,
            "opened": row.opened,
            "refused": row.refused,
            "joined": row.joined,
            "friend_bonuses": row.friend_bonuses,
            "inviter_bonuses": row.inviter_bonuses,
        }
        for row in stats
    ]
    return rows


async def _referral_stats(context: _Context, args: argparse.Namespace, out: TextIO) -> int:
    from bot.services.referrals import fold_referral_counts
    from bot.storage.referrals import ReferralRepository

    counts = await ReferralRepository(context.database).counts()
    _emit(referral_rows(fold_referral_counts(counts)), INVITER_FIELDS, args.format, out)
    if args.format == "table":
        print(
            "inviter: the inviting member's code; opened: every /start with their invite link; "
            "refused: own link, already a member or over the monthly cap; months are in "
            "SHOP_TIMEZONE",
            file=sys.stderr,
        )
    return EXIT_OK


async def _stats(context: _Context, args: argparse.Namespace, out: TextIO) -> int:
    from bot.services.signup_links import StatsGrouping

    if args.by == "inviter":
        return await _referral_stats(context, args, out)

    stats = await context.links.stats(StatsGrouping(args.by))
    rows, fields = stats_rows(stats, args.by)
    _emit(rows, fields, args.format, out)
    if args.format == "table":
        print(
            "opened: every /start with the link; refused: got the plain welcome (forged, "
            "unknown, expired, disabled, used up); members: already in; days are UTC",
            file=sys.stderr,
        )
    return EXIT_OK


MEMBER_COLUMNS = {
    "card_number": ("card_number", "card", "card number", "cardnumber", "card_no"),
    "code": ("code", "member_code", "member code", "customer_code"),
    "email": ("email", "e-mail", "email address", "mail"),
    "phone": ("phone", "phone number", "mobile", "telephone", "tel"),
}
OUTPUT_COLUMNS = ("link", "token", "member_code", "status")


def _column_name(name: str) -> str:
    return " ".join(
        name.strip().lstrip("\ufeff").lower().replace("-", " ").replace("_", " ").split()
    )


def _member_columns(header: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for position, name in enumerate(header):
        cleaned = _column_name(name)
        for key, names in MEMBER_COLUMNS.items():
            if key not in found and cleaned in {_column_name(known) for known in names}:
                found[key] = position
    return found


async def _find_member(
    backend: LoyaltyBackend, values: dict[str, str], region: str
) -> tuple[Member | None, str]:
    """The member a row names, and why not when none (for the output's ``status``)."""
    from bot.services.contacts import InvalidEmail, InvalidPhone, normalize_email, normalize_phone

    lookups: list[tuple[str, str, Callable[[str], Awaitable[Member | None]]]] = [
        ("code", "code", backend.get_member),
        ("card_number", "card number", backend.find_member_by_card),
        ("email", "email", lambda text: backend.find_member_by_email(normalize_email(text))),
        (
            "phone",
            "phone",
            lambda text: backend.find_member_by_phone(normalize_phone(text, region)),
        ),
    ]
    tried = []
    for key, label, find in lookups:
        if not values.get(key):
            continue
        try:
            member = await find(values[key])
        except (InvalidEmail, InvalidPhone):
            tried.append(f"{label} (not valid)")
            continue
        if member is not None:
            return member, "ok"
        tried.append(label)
    if not tried:
        return None, "no member: the row names no card, code, email or phone"
    return None, f"no member with this {', '.join(tried)}"


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a CSV file (comma, semicolon, tab or pipe; UTF-8, BOM or not)."""
    if not path.is_file():
        raise UsageProblem(f"no file {path}")
    with path.open(encoding="utf-8-sig", newline="") as source:
        sample = source.read(64 * 1024)
        source.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        rows = list(csv.reader(source, dialect))
    if not rows:
        raise UsageProblem(f"{path} is empty")
    return rows[0], rows[1:]


async def _personal(args: argparse.Namespace, settings: Settings) -> int:
    from bot.loyalty.errors import LoyaltyError, Unavailable
    from bot.storage.timestamps import utc_now

    expires = None if args.expires is None else parse_expiry(args.expires, utc_now())
    if args.concurrency < 1:
        raise UsageProblem("--concurrency must be at least 1")
    header, body = read_rows(args.input)
    columns = _member_columns(header)
    if not columns:
        raise UsageProblem(
            f"{args.input}: no column named card_number, code, email or phone (first line: "
            f"{', '.join(header)})"
        )
    results: list[list[str]] = [[] for _ in body]
    by_member: dict[str, tuple[str, str, int]] = {}
    semaphore = asyncio.Semaphore(args.concurrency)
    async with connected_backend(settings) as backend, _links(settings, username=True) as context:

        async def one(index: int, row: list[str]) -> None:
            values = {key: row[pos].strip() for key, pos in columns.items() if pos < len(row)}
            async with semaphore:
                try:
                    member, status = await _find_member(backend, values, settings.default_region)
                except LoyaltyError as exc:
                    if isinstance(exc, Unavailable):
                        raise
                    member, status = None, f"not looked up: {exc.message}"
            if member is None:
                results[index] = ["", "", "", status]
                return
            if member.code in by_member:
                url, token, first = by_member[member.code]
                results[index] = [url, token, member.code, f"same member as line {first}"]
                return
            # Claimed before the await, so two rows of one member get one link.
            by_member[member.code] = ("", "", index + 2)
            link = await context.links.personal(member.code, expires_at=expires)
            url = context.links.url(link)
            by_member[member.code] = (url, link.token, index + 2)
            results[index] = [url, link.token, member.code, "ok"]

        try:
            await asyncio.gather(*(one(index, row) for index, row in enumerate(body)))
        except Unavailable as exc:
            print(f"links: the platform cannot be reached ({exc.message})", file=sys.stderr)
            return EXIT_PLATFORM
    # A second row of a member may have finished before the first wrote its link.
    for result in results:
        if result and result[3].startswith("same member as line"):
            url, token, _ = by_member[result[2]]
            result[0], result[1] = url, token
    _write_personal(args.output, header, body, results)
    unmatched = [index + 2 for index, result in enumerate(results) if not result[0]]
    made = sum(1 for result in results if result[3] == "ok")
    print(f"{made} personal links written to {args.output}", file=sys.stderr)
    if unmatched:
        lines = ", ".join(str(line) for line in unmatched[:20])
        more = f" and {len(unmatched) - 20} more" if len(unmatched) > 20 else ""
        print(
            f"{len(unmatched)} rows match no member (lines {lines}{more}): see the status "
            f"column of {args.output}",
            file=sys.stderr,
        )
        return EXIT_UNMATCHED
    return EXIT_OK


def _write_personal(
    output: Path, header: list[str], body: list[list[str]], results: list[list[str]]
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*header, *OUTPUT_COLUMNS])
    for row, result in zip(body, results, strict=True):
        writer.writerow([*row, *result])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(buffer.getvalue(), encoding="utf-8")
