"""Building the Telegram side: the ``Bot`` (with flood control) and the ``Dispatcher``.

Ownership: ``build_dispatcher`` creates the repositories and services it needs on the given
database and backend, but closes neither: whoever created the backend and the database
(``bot.app``) closes them, after polling stops. The Dispatcher closes its FSM storage at
shutdown; the default ``SQLiteStorage`` does not own the database, so that is harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.types import BotCommand, ErrorEvent
from aiogram.utils.callback_answer import CallbackAnswerMiddleware
from aiogram.utils.i18n import I18n

from bot.config import Settings
from bot.loyalty.base import LoyaltyBackend
from bot.services.catalog import CampaignCatalog
from bot.services.enrollment import Enrollment
from bot.services.profiles import Profiles
from bot.services.signup_links import SignupJoins, SignupLinks
from bot.services.verification import (
    CodeSender,
    EmailVerification,
    LogCodeSender,
    SmtpCodeSender,
)
from bot.storage.cards import CardImages
from bot.storage.database import Database
from bot.storage.fsm import SQLiteStorage
from bot.storage.inbox import Inbox
from bot.storage.joins import PendingJoins
from bot.storage.links import LinkRepository
from bot.storage.members import MemberLinks
from bot.storage.notifications import NotificationSettings
from bot.storage.outbox import OutboxRepository
from bot.storage.timestamps import Clock, utc_now
from bot.storage.verification import EmailCodes
from bot.telegram.api_session import BotApiSession
from bot.telegram.bot_context import speed_up_bot_context
from bot.telegram.flood import FloodControl
from bot.telegram.i18n import LOCALES_DIR, N_, LanguageMiddleware, _, create_i18n
from bot.telegram.inline_filters import run_filters_inline
from bot.telegram.middlewares import MemberLinkMiddleware, MembersOnly, PlatformErrors, answer
from bot.telegram.outbox import Outbox
from bot.telegram.private_chats import PrivateChatsOnly
from bot.telegram.rewards import build_rewards, start_rewards, stop_rewards
from bot.telegram.routers import get_routers

log = logging.getLogger(__name__)


def default_code_sender(settings: Settings) -> CodeSender | None:
    """SMTP when configured; the log on embedded defaults; otherwise no email joining."""
    smtp = settings.smtp
    if smtp.host:
        return SmtpCodeSender(
            smtp.host,
            smtp.port,
            sender=smtp.sender,
            username=smtp.username,
            password=smtp.password.get_secret_value() if smtp.password else "",
            starttls=smtp.starttls,
        )
    if settings.uses_embedded_platform:
        return LogCodeSender()
    return None


def build_bot(
    settings: Settings,
    *,
    api_base_url: str | None = None,
    token: str | None = None,
    session: BaseSession | None = None,
) -> Bot:
    """A ``Bot`` speaking HTML, whose session waits out 429 answers (at most 3 retries a call).

    ``api_base_url`` (else ``settings.telegram_api_url``) points it at another Bot API
    server, such as the local stand-in; ``session`` replaces the HTTP session (tests).
    """
    if session is None:
        base = api_base_url or (
            str(settings.telegram_api_url).rstrip("/") if settings.telegram_api_url else None
        )
        session = BotApiSession(api=TelegramAPIServer.from_base(base)) if base else BotApiSession()
    session.middleware(FloodControl())
    if token is None:
        if settings.bot_token is None:
            raise ValueError("no bot token: set BOT_TOKEN, or pass the stand-in's token")
        token = settings.bot_token.get_secret_value()
    return Bot(
        token=token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML)
    )


COMMANDS = (
    ("start", N_("Start or join")),
    ("card", N_("Show my card")),
    ("balance", N_("My balances")),
    ("history", N_("Recent activity")),
    ("profile", N_("My profile")),
    ("invite", N_("Invite a friend")),
    ("notifications", N_("Messages I get")),
    ("language", N_("Change language")),
    ("help", N_("What I can do")),
    ("forget", N_("Forget me")),
)


def build_dispatcher(
    settings: Settings,
    *,
    backend: LoyaltyBackend,
    db: Database,
    storage: BaseStorage | None = None,
    events_isolation: BaseEventIsolation | None = None,
    clock: Clock = utc_now,
    code_sender: CodeSender | None = None,
    locales_dir: Path = LOCALES_DIR,
) -> Dispatcher:
    """The Dispatcher with every feature router, its middlewares and start-up hooks.

    Dependencies reach handlers by name through ``workflow_data``: ``settings``, ``backend``,
    ``links``, ``card_images``, ``catalog``, ``enrollment``, ``profiles``, ``verification``
    (``None`` when email joining is off), ``languages``, ``clock``, ``signup_links``,
    ``signup_joins``, ``referrals`` and ``rewards`` (invites and birthday treats).
    """
    links = MemberLinks(db, clock=clock)
    catalog = CampaignCatalog(
        backend, clock=clock, ttl=dt.timedelta(seconds=settings.cache.catalog_seconds)
    )
    link_repository = LinkRepository(db, clock=clock)
    signup_links = SignupLinks(
        link_repository,
        bot_username=settings.bot_username,
        clock=clock,
        secret=settings.links_secret.get_secret_value() if settings.links_secret else None,
    )
    signup_joins = SignupJoins(link_repository, backend, catalog, links, clock=clock)
    rewards = build_rewards(
        settings,
        backend=backend,
        db=db,
        catalog=catalog,
        link_repository=link_repository,
        signup_links=signup_links,
        clock=clock,
    )
    sender = code_sender or default_code_sender(settings)
    verification = (
        EmailVerification(EmailCodes(db, clock=clock), sender, clock=clock) if sender else None
    )
    i18n = create_i18n(settings.default_language, locales_dir)
    languages = tuple(
        code
        for code in settings.languages
        if code in i18n.available_locales or code == settings.default_language
    )
    dispatcher = Dispatcher(
        storage=storage or SQLiteStorage(db, clock=clock),
        events_isolation=events_isolation or SimpleEventIsolation(),
        settings=settings,
        backend=backend,
        links=links,
        card_images=CardImages(db, clock=clock),
        outbox=Outbox(
            OutboxRepository(db, clock=clock),
            CardImages(db, clock=clock),
            clock=clock,
            # A dead replica's claimed messages are sent by the others soon after it is
            # taken for dead (45 s of the default 60).
            lease=dt.timedelta(seconds=settings.webhook.takeover_seconds * 0.75),
        ),
        inbox=Inbox(db, clock=clock),
        notification_settings=NotificationSettings(db, clock=clock),
        catalog=catalog,
        enrollment=Enrollment(
            backend,
            links,
            PendingJoins(db, clock=clock),
            catalog,
            campaign_ids=settings.campaign_ids,
            clock=clock,
            signups=signup_joins,
            referrals=rewards.referrals,
        ),
        signup_links=signup_links,
        signup_joins=signup_joins,
        rewards=rewards,
        referrals=rewards.referrals,
        profiles=Profiles(backend, links, rewards.birthdays),
        verification=verification,
        languages=languages,
        i18n=i18n,
        clock=clock,
    )
    dispatcher.update.outer_middleware(MemberLinkMiddleware(links))
    LanguageMiddleware(i18n, links, languages).setup(dispatcher)
    # Member data never in a group: its updates go no further than a pointer to the chat
    # (after the language is set, so the pointer speaks the user's language).
    dispatcher.message.outer_middleware(PrivateChatsOnly())
    dispatcher.callback_query.outer_middleware(PrivateChatsOnly())
    # Outermost first: every button press is answered exactly once, whatever happens inside.
    dispatcher.callback_query.middleware(CallbackAnswerMiddleware())
    for observer in (dispatcher.message, dispatcher.callback_query):
        observer.middleware(PlatformErrors())
        observer.middleware(MembersOnly())
    dispatcher.include_routers(*get_routers())
    run_filters_inline(dispatcher)
    # Every aiogram object read or built from here on learns its Bot in one step.
    speed_up_bot_context()
    dispatcher.errors.register(on_error)
    dispatcher.startup.register(on_startup)
    dispatcher.startup.register(start_signup_links)
    dispatcher.startup.register(start_rewards)
    dispatcher.shutdown.register(on_shutdown)
    dispatcher.shutdown.register(stop_signup_links)
    dispatcher.shutdown.register(stop_rewards)
    return dispatcher


async def set_commands(bot: Bot, i18n: I18n, languages: tuple[str, ...]) -> None:
    """The command menu in every language, and in the default language for everyone else."""
    for language in (*languages, None):
        with i18n.context(), i18n.use_locale(language or i18n.default_locale):
            commands = [
                BotCommand(command=command, description=_(description))
                for command, description in COMMANDS
            ]
        await bot.set_my_commands(commands, language_code=language)


async def on_startup(bot: Bot, i18n: I18n, languages: tuple[str, ...]) -> None:
    await set_commands(bot, i18n, languages)
    log.info("Telegram side ready in %s", ", ".join(languages))


async def start_signup_links(
    bot: Bot, signup_links: SignupLinks, signup_joins: SignupJoins
) -> None:
    if not signup_links.bot_username:
        signup_links.bot_username = (await bot.me()).username or ""
    signup_joins.start_settling()


async def stop_signup_links(signup_joins: SignupJoins) -> None:
    await signup_joins.stop_settling()


async def on_shutdown(**_kwargs: Any) -> None:
    log.info("Telegram side stopped")


async def on_error(event: ErrorEvent, bot: Bot) -> bool:
    """Anything unexpected: logged in full, and a plain apology to the user, never a trace."""
    log.error("Unhandled error in update %s", event.update.update_id, exc_info=event.exception)
    target = event.update.message or event.update.callback_query
    if target is not None:
        try:
            await answer(
                bot, target, _("Sorry, something went wrong on our side. Please try again.")
            )
        except Exception:
            log.warning("Could not send the apology for update %s", event.update.update_id)
    return True
