"""``loyalty-bot import members|transactions FILE.csv``: the command around ``Importer``.

Exit status: 0 every row imported (or valid, in a dry run); 1 the file was gone through but some
rows are invalid or failed (see the report); 2 the command or the file cannot be used as given;
3 the import stopped early (platform unavailable or credentials refused: run the same command
again to continue); 130 interrupted with Ctrl-C (run it again to continue).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from bot.config import Settings
from bot.loyalty.registry import PLATFORMS, platform
from bot.platforms import (
    EXIT_OK,
    EXIT_USAGE,
    add_command,
    connected_backend,
    describe_target,
    open_settings_database,
)

if TYPE_CHECKING:
    from rich.console import Console

    from bot.importing.csv_source import SourceFormat
    from bot.importing.mapping import ColumnMapping, ImportKind
    from bot.importing.reconcile import Reconciler
    from bot.importing.sending import ChunkSender
    from bot.loyalty.base import LoyaltyBackend
    from bot.loyalty.models import CampaignKind

EXIT_ROW_PROBLEMS = 1
EXIT_STOPPED = 3
EXIT_INTERRUPTED = 130
DEFAULT_CONCURRENCY = 4


def _card_digits(text: str) -> int:
    digits = _whole_number(text)
    if digits != 0 and not 4 <= digits <= 32:
        raise argparse.ArgumentTypeError("a card number has 4 to 32 digits (0: generate none)")
    return digits


def _at_least_one(text: str) -> int:
    number = _whole_number(text)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def add_import_parser(commands: Any) -> None:
    """Add ``import`` to ``loyalty-bot``'s sub-commands (``commands``: from ``add_subparsers``)."""
    parser = add_command(
        commands,
        "import",
        help="import members or transactions from a CSV file into the platform",
        description="Import a CSV export in bulk, with a per-row report; re-running the same "
        "command after an interruption continues where it stopped.",
    )
    parser.add_argument("kind", choices=["members", "transactions"])
    parser.add_argument("file", type=Path, help="the CSV file (first line: column names)")
    parser.add_argument(
        "--mapping",
        type=Path,
        help="JSON file of CSV column → field; read if it exists, otherwise the guessed "
        "mapping is written there to edit and reuse",
    )
    parser.add_argument(
        "--delimiter", help="comma, semicolon, tab or pipe (default: detected from the file)"
    )
    parser.add_argument(
        "--encoding",
        default="auto",
        help="utf-8 (with or without BOM) or cp1252 (default: auto, UTF-8 if it decodes)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="check every row and write the report; send nothing"
    )
    parser.add_argument(
        "--on-duplicate",
        choices=["overwrite", "update", "ignore"],
        default="ignore",
        help="an existing member (same code or card): overwrite all its fields, update the "
        "given ones, or leave it alone (default); Client Toolbox overwrite_duplicates "
        "yes/update/ignore",
    )
    parser.add_argument(
        "--campaigns",
        help="comma-separated campaign ids: members join these (default: CAMPAIGN_IDS or every "
        "campaign); for transactions, the one campaign of rows that name none",
    )
    parser.add_argument(
        "--generate-cards",
        type=_card_digits,
        metavar="DIGITS",
        help="card numbers of this many digits for members without one (default: the bot's "
        "card length; 0: none)",
    )
    parser.add_argument(
        "--chunk-size",
        type=_at_least_one,
        help="rows per request (default: "
        + "; ".join(
            f"{entry.display_name} {entry.imports.member_limits.rows:,}" for entry in PLATFORMS
        )
        + "; never above a platform's maximum)",
    )
    parser.add_argument(
        "--concurrency",
        type=_at_least_one,
        default=DEFAULT_CONCURRENCY,
        help=f"requests in flight at once (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--report", type=Path, help="report CSV (default: FILE.report.csv next to the file)"
    )
    parser.add_argument(
        "--date-order",
        choices=["dmy", "mdy"],
        help="how to read dates like 04/03/2010 (default: refuse them as ambiguous)",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="forget an earlier run of this import and start over",
    )
    parser.add_argument(
        "--resend-in-doubt",
        action="store_true",
        help="look up again rows an earlier run left undecided after a crash (rows cut off "
        "mid-request are always looked up on the platform, and only missing ones sent)",
    )


def run_import_command(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    console = Console(stderr=True)
    try:
        return asyncio.run(run_import(args, settings, console))
    except KeyboardInterrupt:
        console.print(
            "interrupted: what was sent is recorded; run the same command again to continue"
        )
        return EXIT_INTERRUPTED


class UsageProblem(Exception):
    """The command cannot run as given; the text says what to change."""


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def default_report_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.report.csv")


@dataclass(frozen=True)
class PreparedFile:
    kind: ImportKind
    path: Path
    size: int
    source_format: SourceFormat
    mapping: ColumnMapping
    report_path: Path


def prepare_file(args: argparse.Namespace, console: Console) -> PreparedFile:
    """Everything known from the file alone: format, header, mapping (saved if asked)."""
    from bot.importing.csv_source import CsvSource, sniff
    from bot.importing.mapping import ImportKind, MappingError, load_or_save_mapping

    kind = ImportKind(args.kind)
    path: Path = args.file
    if not path.is_file():
        raise UsageProblem(f"no file {path}")
    if args.concurrency < 1 or (args.chunk_size is not None and args.chunk_size < 1):
        raise UsageProblem("--concurrency and --chunk-size must be at least 1")
    source_format = sniff(path, args.encoding, args.delimiter)
    with CsvSource(path, source_format) as probe:
        header = probe.header
    try:
        mapping, saved = load_or_save_mapping(args.mapping, kind, header)
    except MappingError as exc:
        raise UsageProblem(f"mapping {args.mapping}: {exc}") from None
    _check_required(kind, mapping.positions(header), args)
    for column, target in mapping.columns.items():
        if target:
            console.print(f"  {column!r} → {target}", highlight=False)
    if saved:
        console.print(f"mapping written to {args.mapping}: edit it and run again to change it")
    if mapping.unknown:
        names = ", ".join(repr(name) for name in mapping.unknown)
        console.print(f"unknown columns, not imported: {names}", highlight=False)
    return PreparedFile(
        kind=kind,
        path=path,
        size=path.stat().st_size,
        source_format=source_format,
        mapping=mapping,
        report_path=args.report or default_report_path(path),
    )


async def run_import(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """The whole command inside a running event loop (``args`` from ``parse_import_args``)."""
    from bot.importing.csv_source import SourceError

    try:
        prepared = prepare_file(args, console)
        return await _import(prepared, args, settings, console)
    except (UsageProblem, SourceError) as exc:
        console.print(f"[red]import:[/red] {exc}", highlight=False)
        return EXIT_USAGE


async def _import(
    prepared: PreparedFile, args: argparse.Namespace, settings: Settings, console: Console
) -> int:
    from bot.importing.csv_source import SourceIdentity, estimate_rows
    from bot.importing.report import ImportProgress
    from bot.importing.runner import (
        ImportConflict,
        Importer,
        ImportPlan,
        checkpoint_key,
        earlier_imports,
    )
    from bot.loyalty.errors import LoyaltyError
    from bot.storage.imports import ImportCheckpoints

    notes: list[str] = []
    async with connected_backend(settings) as backend:
        try:
            sender, campaigns, default_campaign = await _sender_for(
                prepared.kind, backend, settings, args, notes
            )
            reconciler = reconciler_for(
                prepared.kind, backend, args.concurrency, updates=args.on_duplicate != "ignore"
            )
        except LoyaltyError as exc:
            console.print(f"[red]import:[/red] the platform: {exc.message}", highlight=False)
            return EXIT_STOPPED
        plan = ImportPlan(
            kind=prepared.kind,
            path=prepared.path,
            source_format=prepared.source_format,
            mapping=prepared.mapping,
            platform=backend.platform,
            target=describe_target(settings),
            region=settings.default_region,
            date_order=args.date_order,
            campaigns=campaigns,
            default_campaign=default_campaign,
            chunk_size=args.chunk_size,
            concurrency=min(args.concurrency, settings.http.pool_size),
            dry_run=args.dry_run,
            resend_in_doubt=args.resend_in_doubt,
            options={
                "on_duplicate": args.on_duplicate,
                "campaigns": args.campaigns or "",
                "generate_cards": args.generate_cards,
            },
        )
        ceiling = None if sender is None else sender.limits.max_rows
        if ceiling is not None and args.chunk_size and args.chunk_size > ceiling:
            notes.append(f"chunks capped at {ceiling} rows (the platform's limit)")
        database = None if args.dry_run else await open_settings_database(settings)
        try:
            checkpoints = None if database is None else ImportCheckpoints(database)
            if checkpoints is not None and args.restart:
                identity = SourceIdentity.of(prepared.path)
                key = checkpoint_key(identity, prepared.kind, prepared.mapping, plan.target)
                earlier = await earlier_imports(checkpoints, plan, identity)
                forgotten = [await checkpoints.discard(record.key) for record in earlier]
                if any(forgotten) or await checkpoints.discard(key):
                    notes.append("earlier runs of this import were forgotten (--restart)")
            with ImportProgress(estimate_rows(prepared.path), console=console) as progress:
                importer = Importer(
                    plan, sender, checkpoints, progress=progress, reconciler=reconciler
                )
                try:
                    summary = await importer.run(prepared.report_path)
                except ImportConflict as exc:
                    console.print(f"[red]import:[/red] {exc}", highlight=False)
                    return EXIT_USAGE
        finally:
            if database is not None:
                await database.close()
    summary.notes[:0] = notes
    for line in summary.text_lines():
        print(line)
    print(f"report: {prepared.report_path}")
    if summary.stopped:
        return EXIT_STOPPED
    return EXIT_ROW_PROBLEMS if summary.problems else EXIT_OK


def _check_required(kind: ImportKind, positions: dict[str, int], args: argparse.Namespace) -> None:
    from bot.importing.mapping import ImportKind

    if kind is ImportKind.MEMBERS:
        if not {"code", "card_number", "phone", "email"} & positions.keys():
            raise UsageProblem(
                "no column maps to code, card_number, phone or email; name the columns in "
                "--mapping FILE.json"
            )
        return
    if "member" not in positions:
        raise UsageProblem(
            "no column maps to member (the member's code or card number); name it in "
            "--mapping FILE.json"
        )
    if "campaign_id" not in positions and len(_split(args.campaigns)) != 1:
        raise UsageProblem("no campaign column: pass the campaign with --campaigns ID")


async def _sender_for(
    kind: ImportKind,
    backend: LoyaltyBackend,
    settings: Settings,
    args: argparse.Namespace,
    notes: list[str],
) -> tuple[ChunkSender | None, dict[str, CampaignKind] | None, str]:
    """The chunk sender, the campaigns by id (transactions) and the default campaign."""
    from bot.importing.mapping import ImportKind
    from bot.importing.sending import BackendMembers, BackendTransactions
    from bot.loyalty.errors import Unavailable
    from bot.loyalty.models import DuplicatePolicy

    requested = _split(args.campaigns)
    if kind is ImportKind.TRANSACTIONS:
        if len(requested) > 1:
            raise UsageProblem("transactions take one default campaign (--campaigns ID)")
        try:
            campaigns = {campaign.id: campaign.kind for campaign in await backend.campaigns()}
        except Unavailable as exc:
            if not args.dry_run:
                raise
            notes.append(f"campaigns not checked (the platform is unavailable: {exc.message})")
            return None, None, requested[0] if requested else ""
        if requested and requested[0] not in campaigns:
            raise UsageProblem(
                f"no campaign {requested[0]}; the campaigns are {', '.join(campaigns)}"
            )
        return BackendTransactions(backend), campaigns, requested[0] if requested else ""
    campaign_ids = requested or list(settings.campaign_ids)
    entry = platform(backend.platform)
    traits = entry.imports
    if args.dry_run and not requested and not traits.member_preview:
        return None, None, ""
    known = [campaign.id for campaign in await backend.campaigns()]
    unknown = [campaign_id for campaign_id in campaign_ids if campaign_id not in known]
    if unknown:
        raise UsageProblem(
            f"no campaign {', '.join(unknown)}; the campaigns are {', '.join(known)}"
        )
    if args.on_duplicate != "ignore" and not traits.member_updates:
        notes.append(
            f"--on-duplicate has no effect on {entry.display_name}: members already in are "
            "reported"
        )
    if args.generate_cards and not traits.generates_cards:
        notes.append(
            f"--generate-cards has no effect on {entry.display_name}: rows without a card "
            "number get none"
        )
    if traits.all_campaigns_by_default:
        campaign_ids = campaign_ids or known
    sender = BackendMembers(
        backend,
        campaign_ids,
        on_duplicate=DuplicatePolicy(args.on_duplicate),
        generate_cards=args.generate_cards,
    )
    return sender, None, ""


def reconciler_for(
    kind: ImportKind, backend: LoyaltyBackend, concurrency: int, *, updates: bool = False
) -> Reconciler:
    """How rows in doubt are looked up on this platform before anything is sent again
    (``updates``: members are imported with ``--on-duplicate update`` or ``overwrite``)."""
    from bot.importing.mapping import ImportKind
    from bot.importing.reconcile import (
        EidLedger,
        HistoryLedger,
        MemberLookup,
        TransactionCount,
        TransactionEids,
    )
    from bot.loyalty.platform import TransactionLookup

    traits = platform(backend.platform).imports
    if kind is ImportKind.MEMBERS:
        # A platform that never changes a member's fields on import leaves a found one alone.
        updates = updates and traits.member_updates
        return MemberLookup(backend, concurrency=concurrency, updates=updates)
    if traits.transaction_lookup is TransactionLookup.EIDS:
        return TransactionEids(cast("EidLedger", backend), concurrency=concurrency)
    return TransactionCount(cast("HistoryLedger", backend), concurrency=concurrency)


def parse_import_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``import …`` arguments as the ``loyalty-bot`` command does."""
    parser = argparse.ArgumentParser(prog="loyalty-bot")
    add_import_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["import", *argv])
