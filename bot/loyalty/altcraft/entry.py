"""Altcraft's registry entry."""

from __future__ import annotations

import json

from bot.loyalty.altcraft.client import AltcraftClient
from bot.loyalty.altcraft.settings import AltcraftSettings
from bot.loyalty.altcraft.wire import MAX_BATCH_ROWS, MAX_BODY_BYTES
from bot.loyalty.models import MemberImportRow, TransactionImportRow
from bot.loyalty.platform import ChunkLimits, ImportTraits, PlatformEntry, TransactionLookup

# A margin under 10 MB for the envelope (token, program id, matching) and the size estimate.
MEMBER_LIMITS = ChunkLimits(
    rows=MAX_BATCH_ROWS, max_rows=MAX_BATCH_ROWS, bytes=MAX_BODY_BYTES * 95 // 100
)
TRANSACTION_ROWS = 500
"""Rows per chunk of transactions, which have no batch form (they go row by row)."""


def member_size(row: MemberImportRow | TransactionImportRow) -> int:
    """Bytes a member takes in a ``register_member_batch`` body, on the generous side (XML)."""
    if not isinstance(row, MemberImportRow):
        return 256
    values = [row.code, row.card_number, row.phone, row.email]
    item = {"field_name": "card_number", "field_value": max(values, key=len)}
    # XML repeats every tag name; JSON escapes non-ASCII as up to 12 bytes: count both worst.
    return 2 * len(json.dumps(item)) + 64


ENTRY = PlatformEntry(
    name="altcraft",
    display_name="Altcraft",
    settings_model=AltcraftSettings,
    create_client=AltcraftClient.from_options,
    sandbox="bot.sandbox.altcraft",
    imports=ImportTraits(
        member_limits=MEMBER_LIMITS,
        member_size=member_size,
        # Profiles are created before the registration batch, so a failure may follow
        # requests that changed the platform.
        members_several_requests=True,
        transaction_limits=ChunkLimits(TRANSACTION_ROWS),
        transaction_lookup=TransactionLookup.EIDS,
        # Altcraft never changes a member's fields on import: a found member is left alone.
        member_updates=False,
        generates_cards=False,
        all_campaigns_by_default=False,
        member_preview=True,
    ),
)
