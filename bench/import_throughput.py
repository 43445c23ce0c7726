"""Bulk member import into the Client Toolbox sandbox: batched chunks against one request per row.

Run: ``python bench/import_throughput.py [--rows 100000] [--baseline-rows 2000]
[--chunk-size 500] [--concurrency 4]``

The sandbox runs in its own process and each measurement in a fresh child process, so the peak
RSS (``resource.getrusage``) of a child is the importer's alone. Measured in the same run:

- ``batched``: ``Importer`` as ``loyalty-bot import members`` runs it (streamed CSV, validation,
  ``customers_batch`` chunks, SQLite checkpoint, per-row report), at ``--rows`` and at a tenth of
  it, to show that memory does not grow with the file;
- ``one request per row``: the same rows, read and validated the same way, each sent as its own
  ``record_customer`` (``new``) with the same concurrency; measured on ``--baseline-rows`` rows
  and extrapolated to ``--rows`` at the measured rate (a 100,000-request run would take minutes
  and measure the same thing).

On loopback a request costs almost nothing, so the ratio mostly shows the per-row work of both;
``--latency 0.05`` makes the sandbox wait 50 ms before each answer, as a hosted platform's round
trip does, which is where one request per row falls behind.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

# The project's package, installed or not (the workers run this file from any folder).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SANDBOX = """
import asyncio, sys
from bot.sandbox.clienttoolbox import create_app
from bot.sandbox.runner import serve

async def main():
    async with serve(create_app(sys.argv[1])) as url:
        print(url, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""
_AREAS = ("212", "312", "415", "617", "713", "303", "206", "404", "305", "702")
HEADER = ("Customer ID", "First name", "Last name", "E-mail", "Phone number", "DOB")


def write_members(path: Path, start: int, count: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for number in range(start, start + count):
            area = _AREAS[number % 10]
            phone = f"+1 ({area}) {234 + (number // 10) % 700:03d}-{(number // 7000) % 10000:04d}"
            writer.writerow(
                [
                    f"B{number:07d}",
                    f"Ann{number}",
                    "Member",
                    f"member{number}@bench.example.com",
                    phone,
                    f"{1950 + number % 50}-{1 + number % 12:02d}-{1 + number % 28:02d}",
                ]
            )
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def client_for(url: str, concurrency: int) -> Any:
    from pydantic import AnyHttpUrl, SecretStr

    from bot.config import HttpSettings
    from bot.loyalty.clienttoolbox import ClientToolboxClient
    from bot.loyalty.clienttoolbox.settings import ClientToolboxSettings
    from bot.sandbox.clienttoolbox import demo

    settings = ClientToolboxSettings(
        url=AnyHttpUrl(f"{url}/api.php"),
        account_id=demo.ACCOUNT_ID,
        user_id=demo.USER_ID,
        user_api_key=SecretStr(demo.API_KEY),
    )
    return ClientToolboxClient(
        settings, HttpSettings(read_timeout=120, pool_size=max(concurrency, 4))
    )


async def batched(args: argparse.Namespace) -> dict[str, Any]:
    from bot.importing.csv_source import CsvSource, sniff
    from bot.importing.mapping import ImportKind, guess_mapping
    from bot.importing.runner import Importer, ImportPlan
    from bot.importing.sending import BackendMembers
    from bot.sandbox.clienttoolbox import demo
    from bot.storage.database import open_database
    from bot.storage.imports import ImportCheckpoints

    path = Path(args.file)
    source_format = sniff(path)
    with CsvSource(path, source_format) as probe:
        mapping = guess_mapping(ImportKind.MEMBERS, probe.header)
    plan = ImportPlan(
        kind=ImportKind.MEMBERS,
        path=path,
        source_format=source_format,
        mapping=mapping,
        platform="clienttoolbox",
        target=f"bench:{args.url}",
        chunk_size=args.chunk_size,
        concurrency=args.concurrency,
    )
    client = client_for(args.url, args.concurrency)
    database = await open_database(path.with_suffix(".db"))
    before = peak_rss_mb()
    try:
        sender = BackendMembers(client, [demo.POINTS_CAMPAIGN], generate_cards=12)
        started, cpu = time.perf_counter(), cpu_seconds()
        summary = await Importer(plan, sender, ImportCheckpoints(database)).run(
            path.with_suffix(".report.csv")
        )
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    finally:
        await database.close()
        await client.aclose()
    return {
        "rows": summary.rows,
        "created": summary.counts["created"],
        "requests": summary.sent_requests,
        "seconds": seconds,
        "cpu": cpu,
        "rss_before_mb": before,
        "rss_peak_mb": peak_rss_mb(),
    }


async def one_per_row(args: argparse.Namespace) -> dict[str, Any]:
    from bot.importing.csv_source import CsvSource, sniff
    from bot.importing.mapping import ImportKind, guess_mapping
    from bot.importing.validation import MemberRows, RowProblem
    from bot.loyalty.clienttoolbox.wire import CustomerFields
    from bot.loyalty.errors import LoyaltyError
    from bot.sandbox.clienttoolbox import demo

    path = Path(args.file)
    client = client_for(args.url, args.concurrency)
    created = 0
    before = peak_rss_mb()
    started, cpu = time.perf_counter(), cpu_seconds()
    with CsvSource(path, sniff(path)) as source:
        mapping = guess_mapping(ImportKind.MEMBERS, source.header)
        reader = MemberRows(
            mapping.positions(source.header), width=len(source.header), region="US"
        )
        records = iter(source.records())

        async def worker() -> None:
            nonlocal created
            for record in records:
                row = reader.read(record.line, record.cells)
                if isinstance(row, RowProblem):
                    continue
                fields = CustomerFields(
                    first_name=row.first_name,
                    last_name=row.last_name,
                    phone=row.phone,
                    email=row.email,
                    custom_date=row.birthday,
                )
                try:
                    await client.record_customer_new(
                        fields,
                        code=row.code,
                        card_number_generate=12,
                        campaign_ids=[demo.POINTS_CAMPAIGN],
                    )
                except LoyaltyError:
                    continue
                created += 1

        try:
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        finally:
            await client.aclose()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {
        "rows": created,
        "created": created,
        "requests": created,
        "seconds": seconds,
        "cpu": cpu,
        "rss_before_mb": before,
        "rss_peak_mb": peak_rss_mb(),
    }


def run_child(mode: str, url: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--url",
        url,
        "--file",
        str(path),
        "--chunk-size",
        str(args.chunk_size),
        "--concurrency",
        str(args.concurrency),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=3600)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=2_000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds the sandbox waits before each answer, standing for a WAN round trip",
    )
    parser.add_argument("--worker", choices=["batched", "one-per-row"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        work = batched if args.worker == "batched" else one_per_row
        print(json.dumps(asyncio.run(work(args))))
        return

    with tempfile.TemporaryDirectory(prefix="import-bench-") as folder:
        root = Path(folder)
        small_rows = max(args.rows // 10, 1)
        big = write_members(root / "big.csv", 0, args.rows)
        small = write_members(root / "small.csv", args.rows, small_rows)
        sample = write_members(root / "sample.csv", args.rows + small_rows, args.baseline_rows)
        sandbox = subprocess.Popen(
            [sys.executable, "-c", SANDBOX, str(root / "sandbox.db")],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert sandbox.stdout is not None
            url = sandbox.stdout.readline().strip()
            if not url.startswith("http://"):
                raise SystemExit("the sandbox did not start")
            if args.latency:
                fault = json.dumps({"latency": args.latency}).encode()
                request = urllib.request.Request(
                    f"{url}/_sandbox/faults", data=fault, method="POST"
                )
                request.add_header("Content-Type", "application/json")
                urllib.request.urlopen(request, timeout=10).close()
            results = [
                ("batched", args.rows, run_child("batched", url, big, args)),
                ("batched", small_rows, run_child("batched", url, small, args)),
                (
                    "one request per row",
                    args.baseline_rows,
                    run_child("one-per-row", url, sample, args),
                ),
            ]
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=30)
    print_table(results, args)


def print_table(results: list[tuple[str, int, dict[str, Any]]], args: argparse.Namespace) -> None:
    baseline_rate = results[-1][2]["created"] / results[-1][2]["seconds"]
    latency = f", {args.latency * 1000:g} ms added per request" if args.latency else ""
    print(
        f"\nmembers import into the Client Toolbox sandbox (separate process), "
        f"chunk {args.chunk_size}, concurrency {args.concurrency}{latency}\n"
    )
    head = f"{'mode':<22}{'rows':>9}{'requests':>10}{'seconds':>9}{'rows/s':>9}"
    head += f"{'CPU µs/row':>12}{'RSS +MB':>9}{'× baseline':>12}"
    print(head)
    print("-" * len(head))
    for mode, rows, result in results:
        rate = result["created"] / result["seconds"]
        cpu_per_row = result["cpu"] / max(result["created"], 1) * 1e6
        growth = result["rss_peak_mb"] - result["rss_before_mb"]
        print(
            f"{mode:<22}{rows:>9,}{result['requests']:>10,}{result['seconds']:>9.1f}"
            f"{rate:>9,.0f}{cpu_per_row:>12,.0f}{growth:>9.1f}{rate / baseline_rate:>12.1f}"
        )
        if result["created"] != rows:
            print(f"  ! {result['created']} of {rows} rows created")
    projected = args.rows / baseline_rate
    big_rate = results[0][2]["created"] / results[0][2]["seconds"]
    print(
        f"\none request per row, extrapolated to {args.rows:,} rows: {projected:,.0f} s "
        f"(batched: {results[0][2]['seconds']:,.0f} s, {big_rate / baseline_rate:.1f}× faster)"
    )
    print(
        "RSS +MB: peak resident memory of the importing process above what it held before the "
        f"import (interpreter and libraries: {results[0][2]['rss_before_mb']:.0f} MB); "
        "CPU µs/row: the importing process only (the sandbox runs in its own)"
    )


if __name__ == "__main__":
    main()
