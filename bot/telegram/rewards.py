"""Invite a friend and the birthday treat, put together for the Dispatcher.

``build_rewards`` makes the services on the bot's database; ``start_rewards`` (a start-up
hook) starts settling owed bonuses, handing over inviter notices a dead process left, and the
birthday job beside polling or the webhook, on every replica (each treat, bonus and notice is
claimed in the database, so none runs twice);
``stop_rewards`` stops both.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiogram import Bot
from aiogram.utils.i18n import I18n

from bot.config import Settings
from bot.loyalty.base import LoyaltyBackend
from bot.services.birthdays import BirthdayTreats
from bot.services.catalog import CampaignCatalog
from bot.services.owed_bonuses import BonusPayer
from bot.services.referrals import Referrals
from bot.services.signup_links import SignupLinks
from bot.storage.birthdays import BirthdayBook
from bot.storage.bonuses import OwedBonus, OwedBonuses
from bot.storage.database import Database
from bot.storage.links import LinkRepository
from bot.storage.referrals import ReferralRepository
from bot.storage.timestamps import Clock
from bot.telegram.member_messages import (
    keep_resending_inviter_notices,
    keep_sending_birthday_greetings,
    stop,
)
from bot.telegram.outbox import Outbox


@dataclass
class Rewards:
    referrals: Referrals
    birthdays: BirthdayBook
    treats: BirthdayTreats
    payer: BonusPayer[OwedBonus]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def build_rewards(
    settings: Settings,
    *,
    backend: LoyaltyBackend,
    db: Database,
    catalog: CampaignCatalog,
    link_repository: LinkRepository,
    signup_links: SignupLinks,
    clock: Clock,
) -> Rewards:
    owed = OwedBonuses(db, clock=clock)
    referral = settings.referral
    referrals = Referrals(
        ReferralRepository(db, clock=clock),
        owed,
        backend,
        catalog,
        installation_secret=link_repository.installation_secret,
        bot_username=lambda: signup_links.bot_username,
        friend_bonus=referral.friend_bonus,
        inviter_bonus=referral.inviter_bonus,
        campaign=referral.campaign,
        monthly_cap=referral.monthly_cap,
        zone=settings.shop_zone,
        clock=clock,
        secret=settings.links_secret.get_secret_value() if settings.links_secret else None,
    )
    birthdays = BirthdayBook(db, clock=clock)
    birthday = settings.birthday
    treats = BirthdayTreats(
        birthdays,
        owed,
        referrals.payer,
        backend,
        catalog,
        zone=settings.shop_zone,
        bonus=birthday.bonus,
        campaign=birthday.campaign,
        send_from_hour=birthday.send_from_hour,
        clock=clock,
    )
    return Rewards(referrals, birthdays, treats, referrals.payer)


async def start_rewards(
    bot: Bot, rewards: Rewards, i18n: I18n, settings: Settings, outbox: Outbox
) -> None:
    rewards.payer.start_settling()
    rewards.tasks.append(
        asyncio.create_task(
            keep_resending_inviter_notices(
                outbox, bot, i18n, rewards.referrals, program_name=settings.program_name
            )
        )
    )
    if settings.birthday.enabled:
        rewards.tasks.append(
            asyncio.create_task(
                keep_sending_birthday_greetings(
                    outbox, bot, i18n, rewards.treats, program_name=settings.program_name
                )
            )
        )


async def stop_rewards(rewards: Rewards) -> None:
    await rewards.payer.stop_settling()
    while rewards.tasks:
        await stop(rewards.tasks.pop())
