"""The kiosk's words in one language: the page's labels and the member's balances, worded on
the server from the services' view models.

The page inserts every text with ``textContent``, so nothing here is escaped.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from bot.loyalty.models import Campaign, CampaignKind, Money, Receipt, Reward
from bot.services.balances import BalanceLine
from bot.services.cards import group_card_number
from bot.wording import units
from bot.wording.catalogs import N_, I18n

PAGE_WORDS: dict[str, str] = {
    "title": N_("Rewards kiosk"),
    "scan_title": N_("Scan your card"),
    "scan_hint": N_("Hold your card's QR code up to the camera, or use the scanner."),
    "type_card": N_("Type my card number"),
    "join": N_("Join"),
    "join_title": N_("Join with your phone or email"),
    "join_hint": N_("Scan with your phone's camera to join in Telegram"),
    "join_here": N_("Join on this screen"),
    "card_number": N_("Card number"),
    "phone": N_("Phone"),
    "email": N_("Email"),
    "show": N_("Show my balance"),
    "create_card": N_("Create my card"),
    "cancel": N_("Cancel"),
    "done": N_("Done"),
    "delete": N_("Delete"),
    "clear": N_("Clear"),
    "looking": N_("One moment…"),
    "camera_off": N_("The camera is off. Use the scanner or type your card number."),
    "back_in": N_("Back to the start in {seconds} s"),
    "available_now": N_("Available now"),
    "no_balances": N_("No balances yet."),
    "welcome_card": N_("Welcome! Here is your card"),
    "card_hint": N_("Take a photo of this card, or show the number at the till."),
    "claim_title": N_("Add it to Telegram"),
    "claim_hint": N_("Scan with your phone: one tap links this card to your Telegram."),
    "staff": N_("Staff"),
    "staff_pin": N_("Staff PIN"),
    "unlock": N_("Unlock"),
    "staff_mode": N_("Staff mode"),
    "lock": N_("Lock"),
    "record_purchase": N_("Record purchase"),
    "record_visit": N_("Record visit"),
    "add_money": N_("Add money"),
    "spend": N_("Spend amount"),
    "redeem": N_("Redeem"),
    "redeem_amount": N_("Redeem amount"),
    "amount": N_("Amount"),
    "quantity": N_("Quantity"),
    "confirm": N_("Confirm"),
    "receipt": N_("Receipt"),
    "pair_title": N_("This screen is not set up yet"),
    "pair_hint": N_(
        "Ask the manager to run “loyalty-bot kiosk add” and open the link it prints on this "
        "screen, or paste the link here."
    ),
    "pair_code": N_("Pairing link or code"),
    "pair": N_("Set up this kiosk"),
    "pair_failed": N_("That link has expired or was already used. Ask for a new one."),
    "language": N_("Language"),
}

ERRORS: dict[str, str] = {
    "card_not_found": N_("Card not found. Please check the number or ask staff."),
    "unavailable": N_("We can't reach the rewards system right now. Please try again soon."),
    "invalid_contact": N_("That doesn't look like a phone number or an email. Please check it."),
    "already_member": N_(
        "This phone or email is already a member. Scan your card, or open the bot to see it."
    ),
    "visit_ended": N_("Please scan the card again."),
    "staff_only": N_("Staff mode has ended. Please enter the PIN again."),
    "no_staff_mode": N_("Staff mode is not set up on this kiosk."),
    "invalid_action": N_("Please check the amount and try again."),
    "invalid_digits": N_("Please type the amount with the digits 0 to 9."),
    "refused": N_("The rewards system refused this (for example, not enough balance)."),
    "not_paired": N_("This kiosk is not set up."),
}


class Wording:
    """Texts in ``locale``; one per request."""

    def __init__(self, i18n: I18n, locale: str) -> None:
        self._i18n = i18n
        self.locale = locale

    def _(self, msgid: str) -> str:
        return self._i18n.gettext(msgid, locale=self.locale)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The form for ``n`` of a text counting something, its ``{count}`` filled in."""
        return self._i18n.gettext(singular, plural, n, locale=self.locale).format(count=n)

    def page(self) -> dict[str, str]:
        return {key: self._(msgid) for key, msgid in PAGE_WORDS.items()}

    def error(self, key: str) -> str:
        return self._(ERRORS[key])

    def wrong_pin(self, tries_left: int) -> str:
        return self.ngettext(
            "Wrong PIN. {count} try left.", "Wrong PIN. {count} tries left.", tries_left
        )

    def staff_locked(self, minutes: int) -> str:
        return self.ngettext(
            "Too many wrong PINs. Staff mode is locked for {count} minute.",
            "Too many wrong PINs. Staff mode is locked for {count} minutes.",
            minutes,
        )

    def rate_limited(self, seconds: int) -> str:
        """Too many lookups: the real wait, in seconds under a minute, else in minutes."""
        if seconds < 60:
            return self.ngettext(
                "Too many tries. Please wait {count} second and try again.",
                "Too many tries. Please wait {count} seconds and try again.",
                seconds,
            )
        minutes = math.ceil(seconds / 60)
        return self.ngettext(
            "Too many tries. Please wait {count} minute and try again.",
            "Too many tries. Please wait {count} minutes and try again.",
            minutes,
        )

    def unknown_cards_limited(self, seconds: int) -> str:
        minutes = max(1, math.ceil(seconds / 60))
        return self.ngettext(
            "Too many unknown cards. Please ask staff, or try another card in {count} minute.",
            "Too many unknown cards. Please ask staff, or try another card in {count} minutes.",
            minutes,
        )

    def greeting(self, first_name: str) -> str:
        return self._("Hi, {name}!").format(name=first_name) if first_name else self._("Hi!")

    # Numbers, money, points and visits: the one formatting shared with the chat.
    def number(self, value: Decimal | int) -> str:
        return units.number(value, self.locale)

    def money(self, value: Money) -> str:
        return units.money(value, self.locale)

    def points(self, value: Decimal) -> str:
        return units.points(value, self.locale, self._i18n)

    def visits(self, value: Decimal | int) -> str:
        return units.visits(value, self.locale, self._i18n)

    def _units(self, value: Decimal, kind: CampaignKind, campaign: Campaign | None) -> str:
        match kind:
            case CampaignKind.POINTS:
                return self.points(value)
            case CampaignKind.EVENTS:
                return self.visits(value)
            case CampaignKind.GIFTCARD | CampaignKind.EARNED:
                currency = campaign.currency if campaign else ""
                glyph = campaign.glyph if campaign else ""
                return self.money(Money(amount=value, currency=currency, glyph=glyph))
            case CampaignKind.BUYX:
                return self.number(value)

    def reward(self, reward: Reward, kind: CampaignKind) -> str:
        return f"{reward.description} ({self._units(reward.cost, kind, None)})"

    def headline(self, line: BalanceLine, *, item_separator: str = "\n") -> str:
        match line.kind:
            case CampaignKind.POINTS:
                head = self.points(line.amount)
                if line.money is not None:
                    head += f" (≈ {self.money(line.money)})"
                return head
            case CampaignKind.EVENTS:
                return self.visits(line.amount)
            case CampaignKind.GIFTCARD | CampaignKind.EARNED:
                return self.money(line.money) if line.money else self.number(line.amount)
            case CampaignKind.BUYX:
                if not line.items:
                    return self._("nothing yet")
                return item_separator.join(
                    f"{item.item} {item.current} / {item.buy_amount}"
                    if item.buy_amount
                    else f"{item.item} {item.current}"
                    for item in line.items
                )

    def balance(self, line: BalanceLine, campaign: Campaign | None) -> dict[str, Any]:
        """One campaign for the member screen, with what staff can do in it."""
        progress = None
        if line.progress is not None and line.progress.target > 0:
            percent = min(100, int(line.progress.current * 100 / line.progress.target))
            progress = {
                "percent": percent,
                "text": self._("{current} / {target} to {reward}").format(
                    current=self.number(line.progress.current),
                    target=self.number(line.progress.target),
                    reward=line.progress.reward,
                ),
            }
        items = []
        if campaign is not None and line.kind is CampaignKind.BUYX:
            counts = {count.item: count for count in line.items}
            for item in campaign.items:
                count = counts.get(item.description)
                current = count.current if count else 0
                items.append(
                    {
                        "id": item.id,
                        "name": item.description,
                        "free": bool(item.buy_amount) and current >= item.buy_amount,
                    }
                )
        return {
            "campaign_id": line.campaign_id,
            "kind": line.kind.value,
            "name": line.campaign_name,
            "headline": self.headline(line),
            "progress": progress,
            "available": [
                {"id": reward.id, "text": self.reward(reward, line.kind)}
                for reward in line.available
            ],
            "items": items,
            "free": [
                self._("{item}: 1 free").format(item=item["name"])
                for item in items
                if item["free"]
            ],
            "actions": self._actions(line.kind),
        }

    def _actions(self, kind: CampaignKind) -> dict[str, str | None]:
        """The staff buttons of a campaign kind: how a purchase and a redemption are entered."""
        match kind:
            case CampaignKind.POINTS:
                return {"record": "amount", "redeem": "amount", "record_label": "record_purchase"}
            case CampaignKind.GIFTCARD:
                return {"record": "amount", "redeem": "amount", "record_label": "add_money"}
            case CampaignKind.EVENTS:
                return {"record": "visit", "redeem": None, "record_label": "record_visit"}
            case CampaignKind.EARNED:
                return {"record": "visit", "redeem": "amount", "record_label": "record_visit"}
            case CampaignKind.BUYX:
                return {"record": "item", "redeem": "item", "record_label": "record_purchase"}

    def receipt(
        self,
        receipt: Receipt,
        line: BalanceLine | None,
        kind: CampaignKind,
        campaign: Campaign | None = None,
    ) -> str:
        """``Widget Rewards · +450 points · Balance: 3,050 points (≈ $30.50)``."""
        parts = []
        name = receipt.campaign_name or (line.campaign_name if line else "")
        if name:
            parts.append(name)
        if receipt.earned:
            parts.append("+" + self._units(abs(receipt.earned), kind, campaign))
        if receipt.deducted:
            parts.append("−" + self._units(abs(receipt.deducted), kind, campaign))
        if line is not None:
            balance = self.headline(line, item_separator=" · ")
            parts.append(self._("Balance: {balance}").format(balance=balance))
        return " · ".join(parts)

    @staticmethod
    def card_number(number: str) -> str:
        return group_card_number(number)
