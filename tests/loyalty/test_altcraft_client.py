"""The Altcraft client against the Altcraft sandbox over loopback HTTP, in JSON and in XML."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from pydantic import AnyHttpUrl, SecretStr

from bot.config import HttpSettings
from bot.loyalty.altcraft.client import CODE_FIELD, AltcraftClient
from bot.loyalty.altcraft.settings import AltcraftMatching, AltcraftSettings
from bot.loyalty.altcraft.wire import BatchMember, BatchTooLarge, ProfileRef
from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import (
    AlreadyExists,
    AuthFailed,
    NotFound,
    ProtocolError,
    Rejected,
    Unavailable,
)
from bot.loyalty.models import (
    CampaignKind,
    CardFormat,
    ImportOutcome,
    MemberImportRow,
    NewMember,
    PointsBalance,
    ProfileChanges,
    Purchase,
    Redemption,
    TransactionImportRow,
)
from bot.sandbox.altcraft import create_app, demo
from bot.sandbox.runner import serve

ANN = ProfileRef.email("ann@example.com")
"""A demo member with 120.00 points (100 + 50 - 30)."""
CLEO = ProfileRef.email("user1@example.com")
"""A demo profile that is not a member."""
BAD_TOKEN = "wrong-token-7f3a9c"


@pytest.fixture(params=["json", "xml"])
def body_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def sandbox() -> AsyncIterator[str]:
    async with serve(create_app()) as url:
        yield url


def altcraft_settings(url: str, body_format: str = "json", **changes: object) -> AltcraftSettings:
    values: dict[str, object] = {
        "url": AnyHttpUrl(f"{url}/api/v1.1/"),
        "token": SecretStr(demo.TOKEN),
        "loyalty_program_id": demo.PROGRAM_ID,
        "profiles_db_id": demo.DB_ID,
        "body_format": body_format,
    }
    values.update(changes)
    return AltcraftSettings.model_validate(values)


FAST = HttpSettings(connect_timeout=2, read_timeout=2)


@pytest.fixture
async def client(sandbox: str, body_format: str) -> AsyncIterator[AltcraftClient]:
    altcraft = AltcraftClient(altcraft_settings(sandbox, body_format), FAST)
    yield altcraft
    await altcraft.aclose()


async def test_register_member_reports_new_existing_and_unknown_profiles(
    client: AltcraftClient,
) -> None:
    registered = await client.register_member(
        CLEO, registration_date=dt.datetime(2024, 9, 1, 12, 34, 56, tzinfo=dt.UTC)
    )
    assert registered == "663a138cee44bb50a67115cd"
    with pytest.raises(AlreadyExists, match="Member already exists"):
        await client.register_member(CLEO)
    with pytest.raises(NotFound, match="Profile not found"):
        await client.register_member(ProfileRef.email("nobody@example.com"))


async def test_batch_answers_every_row_in_input_order(client: AltcraftClient) -> None:
    rows = [
        BatchMember(ProfileRef.email("nobody@example.com")),
        BatchMember(CLEO, registration_date=dt.datetime(2024, 9, 1, tzinfo=dt.UTC)),
        BatchMember(ProfileRef.email("user2@example.com")),
        BatchMember(ProfileRef.email("nobody-else@example.com")),
    ]
    results = await client.register_member_batch(rows)
    assert [(r.error, r.profile_id) for r in results] == [
        (404, None),
        (0, "663a138cee44bb50a67115cd"),
        (409, "69df4fd5ff232800e2d1e2d6"),
        (404, None),
    ]
    assert results[2].error_text == "Member already exists"


async def test_batch_over_ten_thousand_rows_is_refused_before_sending(
    client: AltcraftClient,
) -> None:
    rows = [BatchMember(CLEO)] + [
        BatchMember(ProfileRef.email(f"u{i}@example.com")) for i in range(10_000)
    ]
    with pytest.raises(BatchTooLarge, match="10,001 rows"):
        await client.register_member_batch(rows)
    with pytest.raises(BatchTooLarge):
        await client.register_member_batch_task(rows)
    # Nothing reached the platform: Cleo can still join.
    assert await client.register_member(CLEO) == "663a138cee44bb50a67115cd"


async def test_batch_over_ten_megabytes_is_refused_before_sending(
    client: AltcraftClient,
) -> None:
    padding = "x" * 6_000
    rows = [BatchMember(ProfileRef.custom("note", f"{i}-{padding}")) for i in range(1_800)]
    assert len(rows) < 10_000
    with pytest.raises(BatchTooLarge, match="bytes"):
        await client.register_member_batch(rows)


async def test_batch_rows_must_share_one_matching(client: AltcraftClient) -> None:
    with pytest.raises(ValueError, match="same matching"):
        await client.register_member_batch(
            [BatchMember(CLEO), BatchMember(ProfileRef.phone("+1"))]
        )


async def test_batch_task_is_polled_until_completed(client: AltcraftClient) -> None:
    rows = [BatchMember(CLEO), BatchMember(ProfileRef.email("user2@example.com"))]
    rows += [BatchMember(ProfileRef.email(f"ghost{i}@example.com")) for i in range(1_200)]
    task_id = await client.register_member_batch_task(rows)
    status = await client.wait_for_task(task_id, max_wait=20)
    assert (status.status, status.progress) == ("completed", 100)
    assert len(status.items) == len(rows)
    assert [item.error for item in status.items[:3]] == [0, 409, 404]
    assert status.items[0].profile_id == "663a138cee44bb50a67115cd"
    assert status.result["added"] in (1, "1")
    with pytest.raises(NotFound, match="Task not found"):
        await client.task_status("00000000-0000-0000-0000-000000000000")


async def test_deleted_member_has_no_account(client: AltcraftClient) -> None:
    assert await client.delete_member(ANN) == "5a61f87d69d42678a8dc6dd9"
    with pytest.raises(NotFound, match="Member not found"):
        await client.account_balance(ANN)
    with pytest.raises(NotFound):
        await client.delete_member(ANN)


async def test_points_move_the_balance_and_overspending_is_refused(
    client: AltcraftClient,
) -> None:
    start = await client.account_balance(ANN)
    assert (start.total, start.active) == (Decimal("120.00"), Decimal("120.00"))

    accrued = await client.accrue_points(ANN, Decimal("10.50"), description="Latte")
    assert accrued.balance == Decimal("130.50")
    later = await client.accrue_points(
        ANN, Decimal("5"), activation_date=dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    )
    assert later.balance == Decimal("130.50")
    pending = await client.account_balance(ANN)
    assert (pending.total, pending.active) == (Decimal("135.50"), Decimal("130.50"))

    redeemed = await client.redeem_points(ANN, Decimal("30.50"), transaction_eid="till-7")
    assert redeemed.balance == Decimal("100.00")
    with pytest.raises(Rejected, match="Insufficient points"):
        await client.redeem_points(ANN, Decimal("100.01"))
    with pytest.raises(AlreadyExists):
        await client.redeem_points(ANN, Decimal("1"), transaction_eid="till-7")

    cancelled = await client.cancel_transaction(transaction_eid="till-7")
    assert cancelled.transaction_id == redeemed.transaction_id
    assert cancelled.balance == Decimal("130.50")
    with pytest.raises(Rejected, match="already cancelled"):
        await client.cancel_transaction(transaction_id=redeemed.transaction_id)
    with pytest.raises(NotFound):
        await client.cancel_transaction(transaction_id="no-such-transaction")


async def test_transactions_page_through_the_from_id_cursor(client: AltcraftClient) -> None:
    for points in ("1", "2", "3", "4"):
        await client.accrue_points(ANN, Decimal(points))
    first = await client.account_transactions(ANN, limit=3)
    second = await client.account_transactions(ANN, from_id=first[-1].transaction_id, limit=3)
    third = await client.account_transactions(ANN, from_id=second[-1].transaction_id, limit=3)
    amounts = [t.amount for t in first + second + third]
    assert amounts == [Decimal(a) for a in ("100", "50", "30", "1", "2", "3", "4")]
    assert third[0].transaction_type == "accrual"
    assert first[2].transaction_type == "redemption" and first[2].takes_points
    assert first[2].balance_after == Decimal("120.00")
    assert all(t.created_at.tzinfo is not None for t in first)


async def test_profiles_are_created_found_and_updated(client: AltcraftClient) -> None:
    profile_id = await client.add_profile(
        {
            "_fname": "Dana",
            "email": "dana@example.com",
            "phones": ["+15555550199"],
            CODE_FIELD: "CODE-DANA",
            "card_number": "777000111",
        }
    )
    by_code = await client.get_profile(ProfileRef.custom(CODE_FIELD, "CODE-DANA"))
    assert by_code.id == profile_id
    assert by_code.text("_fname") == "Dana"
    assert by_code.phones == ("+15555550199",)
    await client.update_profile_data(ProfileRef.profile_id(profile_id), {"_lname": "Doe"})
    by_phone = await client.get_profile(ProfileRef.phone("+15555550199"))
    assert (by_phone.id, by_phone.text("_lname")) == (profile_id, "Doe")
    with pytest.raises(NotFound):
        await client.get_profile(ProfileRef.email("nobody@example.com"))
    with pytest.raises(NotFound):
        await client.update_profile_data(ProfileRef.email("nobody@example.com"), {"_fname": "X"})
    with pytest.raises(AlreadyExists):
        await client.add_profile({"email": "DANA@example.com"})


async def test_token_can_travel_as_a_bearer_header(sandbox: str, body_format: str) -> None:
    async with AltcraftClient(
        altcraft_settings(sandbox, body_format), FAST, token_in_header=True
    ) as altcraft:
        assert (await altcraft.account_balance(ANN)).active == Decimal("120.00")


@pytest.mark.parametrize("redeem_path", ["redeeme_points", "redeem_points"])
async def test_both_spellings_of_the_redeem_path_work(sandbox: str, redeem_path: str) -> None:
    settings = altcraft_settings(sandbox, redeem_path=redeem_path)
    async with AltcraftClient(settings, FAST) as altcraft:
        assert (await altcraft.redeem_points(ANN, Decimal("20"))).balance == Decimal("100.00")


async def test_a_whole_member_journey(client: AltcraftClient) -> None:
    backend: LoyaltyBackend = client
    assert isinstance(client, LoyaltyBackend)
    [campaign] = await backend.campaigns()
    assert (campaign.id, campaign.kind) == ("points", CampaignKind.POINTS)
    assert await backend.rewards("points") == []

    member = await backend.enroll(
        NewMember(
            code="M-0001",
            first_name="Eve",
            last_name="Joiner",
            phone="+15555550177",
            email="eve@example.com",
            birthday=dt.date(1990, 2, 22),
            campaign_ids=("points",),
            signup_bonus=Decimal("25"),
        )
    )
    assert member.code == "M-0001"
    assert len(member.card_number) == 12 and member.card_number.isdigit()
    assert (member.first_name, member.birthday) == ("Eve", dt.date(1990, 2, 22))

    for found in (
        await backend.find_member_by_phone("+15555550177"),
        # The one phone rule: a national or 00 form is read as the same E.164.
        await backend.find_member_by_phone("(555) 555-0177"),
        await backend.find_member_by_phone("001 555 555 0177"),
        await backend.find_member_by_email("EVE@example.com"),
        await backend.find_member_by_card(member.card_number),
        await backend.get_member("M-0001"),
    ):
        assert found is not None and found.code == "M-0001"
    assert await backend.find_member_by_phone("+15555550000") is None
    assert await backend.find_member_by_email("user1@example.com") is None  # not a member
    assert await backend.get_member("M-9999") is None

    with pytest.raises(AlreadyExists):
        await backend.enroll(NewMember(code="M-0001", phone="+15555550178"))

    updated = await backend.update_profile("M-0001", ProfileChanges(last_name="Member"))
    assert (updated.first_name, updated.last_name) == ("Eve", "Member")

    receipt = await backend.record_purchase(
        "M-0001", Purchase(campaign_id="points", amount=Decimal("40"), description="Widgets")
    )
    assert receipt.earned == Decimal("40")
    assert isinstance(receipt.balance, PointsBalance)
    assert receipt.balance.points == Decimal("65.00")

    taken = await backend.redeem("M-0001", Redemption(campaign_id="points", points=Decimal("15")))
    assert taken.deducted == Decimal("15")
    with pytest.raises(Rejected, match="Insufficient"):
        await backend.redeem("M-0001", Redemption(campaign_id="points", points=Decimal("51")))
    with pytest.raises(NotFound):
        await backend.redeem("M-0001", Redemption(campaign_id="points", reward_id="1"))
    with pytest.raises(NotFound):
        await backend.record_purchase("M-0001", Purchase(campaign_id="stamps", amount=Decimal(1)))

    [balance] = await backend.balances("M-0001")
    assert isinstance(balance, PointsBalance)
    assert balance.points == Decimal("50.00")

    history = await backend.history("M-0001")
    assert [(t.amount, t.is_redemption) for t in history] == [
        (Decimal("15"), True),
        (Decimal("40"), False),
        (Decimal("25"), False),
    ]
    assert history[1].description == "Widgets"
    assert [t.amount for t in await backend.history("M-0001", limit=1, offset=1)] == [
        Decimal("40")
    ]

    imported = await backend.import_members(
        [
            MemberImportRow(line=2, email="user1@example.com", signup_bonus=Decimal("5")),
            MemberImportRow(line=3, phone="+15555550102"),
            MemberImportRow(line=4, email="ghost@example.com"),
            MemberImportRow(line=5),
        ],
        campaign_ids=["points"],
    )
    assert [(r.line, r.outcome) for r in imported] == [
        (2, ImportOutcome.CREATED),
        (3, ImportOutcome.ALREADY_MEMBER),
        (4, ImportOutcome.CREATED),
        (5, ImportOutcome.INVALID),
    ]
    assert imported[2].message == "a new profile"
    assert await backend.find_member_by_email("ghost@example.com") is not None
    cleo = await backend.find_member_by_email("user1@example.com")
    assert cleo is not None
    assert (await backend.balances(cleo.code))[0].points == Decimal("5.00")

    rows = [
        TransactionImportRow(line=2, campaign_id="points", member="M-0001", amount=Decimal(10)),
        TransactionImportRow(
            line=3,
            campaign_id="points",
            member=member.card_number,
            redeemed=True,
            amount=Decimal(5),
            date=dt.date(2024, 9, 1),
        ),
        TransactionImportRow(line=4, campaign_id="points", member="M-0404", amount=Decimal(1)),
        TransactionImportRow(
            line=5, campaign_id="points", member="M-0001", redeemed=True, amount=Decimal(1000)
        ),
        TransactionImportRow(line=6, campaign_id="points", member="M-0001"),
    ]
    first = await backend.import_transactions(rows)
    assert [r.outcome for r in first] == [
        ImportOutcome.CREATED,
        ImportOutcome.CREATED,
        ImportOutcome.NOT_FOUND,
        ImportOutcome.FAILED,
        ImportOutcome.INVALID,
    ]
    assert "Insufficient" in first[3].message
    again = await backend.import_transactions(rows[:2])
    assert [r.outcome for r in again] == [ImportOutcome.SKIPPED, ImportOutcome.SKIPPED]
    assert (await backend.balances("M-0001"))[0].points == Decimal("55.00")


async def test_enroll_retried_after_a_half_done_join_reuses_the_profile(
    client: AltcraftClient,
) -> None:
    # The first attempt created the profile, then the platform went away before registering.
    first_profile = await client.add_profile({CODE_FIELD: "M-RETRY", "phones": ["+15555550155"]})
    member = await client.enroll(
        NewMember(code="M-RETRY", phone="+15555550155", signup_bonus=Decimal("10"))
    )
    profile = await client.get_profile(ProfileRef.custom(CODE_FIELD, "M-RETRY"))
    assert profile.id == first_profile
    assert member.code == "M-RETRY"
    assert (await client.balances("M-RETRY"))[0].points == Decimal("10.00")


async def test_enroll_adopts_a_newsletter_profile_and_guards_card_numbers(
    client: AltcraftClient,
) -> None:
    member = await client.enroll(NewMember(code="M-CLEO", email="user1@example.com"))
    assert (member.first_name, member.last_name) == ("Cleo", "Newsletter")
    assert (await client.get_profile(CLEO)).text(CODE_FIELD) == "M-CLEO"
    with pytest.raises(AlreadyExists, match="card number"):
        await client.enroll(NewMember(code="M-NEXT", card_number="400000000001"))
    with pytest.raises(AlreadyExists, match="phone"):
        await client.enroll(NewMember(code="M-NEXT", phone="+15555550101"))


async def test_generated_cards_follow_the_card_format(sandbox: str) -> None:
    card = CardFormat(length=10, prefix="GW", suffix="X")
    async with AltcraftClient(altcraft_settings(sandbox), FAST, card=card) as altcraft:
        member = await altcraft.enroll(NewMember(code="M-CARD"))
    assert member.card_number.startswith("GW") and member.card_number.endswith("X")
    assert len(member.card_number) == 10


async def test_import_prefers_the_configured_matching(sandbox: str) -> None:
    settings = altcraft_settings(sandbox, matching=AltcraftMatching.EMAIL)
    async with AltcraftClient(settings, FAST) as altcraft:
        results = await altcraft.import_members(
            [MemberImportRow(line=1, phone="+15555550000", email="user1@example.com")],
            campaign_ids=[],
        )
    assert results[0].outcome is ImportOutcome.CREATED


async def set_fault(url: str, **fault: object) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{url}/_sandbox/faults", json=fault)
        response.raise_for_status()


async def test_latency_beyond_the_read_timeout_is_unavailable(sandbox: str) -> None:
    await set_fault(sandbox, latency=2, count=1)
    quick = HttpSettings(connect_timeout=1, read_timeout=0.3)
    async with AltcraftClient(altcraft_settings(sandbox), quick) as altcraft:
        with pytest.raises(Unavailable, match="timed out"):
            await altcraft.account_balance(ANN)
        assert (await altcraft.account_balance(ANN)).active == Decimal("120.00")


@pytest.mark.parametrize(
    "fault", [{"drop": True, "count": 1}, {"error_status": 503, "count": 1}], ids=["drop", "503"]
)
async def test_dropped_connections_and_server_errors_are_unavailable(
    client: AltcraftClient, sandbox: str, fault: dict[str, object]
) -> None:
    await set_fault(sandbox, **fault)
    with pytest.raises(Unavailable):
        await client.accrue_points(ANN, Decimal("1"))
    assert (await client.account_balance(ANN)).active == Decimal("120.00")


async def test_nothing_listening_is_unavailable() -> None:
    async with serve(create_app()) as url:
        pass
    async with AltcraftClient(altcraft_settings(url), FAST) as altcraft:
        with pytest.raises(Unavailable):
            await altcraft.account_balance(ANN)


async def test_an_answer_that_is_not_altcraft_is_a_protocol_error(
    client: AltcraftClient, sandbox: str
) -> None:
    await set_fault(sandbox, error_status=400, count=1)
    with pytest.raises(ProtocolError, match="HTTP 400"):
        await client.account_balance(ANN)


async def test_wrong_path_is_a_protocol_error_not_a_missing_member(sandbox: str) -> None:
    settings = altcraft_settings(sandbox, redeem_path="no_such_method")
    async with AltcraftClient(settings, FAST) as altcraft:
        with pytest.raises(ProtocolError, match="HTTP 404"):
            await altcraft.redeem_points(ANN, Decimal("1"))


@pytest.mark.parametrize("token_in_header", [False, True], ids=["body", "bearer"])
async def test_a_refused_token_fails_auth_and_never_leaks(
    sandbox: str, body_format: str, token_in_header: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = altcraft_settings(sandbox, body_format, token=SecretStr(BAD_TOKEN))
    altcraft = AltcraftClient(settings, FAST, token_in_header=token_in_header)
    try:
        with pytest.raises(AuthFailed, match="Invalid API token") as failure:
            await altcraft.account_balance(ANN)
        with pytest.raises(AuthFailed):
            await altcraft.enroll(NewMember(code="M-AUTH"))
        await set_fault(sandbox, drop=True, count=1)
        with pytest.raises(Unavailable) as dropped:
            await altcraft.account_balance(ANN)
    finally:
        await altcraft.aclose()
    for text in (
        str(failure.value),
        repr(failure.value),
        str(dropped.value),
        repr(dropped.value),
        repr(altcraft),
        caplog.text,
    ):
        assert BAD_TOKEN not in text
    assert "account/balance" in caplog.text


class RecordingTransport(httpx.AsyncBaseTransport):
    """The real HTTP transport, keeping each request's content type and body."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[tuple[str, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.headers["Content-Type"], request.content))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_the_body_format_setting_decides_what_goes_on_the_wire(
    sandbox: str, body_format: str
) -> None:
    transport = RecordingTransport()
    settings = altcraft_settings(sandbox, body_format)
    async with AltcraftClient(settings, FAST, transport=transport) as altcraft:
        await altcraft.register_member_batch([BatchMember(CLEO)])
    [(content_type, body)] = transport.sent
    if body_format == "xml":
        assert content_type == "application/xml"
        assert body.startswith(b"<xml><token>")
        assert b"<data><item><email>user1@example.com</email></item></data>" in body
    else:
        assert content_type == "application/json"
        assert body.startswith(b'{"token":')


async def test_an_outage_mid_import_is_raised_and_the_retry_records_each_row_once(
    client: AltcraftClient, sandbox: str
) -> None:
    rows = [
        TransactionImportRow(line=line, campaign_id="points", member="DEMO0001", amount=points)
        for line, points in ((2, Decimal(2)), (3, Decimal(3)))
    ]
    assert [r.outcome for r in await client.import_transactions(rows[:1])] == [
        ImportOutcome.CREATED
    ]
    await set_fault(sandbox, error_status=503, count=1)
    with pytest.raises(Unavailable):
        await client.import_transactions(rows)
    again = await client.import_transactions(rows)
    assert [r.outcome for r in again] == [ImportOutcome.SKIPPED, ImportOutcome.CREATED]
    assert (await client.balances("DEMO0001"))[0].points == Decimal("125.00")
