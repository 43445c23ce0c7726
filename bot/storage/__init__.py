"""SQLite storage: the aiogram FSM storage and the bot's own tables; the only place with SQL."""

from bot.storage.cards import CardImages
from bot.storage.database import Database, SchemaError, Transaction, open_database
from bot.storage.fsm import SQLiteStorage
from bot.storage.joins import JoinConflict, PendingJoin, PendingJoins
from bot.storage.members import LinkConflict, MemberLink, MemberLinks
from bot.storage.verification import EmailCodes, PendingEmailCode

__all__ = [
    "CardImages",
    "Database",
    "EmailCodes",
    "JoinConflict",
    "LinkConflict",
    "MemberLink",
    "MemberLinks",
    "PendingEmailCode",
    "PendingJoin",
    "PendingJoins",
    "SQLiteStorage",
    "SchemaError",
    "Transaction",
    "open_database",
]
