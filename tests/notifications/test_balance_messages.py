"""Balance-change messages: a kiosk purchase or redemption tells the linked member once, in
their language, with the new balance and a reward just within reach; a restart in between
sends nothing twice; a member who turned them off hears nothing; an owed bonus finally paid
is told when it arrives."""

from __future__ import annotations

from decimal import Decimal

from bot.loyalty.base import LoyaltyBackend
from bot.sandbox.clienttoolbox import demo
from bot.services.balance_notices import BalanceChange, bonus_change
from bot.storage.bonuses import OwedBonuses
from bot.storage.links import BonusState
from bot.storage.members import MemberLinks
from bot.telegram.outbox import OutboxSender
from tests.notifications.conftest import JANE_ID, JANE_PHONE, Shop, points
from tests.telegram.chat import TelegramUser
from tests.telegram.fake_telegram import Sent


def to_jane(sent: list[Sent]) -> list[Sent]:
    return [message for message in sent if message.chat_id == JANE_ID]


async def join(shop: Shop) -> tuple[TelegramUser, str, str]:
    jane = shop.app.user(JANE_ID, first_name="Jane")
    await jane.share_contact(JANE_PHONE)
    link = await MemberLinks(shop.app.db).get(JANE_ID)
    assert link is not None
    return jane, link.member_code, link.card_number


async def buy(shop: Shop, http: object, visit: str, amount: str) -> list[Sent]:
    before = len(shop.app.telegram.sent)
    answer = await http.post(  # type: ignore[attr-defined]
        "api/staff/record",
        json={"visit": visit, "campaign_id": demo.POINTS_CAMPAIGN, "amount": amount},
    )
    assert answer.status_code == 200, answer.text
    return to_jane(shop.app.telegram.sent[before:])


async def test_a_kiosk_purchase_tells_the_member_once_with_the_new_balance(
    shop: Shop, ct_backend: LoyaltyBackend
) -> None:
    _, code, card = await join(shop)
    start = await points(ct_backend, code)
    http, visit = await shop.staff(card)
    [message] = await buy(shop, http, visit, "1.25")
    total = await points(ct_backend, code)
    assert total == start + 125
    assert message.text.splitlines() == [
        "⭐ +125 points in Widget Rewards.",
        f"Your balance: {total} points.",
        f"{300 - total} points more for 🎁 Free coffee.",
    ]
    assert [m.key for m in await shop.app.dispatcher["outbox"].repository.all()][-1].startswith(
        "balance:tx:"
    )


async def test_a_reward_crossing_its_threshold_is_announced_once_and_a_redemption_told(
    shop: Shop, ct_backend: LoyaltyBackend
) -> None:
    _, code, card = await join(shop)
    http, visit = await shop.staff(card)
    await buy(shop, http, visit, "2.50")  # 250: below the coffee at 300
    [crossing] = await buy(shop, http, visit, "0.60")  # 310
    assert crossing.text.splitlines() == [
        "⭐ +60 points in Widget Rewards.",
        "Your balance: 310 points.",
        "🎁 Free coffee is yours — show your card.",
    ]
    [after] = await buy(shop, http, visit, "0.10")  # 320: the coffee was already available
    assert "Free coffee is yours" not in after.text
    assert after.text.splitlines()[-1] == "180 points more for 🎁 Free widget."

    before = len(shop.app.telegram.sent)
    redeemed = await http.post(
        "api/staff/redeem",
        json={
            "visit": visit,
            "campaign_id": demo.POINTS_CAMPAIGN,
            "reward_id": demo.FREE_COFFEE_REWARD,
        },
    )
    assert redeemed.status_code == 200, redeemed.text
    [told] = to_jane(shop.app.telegram.sent[before:])
    assert told.text.splitlines()[:2] == [
        "✅ −300 points redeemed in Widget Rewards.",
        "Your balance: 20 points.",
    ]
    assert await points(ct_backend, code) == Decimal(20)


async def test_a_restart_in_between_sends_nothing_twice(
    shop: Shop, ct_backend: LoyaltyBackend
) -> None:
    _, code, card = await join(shop)
    http, visit = await shop.staff(card)
    [first] = await buy(shop, http, visit, "1.00")
    first_telegram = shop.app.telegram
    # Telegram holds the second message back (a flood wait): queued, not sent, when the bot
    # stops.
    first_telegram.flood_errors = 1
    assert await buy(shop, http, visit, "2.00") == []
    queued = [m for m in await shop.app.dispatcher["outbox"].repository.all()]
    keys = [m.key for m in queued if m.key.startswith("balance:")]
    assert len(keys) == 2 and queued[-1].state == "queued"

    await shop.restart()
    shop.clock.advance(seconds=5)
    sender = OutboxSender(shop.app.dispatcher["outbox"], shop.app.bot)
    assert await sender.send_due() == 1
    [second] = to_jane(shop.app.telegram.sent)
    assert second.text.startswith("⭐ +200 points in Widget Rewards.")
    assert "Your balance: 300 points." in second.text

    # Told again after the restart (another replica, a watcher finding the same transaction):
    # the keys were sent, nothing goes out again.
    notifier = shop.kiosk.desk._notifier
    assert notifier is not None
    for key in keys:
        campaign = (await shop.kiosk.desk.campaigns())[demo.POINTS_CAMPAIGN]
        change = BalanceChange(
            key=key.removeprefix("balance:"), member_code=code, campaign=campaign
        )
        await notifier.balance_changed(change)
    assert await sender.send_due() == 0
    assert to_jane(shop.app.telegram.sent) == [second]
    assert to_jane(first_telegram.sent)[-1] == first
    assert await points(ct_backend, code) == Decimal(300)


async def test_a_member_who_turned_balance_messages_off_hears_nothing(
    shop: Shop, ct_backend: LoyaltyBackend
) -> None:
    jane, code, card = await join(shop)
    [menu] = await jane.send("🔔 Notifications")
    assert menu.text.splitlines()[2:] == [
        "Balance changes (purchases, rewards, bonuses): on",
        "News and offers: on",
    ]
    [off] = await jane.press("🔕 Turn balance messages off", on=menu)
    assert "Balance changes (purchases, rewards, bonuses): off" in off.text
    assert off.buttons == ["🔔 Turn balance messages on", "🔕 Turn news off"]
    http, visit = await shop.staff(card)
    assert await buy(shop, http, visit, "1.00") == []
    assert await points(ct_backend, code) == Decimal(100)

    [on] = await jane.press("🔔 Turn balance messages on", on=off)
    assert "Balance changes (purchases, rewards, bonuses): on" in on.text
    [told] = await buy(shop, http, visit, "1.00")
    assert "Your balance: 200 points." in told.text


async def test_the_message_speaks_the_members_language(
    shop: Shop, ct_backend: LoyaltyBackend
) -> None:
    _, _code, card = await join(shop)
    await MemberLinks(shop.app.db).set_language(JANE_ID, "ru")
    http, visit = await shop.staff(card)
    [told] = await buy(shop, http, visit, "3.10")
    assert told.text.splitlines() == [
        "⭐ +310 баллов в программе Widget Rewards.",
        "Ваш баланс: 310 баллов.",
        "🎁 Free coffee — ваш! Покажите карту.",
    ]


async def test_an_owed_bonus_finally_credited_is_told_once(
    shop: Shop, ct_backend: LoyaltyBackend
) -> None:
    _, code, _card = await join(shop)
    owed = OwedBonuses(shop.app.db, clock=shop.clock)
    bonus = await owed.owe(
        key="invite:test",
        member_code=code,
        campaign_id=demo.POINTS_CAMPAIGN,
        amount=Decimal(25),
        label="Invite bonus",
    )
    assert bonus is not None
    await owed.bonus_outcome(bonus, BonusState.DOUBT)
    shop.clock.advance(minutes=10)
    payer = shop.app.dispatcher["rewards"].payer
    before = len(shop.app.telegram.sent)
    assert await payer.settle_owed() == 1
    [told] = to_jane(shop.app.telegram.sent[before:])
    assert told.text.splitlines()[:2] == [
        "🎁 Your bonus of +25 points has arrived.",
        "Your balance: 25 points.",
    ]
    assert await payer.settle_owed() == 0
    # The same bonus told again (found in the history by another replica): not sent twice.
    campaign = (await shop.kiosk.desk.campaigns())[demo.POINTS_CAMPAIGN]
    await payer.notifier.balance_changed(
        await bonus_change(ct_backend, code, campaign, Decimal(25), bonus.marker)
    )
    assert to_jane(shop.app.telegram.sent[before:]) == [told]
    assert await points(ct_backend, code) == Decimal(25)


async def test_a_member_marked_unreachable_is_reachable_again_once_back(shop: Shop) -> None:
    jane, _, _ = await join(shop)
    switches = shop.app.dispatcher["notification_settings"]
    await switches.mark_unreachable(JANE_ID)
    assert (await switches.get(JANE_ID)).unreachable
    [menu] = await jane.send("/notifications")
    assert "News and offers: on" in menu.text
    assert not (await switches.get(JANE_ID)).unreachable
