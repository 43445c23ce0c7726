"""SQLite storage: the aiogram FSM storage and the bot's own tables; the only place with SQL.

The FSM storage (``bot.storage.fsm``) is not imported here: it pulls in aiogram, which commands
that only need the tables (``import``, ``links``, ``kiosk``) should not pay for at start-up.
"""

from bot.storage.cards import CardImages
from bot.storage.database import Database, SchemaError, Transaction, open_database
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
    "SchemaError",
    "Transaction",
    "open_database",
]
