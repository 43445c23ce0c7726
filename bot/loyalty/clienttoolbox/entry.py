"""Client Toolbox's registry entry."""

from __future__ import annotations

from bot.loyalty.clienttoolbox.client import ClientToolboxClient
from bot.loyalty.clienttoolbox.settings import ClientToolboxSettings
from bot.loyalty.platform import ChunkLimits, ImportTraits, PlatformEntry

DEFAULT_ROWS = 500
"""Rows per batch request when ``--chunk-size`` is not given: the API documents no limit; 500
keeps one request's work (and one lost request on a failure) small while the per-request
overhead stays negligible (see ``bench/import_throughput.py``)."""
LIMITS = ChunkLimits(rows=DEFAULT_ROWS)


ENTRY = PlatformEntry(
    name="clienttoolbox",
    display_name="Client Toolbox (Sticky Street)",
    settings_model=ClientToolboxSettings,
    create_client=ClientToolboxClient.from_options,
    sandbox="bot.sandbox.clienttoolbox",
    # One batch request per chunk (customers_batch, batch_transactions per campaign kind).
    imports=ImportTraits(member_limits=LIMITS, transaction_limits=LIMITS),
)
