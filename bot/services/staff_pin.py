"""Staff mode at a kiosk: a PIN, a lockout after repeated failures, short staff sessions.

A PIN is short, so it is stored with scrypt (salted, deliberately slow) and the lockout is
what really protects it: after ``max_failures`` wrong PINs in a row the kiosk refuses every
PIN, right or wrong, until the lockout ends. Failures and lockouts live in the database (or
in Redis, shared by replicas), so a restart does not reset them. A try is claimed and counted
before its PIN is checked, so a burst of parallel guesses gets no more checks than
``max_failures`` in a row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from bot.services.kiosk_state import MemoryStaffSessions, PinAttemptCounter, StaffSessionStore
from bot.storage.kiosks import Kiosk, Kiosks

PIN_MIN_LENGTH = 4
PIN_MAX_LENGTH = 12
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1


class InvalidPin(ValueError):
    """Not 4 to 12 digits."""


def check_pin_shape(pin: str) -> str:
    if not (pin.isascii() and pin.isdigit() and PIN_MIN_LENGTH <= len(pin) <= PIN_MAX_LENGTH):
        raise InvalidPin(f"a staff PIN is {PIN_MIN_LENGTH} to {PIN_MAX_LENGTH} digits")
    return pin


def _scrypt(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)


def hash_pin(pin: str) -> str:
    """``scrypt$<salt hex>$<hash hex>`` of a valid PIN."""
    salt = secrets.token_bytes(16)
    return f"scrypt${salt.hex()}${_scrypt(check_pin_shape(pin), salt).hex()}"


def pin_matches(pin: str, pin_hash: str) -> bool:
    scheme, _, rest = pin_hash.partition("$")
    salt_hex, _, digest_hex = rest.partition("$")
    if scheme != "scrypt" or not salt_hex or not digest_hex:
        return False
    try:
        salt, digest = bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(pin, salt), digest)


@dataclass(frozen=True)
class StaffUnlocked:
    token: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class WrongPin:
    tries_left: int


@dataclass(frozen=True)
class StaffLocked:
    until: dt.datetime


@dataclass(frozen=True)
class NoStaffMode:
    """The kiosk has no PIN of its own and no default PIN is configured."""


PinOutcome = StaffUnlocked | WrongPin | StaffLocked | NoStaffMode


class StaffAccess:
    def __init__(
        self,
        kiosks: Kiosks,
        *,
        default_pin: str | None,
        max_failures: int,
        lockout: dt.timedelta,
        session_ttl: dt.timedelta,
        clock: Callable[[], dt.datetime],
        attempts: PinAttemptCounter | None = None,
        sessions: StaffSessionStore | None = None,
    ) -> None:
        self._kiosks = kiosks
        self._attempts: PinAttemptCounter = kiosks if attempts is None else attempts
        self._default_pin = default_pin
        self._max_failures = max_failures
        self._lockout = lockout
        self._session_ttl = session_ttl
        self._clock = clock
        self._sessions: StaffSessionStore = (
            MemoryStaffSessions(clock) if sessions is None else sessions
        )

    def has_staff_mode(self, kiosk: Kiosk) -> bool:
        return kiosk.pin_hash is not None or bool(self._default_pin)

    def _right(self, kiosk: Kiosk, pin: str) -> bool:
        if kiosk.pin_hash is not None:
            return pin_matches(pin, kiosk.pin_hash)
        assert self._default_pin
        return hmac.compare_digest(pin.encode(), self._default_pin.encode())

    async def unlock(self, kiosk: Kiosk, pin: str) -> PinOutcome:
        """Try a PIN; a right one opens a staff session that replaces any earlier one."""
        if not self.has_staff_mode(kiosk):
            return NoStaffMode()
        now = self._clock()
        attempt = await self._attempts.take_pin_attempt(
            kiosk.id, max_failures=self._max_failures, now=now, lock_until=now + self._lockout
        )
        if not attempt.allowed:
            if attempt.locked_until is None:
                return WrongPin(0)
            return StaffLocked(attempt.locked_until)
        # scrypt is slow on purpose: off the event loop, so other kiosks and chats go on.
        if await asyncio.to_thread(self._right, kiosk, pin):
            await self._attempts.clear_pin_failures(kiosk.id)
            token = secrets.token_urlsafe(24)
            expires_at = now + self._session_ttl
            await self._sessions.open(kiosk.id, _token_hash(token), expires_at)
            return StaffUnlocked(token, expires_at)
        await self._sessions.close(kiosk.id)
        if attempt.locked_until is not None:
            return StaffLocked(attempt.locked_until)
        return WrongPin(self._max_failures - attempt.failures)

    async def session_open(self, kiosk: Kiosk, token: str | None) -> bool:
        """Whether ``token`` is the kiosk's live staff session."""
        if not token:
            return False
        token_hash = await self._sessions.current(kiosk.id)
        return token_hash is not None and hmac.compare_digest(_token_hash(token), token_hash)

    async def lock(self, kiosk: Kiosk) -> None:
        """End the kiosk's staff session (back to idle, or a revoked kiosk)."""
        await self._sessions.close(kiosk.id)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
