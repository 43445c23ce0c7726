"""Members into the Altcraft sandbox: profiles found or created, then register_member_batch with
its per-row codes and the split."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.importing.mapping import ImportKind
from bot.importing.sending import BackendMembers
from bot.loyalty.altcraft import AltcraftClient
from bot.sandbox.altcraft import STORE, create_app, demo
from bot.sandbox.faults import Handler
from bot.sandbox.runner import serve
from tests.importing.conftest import FAST, ImportRun, altcraft_settings
from tests.importing.exports import member_phone, read_report, write_csv

SEED_004 = (
    "E-mail,First name\n"
    "user1@example.com,Cleo\n"
    "user2@example.com,Bob\n"
    "nobody@example.com,Nobody\n"
    "not-an-email,Bad\n"
)


async def test_seed_004_rows_answer_0_409_and_404(
    altcraft_client: AltcraftClient, run_import: ImportRun, tmp_path: Path
) -> None:
    path = tmp_path / "members.csv"
    path.write_text(SEED_004, encoding="utf-8")
    assert await altcraft_client.find_member_by_email("user1@example.com") is None

    summary = await run_import(
        ImportKind.MEMBERS, path, BackendMembers(altcraft_client, []), platform="altcraft"
    )

    report = read_report(tmp_path / "members.report.csv")
    assert [(row["line"], row["outcome"]) for row in report] == [
        ("2", "created"),
        ("3", "already a member"),
        ("4", "created"),
        ("5", "invalid"),
    ]
    assert report[1]["message"] == "Member already exists"
    assert report[2]["message"] == "a new profile"
    assert report[0]["member_code"] == "663a138cee44bb50a67115cd"
    assert dict(summary.counts) == {"created": 2, "already a member": 1, "invalid": 1}
    cleo = await altcraft_client.find_member_by_email("user1@example.com")
    assert cleo is not None and cleo.first_name == "Cleo"
    nobody = await altcraft_client.find_member_by_email("nobody@example.com")
    assert nobody is not None and nobody.first_name == "Nobody"


PROFILES = 10_050


class BatchRequests:
    """Counts ``register_member_batch`` requests reaching the sandbox."""

    def __init__(self) -> None:
        self.count = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.endswith("/register_member_batch"):
            self.count += 1
        return await handler(request)


@pytest.fixture
async def counted_altcraft() -> AsyncIterator[tuple[AltcraftClient, BatchRequests]]:
    app = create_app(":memory:")
    store = app[STORE]
    for number in range(PROFILES):
        store.add_profile(demo.DB_ID, {"email": f"p{number}@split.example.com"})
    requests = BatchRequests()
    app.middlewares.append(requests.middleware)
    async with serve(app) as url:
        client = AltcraftClient(altcraft_settings(url), FAST)
        yield client, requests
        await client.aclose()


async def test_more_than_ten_thousand_members_go_in_requests_of_ten_thousand(
    counted_altcraft: tuple[AltcraftClient, BatchRequests],
    run_import: ImportRun,
    tmp_path: Path,
) -> None:
    client, requests = counted_altcraft
    rows = ([f"p{number}@split.example.com"] for number in range(PROFILES))
    path = write_csv(tmp_path / "members.csv", ["Email"], rows)

    summary = await run_import(
        ImportKind.MEMBERS,
        path,
        BackendMembers(client, []),
        platform="altcraft",
        chunk_size=25_000,
    )

    assert [len(outcome.chunk.entries) for outcome in run_import.outcomes] == [10_000, 50]
    assert requests.count == 2
    assert dict(summary.counts) == {"created": PROFILES}
    last = await client.find_member_by_email(f"p{PROFILES - 1}@split.example.com")
    assert last is not None


FRESH = 600


@pytest.mark.slow
async def test_a_fresh_members_file_creates_every_profile_findable_by_card(
    altcraft_client: AltcraftClient, run_import: ImportRun, tmp_path: Path
) -> None:
    header = ["Card", "First name", "E-mail", "Phone number"]
    good = [
        [
            f"55{number:08d}",
            f"Fresh{number}",
            f"fresh{number}@altcraft.example.com",
            member_phone(number),
        ]
        for number in range(FRESH)
    ]
    bad = [
        ["5599999901", "Bad mail", "fresh-bad@", ""],
        ["", "Nobody", "", ""],
        [good[7][0], "Same card", "other@altcraft.example.com", ""],
    ]
    path = write_csv(tmp_path / "fresh.csv", header, [*good[:300], *bad, *good[300:]])
    sender = BackendMembers(altcraft_client, [])

    dry = await run_import(ImportKind.MEMBERS, path, sender, platform="altcraft", dry_run=True)
    dry_report = read_report(tmp_path / "fresh.report.csv")
    summary = await run_import(ImportKind.MEMBERS, path, sender, platform="altcraft")

    assert dry.counts["valid"] == FRESH and dry.counts["invalid"] == 3
    assert dict(dry.previews) == {"a new profile would be created": FRESH}
    duplicate = next(row for row in dry_report if row["line"] == "304")
    assert "is already on line 9" in duplicate["message"]
    assert dict(summary.counts) == {"created": FRESH, "invalid": 3}
    semaphore = asyncio.Semaphore(8)

    async def by_card(row: list[str]) -> tuple[str, str]:
        async with semaphore:
            member = await altcraft_client.find_member_by_card(row[0])
        assert member is not None, row
        return member.email, member.first_name

    found = await asyncio.gather(*(by_card(row) for row in good))
    assert found == [(row[2], row[1]) for row in good]


async def test_an_existing_profile_gets_the_files_card_number_and_keeps_its_own(
    altcraft_app: web.Application,
    altcraft_client: AltcraftClient,
    run_import: ImportRun,
    tmp_path: Path,
) -> None:
    store = altcraft_app[STORE]
    store.add_profile(demo.DB_ID, {"email": "bare@altcraft.example.com", "_fname": "Bare"})
    store.add_profile(
        demo.DB_ID, {"email": "carded@altcraft.example.com", "card_number": "4400000001"}
    )
    path = write_csv(
        tmp_path / "existing.csv",
        ["Card", "E-mail", "First name"],
        [
            ["4400000099", "bare@altcraft.example.com", "Changed"],
            ["4400000098", "carded@altcraft.example.com", ""],
        ],
    )

    summary = await run_import(
        ImportKind.MEMBERS, path, BackendMembers(altcraft_client, []), platform="altcraft"
    )

    report = read_report(tmp_path / "existing.report.csv")
    assert dict(summary.counts) == {"created": 2}
    bare = await altcraft_client.find_member_by_card("4400000099")
    assert bare is not None and bare.email == "bare@altcraft.example.com"
    assert bare.first_name == "Bare"
    assert await altcraft_client.find_member_by_card("4400000098") is None
    carded = await altcraft_client.find_member_by_card("4400000001")
    assert carded is not None and carded.email == "carded@altcraft.example.com"
    assert "keeps its card 4400000001" in report[1]["message"]
