"""Kiosk identity: a one-time pairing code turns a browser into a kiosk with its own secret.

``kiosk add`` stores a kiosk with the hash of a random pairing code and prints the code in a
link. The browser that opens the link trades the code (once, before it expires) for a kiosk
key ``<id>.<secret>``, keeps it, and sends it with every call. The server keeps only SHA-256
hashes: both values are long random tokens, so a fast hash is enough, and the key's hash is
compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from bot.services.staff_pin import hash_pin
from bot.storage.kiosks import Kiosk, Kiosks

PAIRING_CODE_BYTES = 18
SECRET_BYTES = 32
_KEY = re.compile(r"^(\d{1,12})\.([A-Za-z0-9_-]{20,100})$")
_PAIRING_CODE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewKiosk:
    kiosk: Kiosk
    pairing_code: str
    """Shown once, in the pairing link; only its hash is stored."""


@dataclass(frozen=True)
class PairedKiosk:
    kiosk: Kiosk
    key: str
    """``<id>.<secret>``: what the browser keeps and sends; only the secret's hash is stored."""


def pairing_code_from(text: str) -> str | None:
    """The pairing code in what was pasted: the code itself or a link ending ``#pair=<code>``."""
    candidate = text.strip().rpartition("pair=")[2].split("&")[0]
    return candidate if _PAIRING_CODE.match(candidate) else None


class KioskPairing:
    def __init__(
        self,
        kiosks: Kiosks,
        *,
        pairing_ttl: dt.timedelta,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._kiosks = kiosks
        self._pairing_ttl = pairing_ttl
        self._clock = clock

    async def add(self, store: str, *, label: str = "", pin: str | None = None) -> NewKiosk:
        """A new kiosk for ``store`` and its one-time pairing code."""
        code = secrets.token_urlsafe(PAIRING_CODE_BYTES)
        kiosk = await self._kiosks.add(
            store,
            label=label,
            pairing_hash=token_hash(code),
            pairing_expires_at=self._clock() + self._pairing_ttl,
            pin_hash=None if pin is None else hash_pin(pin),
        )
        return NewKiosk(kiosk, code)

    async def new_pairing_code(self, kiosk_id: int) -> NewKiosk | None:
        """A fresh pairing code for a kiosk that is not revoked (say, after its browser was
        wiped); pairing again replaces the kiosk's secret."""
        code = secrets.token_urlsafe(PAIRING_CODE_BYTES)
        kiosk = await self._kiosks.new_pairing(
            kiosk_id, token_hash(code), self._clock() + self._pairing_ttl
        )
        return None if kiosk is None else NewKiosk(kiosk, code)

    async def pair(self, pairing_code: str) -> PairedKiosk | None:
        """Trade a pairing code for the kiosk's key; ``None`` if the code is not valid now."""
        code = pairing_code_from(pairing_code)
        if code is None:
            return None
        secret = secrets.token_urlsafe(SECRET_BYTES)
        kiosk = await self._kiosks.pair(token_hash(code), token_hash(secret))
        if kiosk is None:
            return None
        return PairedKiosk(kiosk, f"{kiosk.id}.{secret}")

    async def authenticate(self, key: str | None) -> Kiosk | None:
        """The live kiosk holding ``key``, or ``None``."""
        match = _KEY.match(key or "")
        if match is None:
            return None
        kiosk = await self._kiosks.get(int(match.group(1)))
        offered = token_hash(match.group(2))
        # Compare even when there is nothing to compare with, so timing tells nothing.
        stored = kiosk.secret_hash if kiosk is not None and kiosk.secret_hash else "0" * 64
        if not hmac.compare_digest(offered, stored) or kiosk is None or not kiosk.paired:
            return None
        return kiosk

    async def revoke(self, kiosk_id: int) -> bool:
        return await self._kiosks.revoke(kiosk_id)
