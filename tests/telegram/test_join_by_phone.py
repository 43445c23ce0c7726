"""Joining by sharing the phone: new member, existing member, refused contacts."""

from __future__ import annotations

import io
from pathlib import Path

import PIL.Image
import zxingcpp

from bot.config import Settings
from bot.importing.validation import MemberRows
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import ImportOutcome, MemberImportRow, NewMember
from bot.sandbox.clienttoolbox import demo
from tests.telegram.chat import TelegramUser
from tests.telegram.conftest import MovableClock, start_bot, stop_bot

PHONE = "12025550143"
E164 = "+12025550143"


def decode_qr(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(PIL.Image.open(io.BytesIO(png)))]


async def test_start_offers_joining_by_phone_and_email(jane: TelegramUser) -> None:
    [welcome] = await jane.send("/start")
    assert "Welcome to Great Widgets Rewards" in welcome.text
    assert welcome.keyboard == ["📱 Join with my phone", "✉️ Join with email"]


async def test_start_with_an_unknown_payload_gets_the_plain_welcome(jane: TelegramUser) -> None:
    [welcome] = await jane.send("/start forged-%00-payload")
    assert "Welcome to Great Widgets Rewards" in welcome.text


async def test_new_member_by_phone_gets_the_card_at_once(
    jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    await jane.send("/start")
    [card] = await jane.share_contact(PHONE)

    member = await ct_backend.find_member_by_phone(E164)
    assert member is not None and member.first_name == "Jane"
    assert card.method == "sendPhoto"
    assert card.text.startswith("✅ You're in, Jane! Your card number is")
    grouped = " ".join(member.card_number[i : i + 4] for i in range(0, len(member.card_number), 4))
    assert grouped in card.text
    assert card.keyboard == [
        "💳 My card",
        "⭐ Balance",
        "🧾 History",
        "👤 Profile",
        "🤝 Invite a friend",
        "🔔 Notifications",
        "🌐 Language",
        "❓ Help",
    ]
    assert card.photo is not None and decode_qr(card.photo) == [member.card_number]
    # Joined every campaign of the program (no campaign_ids configured).
    campaigns = {campaign.id for campaign in await ct_backend.campaigns()}
    assert set(member.campaign_ids) == campaigns


async def test_existing_member_is_found_and_linked_not_created_twice(
    jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    existing = await ct_backend.enroll(
        NewMember(code="7000000000000007", first_name="Janet", phone=E164, campaign_ids=())
    )
    [card] = await jane.share_contact(PHONE)
    assert "We found your card" in card.text
    assert "Janet" in card.text
    assert existing.card_number[:4] in card.text
    [again] = await jane.send("/start")
    assert "Welcome back, Janet" in again.text


async def test_someone_elses_contact_is_refused(
    jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    [answer] = await jane.share_contact(PHONE, owner_id=999)
    assert answer.text == (
        'That contact isn\'t yours. Please tap "📱 Join with my phone" to share your own number.'
    )
    assert await ct_backend.find_member_by_phone(E164) is None


async def test_a_contact_without_a_telegram_account_is_refused(jane: TelegramUser) -> None:
    [answer] = await jane.share_contact(PHONE, owner_id=0)
    assert answer.text.startswith("That contact isn't yours.")


async def test_a_forwarded_own_contact_is_refused(
    jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    [answer] = await jane.share_contact(PHONE, forwarded=True)
    assert answer.text.startswith("That contact isn't yours.")
    assert await ct_backend.find_member_by_phone(E164) is None


async def test_a_typed_phone_number_is_refused(jane: TelegramUser) -> None:
    [answer] = await jane.send("+1 202 555 0143")
    assert answer.text.startswith("That contact isn't yours.")
    assert "📱 Join with my phone" in answer.keyboard


async def test_a_new_member_joins_the_configured_campaigns(
    settings: Settings, ct_backend: ClientToolboxClient, tmp_path: Path, clock: MovableClock
) -> None:
    chosen = [demo.POINTS_CAMPAIGN, demo.EVENTS_CAMPAIGN]
    running = await start_bot(
        settings.model_copy(update={"campaign_ids": chosen}),
        ct_backend,
        tmp_path / "bot.db",
        clock,
    )
    try:
        await running.user(1001).share_contact(PHONE)
    finally:
        await stop_bot(running)
    member = await ct_backend.find_member_by_phone(E164)
    assert member is not None and sorted(member.campaign_ids) == sorted(chosen)
    assert {b.campaign_id for b in await ct_backend.balances(member.code)} == set(chosen)


async def test_a_verified_contact_joins_with_a_possible_but_invalid_number(
    jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    # libphonenumber calls +1 555 555 0101 possible but not valid (the 555 range is fictional,
    # and new ranges reach its metadata late); Telegram verified it is Jane's, so she joins.
    await jane.send("/start")
    [card] = await jane.share_contact("1 555 555 0101")
    assert card.text.startswith("✅ You're in, Jane!")
    member = await ct_backend.find_member_by_phone("+15555550101")
    assert member is not None and member.first_name == "Jane"
    assert member.phone == "+15555550101"


async def test_a_member_imported_with_a_typed_number_is_found_by_the_shared_contact(
    jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    # The import file writes the number nationally ("(202) 555-0143"), Telegram sends the
    # contact as "12025550143": one rule makes both +12025550143, so the chat finds the member.
    columns = {"code": 0, "first_name": 1, "phone": 2}
    row = MemberRows(columns, width=3, region="US").read(
        2, ["7300000000000001", "Imported Jane", "(202) 555-0143"]
    )
    assert isinstance(row, MemberImportRow) and row.phone == E164
    [result] = await ct_backend.import_members([row], campaign_ids=())
    assert result.outcome is ImportOutcome.CREATED
    [card] = await jane.share_contact(PHONE)
    assert "We found your card" in card.text
    assert "Imported Jane" in card.text
