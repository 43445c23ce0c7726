"""Photos the bot uploaded, kept with the ``file_id`` Telegram would hand out for them."""

from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from bot.devtools.telegram_standin.errors import bad_request

MAX_PHOTO_BYTES = 10 * 1024 * 1024
_THUMBNAIL_SIDE = 90
_MIME_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


@dataclass(frozen=True)
class StoredPhoto:
    """One size of an uploaded photo; the largest size keeps the bytes exactly as uploaded."""

    file_id: str
    file_unique_id: str
    content: bytes
    mime_type: str
    width: int
    height: int

    def photo_size(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "width": self.width,
            "height": self.height,
        }


def _new_file_id() -> str:
    return "AgACAgIAAxkDAAI" + secrets.token_urlsafe(45)


def _unique_id(content: bytes) -> str:
    return "AQAD" + hashlib.blake2s(content, digest_size=9).hexdigest()


class PhotoStore:
    """Uploaded photos by ``file_id``; each upload is one group of sizes, smallest first."""

    def __init__(self) -> None:
        self._groups: dict[str, list[StoredPhoto]] = {}

    def add(self, content: bytes) -> list[StoredPhoto]:
        if len(content) > MAX_PHOTO_BYTES:
            raise bad_request("file is too big")
        try:
            with Image.open(io.BytesIO(content)) as image:
                image.load()
                width, height = image.size
                image_format = image.format or ""
                thumbnail = None
                if max(width, height) > _THUMBNAIL_SIDE:
                    small = image.convert("RGB")
                    small.thumbnail((_THUMBNAIL_SIDE, _THUMBNAIL_SIDE))
                    buffer = io.BytesIO()
                    small.save(buffer, format="JPEG", quality=80)
                    thumbnail = StoredPhoto(
                        _new_file_id(),
                        _unique_id(buffer.getvalue()),
                        buffer.getvalue(),
                        "image/jpeg",
                        small.width,
                        small.height,
                    )
        except (UnidentifiedImageError, OSError, ValueError):
            raise bad_request("IMAGE_PROCESS_FAILED") from None
        if width + height > 10000 or max(width, height) > 20 * min(width, height):
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        original = StoredPhoto(
            _new_file_id(),
            _unique_id(content),
            content,
            _MIME_TYPES.get(image_format, "application/octet-stream"),
            width,
            height,
        )
        group = [thumbnail, original] if thumbnail is not None else [original]
        for photo in group:
            self._groups[photo.file_id] = group
        return group

    def group(self, file_id: str) -> list[StoredPhoto]:
        """The sizes a previously handed-out ``file_id`` belongs to, as Telegram resends them."""
        group = self._groups.get(file_id)
        if group is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return group

    def get(self, file_id: str) -> StoredPhoto | None:
        group = self._groups.get(file_id)
        if group is None:
            return None
        return next(photo for photo in group if photo.file_id == file_id)
