"""Reading a card picture the way a till's scanner does: the QR code's text."""

from __future__ import annotations

from io import BytesIO

import zxingcpp
from PIL import Image


def scan_card(png: bytes) -> str:
    """The text of the one barcode on the card; fails if there is none or more than one."""
    codes = zxingcpp.read_barcodes(Image.open(BytesIO(png)))
    texts = [code.text for code in codes]
    assert len(texts) == 1, f"expected one code on the card, found {texts!r}"
    return texts[0]


def grouped(card_number: str) -> str:
    """The card number as the bot prints it: ``4821 0093 1174``."""
    return " ".join(card_number[i : i + 4] for i in range(0, len(card_number), 4))
