"""The member card: a PNG with the program name, a QR code of the card number, the number in
groups of four and the member's first name.

The QR encodes exactly the card number and nothing else (no Telegram id, no URL), so any
till scanner reads what the platform knows. Rendering is CPU work: callers run it off the
event loop (``asyncio.to_thread``) and keep the result.
"""

from __future__ import annotations

import io
import unicodedata
from functools import cache
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_M

CARD_WIDTH = 720
QR_SIDE = 580
QR_BORDER = 4
MARGIN = 40
INK = (20, 24, 33)
PAPER = (255, 255, 255)
BAND = (255, 199, 44)

_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"),
)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _printable(text: str) -> str:
    """Drop control and format characters: they have no glyph and break text layout."""
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("C")).strip()


def group_card_number(card_number: str) -> str:
    """``482100931174`` → ``4821 0093 1174``, so it can be read aloud or typed at a till."""
    compact = "".join(card_number.split())
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


@cache
def _font(size: int) -> Font:
    # A font with Cyrillic and accented Latin when the system has one; Pillow's own otherwise.
    for candidate in _FONT_CANDIDATES:
        if candidate.exists():
            return ImageFont.truetype(str(candidate), size)
    return ImageFont.load_default(size=size)


def _fit(draw: ImageDraw.ImageDraw, text: str, size: int, width: int) -> Font:
    while size > 12:
        font = _font(size)
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        if right - left <= width:
            return font
        size -= 2
    return _font(size)


def _centered(
    draw: ImageDraw.ImageDraw, y: int, text: str, font: Font, fill: tuple[int, ...]
) -> int:
    """Draw ``text`` centred with its top at ``y``; returns the y of its bottom."""
    left, top, right, bottom = (round(v) for v in draw.textbbox((0, 0), text, font=font))
    draw.text(((CARD_WIDTH - (right - left)) // 2 - left, y - top), text, font=font, fill=fill)
    return y + (bottom - top)


def render_card(program_name: str, card_number: str, first_name: str = "") -> bytes:
    """Render the card as PNG bytes."""
    program_name, first_name = _printable(program_name), _printable(first_name)
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QR_BORDER)
    qr.add_data(card_number)
    qr.make(fit=True)
    # Whole pixels per module keep the modules square and crisp for any scanner.
    qr.box_size = max(2, QR_SIDE // (qr.modules_count + 2 * QR_BORDER))
    code_image = qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    side = code_image.width

    band_height = 110
    height = band_height + MARGIN // 2 + side + 170
    card = Image.new("RGB", (CARD_WIDTH, height), PAPER)
    draw = ImageDraw.Draw(card)
    draw.rectangle((0, 0, CARD_WIDTH, band_height), fill=BAND)
    title_font = _fit(draw, program_name, 44, CARD_WIDTH - 2 * MARGIN)
    _, title_top, _, title_bottom = draw.textbbox((0, 0), program_name, font=title_font)
    title_y = round(band_height - (title_bottom - title_top)) // 2
    _centered(draw, title_y, program_name, title_font, INK)

    top = band_height + MARGIN // 2
    card.paste(code_image, ((CARD_WIDTH - side) // 2, top))
    y = top + side + 10
    number = group_card_number(card_number)
    y = _centered(draw, y, number, _fit(draw, number, 48, CARD_WIDTH - 2 * MARGIN), INK) + 24
    if first_name:
        _centered(draw, y, first_name, _fit(draw, first_name, 36, CARD_WIDTH - 2 * MARGIN), INK)

    out = io.BytesIO()
    card.save(out, format="PNG", optimize=True)
    return out.getvalue()
