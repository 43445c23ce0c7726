"""Conversation steps kept in the SQLite FSM storage, so a restart mid-flow loses nothing."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class EmailJoin(StatesGroup):
    email = State()
    code = State()


class ProfileEditing(StatesGroup):
    first_name = State()
    last_name = State()
    email = State()
    email_code = State()
    birthday = State()
