"""Language per user, the answers to anything unexpected, and forgetting a user."""

from __future__ import annotations

from aiogram.methods import SetMyCommands

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.storage.members import MemberLinks
from tests.telegram.chat import TelegramUser
from tests.telegram.conftest import BotUnderTest

RU_MENU = [
    "💳 Моя карта",
    "⭐ Баланс",
    "🧾 История",
    "👤 Профиль",
    "🤝 Пригласить друга",
    "🔔 Уведомления",
    "🌐 Язык",
    "❓ Помощь",
]


async def test_switching_to_russian(
    app: BotUnderTest, jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    await jane.share_contact("12025550143")
    [choice] = await jane.send("🌐 Language")
    assert choice.text == "🌐 Choose your language:"
    assert choice.buttons == ["✅ English", "Русский", "Español"]
    [done] = await jane.press("Русский", on=choice)
    assert done.text == "✅ Теперь я говорю по-русски."
    assert done.keyboard == RU_MENU
    # Russian buttons work, and the next answers are in Russian.
    [balance] = await jane.send("⭐ Баланс")
    assert balance.text.startswith("⭐ Ваши балансы")
    assert "— 0 баллов" in balance.text
    assert balance.buttons == ["🔄 Обновить", "🧾 История"]
    [confused] = await jane.send("что-то непонятное")
    assert confused.text.startswith("Я не понял. Вот что я умею:")
    # The choice is the user's, kept with the link, not in the conversation state.
    assert await MemberLinks(app.db).get_language(jane.user.id) == "ru"
    # English buttons still work for a Russian speaker.
    [card] = await jane.send("💳 My card")
    assert card.text == "Покажите это на кассе."


async def test_telegram_language_is_used_until_one_is_chosen(app: BotUnderTest) -> None:
    pablo = app.user(2002, first_name="Pablo", language_code="es")
    [welcome] = await pablo.send("/start")
    assert welcome.text.startswith("👋 ¡Bienvenido a Great Widgets Rewards!")
    assert welcome.keyboard == ["📱 Unirme con mi teléfono", "✉️ Unirme con email"]
    hans = app.user(2003, first_name="Hans", language_code="de")
    [welcome] = await hans.send("/start")
    assert welcome.text.startswith("👋 Welcome to Great Widgets Rewards!")


async def test_anything_unexpected_gets_the_menu(jane: TelegramUser) -> None:
    [sticker] = await jane.send_sticker()
    assert sticker.text.startswith("I didn't catch that. Here's what I can do:")
    assert sticker.keyboard == ["📱 Join with my phone", "✉️ Join with email"]
    await jane.share_contact("12025550143")
    [text] = await jane.send("hello?")
    assert text.text.startswith("I didn't catch that. Here's what I can do:")
    assert "💳 My card" in text.keyboard
    forged = await jane.press_data("hist:not-a-number")
    assert forged == []  # a forged button is only acknowledged
    answers = [
        request
        for request in jane.telegram.methods("AnswerCallbackQuery")
        if request.text == "This button is no longer active."  # type: ignore[attr-defined]
    ]
    assert answers


async def test_forget_me(
    app: BotUnderTest, jane: TelegramUser, ct_backend: ClientToolboxClient
) -> None:
    await jane.share_contact("12025550143")
    await jane.send("🌐 Language")
    await jane.press("Español")
    await jane.send("👤 Perfil")
    [question] = await jane.press("🗑 Olvidarme")
    assert question.text.startswith("🗑 ¿Olvidarte?")
    assert "Tu cuenta de recompensas y su saldo se mantienen en Great Widgets Rewards." in (
        question.text
    )
    [done] = await jane.press("Sí, olvidarme", on=question)
    assert done.text.startswith("Hecho. Este chat ya no está vinculado a tu tarjeta")
    assert done.keyboard == ["📱 Unirme con mi teléfono", "✉️ Unirme con email"]

    links = MemberLinks(app.db)
    assert await links.get(jane.user.id) is None
    assert await links.get_language(jane.user.id) is None
    # Nothing left anywhere that names the user.
    for table in ("member_links", "user_languages", "email_codes", "pending_joins"):
        row = await app.db.fetch_one(
            f"SELECT count(*) FROM {table} WHERE telegram_user_id = ?", (jane.user.id,)
        )
        assert row is not None and row[0] == 0, table
    row = await app.db.fetch_one(
        "SELECT count(*) FROM fsm_records WHERE user_id = ?", (jane.user.id,)
    )
    assert row is not None and row[0] == 0
    # The platform keeps the member.
    assert await ct_backend.find_member_by_phone("+12025550143") is not None
    [balance] = await jane.send("/balance")
    assert balance.text.startswith("You're not a member of Great Widgets Rewards yet.")


async def test_forget_me_can_be_declined(jane: TelegramUser) -> None:
    await jane.share_contact("12025550143")
    [question] = await jane.send("/forget")
    [kept] = await jane.press("No, keep it", on=question)
    assert kept.text == "OK, nothing was erased."
    [card] = await jane.send("💳 My card")
    assert card.method == "sendPhoto"


async def test_startup_sets_the_commands_in_every_language(app: BotUnderTest) -> None:
    await app.dispatcher.emit_startup(bot=app.bot, **app.dispatcher.workflow_data)
    calls = [r for r in app.telegram.requests if isinstance(r, SetMyCommands)]
    by_language = {call.language_code: call.commands for call in calls}
    assert set(by_language) == {"en", "ru", "es", None}
    names = [command.command for command in by_language["ru"]]
    assert names == [
        "start",
        "card",
        "balance",
        "history",
        "profile",
        "invite",
        "notifications",
        "language",
        "help",
        "forget",
    ]
    assert by_language["ru"][1].description == "Показать мою карту"
    assert by_language["es"][1].description == "Mostrar mi tarjeta"
    assert by_language[None][1].description == "Show my card"


ODD_INPUTS = [
    "/unknown_command",
    "/start@rewards_bot extra words",
    "<script>alert(1)</script>",
    "🙂" * 300,
    "x" * 4096,
    "‮RTL override",
    "  ",
    "/cancel",
    "/balance now please",
]


async def test_odd_input_always_gets_a_sensible_answer(
    app: BotUnderTest, jane: TelegramUser
) -> None:
    for phase in ("visitor", "member", "editing"):
        if phase == "member":
            await jane.share_contact("12025550143")
        if phase == "editing":
            await jane.send("/profile")
            await jane.press("✏️ First name")
        for text in ODD_INPUTS:
            answers = await jane.send(text)
            assert answers, (phase, text)
            assert all("went wrong" not in answer.text for answer in answers), (phase, text)
            if phase == "editing" and not text.startswith("/"):
                await jane.send("/profile")
                await jane.press("✏️ First name")
