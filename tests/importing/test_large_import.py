"""A large members file end to end: every row imported once, the report and the sandbox agree."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from rich.console import Console

from bot.importing.cli import EXIT_OK, parse_import_args, run_import
from bot.loyalty.clienttoolbox import ClientToolboxClient
from tests.importing.exports import read_report, report_summary, write_members
from tests.importing.test_cli import settings_for

ROWS = 100_000
"""The size the import is promised for: about 100–200 s here, 200 requests of 500 rows."""


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_a_hundred_thousand_members_land_once_and_the_report_says_so(
    ct_url: str, ct_client: ClientToolboxClient, tmp_path: Path
) -> None:
    path = write_members(tmp_path / "members.csv", ROWS, domain="large.example.com")
    settings = settings_for(ct_url, tmp_path)
    args = parse_import_args(["members", str(path), "--concurrency", "4"])

    started = time.monotonic()
    code = await run_import(args, settings, Console(file=io.StringIO()))
    seconds = time.monotonic() - started

    assert code == EXIT_OK
    report = read_report(tmp_path / "members.report.csv")
    assert len(report) == ROWS
    assert {row["outcome"] for row in report} == {"created"}
    assert [int(row["line"]) for row in report] == list(range(2, ROWS + 2))
    assert f"  created: {ROWS}" in report_summary(tmp_path / "members.report.csv")
    on_sandbox = await ct_client.customer_search(email="@large.example.com")
    assert len(on_sandbox) == ROWS
    assert {profile.code for profile in on_sandbox} == {row["member_code"] for row in report}
    print(f"\n{ROWS} members in {seconds:.1f} s ({ROWS / seconds:.0f} rows/s)")
