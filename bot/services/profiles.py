"""Viewing and changing a member's profile on the platform, keeping the bot's link in step."""

from __future__ import annotations

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.errors import NotFound
from bot.loyalty.models import Member, ProfileChanges
from bot.storage.birthdays import BirthdayBook
from bot.storage.members import MemberLinks

NAME_MAX_LENGTH = 64


class InvalidName(ValueError):
    pass


def clean_name(text: str) -> str:
    """A first or last name as typed: trimmed, inner spaces collapsed, of sensible length."""
    name = " ".join(text.split())
    if not name or len(name) > NAME_MAX_LENGTH or not any(ch.isalpha() for ch in name):
        raise InvalidName(text)
    return name


class Profiles:
    def __init__(
        self, backend: LoyaltyBackend, links: MemberLinks, birthdays: BirthdayBook | None = None
    ) -> None:
        self._backend = backend
        self._links = links
        self._birthdays = birthdays

    async def get(self, code: str) -> Member:
        member = await self._backend.get_member(code)
        if member is None:
            raise NotFound(f"member {code} is not on the platform")
        if self._birthdays is not None:
            # The platform's birthday is the member's: keep it for the birthday treat.
            await self._birthdays.remember(code, member.birthday)
        return member

    async def change(self, user_id: int, code: str, changes: ProfileChanges) -> Member:
        member = await self._backend.update_profile(code, changes)
        await self._links.update(
            user_id, card_number=member.card_number or None, first_name=member.first_name
        )
        if self._birthdays is not None:
            await self._birthdays.remember(code, member.birthday or changes.birthday)
        return member
