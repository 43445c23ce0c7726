"""Typed errors of the platform boundary.

``message`` carries the platform's own text for the log; users see a translated sentence
chosen by the error's type, never this text. No error text ever contains a credential.
"""

from __future__ import annotations


class LoyaltyError(Exception):
    """Base of every platform error."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class NotFound(LoyaltyError):
    """The member, campaign, reward or transaction does not exist."""


class AlreadyExists(LoyaltyError):
    """A member with that code, card number or contact already exists."""


class Rejected(LoyaltyError):
    """The platform refused the request (insufficient balance, bad field, ...)."""


class AuthFailed(LoyaltyError):
    """The platform refused our credentials."""


class Unavailable(LoyaltyError):
    """The platform could not be reached, timed out, or answered with a server error.

    Nothing is known about whether the request took effect.
    """


class ProtocolError(LoyaltyError):
    """The platform answered with something we could not parse."""
