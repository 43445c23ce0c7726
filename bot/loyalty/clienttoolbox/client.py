"""The Client Toolbox ``LoyaltyBackend``: the bot's words over the API mirror (``api.py``).

Finding members (a phone typed differently than stored is compared in E.164), enrolling,
balances, history, purchases and redemptions, and the batch imports, each spoken in the bot's
domain models; every platform call goes through ``ClientToolboxApi``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import TypeVar

import httpx
from pydantic import BaseModel

from bot.loyalty.clienttoolbox.api import NO_FIELDS, ClientToolboxApi, Overwrite, number_text
from bot.loyalty.clienttoolbox.settings import ClientToolboxSettings
from bot.loyalty.clienttoolbox.wire import (
    CustomerFields,
    CustomerProfile,
    Delimiter,
    TransactionLine,
    choose_delimiter,
    error_for,
    refusal,
    transaction_columns,
)
from bot.loyalty.errors import (
    AlreadyExists,
    NotFound,
)
from bot.loyalty.models import (
    Campaign,
    CampaignBalance,
    CampaignKind,
    DuplicatePolicy,
    ImportOutcome,
    ImportResult,
    Member,
    MemberImportRow,
    NewMember,
    ProfileChanges,
    Purchase,
    Receipt,
    Redemption,
    Reward,
    Transaction,
    TransactionImportRow,
)
from bot.loyalty.options import ClientOptions
from bot.loyalty.phones import phone_key

log = logging.getLogger(__name__)

_OVERWRITE_MODES: dict[DuplicatePolicy, Overwrite] = {
    DuplicatePolicy.OVERWRITE: "yes",
    DuplicatePolicy.UPDATE: "update",
    DuplicatePolicy.IGNORE: "ignore",
}
_MEMBER_COLUMNS = (
    "code",
    "card_number",
    "first_name",
    "last_name",
    "phone",
    "email",
    "custom_date",
    "auto_add",
)
_UNREPORTED = "the platform did not report this row"
_MEMBER_OUTCOMES = {
    "new": ImportOutcome.CREATED,
    "updated": ImportOutcome.UPDATED,
    "update": ImportOutcome.UPDATED,
    "skipped": ImportOutcome.SKIPPED,
}

_WHOLE_HISTORY = 1_000_000
"""``transactions_number`` asking for a customer's whole history in a campaign."""


class ClientToolboxClient(ClientToolboxApi):
    """Client Toolbox as a ``LoyaltyBackend``."""

    platform = "clienttoolbox"

    @classmethod
    def from_options(
        cls,
        settings: ClientToolboxSettings,
        options: ClientOptions,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> ClientToolboxClient:
        """The registry's factory: its own settings plus the options every client takes."""
        return cls(
            settings,
            options.http,
            card=options.card,
            region=options.region,
            rewards_ttl=options.rewards_ttl,
            transport=transport,
        )

    def _phone_key(self, phone: str) -> str | None:
        return phone_key(phone, self._region)

    async def find_member_by_phone(self, phone: str) -> Member | None:
        phone = phone.strip()
        if not phone:
            return None
        exact = await self.customer_search(
            phone=phone, exact_match="insensitive", include_balances=True
        )
        if exact:
            return exact[0].to_member()
        wanted = self._phone_key(phone)
        if wanted is None:
            return None
        # Stored as typed ("555-555-2455"): search by the last digits, compare normalised.
        tail = wanted[-4:]
        for candidate in await self.customer_search(phone=tail):
            if self._phone_key(candidate.phone) == wanted:
                return await self.get_member(candidate.code)
        return None

    async def find_member_by_email(self, email: str) -> Member | None:
        email = email.strip()
        if not email:
            return None
        found = await self.customer_search(
            email=email, exact_match="insensitive", include_balances=True
        )
        for candidate in found:
            if candidate.email.casefold() == email.casefold():
                return candidate.to_member()
        return None

    async def find_member_by_card(self, card_number: str) -> Member | None:
        card_number = card_number.strip()
        if not card_number:
            return None
        profile = await self.customer_info(card_number=card_number)
        return None if profile is None else profile.to_member()

    async def get_member(self, code: str) -> Member | None:
        if not code:
            return None
        profile = await self.customer_info(code=code)
        return None if profile is None else profile.to_member()

    async def enroll(self, new_member: NewMember) -> Member:
        fields = CustomerFields(
            first_name=new_member.first_name,
            last_name=new_member.last_name,
            phone=new_member.phone,
            email=new_member.email,
            custom_date=new_member.birthday,
        )
        generate = None if new_member.card_number else self._card.length
        recorded = await self.record_customer_new(
            fields,
            code=new_member.code,
            card_number=new_member.card_number or None,
            card_number_generate=generate,
            card_number_prefix=self._card.prefix,
            card_number_suffix=self._card.suffix,
            campaign_ids=new_member.campaign_ids,
            auto_add=new_member.signup_bonus,
            send_no_email=True,
        )
        return Member(
            code=recorded.code or new_member.code,
            card_number=recorded.card_number or new_member.card_number,
            first_name=new_member.first_name,
            last_name=new_member.last_name,
            phone=new_member.phone,
            email=new_member.email,
            birthday=new_member.birthday,
            campaign_ids=new_member.campaign_ids,
        )

    async def join_campaign(
        self, code: str, campaign_id: str, bonus: Purchase | None = None
    ) -> None:
        if bonus is not None and bonus.campaign_id != campaign_id:
            raise ValueError("the bonus belongs to another campaign")
        if bonus is not None:
            await self.record_activity(
                campaign_id,
                code=code,
                amount=bonus.amount,
                service_product=bonus.item,
                buyx_quantity=bonus.quantity if bonus.item else None,
                authorization=bonus.description or "Welcome bonus",
            )
            return
        if await self._kind_of(campaign_id) is CampaignKind.POINTS:
            await self.record_activity(
                campaign_id, code=code, amount=Decimal(0), authorization="Joined"
            )
            return
        # Any earn in the other kinds moves the balance (a visit, money, an item): enrol the
        # way record_customer does, with an activation transaction and nothing else.
        if not await self.customer_exists(code=code):
            raise NotFound(f"no member {code}")
        await self.record_customer_edit(NO_FIELDS, code=code, campaign_ids=(campaign_id,))

    async def update_profile(self, code: str, changes: ProfileChanges) -> Member:
        # An edit with an unknown code would create a new customer: check first.
        if not await self.customer_exists(code=code):
            raise NotFound(f"no member {code}")
        fields = CustomerFields(
            first_name=changes.first_name or "",
            last_name=changes.last_name or "",
            phone=changes.phone or "",
            email=changes.email or "",
            custom_date=changes.birthday,
        )
        if fields.form():
            await self.record_customer_edit(fields, code=code)
        member = await self.get_member(code)
        if member is None:
            raise NotFound(f"no member {code}")
        return member

    async def campaigns(self) -> list[Campaign]:
        result: list[Campaign] = []
        for entry in await self._campaign_entries():
            if entry.kind is None:
                log.warning("clienttoolbox: campaign %s has an unknown type, skipped", entry.id)
                continue
            campaign = entry.to_campaign()
            if campaign.kind is CampaignKind.BUYX and not campaign.items:
                items = await self.buyx_items_list(entry.id)
                campaign = campaign.model_copy(update={"items": tuple(items)})
            result.append(campaign)
        return result

    async def rewards(self, campaign_id: str) -> list[Reward]:
        return sorted(await self.campaign_rewards(campaign_id), key=lambda reward: reward.cost)

    async def balances(self, code: str) -> list[CampaignBalance]:
        profile = await self.customer_info(code=code)
        if profile is None:
            raise NotFound(f"no member {code}")
        return await self._balances_of(profile)

    async def find_member_with_balances(
        self, card_number: str
    ) -> tuple[Member, list[CampaignBalance]] | None:
        card_number = card_number.strip()
        if not card_number:
            return None
        profile = await self.customer_info(card_number=card_number)
        if profile is None:
            return None
        return profile.to_member(), await self._balances_of(profile)

    async def _balances_of(self, profile: CustomerProfile) -> list[CampaignBalance]:
        standings = [standing for standing in profile.campaigns if standing.kind is not None]
        with_rewards = (CampaignKind.POINTS, CampaignKind.EVENTS)
        wanted = [standing.id for standing in standings if standing.kind in with_rewards]
        # Kept lists are taken as they are; only the others cost a task and a request.
        lists = {
            campaign: kept
            for campaign in wanted
            if (kept := self.kept_campaign_rewards(campaign)) is not None
        }
        missing = [campaign for campaign in wanted if campaign not in lists]
        if missing:
            fetched = await asyncio.gather(*(self.campaign_rewards(c) for c in missing))
            lists.update(zip(missing, fetched, strict=True))
        return [
            standing.to_balance(lists[standing.id] if standing.kind in with_rewards else None)
            for standing in standings
        ]

    async def history(self, code: str, *, limit: int = 10, offset: int = 0) -> list[Transaction]:
        profile = await self.customer_info(code=code)
        if profile is None:
            raise NotFound(f"no member {code}")
        statements = await asyncio.gather(
            *(
                self.customer_balance(standing.id, code=code, transactions_number=offset + limit)
                for standing in profile.campaigns
            )
        )
        transactions = [
            transaction
            for statement in statements
            if statement is not None
            for transaction in statement.to_transactions()
        ]
        transactions.sort(
            key=lambda tx: (tx.at, int(tx.id) if tx.id.isdigit() else -1, tx.id), reverse=True
        )
        return transactions[offset : offset + limit]

    async def record_purchase(self, code: str, purchase: Purchase) -> Receipt:
        receipt = await self.record_activity(
            purchase.campaign_id,
            code=code,
            amount=purchase.amount,
            service_product=purchase.item,
            buyx_quantity=purchase.quantity if purchase.item else None,
            authorization=purchase.description,
        )
        return receipt.to_receipt(self._kinds.get(purchase.campaign_id))

    async def redeem(self, code: str, redemption: Redemption) -> Receipt:
        kind = await self._kind_of(redemption.campaign_id)
        reward: str | Decimal | None
        points: Decimal | None = None
        dollars: Decimal | None = None
        if kind is CampaignKind.POINTS:
            reward, points, dollars = redemption.reward_id, redemption.points, redemption.amount
        elif kind is CampaignKind.EVENTS:
            reward = redemption.reward_id
        elif kind is CampaignKind.BUYX:
            reward = redemption.item
        else:
            reward = redemption.amount
        if reward is None and points is None and dollars is None:
            raise ValueError(f"nothing to redeem from a {kind.value} campaign")
        receipt = await self.record_redeem(
            code,
            redemption.campaign_id,
            reward_to_redeem=reward,
            custom_points_redeem=points,
            custom_dollars_redeem=dollars,
            authorization=redemption.description,
        )
        return receipt.to_receipt(kind)

    async def campaign_history(self, member: str, campaign_id: str) -> list[Transaction] | None:
        """Every transaction of ``member`` (code or card number) in one campaign, for reconciling
        an import cut off mid-request; ``None`` when no customer has that code or card."""
        for field in ("code", "card_number"):
            statement = await self.customer_balance(
                campaign_id,
                **{field: member},
                transactions_number=_WHOLE_HISTORY,
            )
            if statement is not None:
                return statement.to_transactions()
        return None

    async def import_members(
        self,
        rows: Sequence[MemberImportRow],
        *,
        campaign_ids: Sequence[str],
        on_duplicate: DuplicatePolicy = DuplicatePolicy.IGNORE,
        generate_cards: int | None = None,
    ) -> list[ImportResult]:
        if not rows:
            return []
        if not campaign_ids:
            campaign_ids = [campaign.id for campaign in await self.campaigns()]
        cells = [_member_cells(row) for row in rows]
        used = [
            index
            for index, column in enumerate(_MEMBER_COLUMNS)
            if column in ("code", "card_number") or any(row[index] for row in cells)
        ]
        header = [_MEMBER_COLUMNS[index] for index in used]
        cells = [[row[index] for index in used] for row in cells]
        delimiter, sendable, refused = _split_by_delimiter(cells)
        results = {
            position: _unsendable(rows[position].line, rows[position].code, delimiter)
            for position in refused
        }
        if sendable:
            batch = await self.customers_batch(
                header,
                [cells[position] for position in sendable],
                campaign_ids=campaign_ids,
                delimiter=delimiter,
                overwrite=_OVERWRITE_MODES[on_duplicate],
                card_number_generate=(
                    self._card.length if generate_cards is None else generate_cards or None
                ),
            )
            answers = _rows_by_line(batch.rows, len(sendable))
            for number, position in enumerate(sendable, start=1):
                row, answer = rows[position], answers.get(number)
                if answer is None:
                    results[position] = ImportResult(
                        line=row.line,
                        outcome=ImportOutcome.FAILED,
                        member_code=row.code,
                        message=_UNREPORTED,
                    )
                    continue
                outcome = _MEMBER_OUTCOMES.get(answer.status.lower()) or _row_failure(answer.error)
                message = answer.error
                if outcome is ImportOutcome.SKIPPED and not message:
                    message = "already a member (same code or card): left as it was"
                elif outcome is not ImportOutcome.FAILED and answer.card_number and not message:
                    message = f"card {answer.card_number}"
                results[position] = ImportResult(
                    line=row.line,
                    outcome=outcome,
                    member_code=answer.code or row.code,
                    message=message,
                )
        return [results[position] for position in range(len(rows))]

    async def import_transactions(
        self, rows: Sequence[TransactionImportRow]
    ) -> list[ImportResult]:
        results: dict[int, ImportResult] = {}
        groups: dict[CampaignKind, list[int]] = {}
        for position, row in enumerate(rows):
            try:
                kind = await self._kind_of(row.campaign_id)
            except NotFound:
                results[position] = ImportResult(
                    line=row.line,
                    outcome=ImportOutcome.NOT_FOUND,
                    member_code=row.member,
                    message=f"no campaign {row.campaign_id}",
                )
                continue
            groups.setdefault(kind, []).append(position)
        for kind, positions in groups.items():
            lines = [_transaction_line(rows[position]) for position in positions]
            results.update(await self._import_transaction_group(kind, rows, positions, lines))
        return [results[position] for position in range(len(rows))]

    async def _import_transaction_group(
        self,
        kind: CampaignKind,
        rows: Sequence[TransactionImportRow],
        positions: Sequence[int],
        lines: Sequence[TransactionLine],
    ) -> dict[int, ImportResult]:
        _header, cells = transaction_columns(kind, lines)
        delimiter, sendable, refused = _split_by_delimiter(cells)
        results: dict[int, ImportResult] = {}
        for index in refused:
            row = rows[positions[index]]
            results[positions[index]] = _unsendable(row.line, row.member, delimiter)
        if not sendable:
            return results
        batch = await self.batch_transactions(
            kind,
            [lines[index] for index in sendable],
            delimiter=delimiter,
            create_new_customers=False,
        )
        answers = _rows_by_line(batch.rows, len(sendable))
        for number, index in enumerate(sendable, start=1):
            row, answer = rows[positions[index]], answers.get(number)
            if answer is None:
                outcome, message = ImportOutcome.FAILED, _UNREPORTED
            elif answer.status.lower() == "imported":
                outcome, message = ImportOutcome.CREATED, ""
            else:
                outcome, message = _row_failure(answer.error), answer.error
            results[positions[index]] = ImportResult(
                line=row.line, outcome=outcome, member_code=row.member, message=message
            )
        return results


def _split_by_delimiter(cells: Sequence[Sequence[str]]) -> tuple[Delimiter, list[int], list[int]]:
    """The delimiter for a batch of these rows, the rows it can carry and those it cannot."""
    delimiter = choose_delimiter([value for row in cells for value in row])
    sendable: list[int] = []
    refused: list[int] = []
    for index, values in enumerate(cells):
        if any(refusal(value, delimiter) for value in values):
            refused.append(index)
        else:
            sendable.append(index)
    return delimiter, sendable, refused


def _unsendable(line: int, member_code: str, delimiter: Delimiter) -> ImportResult:
    return ImportResult(
        line=line,
        outcome=ImportOutcome.INVALID,
        member_code=member_code,
        message=f"a value holds a line break or the {delimiter} delimiter",
    )


def _row_failure(message: str) -> ImportOutcome:
    """The outcome of a batch row the platform refused, by its message."""
    error = error_for(message)
    if isinstance(error, NotFound):
        return ImportOutcome.NOT_FOUND
    if isinstance(error, AlreadyExists):
        return ImportOutcome.ALREADY_MEMBER
    return ImportOutcome.FAILED


def _member_cells(row: MemberImportRow) -> list[str]:
    return [
        row.code,
        row.card_number,
        row.first_name,
        row.last_name,
        row.phone,
        row.email,
        row.birthday.isoformat() if row.birthday else "",
        number_text(row.signup_bonus) if row.signup_bonus is not None else "",
    ]


def _transaction_line(row: TransactionImportRow) -> TransactionLine:
    return TransactionLine(
        campaign_id=row.campaign_id,
        code=row.member,
        redeemed=row.redeemed,
        amount=row.amount,
        service_product=row.item,
        date=row.date,
        authorization=row.description,
    )


_Row = TypeVar("_Row", bound=BaseModel)


def _rows_by_line(answers: Sequence[_Row], sent: int) -> dict[int, _Row]:
    """Batch answer rows by their 1-based data line (position when a row names none)."""
    by_line: dict[int, _Row] = {}
    for position, answer in enumerate(answers, start=1):
        line = getattr(answer, "line", None)
        number = line if isinstance(line, int) else position
        if 1 <= number <= sent:
            by_line[number] = answer
    return by_line
