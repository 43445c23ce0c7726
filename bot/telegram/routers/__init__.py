"""One router per feature, composed in ``get_routers`` (the fallback last)."""

from __future__ import annotations

from aiogram import Router

from bot.telegram.routers import (
    balance,
    card,
    email_join,
    fallback,
    forget,
    history,
    invite,
    language,
    notifications,
    profile,
    start,
)


def get_routers() -> list[Router]:
    # Fresh routers each time: an aiogram Router can belong to one Dispatcher only.
    features = (
        start,
        email_join,
        balance,
        card,
        history,
        profile,
        invite,
        language,
        notifications,
        forget,
        fallback,
    )
    return [feature.create_router() for feature in features]
