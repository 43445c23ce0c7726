"""Proving an email address with a one-time code: the policy, the hashing and the sending.

A code is six random digits from ``secrets``, kept only as a salted PBKDF2 hash (so the
database alone does not reveal it, and a restart does not invalidate it), valid for ten
minutes, with five guesses per code and three fresh codes per address.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import secrets
import smtplib
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from email.message import EmailMessage
from enum import StrEnum
from typing import Protocol

from bot.services.contacts import mask_email

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_TTL = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_RESENDS = 3
_PBKDF2_ITERATIONS = 60_000

Clock = Callable[[], dt.datetime]


class PendingCode(Protocol):
    @property
    def email(self) -> str: ...
    @property
    def code_hash(self) -> str: ...
    @property
    def expires_at(self) -> dt.datetime: ...
    @property
    def attempts(self) -> int: ...
    @property
    def resends(self) -> int: ...
    @property
    def started_at(self) -> dt.datetime: ...


class CodeStore(Protocol):
    """Where pending codes live (``bot.storage.verification.EmailCodes``)."""

    async def start(
        self, telegram_user_id: int, email: str, code_hash: str, expires_at: dt.datetime
    ) -> PendingCode: ...
    async def get(self, telegram_user_id: int) -> PendingCode | None: ...
    async def count_attempt(self, telegram_user_id: int) -> int | None: ...
    async def count_resend(
        self, telegram_user_id: int, code_hash: str, expires_at: dt.datetime
    ) -> int | None: ...
    async def clear(self, telegram_user_id: int) -> bool: ...


@dataclass(frozen=True)
class CodeMail:
    """The email carrying a code, already in the member's language."""

    to: str
    code: str
    subject: str
    body: str


MailComposer = Callable[[str, str], CodeMail]
"""``(email, code) -> CodeMail``: the chat side words the email in the member's language."""


class CodeSender(Protocol):
    demo: bool
    """True when no email leaves the machine (the code goes to the log instead)."""

    async def send(self, mail: CodeMail) -> None: ...


class DeliveryFailed(Exception):
    """The code could not be sent; the message says why, for the log."""


class TooManyCodes(Exception):
    """Every fresh code of this round is used; a new round opens when the first code expires."""


class SmtpCodeSender:
    demo = False

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str = "",
        password: str = "",
        starttls: bool = True,
        timeout: float = 15.0,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender or username
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout = timeout

    def _send_blocking(self, mail: CodeMail) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            if self._starttls:
                smtp.starttls()
            if self._username:
                smtp.login(self._username, self._password)
            smtp.send_message(message)

    async def send(self, mail: CodeMail) -> None:
        try:
            await asyncio.to_thread(self._send_blocking, mail)
        except smtplib.SMTPAuthenticationError as exc:
            # Its reply text may quote the login line, i.e. the base64 of the password.
            raise DeliveryFailed(
                f"SMTP {self._host}:{self._port}: the login as {self._username!r} was refused "
                f"(code {exc.smtp_code}); check SMTP__USERNAME and SMTP__PASSWORD"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"SMTP {self._host}:{self._port}: {exc}") from exc


class LogCodeSender:
    """Demo mode on the embedded sandbox: the code is written to the bot's log, not sent."""

    demo = True

    async def send(self, mail: CodeMail) -> None:
        log.warning(
            "Demo mode, no email sent: the code for %s is %s", mask_email(mail.to), mail.code
        )


class CheckStatus(StrEnum):
    VERIFIED = "verified"
    WRONG = "wrong"
    EXPIRED = "expired"
    TOO_MANY_TRIES = "too_many_tries"
    NO_CODE = "no_code"


@dataclass(frozen=True)
class CheckResult:
    status: CheckStatus
    email: str = ""
    tries_left: int = 0
    can_resend: bool = False


class ResendStatus(StrEnum):
    SENT = "sent"
    LIMIT_REACHED = "limit_reached"
    NO_CODE = "no_code"


@dataclass(frozen=True)
class ResendResult:
    status: ResendStatus
    email: str = ""
    resends_left: int = 0


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(code: str, *, salt: bytes | None = None) -> str:
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", code.encode(), salt, _PBKDF2_ITERATIONS)
    return f"pbkdf2-sha256${_PBKDF2_ITERATIONS}${salt.hex()}${digest.hex()}"


def code_matches(code: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != "pbkdf2-sha256":
            return False
        expected = hashlib.pbkdf2_hmac(
            "sha256", code.encode(), bytes.fromhex(salt), int(iterations)
        )
    except ValueError:
        return False
    return hmac.compare_digest(expected.hex(), digest)


def _typed_code(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace() and ch != "-")


@dataclass(eq=False)
class EmailVerification:
    codes: CodeStore
    sender: CodeSender
    _: KW_ONLY
    clock: Clock
    ttl: dt.timedelta = CODE_TTL
    max_attempts: int = MAX_ATTEMPTS
    max_resends: int = MAX_RESENDS

    async def _new_hashed_code(self) -> tuple[str, str, dt.datetime]:
        code = new_code()
        hashed = await asyncio.to_thread(hash_code, code)
        return code, hashed, self.clock() + self.ttl

    async def start(self, user_id: int, email: str, compose: MailComposer) -> None:
        """Send a fresh code to ``email``; an earlier pending code stops working.

        Raises ``TooManyCodes`` when the user has used every resend of a round started less
        than a code's lifetime ago, so typing the address again is no way around the limit.
        """
        earlier = await self.codes.get(user_id)
        if (
            earlier is not None
            and earlier.resends >= self.max_resends
            and self.clock() < earlier.started_at + self.ttl
        ):
            raise TooManyCodes(f"user {user_id} asked for {earlier.resends + 1} codes")
        code, hashed, expires_at = await self._new_hashed_code()
        await self.codes.start(user_id, email, hashed, expires_at)
        try:
            await self.sender.send(compose(email, code))
        except DeliveryFailed as exc:
            log.warning("Could not send a code to %s: %s", mask_email(email), exc)
            await self.codes.clear(user_id)
            raise

    async def pending_email(self, user_id: int) -> str | None:
        pending = await self.codes.get(user_id)
        return None if pending is None else pending.email

    async def resend(self, user_id: int, compose: MailComposer) -> ResendResult:
        pending = await self.codes.get(user_id)
        if pending is None:
            return ResendResult(ResendStatus.NO_CODE)
        if pending.resends >= self.max_resends:
            return ResendResult(ResendStatus.LIMIT_REACHED, email=pending.email)
        code, hashed, expires_at = await self._new_hashed_code()
        resends = await self.codes.count_resend(user_id, hashed, expires_at)
        if resends is None:
            return ResendResult(ResendStatus.NO_CODE)
        try:
            await self.sender.send(compose(pending.email, code))
        except DeliveryFailed as exc:
            log.warning("Could not send a new code to %s: %s", mask_email(pending.email), exc)
            raise
        return ResendResult(
            ResendStatus.SENT, email=pending.email, resends_left=self.max_resends - resends
        )

    async def check(self, user_id: int, typed: str) -> CheckResult:
        """Check a typed code; a right code is used up, a wrong one costs a try."""
        pending = await self.codes.get(user_id)
        if pending is None:
            return CheckResult(CheckStatus.NO_CODE)
        can_resend = pending.resends < self.max_resends
        if pending.attempts >= self.max_attempts:
            return CheckResult(CheckStatus.TOO_MANY_TRIES, pending.email, can_resend=can_resend)
        if self.clock() >= pending.expires_at:
            return CheckResult(CheckStatus.EXPIRED, pending.email, can_resend=can_resend)
        attempts = await self.codes.count_attempt(user_id)
        if attempts is None:
            return CheckResult(CheckStatus.NO_CODE)
        if attempts > self.max_attempts:
            return CheckResult(CheckStatus.TOO_MANY_TRIES, pending.email, can_resend=can_resend)
        if await asyncio.to_thread(code_matches, _typed_code(typed), pending.code_hash):
            await self.codes.clear(user_id)
            return CheckResult(CheckStatus.VERIFIED, pending.email)
        tries_left = self.max_attempts - attempts
        if tries_left == 0:
            return CheckResult(CheckStatus.TOO_MANY_TRIES, pending.email, can_resend=can_resend)
        return CheckResult(
            CheckStatus.WRONG, pending.email, tries_left=tries_left, can_resend=can_resend
        )
