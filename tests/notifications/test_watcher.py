"""The watcher of changes made elsewhere: a transaction recorded directly on the sandbox (as
the merchant's dashboard would) is found and told once; one the product told itself is not
told again; its cursor is stored, so after a restart nothing is repeated or skipped."""

from __future__ import annotations

from decimal import Decimal

from bot.loyalty.base import LoyaltyBackend
from bot.loyalty.models import Purchase
from bot.sandbox.clienttoolbox import demo
from bot.services.catalog import CampaignCatalog
from bot.services.watcher import BalanceWatcher
from bot.storage.members import MemberLinks
from bot.storage.watch import WatchCursors
from tests.notifications.conftest import JANE_ID, JANE_PHONE, Shop
from tests.telegram.fake_telegram import Sent


def watcher(shop: Shop) -> BalanceWatcher:
    notifier = shop.kiosk.desk._notifier
    assert notifier is not None
    return BalanceWatcher(
        shop.backend,
        CampaignCatalog(shop.backend, clock=shop.clock),
        WatchCursors(shop.app.db, clock=shop.clock),
        notifier,
        calls_per_minute=6000,
        active_days=7,
        clock=shop.clock,
    )


def to_jane(shop: Shop, since: int) -> list[Sent]:
    return [m for m in shop.app.telegram.sent[since:] if m.chat_id == JANE_ID]


async def test_a_transaction_made_elsewhere_is_found_and_told_once(
    shop: Shop, ct_backend: LoyaltyBackend
) -> None:
    await shop.app.user(JANE_ID, first_name="Jane").share_contact(JANE_PHONE)
    link = await MemberLinks(shop.app.db).get(JANE_ID)
    assert link is not None
    code = link.member_code
    watching = watcher(shop)
    before = len(shop.app.telegram.sent)
    assert await watching.round() == 0  # the first look sets the cursor: the past is no news
    assert to_jane(shop, before) == []

    await ct_backend.record_purchase(
        code, Purchase(campaign_id=demo.POINTS_CAMPAIGN, amount=Decimal("2.50"))
    )
    assert await watching.round() == 1
    [told] = to_jane(shop, before)
    assert told.text.splitlines() == [
        "⭐ +250 points in Widget Rewards.",
        "Your balance: 250 points.",
        "50 points more for 🎁 Free coffee.",
    ]
    assert await watching.round() == 0
    assert to_jane(shop, before) == [told]

    # A kiosk purchase is told by the kiosk; the watcher finds it too, and tells nothing.
    http, visit = await shop.staff(link.card_number)
    bought = await http.post(
        "api/staff/record",
        json={"visit": visit, "campaign_id": demo.POINTS_CAMPAIGN, "amount": "0.60"},
    )
    assert bought.status_code == 200
    [_, kiosk_told] = to_jane(shop, before)
    assert "🎁 Free coffee is yours — show your card." in kiosk_told.text
    assert await watching.round() == 1
    assert len(to_jane(shop, before)) == 2

    # Recorded while the bot is down: found after the restart, and nothing before repeated.
    await shop.restart()
    await ct_backend.record_purchase(
        code, Purchase(campaign_id=demo.POINTS_CAMPAIGN, amount=Decimal("1.00"))
    )
    after_restart = watcher(shop)
    assert await after_restart.round() == 1
    [later] = to_jane(shop, 0)
    assert later.text.splitlines()[:2] == [
        "⭐ +100 points in Widget Rewards.",
        "Your balance: 410 points.",
    ]
    assert await after_restart.round() == 0
    assert to_jane(shop, 0) == [later]
