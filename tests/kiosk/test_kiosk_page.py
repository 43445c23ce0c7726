"""The kiosk page in Debian's Chromium: a fake camera, a USB scanner, typed card numbers, a
walk-in join, staff mode, an unpaired browser and the limits, against the sandbox."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Playwright, Route, ViewportSize, expect

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.sandbox.clienttoolbox import demo
from tests.kiosk.browser import (
    LANDSCAPE,
    PORTRAIT,
    chromium_driver,
    launch,
    new_page,
    open_paired,
    page_errors,
    qr_texts,
    screenshot,
    type_on_scanner,
    write_y4m,
)
from tests.kiosk.conftest import KioskServer, SandboxMember, points_of

TELEGRAM_LINK = "https://t.me/great_widgets_bot?start="

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(90),
    pytest.mark.asyncio(loop_scope="module"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def playwright() -> AsyncIterator[Playwright]:
    async with chromium_driver() as driver:
        yield driver


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    """One Chromium for the module; every test opens its own context (fresh storage)."""
    shared = await launch(playwright)
    yield shared
    await shared.close()


async def member_gone(page: Page, member: SandboxMember) -> None:
    """Nothing about the member is left in the page once it is back to idle."""
    await expect(page.locator("#screen-idle")).to_be_visible()
    html = await page.content()
    for trace in ("Jane", "450 points", "••• •••", member.card_number):
        assert trace not in html
    for image in ("#joined-card", "#joined-claim-qr"):
        assert await page.locator(image).get_attribute("src") is None
    stored = await page.evaluate("() => Object.keys(localStorage)")
    assert stored == ["loyaltyKioskKey"]


async def test_a_card_held_to_the_camera_shows_the_members_balances(
    kiosk_server: KioskServer, member: SandboxMember, tmp_path: Path, playwright: Playwright
) -> None:
    camera = await launch(playwright, write_y4m(member.card_number, tmp_path / "card.y4m"))
    try:
        page = await new_page(camera, kiosk_server, LANDSCAPE)
        await open_paired(page, kiosk_server)
        await expect(page.locator("#member-greeting")).to_have_text("Hi, Jane!", timeout=15000)
        await expect(page.locator("#member-contact")).to_have_text("+1 ••• ••• 01 55")
        points = page.locator(".balance", has_text="Widget Rewards")
        await expect(points.locator(".headline")).to_have_text("450 points (≈ $4.50)")
        await expect(points.locator(".progress-text")).to_have_text("450 / 500 to Free widget")
        await expect(points.locator(".available li")).to_have_text(["Free coffee (300 points)"])
        await expect(page.locator(".balance", has_text="Frequent shopper")).to_contain_text(
            "6 visits"
        )
        await expect(page.locator("#member-countdown")).to_contain_text("Back to the start in")
        await screenshot(page, "member")
        await page.get_by_role("button", name="Done").click()
        await member_gone(page, member)
        assert page_errors(page) == []
    finally:
        await camera.close()


async def test_a_usb_scanner_and_a_typed_number_show_the_member(
    kiosk_server: KioskServer, member: SandboxMember, browser: Browser
) -> None:
    page = await new_page(browser, kiosk_server, PORTRAIT)
    await open_paired(page, kiosk_server)
    await type_on_scanner(page, member.card_number)
    await expect(page.locator("#member-greeting")).to_have_text("Hi, Jane!")
    await page.get_by_role("button", name="Done").click()
    await member_gone(page, member)

    # A scanner on a French layout: the same physical keys give "&é\"'(" and not digits.
    await page.evaluate(
        """(card) => {
            const azerty = {'1': '&', '2': 'é', '3': '"', '4': "'", '5': '(', '6': '-',
                            '7': 'è', '8': '_', '9': 'ç', '0': 'à'};
            for (const digit of card) {
                document.dispatchEvent(new KeyboardEvent('keydown',
                    {code: `Digit${digit}`, key: azerty[digit], bubbles: true}));
            }
            document.dispatchEvent(new KeyboardEvent('keydown',
                {code: 'Enter', key: 'Enter', bubbles: true}));
        }""",
        member.card_number,
    )
    await expect(page.locator("#member-greeting")).to_have_text("Hi, Jane!")
    await page.get_by_role("button", name="Done").click()
    await expect(page.locator("#screen-idle")).to_be_visible()

    await page.get_by_role("button", name="Type my card number").click()
    for digit in member.card_number:
        await page.locator("#entry-keypad button", has_text=digit).first.click()
    grouped = " ".join(member.card_number[i : i + 4] for i in range(0, 12, 4))
    await expect(page.locator("#entry-input")).to_have_value(grouped)
    await screenshot(page, "entry")
    await page.get_by_role("button", name="Show my balance").click()
    await expect(page.locator(".balance", has_text="Widget Rewards")).to_contain_text("450 points")
    await screenshot(page, "member")
    assert page_errors(page) == []


async def test_a_scan_before_the_idle_screen_is_ready_is_kept_and_looked_up(
    kiosk_server: KioskServer, member: SandboxMember, browser: Browser
) -> None:
    page = await new_page(browser, kiosk_server, LANDSCAPE)
    asked, release = asyncio.Event(), asyncio.Event()

    async def slow_session(route: Route) -> None:
        asked.set()
        await release.wait()
        await route.continue_()

    await page.route("**/api/session", slow_session)
    added = await kiosk_server.context.pairing.add("Main Street", pin="2468")
    await page.goto(f"{kiosk_server.page_url}#pair={added.pairing_code}")
    await asyncio.wait_for(asked.wait(), 15)
    # The scanner fires while the page still waits for its session: nothing is on screen yet.
    await expect(page.locator("#screen-idle")).to_be_hidden()
    await type_on_scanner(page, member.card_number)
    release.set()
    await expect(page.locator("#member-greeting")).to_have_text("Hi, Jane!")
    await page.get_by_role("button", name="Done").click()
    await member_gone(page, member)
    assert page_errors(page) == []


async def test_unknown_cards_are_not_found_until_the_limit_bites(
    kiosk_server: KioskServer, member: SandboxMember, browser: Browser
) -> None:
    page = await new_page(browser, kiosk_server, LANDSCAPE)
    await open_paired(page, kiosk_server)
    message = page.locator("#idle-message")
    for card in ("00000001", "00000002", "00000003"):
        await type_on_scanner(page, card)
        await expect(message).to_have_text("Card not found. Please check the number or ask staff.")
        await page.evaluate("() => { document.getElementById('idle-message').textContent = ''; }")
    await screenshot(page, "idle-card-not-found")
    # A member's card still works; the next unknown card is refused with the real wait.
    await type_on_scanner(page, member.card_number)
    await expect(page.locator("#member-greeting")).to_have_text("Hi, Jane!")
    await page.get_by_role("button", name="Done").click()
    await type_on_scanner(page, "00000004")
    await expect(message).to_have_text(
        "Too many unknown cards. Please ask staff, or try another card in 10 minutes."
    )
    await expect(page.locator("#screen-member")).to_be_hidden()
    await screenshot(page, "idle-rate-limited")
    assert page_errors(page) == []


async def test_a_walk_in_joins_and_gets_a_card_qr_that_scans(
    kiosk_server: KioskServer, ct_backend: ClientToolboxClient, browser: Browser
) -> None:
    page = await new_page(browser, kiosk_server, PORTRAIT)
    await open_paired(page, kiosk_server)
    await expect(page.locator("#store-qr")).to_be_visible()
    idle = await screenshot(page, "idle")
    [store_link] = qr_texts(idle.read_bytes())
    assert store_link.startswith(TELEGRAM_LINK)
    await page.get_by_role("button", name="Join on this screen").click()
    for key in "2025550123":
        await page.locator("#join-keypad button", has_text=key).first.click()
    await expect(page.locator("#join-input")).to_have_value("2025550123")
    await screenshot(page, "join")
    await page.get_by_role("tab", name="Email").click()
    await screenshot(page, "join-email")
    await page.get_by_role("tab", name="Phone").click()
    await page.locator("#join-input").fill("2025550123")
    await page.get_by_role("button", name="Create my card").click()
    await expect(page.locator("#screen-joined")).to_be_visible()
    created = await ct_backend.find_member_by_phone("+12025550123")
    assert created is not None
    await expect(page.locator("#joined-number")).to_have_text(
        " ".join(created.card_number[i : i + 4] for i in range(0, 12, 4))
    )
    path = await screenshot(page, "joined")
    scanned = qr_texts(path.read_bytes())
    assert created.card_number in scanned
    [claim] = [text for text in scanned if text != created.card_number]
    assert kiosk_server.links is not None
    link = await kiosk_server.links.get(claim.removeprefix(TELEGRAM_LINK))
    assert link is not None and link.member_code == created.code
    grouped = " ".join(created.card_number[i : i + 4] for i in range(0, 12, 4))
    assert await page.locator("#joined-card").get_attribute("alt") == "Welcome! Here is your card"
    await page.get_by_role("button", name="Done").click()
    await expect(page.locator("#screen-idle")).to_be_visible()
    html = await page.content()
    assert created.card_number not in html and grouped not in html
    assert await page.locator("#joined-card").get_attribute("alt") == ""
    assert page_errors(page) == []


async def test_staff_record_a_purchase_and_redeem_a_reward(
    kiosk_server: KioskServer, member: SandboxMember, browser: Browser
) -> None:
    page = await new_page(browser, kiosk_server, LANDSCAPE)
    await open_paired(page, kiosk_server, pin="2468")
    await type_on_scanner(page, member.card_number)
    await expect(page.locator("#member-greeting")).to_have_text("Hi, Jane!")
    await expect(page.locator(".staff-actions").first).to_be_hidden()

    await page.get_by_role("button", name="Staff", exact=True).click()
    pin = page.locator("#pin-dialog")
    for digit in "1111":
        await pin.locator(".keypad button", has_text=digit).first.click()
    await pin.get_by_role("button", name="Unlock").click()
    await expect(page.locator("#pin-message")).to_have_text("Wrong PIN. 4 tries left.")
    await screenshot(page, "staff-pin")
    await page.keyboard.type("2468", delay=5)
    await page.keyboard.press("Enter")
    await expect(pin).to_be_hidden()
    await expect(page.locator("#staff-badge")).to_be_visible()

    points = page.locator(".balance", has_text="Widget Rewards")
    await points.get_by_role("button", name="Record purchase").click()
    amount = page.locator("#amount-dialog")
    for key in "3.00":
        await amount.locator(".keypad button", has_text=key).first.click()
    await screenshot(page, "staff-amount")
    await amount.get_by_role("button", name="Confirm").click()
    await expect(page.locator("#receipt-text")).to_have_text(
        "Widget Rewards · +300 points · Balance: 750 points (≈ $7.50)"
    )
    await expect(points.locator(".headline")).to_have_text("750 points (≈ $7.50)")
    assert await points_of(kiosk_server.backend, member.code) == Decimal(750)

    await points.get_by_role("button", name="Redeem: Free widget (500 points)").click()
    await expect(page.locator("#receipt-text")).to_contain_text("−500 points")
    await expect(points.locator(".headline")).to_have_text("250 points (≈ $2.50)")
    assert await points_of(kiosk_server.backend, member.code) == Decimal(250)
    await expect(page.locator("#receipt-transaction")).to_have_text(
        re.compile(r"^Transaction \d+$")
    )
    await screenshot(page, "staff-mode")
    # The receipt line follows the language switch, like the rest of the screen.
    await page.get_by_role("button", name="Русский").click()
    await expect(page.locator("#receipt-text")).to_contain_text("−500 баллов")
    await expect(page.locator("#receipt-transaction")).to_have_text(re.compile(r"^Операция \d+$"))
    await page.get_by_role("button", name="English").click()
    await expect(page.locator("#receipt-text")).to_contain_text("−500 points")

    await page.get_by_role("button", name="Done").click()
    await expect(page.locator("#screen-idle")).to_be_visible()
    # Back to idle ended staff mode: the next member needs the PIN again.
    await type_on_scanner(page, member.card_number)
    await expect(page.locator("#staff-badge")).to_be_hidden()
    await expect(page.locator(".staff-actions").first).to_be_hidden()
    actions = [(a.action, a.outcome) for a in reversed(await kiosk_server.kiosks.actions())]
    assert actions == [
        ("staff PIN", "wrong PIN"),
        ("staff PIN", "unlocked"),
        ("purchase", "done"),
        ("redeem", "done"),
    ]


async def test_an_unpaired_browser_sees_only_the_pairing_prompt(
    kiosk_server: KioskServer, member: SandboxMember, browser: Browser
) -> None:
    page = await new_page(browser, kiosk_server, LANDSCAPE)
    await page.goto(kiosk_server.page_url)
    await expect(page.locator("#screen-pairing")).to_be_visible()
    await expect(page.locator("#screen-idle")).to_be_hidden()
    await type_on_scanner(page, member.card_number)
    await expect(page.locator("#screen-member")).to_be_hidden()
    await page.locator("#pair-code").fill("not-a-real-pairing-code")
    await page.get_by_role("button", name="Set up this kiosk").click()
    await expect(page.locator("#pair-error")).to_have_text(
        "That link has expired or was already used. Ask for a new one."
    )
    await screenshot(page, "pairing")
    status = await page.evaluate(
        """async (card) => (await fetch('api/lookup', {method: 'POST',
            headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({card})})).status""",
        member.card_number,
    )
    assert status == 401

    # Paired, then revoked: the kiosk falls back to the prompt and forgets its key.
    await open_paired(page, kiosk_server)
    kiosk_id = int((await page.evaluate("() => localStorage.loyaltyKioskKey")).split(".")[0])
    assert await kiosk_server.context.pairing.revoke(kiosk_id)
    await type_on_scanner(page, member.card_number)
    await expect(page.locator("#screen-pairing")).to_be_visible()
    assert await page.evaluate("() => localStorage.length") == 0
    assert "Jane" not in await page.content()


@pytest.mark.parametrize("viewport", [LANDSCAPE, PORTRAIT], ids=["landscape", "portrait"])
async def test_every_screen_fits_a_tablet(
    kiosk_factory: Callable[..., Any],
    member: SandboxMember,
    viewport: ViewportSize,
    browser: Browser,
) -> None:
    server: KioskServer = await kiosk_factory()
    page = await new_page(browser, server, viewport)
    await page.goto(server.page_url)
    await expect(page.locator("#screen-pairing")).to_be_visible()
    await screenshot(page, "pairing")
    await open_paired(page, server)
    await screenshot(page, "idle")
    await page.get_by_role("button", name="Español").click()
    await expect(page.locator("#screen-idle h1")).to_have_text("Escanea tu tarjeta")
    await screenshot(page, "idle-es")
    await page.get_by_role("button", name="Русский").click()
    await expect(page.locator("#screen-idle h1")).not_to_have_text("Scan your card")
    await type_on_scanner(page, member.card_number)
    await expect(page.locator(".balance").first).to_be_visible()
    await screenshot(page, "member-ru")
    await page.locator("[data-action='idle']:visible").click()
    await expect(page.locator("#screen-idle h1")).to_have_text("Scan your card")

    # A member of every campaign kind: the balances scroll inside the screen.
    await type_on_scanner(page, demo.JOHN_CARD)
    await expect(page.locator(".balance")).to_have_count(5)
    await expect(page.locator(".balance", has_text="Coffee club")).to_contain_text(
        "Coffees: 1 free"
    )
    await screenshot(page, "member-every-kind")
    await page.locator("[data-action='idle']:visible").click()

    await page.get_by_role("button", name="Type my card number").click()
    await page.keyboard.type("0000 1111 2222 3333", delay=5)
    await screenshot(page, "entry")
    await page.get_by_role("button", name="Cancel").click()

    await page.get_by_role("button", name="Join on this screen").click()
    await screenshot(page, "join")
    await page.get_by_role("tab", name="Email").click()
    await page.locator("#join-input").fill(f"walk.in.{viewport['width']}@example.com")
    await screenshot(page, "join-email")
    await page.get_by_role("button", name="Create my card").click()
    await expect(page.locator("#screen-joined")).to_be_visible()
    await expect(page.locator("#joined-claim")).to_be_visible()
    await screenshot(page, "joined")
    await page.locator("[data-action='idle']:visible").click()

    await type_on_scanner(page, member.card_number)
    await page.get_by_role("button", name="Staff", exact=True).click()
    await screenshot(page, "staff-pin")
    await page.keyboard.type("2468", delay=5)
    await page.keyboard.press("Enter")
    await expect(page.locator("#staff-badge")).to_be_visible()
    await screenshot(page, "member-staff")
    await (
        page.locator(".balance", has_text="Widget Rewards")
        .get_by_role("button", name="Record purchase")
        .click()
    )
    await screenshot(page, "staff-amount")
    await page.locator("#amount-dialog").get_by_role("button", name="Cancel").click()
    await (
        page.locator(".balance", has_text="Coffee club")
        .get_by_role("button", name="Record purchase: Coffees")
        .click()
    )
    await screenshot(page, "staff-quantity")
    assert page_errors(page) == []


async def test_the_member_screen_goes_back_to_idle_by_itself(
    kiosk_factory: Callable[..., Any], member: SandboxMember, browser: Browser
) -> None:
    server: KioskServer = await kiosk_factory(idle_seconds=20)
    page = await new_page(browser, server, LANDSCAPE)
    await page.clock.install()
    await open_paired(page, server)
    await type_on_scanner(page, member.card_number)
    await expect(page.locator("#member-countdown")).to_have_text("Back to the start in 20 s")
    await page.clock.run_for(12_000)
    # A tap starts the count again.
    await page.locator("#member-greeting").click()
    await page.clock.run_for(12_000)
    await expect(page.locator("#screen-member")).to_be_visible()
    await page.clock.run_for(9_000)
    await member_gone(page, member)
