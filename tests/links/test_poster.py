"""Posters decode to exactly the printed link: the PNG with zxing-cpp, the SVG as Chromium
draws it (a print shop's renderer stands in for the browser)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import PIL.Image
import pytest
import zxingcpp

from bot.links.poster import poster_for, render_png, render_svg, write_poster

CHROMIUM = Path("/usr/bin/chromium")
URLS = (
    "https://t.me/great_widgets_bot?start=Z1Jx9yirYwMwV2qI",
    "https://t.me/a_much_longer_bot_username_bot?start=" + "x" * 64,
)


def decode(image: PIL.Image.Image) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(image)]


@pytest.mark.parametrize("url", URLS)
def test_the_png_poster_decodes_to_exactly_the_link(url: str) -> None:
    png = render_png(poster_for(url, "Scan to join Great Widgets Rewards and get 25 points"))
    image = PIL.Image.open(io.BytesIO(png))
    assert decode(image) == [url]
    # Still readable printed small: a quarter of the size (about 26 mm wide).
    small = image.resize((image.width // 4, image.height // 4), PIL.Image.Resampling.BILINEAR)
    assert decode(small) == [url]


def test_a_long_caption_is_wrapped_and_the_link_is_written_under_the_code(tmp_path: Path) -> None:
    poster = poster_for(URLS[0], "Join Great Widgets Rewards today and get 25 points " * 3)
    png_path, svg_path = write_poster(poster, tmp_path / "posters", "Z1Jx9yirYwMwV2qI")
    svg = svg_path.read_text()
    assert svg.count('font-weight="bold"') == 3
    assert "…" in svg
    assert ">t.me/great_widgets_bot?start=Z1Jx9yirYwMwV2qI<" in svg
    assert decode(PIL.Image.open(png_path)) == [URLS[0]]


def test_caption_text_is_escaped_in_the_svg() -> None:
    svg = render_svg(poster_for(URLS[0], "Tea & cake <now>"))
    assert ">Tea &amp; cake &lt;now&gt;<" in svg


@pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (/usr/bin/chromium)",
)
async def test_the_svg_poster_as_a_browser_draws_it_decodes_to_exactly_the_link(
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    svg = tmp_path / "poster.svg"
    svg.write_text(render_svg(poster_for(URLS[0], "Scan to join")), encoding="utf-8")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = await browser.new_page(viewport={"width": 400, "height": 560})
            await page.goto(svg.as_uri())
            shot = await page.screenshot()
        finally:
            await browser.close()
    assert decode(PIL.Image.open(io.BytesIO(shot))) == [URLS[0]]
