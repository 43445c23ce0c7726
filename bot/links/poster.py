"""Print-ready posters of a signup link: a QR code of exactly the link, a caption above it and
the link in words below it, as a 300 dpi PNG and as an SVG for print shops.

Both are A6 portrait (105 × 148 mm) and scale to any size: the SVG is vector, and the PNG's
modules are whole pixels. The QR uses error correction Q (25 %) and the standard four-module
quiet zone, so a poster still scans when slightly soiled or folded.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

import qrcode
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_Q

DPI = 300
WIDTH = 1240
"""105 mm at 300 dpi."""
HEIGHT = 1748
"""148 mm at 300 dpi."""
WIDTH_MM = 105
HEIGHT_MM = 148
QUIET_ZONE = 4
QR_SIDE = 1000
MARGIN = 80
CAPTION_SIZE = 72
FOOTER_SIZE = 34
QR_GAP = 30
LINE_GAP = 16
INK = "#141821"
PAPER = "#ffffff"
FONT_FAMILY = "DejaVu Sans, Arial, Helvetica, sans-serif"

_FONT_CANDIDATES = (
    (
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    ),
    (
        Path("/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"),
        Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"),
    ),
)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class Poster:
    url: str
    """What the QR code encodes, exactly."""
    caption: str
    footer: str
    """The link in words, for someone who cannot scan."""


def poster_for(url: str, caption: str) -> Poster:
    return Poster(url=url, caption=caption.strip(), footer=url.removeprefix("https://"))


def _modules(url: str) -> list[list[bool]]:
    """The QR matrix of ``url``, quiet zone included."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_Q, border=QUIET_ZONE)
    qr.add_data(url)
    qr.make(fit=True)
    return [list(row) for row in qr.get_matrix()]


@cache
def _font(size: int, *, bold: bool) -> Font:
    for bold_path, regular_path in _FONT_CANDIDATES:
        path = bold_path if bold else regular_path
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def _caption_lines(caption: str, width: int = 22) -> list[str]:
    return textwrap.wrap(caption, width=width, max_lines=3, placeholder="…") if caption else []


def _fitting_font(
    draw: ImageDraw.ImageDraw, lines: list[str], size: int, *, bold: bool, width: int
) -> Font:
    while size > 14:
        font = _font(size, bold=bold)
        if all(draw.textlength(line, font=font) <= width for line in lines):
            return font
        size -= 2
    return _font(size, bold=bold)


@dataclass(frozen=True)
class _Layout:
    """Where things go, in 300 dpi pixels; the SVG uses the same geometry as the PNG."""

    scale: int
    """Pixels per module."""
    side: int
    caption_top: int
    qr_top: int
    footer_top: int

    @property
    def qr_left(self) -> int:
        return (WIDTH - self.side) // 2


def _layout(modules: int, caption_lines: int) -> _Layout:
    """The caption, the QR code and the footer as one block, centred on the page."""
    scale = max(1, QR_SIDE // modules)
    side = scale * modules
    caption_height = caption_lines * (CAPTION_SIZE + LINE_GAP)
    block = caption_height + QR_GAP + side + QR_GAP + FOOTER_SIZE
    caption_top = max(MARGIN, (HEIGHT - block) // 2)
    qr_top = caption_top + caption_height + QR_GAP
    return _Layout(scale, side, caption_top, qr_top, qr_top + side + QR_GAP)


def render_png(poster: Poster) -> bytes:
    matrix = _modules(poster.url)
    lines = _caption_lines(poster.caption)
    layout = _layout(len(matrix), len(lines))
    scale = layout.scale
    image = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    draw = ImageDraw.Draw(image)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                x0, y0 = layout.qr_left + x * scale, layout.qr_top + y * scale
                draw.rectangle((x0, y0, x0 + scale - 1, y0 + scale - 1), fill=INK)
    caption_font = _fitting_font(draw, lines, CAPTION_SIZE, bold=True, width=WIDTH - 2 * MARGIN)
    y = layout.caption_top
    for line in lines:
        draw.text((WIDTH // 2, y), line, font=caption_font, fill=INK, anchor="mt")
        y += CAPTION_SIZE + LINE_GAP
    footer_font = _fitting_font(
        draw, [poster.footer], FOOTER_SIZE, bold=False, width=WIDTH - 2 * MARGIN
    )
    draw.text(
        (WIDTH // 2, layout.footer_top), poster.footer, font=footer_font, fill=INK, anchor="mt"
    )
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(DPI, DPI), optimize=True)
    return out.getvalue()


def _text(x: int, y: int, size: int, text: str, *, bold: bool) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{x}" y="{y}" font-family="{FONT_FAMILY}" font-size="{size}"{weight} '
        f'text-anchor="middle" dominant-baseline="hanging" fill="{INK}">{escape(text)}</text>'
    )


def render_svg(poster: Poster) -> str:
    matrix = _modules(poster.url)
    lines = _caption_lines(poster.caption)
    layout = _layout(len(matrix), len(lines))
    # One path of horizontal runs of dark modules: compact, and no hairline seams between
    # neighbouring squares when a print shop's RIP rasterises it.
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_MM}mm" height="{HEIGHT_MM}mm" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="{PAPER}"/>',
        f'<path transform="translate({layout.qr_left} {layout.qr_top}) scale({layout.scale})" '
        f'fill="{INK}" shape-rendering="crispEdges" d="{"".join(runs)}"/>',
    ]
    y = layout.caption_top
    for line in lines:
        parts.append(_text(WIDTH // 2, y, CAPTION_SIZE, line, bold=True))
        y += CAPTION_SIZE + LINE_GAP
    parts.append(_text(WIDTH // 2, layout.footer_top, FOOTER_SIZE, poster.footer, bold=False))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_poster(poster: Poster, folder: Path, name: str) -> tuple[Path, Path]:
    """Write ``<name>.png`` and ``<name>.svg`` into ``folder`` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    png, svg = folder / f"{name}.png", folder / f"{name}.svg"
    png.write_bytes(render_png(poster))
    svg.write_text(render_svg(poster), encoding="utf-8")
    return png, svg
