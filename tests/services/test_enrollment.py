"""Enrollment against the sandbox: exactly one member per join, links that follow proof."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.errors import Unavailable
from bot.services.catalog import CampaignCatalog
from bot.services.enrollment import Enrollment, JoinRequest, new_member_code
from bot.storage.database import Database, open_database
from bot.storage.joins import PendingJoins
from bot.storage.members import MemberLinks

PHONE = "+12025550143"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    database = await open_database(":memory:")
    yield database
    await database.close()


@pytest.fixture
def enrollment(db: Database, ct_backend: ClientToolboxClient) -> Enrollment:
    return Enrollment(
        ct_backend,
        MemberLinks(db),
        PendingJoins(db),
        CampaignCatalog(ct_backend, clock=now),
        clock=now,
    )


async def fault(url: str, **body: object) -> None:
    async with httpx.AsyncClient() as http:
        if body:
            await http.post(f"{url}/_sandbox/faults", json=body)
        else:
            await http.delete(f"{url}/_sandbox/faults")


def test_member_codes_are_sixteen_random_digits() -> None:
    codes = {new_member_code() for _ in range(100)}
    assert len(codes) == 100
    assert all(len(code) == 16 and code.isdigit() and code[0] != "0" for code in codes)


def test_a_join_needs_a_proven_contact() -> None:
    with pytest.raises(ValueError):
        JoinRequest(first_name="Jane")


async def test_a_new_contact_after_a_failed_join_keeps_its_member_code(
    enrollment: Enrollment, db: Database, ct_backend: ClientToolboxClient, ct_sandbox_url: str
) -> None:
    await fault(ct_sandbox_url, error_status=503)
    with pytest.raises(Unavailable):
        await enrollment.join(1, JoinRequest(phone=PHONE, first_name="Jane"))
    pending = await PendingJoins(db).get(1)
    assert pending is not None
    await fault(ct_sandbox_url)

    joined = await enrollment.join(1, JoinRequest(email="jane@example.com", first_name="Jane"))
    assert joined.created and joined.member.code == pending.member_code
    assert joined.member.email == "jane@example.com"
    assert await ct_backend.find_member_by_phone(PHONE) is None
    assert await PendingJoins(db).get(1) is None


async def test_fresh_proof_moves_a_link_to_the_account_that_gave_it(
    enrollment: Enrollment, db: Database
) -> None:
    first = await enrollment.join(1, JoinRequest(phone=PHONE, first_name="Jane"))
    second = await enrollment.join(2, JoinRequest(phone=PHONE, first_name="Jane"))
    assert not second.created and second.member.code == first.member.code
    links = MemberLinks(db)
    assert await links.get(1) is None
    moved = await links.get(2)
    assert moved is not None and moved.member_code == first.member.code


async def test_joining_again_with_another_proof_relinks(
    enrollment: Enrollment, db: Database
) -> None:
    by_phone = await enrollment.join(1, JoinRequest(phone=PHONE, first_name="Jane"))
    by_email = await enrollment.join(1, JoinRequest(email="other@example.com", first_name="Jo"))
    assert by_email.member.code != by_phone.member.code
    link = await MemberLinks(db).get(1)
    assert link is not None and link.member_code == by_email.member.code
