"""Driving the kiosk page in Debian's Chromium: launch flags, a fake camera fed a QR code,
pairing, and the layout checks every screenshot goes through."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import qrcode
import zxingcpp
from PIL import Image
from playwright.async_api import (
    Browser,
    Page,
    Playwright,
    ViewportSize,
    async_playwright,
    expect,
)

from tests.kiosk.conftest import CHROMIUM, KioskServer

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "kiosk"
LANDSCAPE: ViewportSize = {"width": 1024, "height": 768}
PORTRAIT: ViewportSize = {"width": 768, "height": 1024}
CAMERA_SIZE = (640, 480)


def write_y4m(text: str, path: Path) -> Path:
    """One 640×480 frame showing a QR code of ``text`` (Chromium loops it as a camera)."""
    code = qrcode.QRCode(box_size=10, border=4)
    code.add_data(text)
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white").get_image().convert("L")
    width, height = CAMERA_SIZE
    side = min(height - 40, image.width)
    image = image.resize((side, side), Image.Resampling.NEAREST)
    frame = Image.new("L", CAMERA_SIZE, 255)
    frame.paste(image, ((width - side) // 2, (height - side) // 2))
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    path.write_bytes(
        f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode()
        + b"FRAME\n"
        + frame.tobytes()
        + chroma
        + chroma
    )
    return path


async def launch(playwright: Playwright, camera: Path | None = None) -> Browser:
    """Debian's Chromium; with ``camera``, a fake camera that shows that y4m file."""
    args = list(CHROMIUM_ARGS)
    if camera is not None:
        args += [
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}",
        ]
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)


@asynccontextmanager
async def chromium_driver() -> AsyncIterator[Playwright]:
    async with async_playwright() as playwright:
        yield playwright


async def new_page(browser: Browser, server: KioskServer, viewport: ViewportSize) -> Page:
    context = await browser.new_context(
        viewport=viewport, has_touch=True, base_url=server.url, permissions=["camera"]
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    page.kiosk_errors = errors  # type: ignore[attr-defined]
    return page


def page_errors(page: Page) -> list[str]:
    # A refused API call shows up as a console error; only script errors count here.
    errors: list[str] = page.kiosk_errors  # type: ignore[attr-defined]
    return [error for error in errors if "status of" not in error]


async def open_paired(page: Page, server: KioskServer, *, pin: str | None = None) -> None:
    """Open a fresh pairing link, as a manager would after ``kiosk add``."""
    added = await server.context.pairing.add("Main Street", pin=pin or "2468")
    await page.goto(f"{server.page_url}#pair={added.pairing_code}")
    await expect(page.locator("#screen-idle")).to_be_visible()
    assert "pair=" not in page.url


async def type_on_scanner(page: Page, card: str) -> None:
    await page.keyboard.type(card, delay=5)
    await page.keyboard.press("Enter")


LAYOUT_PROBLEMS = """() => {
    const visible = (node) => {
        const style = getComputedStyle(node);
        const box = node.getBoundingClientRect();
        return style.display !== 'none' && style.visibility !== 'hidden'
            && box.width > 0 && box.height > 0;
    };
    const problems = [];
    const width = document.documentElement.clientWidth;
    const height = document.documentElement.clientHeight;
    if (document.documentElement.scrollWidth > width) problems.push('page scrolls sideways');
    const containers = document.querySelectorAll(
        '.bar, .screen, .panel, .balance, .actions, .keypad, .dialog-box, .receipt, '
        + '.member-head, .screen-foot, .tabs, .staff-actions, .joined-body');
    for (const node of containers) {
        if (!visible(node)) continue;
        if (node.scrollWidth > node.clientWidth + 1) {
            problems.push(`${node.className || node.tagName} overflows sideways`);
        }
    }
    // The screen itself never scrolls: its way back (Done, Cancel) is always in sight.
    for (const screen of document.querySelectorAll('.screen')) {
        if (visible(screen) && screen.scrollHeight > screen.clientHeight + 1) {
            problems.push(`${screen.id} is taller than the screen`);
        }
    }
    const texts = [...document.querySelectorAll(
        'h1, h2, p, li, button, .headline, .progress-text, .contact, .countdown, '
        + '.card-number, .receipt span, .receipt strong, .staff-badge, .program, .store, input')]
        .filter(visible);
    const dialogOpen = [...document.querySelectorAll('.dialog')].some(visible);
    for (const node of texts) {
        const box = node.getBoundingClientRect();
        if (box.left < -1 || box.right > width + 1) {
            problems.push(`${node.textContent} is cut off`);
        }
        if (!dialogOpen && box.bottom > height + 1 && !node.closest('.screen')) {
            problems.push(`${node.textContent} is below the screen`);
        }
        if (node.scrollWidth > node.clientWidth + 1 && node.tagName !== 'INPUT') {
            problems.push(`${node.textContent} overflows its box`);
        }
    }
    const inDialog = (node) => Boolean(node.closest('.dialog'));
    for (let i = 0; i < texts.length; i++) {
        for (let j = i + 1; j < texts.length; j++) {
            const a = texts[i], b = texts[j];
            if (a.contains(b) || b.contains(a) || inDialog(a) !== inDialog(b)) continue;
            const p = a.getBoundingClientRect(), q = b.getBoundingClientRect();
            const overlapX = Math.min(p.right, q.right) - Math.max(p.left, q.left);
            const overlapY = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
            if (overlapX > 2 && overlapY > 2) {
                problems.push(`"${a.textContent.trim()}" overlaps "${b.textContent.trim()}"`);
            }
        }
    }
    return problems;
}"""


async def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot after checking that nothing overflows or overlaps."""
    problems: list[Any] = await page.evaluate(LAYOUT_PROBLEMS)
    assert problems == [], f"{name}: {problems}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    viewport = page.viewport_size or {"width": 0, "height": 0}
    path = ARTIFACTS / f"{name}-{viewport['width']}x{viewport['height']}.png"
    await page.screenshot(path=str(path))
    return path


def qr_texts(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]
