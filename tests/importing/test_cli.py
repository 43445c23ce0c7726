"""``loyalty-bot import``: arguments, mapping files, dry runs, exit codes, the embedded sandbox."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bot.config import Settings
from bot.importing.cli import (
    EXIT_OK,
    EXIT_ROW_PROBLEMS,
    EXIT_STOPPED,
    EXIT_USAGE,
    parse_import_args,
    run_import,
)
from bot.loyalty.altcraft import AltcraftClient
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import CampaignKind
from bot.sandbox.clienttoolbox import demo
from tests.e2e.conftest import clean_environment
from tests.importing.conftest import altcraft_settings, clienttoolbox_settings
from tests.importing.exports import read_report, report_summary, write_csv, write_members

MEMBERS = (
    "Tarjeta;Nombre;Correo;Teléfono;Fecha de nacimiento;Notas\n"
    "5001;José;jose@example.com;+34 612 34 56 78;14/07/1970;\n"
    "5002;Zoë;zoe@;;;\n"
)


def settings_for(url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        platform="clienttoolbox",
        clienttoolbox=clienttoolbox_settings(url),
        database=tmp_path / "bot" / "loyalty-bot.db",
    )


async def command(settings: Settings, *argv: str) -> tuple[int, str]:
    output = io.StringIO()
    code = await run_import(parse_import_args(argv), settings, Console(file=output))
    return code, output.getvalue()


async def test_members_with_a_saved_mapping_and_chosen_campaigns(
    ct_url: str,
    ct_client: ClientToolboxClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "clientes.csv"
    path.write_text(MEMBERS, encoding="cp1252")
    mapping = tmp_path / "mapping.json"
    settings = settings_for(ct_url, tmp_path)
    args = ["members", str(path), "--mapping", str(mapping), "--campaigns", demo.EVENTS_CAMPAIGN]

    code, log = await command(settings, *args, "--generate-cards", "0")
    saved = json.loads(mapping.read_text(encoding="utf-8"))
    again, _ = await command(settings, *args)

    assert code == EXIT_ROW_PROBLEMS
    assert "mapping written to" in log and "'Notas'" in log
    assert saved["columns"] == {
        "Tarjeta": "card_number",
        "Nombre": "first_name",
        "Correo": "email",
        "Teléfono": "phone",
        "Fecha de nacimiento": "birthday",
        "Notas": None,
    }
    report = read_report(tmp_path / "clientes.report.csv")
    assert [(row["line"], row["outcome"]) for row in report] == [
        ("2", "created"),
        ("3", "invalid"),
    ]
    jose = await ct_client.find_member_by_card("5001")
    assert jose is not None
    assert (jose.first_name, jose.phone, str(jose.birthday)) == (
        "José",
        "+34612345678",
        "1970-07-14",
    )
    assert {balance.kind for balance in await ct_client.balances(jose.code)} == {
        CampaignKind.EVENTS
    }
    assert again == EXIT_ROW_PROBLEMS
    assert "already imported" in capsys.readouterr().out


async def test_dry_run_sends_nothing_and_keeps_no_checkpoint(
    ct_url: str, ct_client: ClientToolboxClient, tmp_path: Path
) -> None:
    path = write_members(tmp_path / "members.csv", 20)
    settings = settings_for(ct_url, tmp_path)

    code, _ = await command(settings, "members", str(path), "--dry-run")

    assert code == EXIT_OK
    report = read_report(tmp_path / "members.report.csv")
    assert {row["outcome"] for row in report} == {"valid"} and len(report) == 20
    assert "  valid: 20" in report_summary(tmp_path / "members.report.csv")
    assert await ct_client.get_member("M0000000") is None
    assert not settings.database.exists()


async def test_transactions_need_a_campaign_and_a_member_column(
    ct_url: str, tmp_path: Path
) -> None:
    settings = settings_for(ct_url, tmp_path)
    no_campaign = write_csv(tmp_path / "a.csv", ["Card", "Amount"], [["12121", "5"]])
    no_member = write_csv(tmp_path / "b.csv", ["Amount"], [["5"]])

    missing_campaign, log_campaign = await command(settings, "transactions", str(no_campaign))
    missing_member, log_member = await command(settings, "transactions", str(no_member))
    wrong_campaign, log_wrong = await command(
        settings, "transactions", str(no_campaign), "--campaigns", "9999"
    )
    code, _ = await command(
        settings, "transactions", str(no_campaign), "--campaigns", demo.POINTS_CAMPAIGN
    )

    assert (missing_campaign, missing_member, wrong_campaign) == (EXIT_USAGE,) * 3
    assert "--campaigns ID" in log_campaign
    assert "no column maps to member" in log_member
    assert "no campaign 9999" in log_wrong
    assert code == EXIT_OK


async def test_a_platform_that_is_down_stops_the_command_with_its_own_code(
    tmp_path: Path,
) -> None:
    path = write_members(tmp_path / "members.csv", 5)
    settings = settings_for("http://127.0.0.1:9", tmp_path)

    code, log = await command(settings, "members", str(path), "--campaigns", "1")

    assert code == EXIT_STOPPED
    assert "the platform" in log


async def test_restart_forgets_the_earlier_run(
    ct_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_members(tmp_path / "members.csv", 3)
    settings = settings_for(ct_url, tmp_path)

    first, _ = await command(settings, "members", str(path))
    second, _ = await command(
        settings, "members", str(path), "--restart", "--on-duplicate", "update"
    )

    assert (first, second) == (EXIT_OK, EXIT_OK)
    out = capsys.readouterr().out
    assert "forgotten (--restart)" in out
    assert [row["outcome"] for row in read_report(tmp_path / "members.report.csv")] == [
        "updated"
    ] * 3


def test_the_command_imports_into_the_embedded_sandbox(tmp_path: Path) -> None:
    path = write_members(tmp_path / "members.csv", 30)
    env = clean_environment()
    # The checkout's code, even where the package is not installed.
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["DATABASE"] = str(tmp_path / "data" / "loyalty-bot.db")
    argv = [sys.executable, "-m", "bot", "import", "members", str(path), "--chunk-size", "10"]

    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == EXIT_OK, done.stderr
    assert "imported into clienttoolbox: 30 rows" in done.stdout
    assert "requests sent in this run: 3" in done.stdout
    assert f"report: {tmp_path / 'members.report.csv'}" in done.stdout
    assert len(read_report(tmp_path / "members.report.csv")) == 30
    assert (tmp_path / "data" / "sandbox-clienttoolbox.db").exists()


async def test_a_changed_file_is_not_imported_afresh_without_restart(
    ct_url: str, tmp_path: Path
) -> None:
    settings = settings_for(ct_url, tmp_path)
    header = ["Card", "Amount"]
    path = write_csv(tmp_path / "sales.csv", header, [[demo.JANE_CARD, "5"]])
    args = ["transactions", str(path), "--campaigns", demo.POINTS_CAMPAIGN]
    first, _ = await command(settings, *args)
    write_csv(path, header, [[demo.JANE_CARD, "5"], [demo.JANE_CARD, "7"]])

    refused, log = await command(settings, *args)
    restarted, _ = await command(settings, *args, "--restart")

    assert (first, refused, restarted) == (EXIT_OK, EXIT_USAGE, EXIT_OK)
    assert "a second time" in log and "--restart" in log
    assert [row["outcome"] for row in read_report(tmp_path / "sales.report.csv")] == [
        "created",
        "created",
    ]


async def test_members_into_altcraft_through_the_command(
    altcraft_url: str, altcraft_client: AltcraftClient, tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None,
        platform="altcraft",
        altcraft=altcraft_settings(altcraft_url),
        database=tmp_path / "bot" / "loyalty-bot.db",
    )
    path = write_csv(
        tmp_path / "members.csv",
        ["Email"],
        [["user1@example.com"], ["user2@example.com"], ["ghost@example.com"]],
    )
    (program,) = await altcraft_client.campaigns()

    wrong, log = await command(settings, "members", str(path), "--campaigns", "nope")
    dry, _ = await command(settings, "members", str(path), "--dry-run")
    dry_summary = report_summary(tmp_path / "members.report.csv")
    dry_report = read_report(tmp_path / "members.report.csv")
    code, _ = await command(settings, "members", str(path), "--campaigns", program.id)

    assert wrong == EXIT_USAGE and "no campaign nope" in log
    assert dry == EXIT_OK
    assert "  of the valid rows, 1: a new profile would be created" in dry_summary
    assert [row["message"] for row in dry_report] == ["", "", "a new profile would be created"]
    assert code == EXIT_OK
    outcomes = [row["outcome"] for row in read_report(tmp_path / "members.report.csv")]
    assert outcomes == ["created", "already a member", "created"]
    ghost = await altcraft_client.find_member_by_email("ghost@example.com")
    assert ghost is not None


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--generate-cards", "-3", "4 to 32 digits"),
        ("--generate-cards", "99", "4 to 32 digits"),
        ("--generate-cards", "x", "not a whole number"),
        ("--chunk-size", "0", "1 or more"),
        ("--concurrency", "-1", "1 or more"),
    ],
)
def test_bad_numbers_are_refused_with_the_reason(
    option: str, value: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_import_args(["members", "m.csv", option, value])
    assert stopped.value.code == 2
    assert says in capsys.readouterr().err


def test_zero_generate_cards_means_none() -> None:
    assert parse_import_args(["members", "m.csv", "--generate-cards", "0"]).generate_cards == 0
