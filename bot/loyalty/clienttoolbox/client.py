"""The Client Toolbox (Sticky Street) loyalty API client.

One pooled ``httpx.AsyncClient`` posts form-encoded calls to the single endpoint. The low-level
methods (one per platform call) return the typed payload models of ``clienttoolbox.wire`` or
domain models; the ``LoyaltyBackend`` methods below them speak only the bot's words.

Calls that move a balance (or write anything) are sent once: after ``Unavailable`` nothing is
known about whether they took effect. Read-only calls are sent again once if the connection
dropped before an answer came.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel

from bot.loyalty.aiohttp_transport import FormAnswer
from bot.loyalty.clienttoolbox.settings import ClientToolboxSettings
from bot.loyalty.clienttoolbox.wire import (
    BalanceStatement,
    BalanceStatementAnswer,
    CampaignEntry,
    CampaignList,
    CampaignRewardList,
    CustomerBatch,
    CustomerBatchAnswer,
    CustomerFields,
    CustomerInfoAnswer,
    CustomerListAnswer,
    CustomerProfile,
    Delimiter,
    GeneratedCardAnswer,
    ItemList,
    ReceiptAnswer,
    ReceiptDoc,
    RecordedCustomer,
    RecordedCustomerAnswer,
    TransactionBatch,
    TransactionBatchAnswer,
    TransactionLine,
    batch_text,
    choose_delimiter,
    error_for,
    open_envelope,
    read_payload,
    refusal,
    transaction_columns,
)
from bot.loyalty.errors import (
    AlreadyExists,
    LoyaltyError,
    NotFound,
    ProtocolError,
    Rejected,
    Unavailable,
)
from bot.loyalty.models import (
    BuyXItem,
    Campaign,
    CampaignBalance,
    CampaignKind,
    CardFormat,
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
from bot.loyalty.options import ClientOptions, HttpSettings
from bot.loyalty.phones import phone_key
from bot.loyalty.pooled_client import PooledPlatformClient
from bot.loyalty.ttl_cache import TtlCache

log = logging.getLogger(__name__)

Overwrite = Literal["yes", "update", "ignore"]
_OVERWRITE_MODES: dict[DuplicatePolicy, Overwrite] = {
    DuplicatePolicy.OVERWRITE: "yes",
    DuplicatePolicy.UPDATE: "update",
    DuplicatePolicy.IGNORE: "ignore",
}
BatchForm = Literal["1.5", "old"]
Payload = TypeVar("Payload", bound=BaseModel)

DEFAULT_CARD = CardFormat()
NO_FIELDS = CustomerFields()
_DROPPED = (httpx.NetworkError, httpx.RemoteProtocolError)
_MAX_CAMPAIGN_PAGES = 100
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


def _number(value: Decimal | int) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)


class ClientToolboxClient(PooledPlatformClient):
    """Typed async client of the Client Toolbox API and its ``LoyaltyBackend``."""

    platform = "clienttoolbox"

    def __init__(
        self,
        settings: ClientToolboxSettings,
        http: HttpSettings,
        *,
        card: CardFormat = DEFAULT_CARD,
        region: str = "US",
        rewards_ttl: float = 0.0,
        cache_clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._reward_lists: TtlCache[list[Reward]] = TtlCache(rewards_ttl, clock=cache_clock)
        self._card = card
        self._region = region
        self._url = str(settings.url)
        self._secrets = tuple(
            secret.get_secret_value()
            for secret in (settings.user_password, settings.user_api_key)
            if secret is not None and secret.get_secret_value()
        )
        self._kinds: dict[str, CampaignKind] = {}
        super().__init__(http, transport=transport)

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

    def __repr__(self) -> str:
        return (
            f"ClientToolboxClient(url={self._url!r}, account_id={self._settings.account_id!r}, "
            f"user_id={self._settings.user_id!r}, output={self._settings.output!r})"
        )

    def _credentials(self, api15: bool) -> dict[str, str]:
        settings = self._settings
        form = {"account_id": settings.account_id, "user_id": settings.user_id}
        if settings.user_api_key is not None:
            form["API"] = "1.5"
            if not settings.key_in_header:
                form["user_api_key"] = settings.user_api_key.get_secret_value()
        elif settings.user_password is not None:
            form["user_password"] = settings.user_password.get_secret_value()
            if api15:
                form["API"] = "1.5"
        return form

    def _headers(self) -> dict[str, str]:
        key = self._settings.user_api_key
        if key is not None and self._settings.key_in_header:
            return {"api_access_key": key.get_secret_value()}
        return {}

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def _call(
        self,
        call: str,
        fields: Mapping[str, str | None],
        *,
        read_only: bool,
        api15: bool = False,
    ) -> dict[str, Any] | None:
        """Send one call; the payload tree on success, ``None`` on ``no_match``."""
        form = {
            **{name: value for name, value in fields.items() if value is not None},
            **self._credentials(api15),
            "type": call,
            "output": self._settings.output.upper(),
        }
        attempts = 2 if read_only else 1
        for attempt in range(1, attempts + 1):
            try:
                response = await self._post_form(self._url, form, self._headers())
            except httpx.TimeoutException as exc:
                log.warning("clienttoolbox %s: no answer in time (%s)", call, type(exc).__name__)
                raise Unavailable(f"{call}: the platform did not answer in time") from exc
            except _DROPPED as exc:
                if attempt < attempts:
                    log.info("clienttoolbox %s: connection dropped, asking once more", call)
                    continue
                log.warning("clienttoolbox %s: connection failed (%s)", call, type(exc).__name__)
                raise Unavailable(f"{call}: the connection failed") from exc
            except httpx.HTTPError as exc:
                log.warning("clienttoolbox %s: request failed (%s)", call, type(exc).__name__)
                raise Unavailable(f"{call}: the request failed") from exc
            break
        return self._read(call, response)

    def _read(self, call: str, response: FormAnswer) -> dict[str, Any] | None:
        status = response.status_code
        if status >= 500 or status == 429:
            log.warning("clienttoolbox %s: HTTP %s", call, status)
            raise Unavailable(f"{call}: the platform answered HTTP {status}")
        if status != 200:
            log.warning("clienttoolbox %s: HTTP %s", call, status)
            raise ProtocolError(f"{call}: unexpected HTTP {status}")
        try:
            payload = open_envelope(response.content)
        except LoyaltyError as exc:
            message = self._scrub(exc.message)
            log.warning("clienttoolbox %s: %s: %s", call, type(exc).__name__, message)
            raise type(exc)(message) from None
        log.debug("clienttoolbox %s: %s", call, "no match" if payload is None else "success")
        return payload

    async def _fetch(
        self,
        model: type[Payload],
        call: str,
        fields: Mapping[str, str | None],
        *,
        read_only: bool,
        api15: bool = False,
    ) -> Payload | None:
        tree = await self._call(call, fields, read_only=read_only, api15=api15)
        if tree is None:
            return None
        try:
            return read_payload(model, tree, call)
        except ProtocolError as exc:
            log.warning("clienttoolbox %s: %s", call, exc.message)
            raise

    async def _require(
        self,
        model: type[Payload],
        call: str,
        fields: Mapping[str, str | None],
        *,
        read_only: bool,
        api15: bool = False,
    ) -> Payload:
        payload = await self._fetch(model, call, fields, read_only=read_only, api15=api15)
        if payload is None:
            raise NotFound(f"{call}: no match")
        return payload

    async def record_customer_new(
        self,
        fields: CustomerFields,
        *,
        code: str | None = None,
        card_number: str | None = None,
        card_number_generate: int | None = None,
        card_number_prefix: str = "",
        card_number_suffix: str = "",
        new_code: bool = False,
        campaign_ids: Sequence[str] = (),
        auto_add: Decimal | str | None = None,
        customer_password: str | None = None,
        send_no_email: bool = True,
    ) -> RecordedCustomer:
        """``record_customer`` / ``new``: create a customer; a duplicate is ``AlreadyExists``."""
        form: dict[str, str | None] = {
            "customer_action": "new",
            "code": code or None,
            "card_number": card_number or None,
            "new_code": "Yes" if new_code else None,
            "campaign_id": ",".join(campaign_ids) or None,
            "customer_password": customer_password or None,
            "send_no_email": "true" if send_no_email else None,
            **fields.form(),
        }
        if card_number_generate is not None:
            form["card_number_generate"] = str(card_number_generate)
            form["card_number_prefix"] = card_number_prefix or None
            form["card_number_suffix"] = card_number_suffix or None
        if auto_add is not None:
            form["auto_add"] = _number(auto_add) if isinstance(auto_add, Decimal) else auto_add
        return await self._record_customer(form)

    async def record_customer_register(
        self,
        card_number: str,
        customer_password: str,
        fields: CustomerFields = NO_FIELDS,
        *,
        send_no_email: bool = True,
    ) -> RecordedCustomer:
        """``record_customer`` / ``register``: activate an existing card with a password."""
        form: dict[str, str | None] = {
            "customer_action": "register",
            "card_number": card_number,
            "customer_password": customer_password,
            "send_no_email": "true" if send_no_email else None,
            **fields.form(),
        }
        return await self._record_customer(form)

    async def record_customer_edit(
        self,
        fields: CustomerFields,
        *,
        code: str | None = None,
        card_number: str | None = None,
        card_number_generate: int | None = None,
        new_code: bool = False,
        customer_password: str | None = None,
        campaign_ids: Sequence[str] = (),
        send_no_email: bool = True,
    ) -> RecordedCustomer:
        """``record_customer`` / ``edit``. Beware: an unknown ``code`` creates a customer.

        ``campaign_ids`` (as on ``new``; the edit page does not list it) enrols the customer.
        """
        form: dict[str, str | None] = {
            "customer_action": "edit",
            "campaign_id": ",".join(campaign_ids) or None,
            "code": code or None,
            "card_number": card_number or None,
            "card_number_generate": (
                str(card_number_generate) if card_number_generate is not None else None
            ),
            "new_code": "Yes" if new_code else None,
            "customer_password": customer_password or None,
            "send_no_email": "true" if send_no_email else None,
            **fields.form(),
        }
        return await self._record_customer(form)

    async def _record_customer(self, form: Mapping[str, str | None]) -> RecordedCustomer:
        answer = await self._require(
            RecordedCustomerAnswer, "record_customer", form, read_only=False
        )
        return answer.customer

    async def customers_batch(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        campaign_ids: Sequence[str],
        delimiter: Delimiter = "pipe",
        overwrite: Overwrite | None = "ignore",
        card_number_generate: int | None = None,
        allow_undo: bool = False,
        form: BatchForm = "1.5",
    ) -> CustomerBatch:
        """``customers_batch``: import profile rows; ``rows`` of the answer are per data line.

        Raises ``BatchValueError`` (before sending) for a cell holding the delimiter or a line
        break, and ``ValueError`` for a ragged row or no campaign.
        """
        if not header:
            raise ValueError("customers_batch needs at least one column")
        if not campaign_ids:
            raise ValueError("customers_batch needs at least one campaign")
        data = batch_text(header, rows, delimiter)
        api15 = form == "1.5"
        fields: dict[str, str | None] = {
            "delimiter": delimiter,
            "overwrite_duplicates": overwrite,
            "card_number_generate": (
                str(card_number_generate) if card_number_generate is not None else None
            ),
            "campaigns_to_include": (",".join if api15 else "|,|".join)(campaign_ids),
        }
        if api15:
            fields["allow_undo"] = "yes" if allow_undo else None
        else:
            fields["no_undo"] = None if allow_undo else "yes"
        for number, column in enumerate(header, start=1):
            fields[f"profiles_header_{number}"] = column
        fields["profiles_data" if api15 else "Profiles_Data"] = data
        answer = await self._require(
            CustomerBatchAnswer, "customers_batch", fields, read_only=False, api15=api15
        )
        return answer.batch

    async def customer_exists(
        self,
        *,
        code: str | None = None,
        card_number: str | None = None,
        customer_username: str | None = None,
        email: str | None = None,
    ) -> bool:
        """``customer_exists``: whether one customer matches every given field."""
        fields = {
            "code": code,
            "card_number": card_number,
            "customer_username": customer_username,
            "email": email,
        }
        if not any(fields.values()):
            raise ValueError("customer_exists needs at least one field")
        tree = await self._call("customer_exists", fields, read_only=True)
        return tree is not None

    async def customer_search(
        self,
        *,
        exact_match: Literal["sensitive", "insensitive"] | None = None,
        include_balances: bool = False,
        **criteria: str,
    ) -> list[CustomerProfile]:
        """``customer_search`` by fields (``phone=…``, ``email=…``, ``custom_field_3=…``).

        No criterion lists every customer, as the platform does.
        """
        fields: dict[str, str | None] = {
            "exact_match": exact_match,
            "include_balances": "Y" if include_balances else None,
            **criteria,
        }
        answer = await self._fetch(CustomerListAnswer, "customer_search", fields, read_only=True)
        return [] if answer is None else answer.customers

    async def customer_find(
        self, phrase: str, *, include_balances: bool = False
    ) -> list[CustomerProfile]:
        """``customer_find``: all-field search; space is AND, comma is OR."""
        fields = {"find_customer": phrase, "include_balances": "Y" if include_balances else None}
        answer = await self._fetch(CustomerListAnswer, "customer_find", fields, read_only=True)
        return [] if answer is None else answer.customers

    async def customer_info(
        self,
        *,
        code: str | None = None,
        card_number: str | None = None,
        include_balances: bool = True,
        campaign_id: str | None = None,
    ) -> CustomerProfile | None:
        """``customer_info``: the profile with its campaign balances; ``None`` if unknown."""
        if not (code or card_number):
            raise ValueError("customer_info needs a code or a card number")
        fields = {
            "code": code or None,
            "card_number": card_number or None,
            "include_balances": "Y" if include_balances else "N",
            "campaign_id": campaign_id,
        }
        try:
            answer = await self._fetch(CustomerInfoAnswer, "customer_info", fields, read_only=True)
        except NotFound:
            return None
        return None if answer is None else answer.profile()

    async def customer_balance(
        self,
        campaign_id: str,
        *,
        code: str | None = None,
        card_number: str | None = None,
        transactions_number: int | None = None,
    ) -> BalanceStatement | None:
        """``customer_balance``: one campaign's balance and history; ``None`` if unknown."""
        if not (code or card_number):
            raise ValueError("customer_balance needs a code or a card number")
        fields = {
            "campaign_id": campaign_id,
            "code": code or None,
            "card_number": card_number or None,
            "transactions_number": (
                str(transactions_number) if transactions_number is not None else None
            ),
        }
        try:
            answer = await self._fetch(
                BalanceStatementAnswer, "customer_balance", fields, read_only=True
            )
        except NotFound:
            return None
        return None if answer is None else answer.campaign

    async def generate_card_number(
        self, *, digits: int = 16, prefix: str = "", suffix: str = ""
    ) -> str:
        """``generate_card_number``: an unused card number (no customer is created)."""
        fields = {
            "how_many_digits": str(digits),
            "card_number_prefix": prefix or None,
            "card_number_suffix": suffix or None,
        }
        answer = await self._require(
            GeneratedCardAnswer, "generate_card_number", fields, read_only=True
        )
        return answer.customer.card_number

    async def validate_customer_password(
        self,
        *,
        code: str | None = None,
        card_number: str | None = None,
        customer_username: str | None = None,
        password: str | None = None,
        pin: str | None = None,
        phone: str | None = None,
    ) -> bool:
        """``validate_customer_password``: whether the password (or PIN) matches."""
        if not (code or card_number or customer_username) or not (password or pin):
            raise ValueError("validate_customer_password needs an identity and a password or PIN")
        fields = {
            "code": code,
            "card_number": card_number,
            "customer_username": customer_username,
            "customer_password": password,
            "customer_PIN": pin,
            "phone": phone,
        }
        try:
            tree = await self._call("validate_customer_password", fields, read_only=True)
        except (Rejected, NotFound):
            return False
        return tree is not None

    async def record_activity(
        self,
        campaign_id: str,
        *,
        code: str | None = None,
        card_number: str | None = None,
        amount: Decimal | None = None,
        promo_id: str | None = None,
        service_product: str | None = None,
        buyx_quantity: int | None = None,
        authorization: str = "",
        send_transaction_email: bool = False,
        custom_fields: Mapping[str, str] | None = None,
    ) -> ReceiptDoc:
        """``record_activity``: a purchase or visit. Sent once, never retried."""
        if not (code or card_number):
            raise ValueError("record_activity needs a code or a card number")
        fields: dict[str, str | None] = {
            "campaign_id": campaign_id,
            "code": code or None,
            "card_number": card_number or None,
            "amount": _number(amount) if amount is not None else None,
            "promo_id": promo_id or None,
            "service_product": service_product or None,
            "buyx_quantity": str(buyx_quantity) if buyx_quantity is not None else None,
            "authorization": authorization or None,
            "send_transaction_email": "Y" if send_transaction_email else None,
            **(custom_fields or {}),
        }
        answer = await self._require(ReceiptAnswer, "record_activity", fields, read_only=False)
        return answer.receipt

    async def record_redeem(
        self,
        code: str,
        campaign_id: str,
        *,
        reward_to_redeem: str | Decimal | None = None,
        custom_points_redeem: Decimal | None = None,
        custom_dollars_redeem: Decimal | None = None,
        authorization: str = "",
    ) -> ReceiptDoc:
        """``redeem`` (named so because ``redeem`` is the ``LoyaltyBackend`` method).

        ``reward_to_redeem`` is a reward id (points, events), a money amount (giftcard,
        earned) or an item id / ``[identifier]`` (buy-X); points campaigns may combine it
        with ``custom_points_redeem`` and ``custom_dollars_redeem``. Sent once, never retried.
        """
        if (
            reward_to_redeem is None
            and custom_points_redeem is None
            and (custom_dollars_redeem is None)
        ):
            raise ValueError("redeem needs a reward, custom points or a custom amount")
        reward = (
            _number(reward_to_redeem)
            if isinstance(reward_to_redeem, Decimal)
            else reward_to_redeem
        )
        fields = {
            "code": code,
            "campaign_id": campaign_id,
            "reward_to_redeem": reward,
            "custom_points_redeem": (
                _number(custom_points_redeem) if custom_points_redeem is not None else None
            ),
            "custom_dollars_redeem": (
                _number(custom_dollars_redeem) if custom_dollars_redeem is not None else None
            ),
            "authorization": authorization or None,
        }
        answer = await self._require(ReceiptAnswer, "redeem", fields, read_only=False)
        return answer.receipt

    async def batch_transactions(
        self,
        kind: CampaignKind,
        lines: Sequence[TransactionLine],
        *,
        delimiter: Delimiter = "pipe",
        apply_ratio: bool | None = None,
        custom_fields: Sequence[str] = (),
        allow_undo: bool = False,
        send_transaction_email: bool = False,
        create_new_customers: bool | None = None,
        form: BatchForm = "1.5",
    ) -> TransactionBatch:
        """``batch_transactions`` in the column layout of ``kind``; sent once, never retried.

        ``custom_fields`` names transaction custom fields sent as extra columns (values from
        each line's ``custom_fields``). Raises ``BatchValueError`` before sending for a cell
        holding the delimiter or a line break (a promo list under the comma delimiter).
        """
        if not lines:
            raise ValueError("batch_transactions needs at least one line")
        header, rows = transaction_columns(kind, lines, custom_fields)
        data = batch_text(header, rows, delimiter)
        api15 = form == "1.5"
        fields: dict[str, str | None] = {"delimiter": delimiter}
        if apply_ratio is not None:
            fields["apply_ratio"] = "yes" if apply_ratio else ("no" if api15 else None)
        if api15:
            fields["allow-undo"] = "yes" if allow_undo else None
        else:
            fields["no-undo"] = None if allow_undo else "yes"
        fields["send_transaction_email"] = "Y" if send_transaction_email else None
        if create_new_customers is not None:
            fields["create_new_customers"] = "Y" if create_new_customers else "N"
        for number, column in enumerate(header, start=1):
            fields[f"visits_header_{number}"] = column
        fields["Visits_Data"] = data
        answer = await self._require(
            TransactionBatchAnswer, "batch_transactions", fields, read_only=False, api15=api15
        )
        return answer.batch

    async def transaction_delete(self, campaign_id: str, code: str, transaction_id: str) -> None:
        """``transaction_delete``: remove one transaction; sent once, never retried."""
        fields = {"campaign_id": campaign_id, "code": code, "transaction_id": transaction_id}
        if await self._call("transaction_delete", fields, read_only=False) is None:
            raise NotFound(f"transaction_delete: no transaction {transaction_id}")

    async def campaigns_list(
        self,
        *,
        type_restrict: Sequence[CampaignKind] = (),
        offset: int | None = None,
        length: int | None = None,
    ) -> CampaignList:
        """``campaigns_list`` (API 1.5 paging with ``offset``/``length``)."""
        fields = {
            "type_restrict": ",".join(kind.value for kind in type_restrict) or None,
            "offset": str(offset) if offset is not None else None,
            "length": str(length) if length is not None else None,
        }
        answer = await self._fetch(
            CampaignList, "campaigns_list", fields, read_only=True, api15=True
        )
        answer = answer or CampaignList()
        self._remember_kinds(answer.campaigns)
        return answer

    async def campaign_rewards(self, campaign_id: str) -> list[Reward]:
        """``campaign_rewards``: the rewards of a points or events campaign, as listed; kept
        for the client's ``rewards_ttl`` (the same list for every member)."""
        return list(
            await self._reward_lists.get(
                campaign_id, lambda: self._fetch_campaign_rewards(campaign_id)
            )
        )

    async def _fetch_campaign_rewards(self, campaign_id: str) -> list[Reward]:
        answer = await self._fetch(
            CampaignRewardList, "campaign_rewards", {"campaign_id": campaign_id}, read_only=True
        )
        if answer is None:
            return []
        return [entry.to_reward(campaign_id) for entry in answer.rewards]

    async def buyx_items_list(self, campaign_id: str) -> list[BuyXItem]:
        """``buyx_items_list``: the items of a buy-X campaign."""
        answer = await self._fetch(
            ItemList, "buyx_items_list", {"campaign_id": campaign_id}, read_only=True, api15=True
        )
        return [] if answer is None else [item.to_item() for item in answer.items]

    def _remember_kinds(self, entries: Iterable[CampaignEntry]) -> None:
        for entry in entries:
            if entry.kind is not None:
                self._kinds[entry.id] = entry.kind

    async def _campaign_entries(self) -> list[CampaignEntry]:
        entries: list[CampaignEntry] = []
        for _ in range(_MAX_CAMPAIGN_PAGES):
            page = await self.campaigns_list(offset=len(entries) or None)
            entries.extend(page.campaigns)
            total = page.pagination.total
            if not page.campaigns or total is None or len(entries) >= total:
                return entries
        return entries

    async def _kind_of(self, campaign_id: str) -> CampaignKind:
        if campaign_id not in self._kinds:
            await self._campaign_entries()
        try:
            return self._kinds[campaign_id]
        except KeyError:
            raise NotFound(f"no campaign {campaign_id}") from None

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
        reward_lists = await asyncio.gather(
            *(
                self.campaign_rewards(standing.id)
                for standing in standings
                if standing.kind in with_rewards
            )
        )
        lists = iter(reward_lists)
        return [
            standing.to_balance(next(lists) if standing.kind in with_rewards else None)
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
        _number(row.signup_bonus) if row.signup_bonus is not None else "",
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
