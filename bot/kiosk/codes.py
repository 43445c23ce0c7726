"""QR images for the kiosk page, as ``data:`` URLs so that no member image is ever fetchable
by address (nothing stays in the browser's cache after idle)."""

from __future__ import annotations

import base64
import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M

from bot.services.cards import render_card


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def qr_png(text: str, *, box_size: int = 10, border: int = 4) -> bytes:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border)
    code.add_data(text)
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white").get_image()
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def qr_data_url(text: str) -> str:
    return _data_url(qr_png(text))


def card_data_url(program_name: str, card_number: str, first_name: str = "") -> str:
    """The member's card, the same picture the bot sends in the chat."""
    return _data_url(render_card(program_name, card_number, first_name))
