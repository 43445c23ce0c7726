"""The chat page in Debian's Chromium with the real bot behind it: a customer joins from the
page with one tap and sees their card."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright, expect

from bot.devtools.telegram_standin import DEMO_USERS
from tests.e2e.card_scan import grouped, scan_card
from tests.e2e.conftest import LiveBot

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
JANE = DEMO_USERS[0]

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; missing, the test is skipped locally but fails in CI."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must install Debian's chromium")
        pytest.skip("Debian's chromium is not installed")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


async def test_jane_joins_from_the_page_and_sees_her_card(
    live_bot: LiveBot, browser: Browser
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{live_bot.running.web_url}/chat")

    await page.get_by_role("button", name=JANE.full_name).click()
    composer = page.get_by_role("textbox", name="Message")
    await composer.fill("/start")
    await composer.press("Enter")
    await expect(
        page.locator(".message.from-bot", has_text="Welcome to Great Widgets Rewards!")
    ).to_be_visible(timeout=15_000)

    await page.locator(".reply-button", has_text="📱 Join with my phone").click()
    await expect(page.locator(".message.from-user .contact-card")).to_contain_text("12025550155")
    card = page.locator(".message.from-bot", has=page.locator("img.photo"))
    await expect(card).to_contain_text("You're in, Jane!", timeout=15_000)
    photo = card.locator("img.photo")
    await expect(photo).to_be_visible()
    await photo.scroll_into_view_if_needed()
    assert await photo.evaluate("(image) => image.complete && image.naturalWidth > 0")

    # The picture on the page is the card the platform knows, readable by a till.
    [sent] = [m for m in live_bot.standin.messages(JANE.id) if m.photo]
    assert sent.photo_bytes is not None
    card_number = scan_card(sent.photo_bytes)
    member = await live_bot.running.backend.find_member_by_phone(JANE.phone)
    assert member is not None and member.card_number == card_number
    await expect(card).to_contain_text(grouped(card_number))

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "e2e-chat-page-join.png"))
    assert errors == []
