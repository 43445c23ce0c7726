"""Failures: the platform down mid-join, an answer lost after a create, a restart mid-flow,
Telegram's flood limits, and errors nobody expected."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import SendMessage

from bot.config import HttpSettings, Settings
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.storage.joins import PendingJoins
from bot.telegram.pending_joins import finish_pending_joins
from tests.conftest import ct_settings
from tests.lost_answers import LosesCreateAnswers
from tests.telegram.chat import TelegramUser
from tests.telegram.conftest import BotUnderTest, EmailCodeLog, MovableClock, start_bot, stop_bot

PHONE = "12025550143"
E164 = "+12025550143"
UNREACHABLE = (
    "We can't reach the rewards system right now. Your details are saved — try again in a minute."
)


async def customers_with_phone(sandbox_url: str, phone: str) -> int:
    """How many customers the sandbox holds with this phone (its own ``customer_search``)."""
    settings = ct_settings(sandbox_url)
    assert settings.user_api_key is not None
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            str(settings.url),
            data={
                "type": "customer_search",
                "account_id": settings.account_id,
                "user_id": settings.user_id,
                "user_api_key": settings.user_api_key.get_secret_value(),
                "API": "1.5",
                "phone": phone,
                "exact_match": "insensitive",
                "output": "JSON",
            },
        )
    body = answer.json()
    return 0 if body["status"] == "no_match" else len(body["customers"])


async def set_fault(sandbox_url: str, **fault: Any) -> None:
    async with httpx.AsyncClient() as http:
        if fault:
            (await http.post(f"{sandbox_url}/_sandbox/faults", json=fault)).raise_for_status()
        else:
            (await http.delete(f"{sandbox_url}/_sandbox/faults")).raise_for_status()


@pytest.mark.parametrize("fault", [{"error_status": 503}, {"drop": True}])
async def test_platform_down_mid_join_then_try_again(
    app: BotUnderTest, jane: TelegramUser, ct_sandbox_url: str, fault: dict[str, Any]
) -> None:
    await jane.send("/start")
    await set_fault(ct_sandbox_url, **fault)
    [told] = await jane.share_contact(PHONE)
    assert told.text == UNREACHABLE
    assert told.buttons == ["🔄 Try again"]
    assert "503" not in told.text
    # Nothing is lost: the join waits with its member code chosen.
    pending = await PendingJoins(app.db).get(jane.user.id)
    assert pending is not None and E164 in pending.payload_json

    [still] = await jane.press("🔄 Try again", on=told)
    assert still.text == UNREACHABLE
    await set_fault(ct_sandbox_url)
    [card] = await jane.press("🔄 Try again", on=still)
    assert card.method == "sendPhoto"
    assert card.text.startswith("✅ You're in, Jane!")
    assert await customers_with_phone(ct_sandbox_url, E164) == 1
    assert await PendingJoins(app.db).get(jane.user.id) is None
    # Pressing an old Try again once more changes nothing.
    [again] = await jane.press("🔄 Try again", on=told)
    assert again.text == "You're already in. Here's your menu."
    assert await customers_with_phone(ct_sandbox_url, E164) == 1


@pytest.fixture
async def lossy_bot(
    settings: Settings, ct_sandbox_url: str, tmp_path: Path, clock: MovableClock
) -> AsyncIterator[tuple[BotUnderTest, LosesCreateAnswers]]:
    transport = LosesCreateAnswers()
    backend = ClientToolboxClient(ct_settings(ct_sandbox_url), HttpSettings(), transport=transport)
    running = await start_bot(settings, backend, tmp_path / "bot.db", clock)
    try:
        yield running, transport
    finally:
        await stop_bot(running)
        await backend.aclose()


async def test_a_create_whose_answer_was_lost_is_not_made_twice(
    lossy_bot: tuple[BotUnderTest, LosesCreateAnswers], ct_sandbox_url: str
) -> None:
    running, transport = lossy_bot
    jane = running.user(1001)
    transport.lose_next_create = True
    [told] = await jane.share_contact(PHONE)
    assert told.text == UNREACHABLE
    # The platform did create the member; only its answer never came.
    assert await customers_with_phone(ct_sandbox_url, E164) == 1
    [card] = await jane.press("🔄 Try again", on=told)
    assert card.text.startswith("✅ You're in, Jane! Your card number is")
    assert await customers_with_phone(ct_sandbox_url, E164) == 1


async def test_platform_down_after_the_email_code_keeps_the_join(
    jane: TelegramUser, email_codes: EmailCodeLog, ct_sandbox_url: str
) -> None:
    await jane.send("✉️ Join with email")
    await jane.send("jane@example.com")
    await set_fault(ct_sandbox_url, error_status=500)
    [told] = await jane.send(email_codes.last)
    assert told.text == UNREACHABLE
    await set_fault(ct_sandbox_url)
    [card] = await jane.press("🔄 Try again", on=told)
    assert card.method == "sendPhoto"


async def test_platform_down_on_a_read_offers_try_again(
    jane: TelegramUser, ct_sandbox_url: str
) -> None:
    await jane.share_contact(PHONE)
    await set_fault(ct_sandbox_url, error_status=503)
    [told] = await jane.send("⭐ Balance")
    assert told.text == (
        "We can't reach the rewards system right now. Please try again in a minute."
    )
    await set_fault(ct_sandbox_url)
    [balance] = await jane.press("🔄 Try again", on=told)
    assert balance.text.startswith("⭐ Your balances")


async def test_restart_in_the_middle_of_the_email_code(
    settings: Settings,
    ct_backend: ClientToolboxClient,
    tmp_path: Path,
    clock: MovableClock,
    email_codes: EmailCodeLog,
) -> None:
    db_path = tmp_path / "restart.db"
    first = await start_bot(settings, ct_backend, db_path, clock)
    jane = first.user(1001)
    await jane.send("✉️ Join with email")
    await jane.send("jane@example.com")
    code = email_codes.last
    await stop_bot(first)

    second = await start_bot(settings, ct_backend, db_path, clock)
    try:
        jane.rewire(second.dispatcher, second.bot, second.telegram)
        [card] = await jane.send(code)
        assert card.method == "sendPhoto"
        assert card.text.startswith("✅ You're in, Jane!")
    finally:
        await stop_bot(second)
    assert await ct_backend.find_member_by_email("jane@example.com") is not None


async def test_flood_limit_is_waited_out(app: BotUnderTest, jane: TelegramUser) -> None:
    app.telegram.retry_after = 0
    app.telegram.flood_errors = 2
    [helped] = await jane.send("/help")
    assert helped.text.startswith("You're not a member of Great Widgets Rewards yet.")
    assert len(app.telegram.methods("SendMessage")) == 3


async def test_flood_limit_gives_up_after_three_retries(app: BotUnderTest) -> None:
    app.telegram.retry_after = 0
    app.telegram.flood_errors = 4
    with pytest.raises(TelegramRetryAfter):
        await app.bot(SendMessage(chat_id=1, text="hello"))
    assert len(app.telegram.methods("SendMessage")) == 4
    assert app.telegram.sent == []


async def test_an_unexpected_error_gets_an_apology_not_a_trace(
    app: BotUnderTest, jane: TelegramUser
) -> None:
    await jane.share_contact(PHONE)
    await app.db.close()  # every handler touching the database now fails
    answers = await jane.send("⭐ Balance")
    assert [answer.text for answer in answers] == [
        "Sorry, something went wrong on our side. Please try again."
    ]


async def test_pending_joins_are_finished_once_when_the_platform_returns(
    app: BotUnderTest, ct_sandbox_url: str, clock: MovableClock
) -> None:
    ana = app.user(3003, first_name="Ana", language_code="es")
    await set_fault(ct_sandbox_url, error_status=503)
    [told] = await ana.share_contact(PHONE)
    assert told.text.startswith("Ahora mismo no podemos conectar con el sistema de recompensas.")
    assert await finish_pending_joins(app.bot, app.dispatcher) == 0  # not due yet

    clock.advance(minutes=2)
    assert await finish_pending_joins(app.bot, app.dispatcher) == 0  # still down
    await set_fault(ct_sandbox_url)
    clock.advance(minutes=2)
    before = len(app.telegram.sent)
    assert await finish_pending_joins(app.bot, app.dispatcher) == 1
    [card] = app.telegram.sent[before:]
    assert card.method == "sendPhoto" and card.chat_id == ana.user.id
    assert card.text.startswith("✅ ¡Ya estás dentro, Ana!")
    assert await finish_pending_joins(app.bot, app.dispatcher) == 0
    assert await customers_with_phone(ct_sandbox_url, E164) == 1


class RefusesProfileEdits(httpx.AsyncHTTPTransport):
    """The platform answers every profile edit with an error of its own wording."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if b"customer_action=edit" in request.content:
            return httpx.Response(
                200,
                json={"status": "error", "error": "custom_date rejected by rule #7 (x-internal)"},
            )
        return await super().handle_async_request(request)


async def test_a_refusal_is_translated_and_the_platform_text_only_logged(
    settings: Settings,
    ct_sandbox_url: str,
    tmp_path: Path,
    clock: MovableClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = ClientToolboxClient(
        ct_settings(ct_sandbox_url), HttpSettings(), transport=RefusesProfileEdits()
    )
    running = await start_bot(settings, backend, tmp_path / "bot.db", clock)
    try:
        jane = running.user(1001, language_code="ru")
        await jane.share_contact(PHONE)
        await jane.send("/profile")
        await jane.press("🎂 День рождения")
        [refused] = await jane.send("14.07.1970")
        assert refused.text == "Бонусная система сейчас не смогла это выполнить. Попробуйте позже."
        assert refused.buttons == []
        assert "rule #7" in caplog.text
        assert all("rule #7" not in sent.text for sent in running.telegram.sent)
    finally:
        await stop_bot(running)
        await backend.aclose()


async def test_platform_down_while_saving_a_profile_change_keeps_it(
    jane: TelegramUser, ct_backend: ClientToolboxClient, ct_sandbox_url: str
) -> None:
    await jane.share_contact(PHONE)
    await jane.send("/profile")
    await jane.press("🎂 Birthday")
    await set_fault(ct_sandbox_url, error_status=502)
    [told] = await jane.send("14.07.1970")
    assert told.text == UNREACHABLE
    await set_fault(ct_sandbox_url)
    [saved] = await jane.press("🔄 Try again", on=told)
    assert saved.text.startswith("✅ Saved.")
    member = await ct_backend.find_member_by_phone(E164)
    assert member is not None and member.birthday is not None
    assert member.birthday.isoformat() == "1970-07-14"
