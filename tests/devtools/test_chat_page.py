"""The stand-in's chat page in Debian's Chromium, with the tiny test bot polling behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from bot.devtools.telegram_standin import DEMO_USERS
from tests.devtools.conftest import PollingBot
from tests.devtools.standin_bot import JOIN_BUTTON

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
JANE, IVAN, LUCIA = DEMO_USERS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


async def assert_nothing_overflows(page: Page) -> None:
    overflowing = await page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const wide = [...document.querySelectorAll('body *')]
                .filter((node) => node.getBoundingClientRect().right > width + 1)
                .map((node) => node.className || node.tagName);
            return {scroll: document.documentElement.scrollWidth, width, wide};
        }"""
    )
    assert overflowing["scroll"] <= overflowing["width"], overflowing
    assert overflowing["wide"] == [], overflowing


def composer(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message")


def bubble(page: Page, text: str) -> Locator:
    return page.locator(".message.from-bot .bubble", has_text=text)


async def test_chat_page_round_trip_on_a_desktop(
    polling_bot: PollingBot, browser: Browser
) -> None:
    page = await browser.new_page(viewport=DESKTOP)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{polling_bot.url}/chat")

    await page.get_by_role("button", name="Иван Петров").click()
    await expect(page.locator(".user-option[aria-current='true']")).to_contain_text("+79161234567")

    await composer(page).fill("hello <b>there</b>")
    await composer(page).press("Enter")
    echo = page.locator(".message.from-bot .bubble", has_text="You said:")
    await expect(echo).to_contain_text("You said: hello <b>there</b>")
    await expect(echo.locator("b")).to_have_text("hello <b>there</b>")

    await composer(page).fill("/start")
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator(".message.from-bot", has_text="Welcome, Иван!")).to_be_visible()
    await page.locator(".reply-button", has_text=JOIN_BUTTON).click()
    await expect(page.locator(".message.from-user .contact-card")).to_contain_text("79161234567")
    await expect(page.locator(".message.from-bot", has_text="You're in, Иван!")).to_be_visible()

    await composer(page).fill("/menu")
    await composer(page).press("Enter")
    await page.get_by_role("button", name="⭐ Balance").click()
    await expect(page.locator("#toast")).to_have_text("Balance updated")
    await expect(
        page.locator(".message.from-bot", has_text="Your balance: 450 points")
    ).to_be_visible()
    await expect(page.get_by_role("button", name="⭐ Balance")).to_have_count(0)

    await composer(page).fill("/card")
    await composer(page).press("Enter")
    photo = page.locator(".message.from-bot img.photo")
    await expect(photo).to_be_visible()
    await expect(page.locator(".message", has=page.locator("img.photo"))).to_contain_text(
        "Show this at the till."
    )
    assert await photo.evaluate("(image) => image.complete && image.naturalWidth > 90")

    await assert_nothing_overflows(page)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "chat-page-desktop.png"))
    assert errors == []


async def test_chat_page_on_a_phone_renders_bot_text_safely(
    polling_bot: PollingBot, browser: Browser
) -> None:
    bot, standin = polling_bot.bot, polling_bot.standin
    page = await browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.goto(f"{polling_bot.url}/chat")

    await page.get_by_role("combobox", name="Chat as").select_option(str(LUCIA.id))
    await composer(page).fill("<img src=x onerror=alert(1)> ¡hola!")
    await composer(page).press("Enter")
    await expect(bubble(page, "You said:")).to_contain_text("<img src=x onerror=alert(1)> ¡hola!")

    hostile = await bot.send_message(
        LUCIA.id,
        '<a href="javascript:alert(2)">Tap me</a> and <i>&lt;script&gt;alert(3)&lt;/script&gt;</i>'
        " and a very_long_word_" + "x" * 120,
    )
    tap_me = bubble(page, "Tap me")
    await expect(tap_me).to_contain_text("<script>alert(3)</script>")
    assert await tap_me.locator("a").count() == 0
    assert await page.locator(".bubble img:not(.photo), .bubble script").count() == 0

    await composer(page).fill("/start")
    await composer(page).press("Enter")
    await page.locator(".reply-button", has_text=JOIN_BUTTON).tap()
    await expect(bubble(page, "You're in, Lucía!")).to_be_visible()
    await composer(page).fill("/card")
    await composer(page).press("Enter")
    await expect(page.locator("img.photo")).to_be_visible()

    await bot.delete_message(LUCIA.id, hostile.message_id)
    await expect(tap_me).to_have_count(0)
    assert hostile.message_id not in [m.message_id for m in standin.messages(LUCIA.id)]

    await assert_nothing_overflows(page)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "chat-page-phone.png"))
    assert dialogs == []
