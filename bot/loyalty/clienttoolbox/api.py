"""The Client Toolbox (Sticky Street) API mirror: one method per platform call.

One pooled HTTP client posts form-encoded calls to the single endpoint; each method returns the
typed payload models of ``clienttoolbox.wire`` (or, where the answer is already in the bot's
words, a domain model). ``ClientToolboxClient`` (``client.py``) builds the ``LoyaltyBackend``
on top of these calls.

Calls that move a balance (or write anything) are sent once: after ``Unavailable`` nothing is
known about whether they took effect. Read-only calls are sent again once if the connection
dropped before an answer came.
"""

from __future__ import annotations

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
    open_envelope,
    read_payload,
    transaction_columns,
)
from bot.loyalty.errors import (
    LoyaltyError,
    NotFound,
    ProtocolError,
    Rejected,
    Unavailable,
)
from bot.loyalty.models import (
    BuyXItem,
    CampaignKind,
    CardFormat,
    Reward,
)
from bot.loyalty.options import HttpSettings
from bot.loyalty.pooled_client import PooledPlatformClient
from bot.loyalty.ttl_cache import TtlCache

log = logging.getLogger(__name__)

Overwrite = Literal["yes", "update", "ignore"]
BatchForm = Literal["1.5", "old"]
Payload = TypeVar("Payload", bound=BaseModel)

DEFAULT_CARD = CardFormat()
NO_FIELDS = CustomerFields()
_DROPPED = (httpx.NetworkError, httpx.RemoteProtocolError)
_MAX_CAMPAIGN_PAGES = 100


def number_text(value: Decimal | int) -> str:
    """A number as the API's forms take it: plain digits, no exponent."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def optional_number(value: Decimal | int | None) -> str | None:
    """``number_text``, or ``None`` (the field is left out) for no value."""
    return None if value is None else number_text(value)


def _one_customer(call: str, code: str | None, card_number: str | None) -> None:
    """Calls about one customer name it by code or card number."""
    if not (code or card_number):
        raise ValueError(f"{call} needs a code or a card number")


def _undo_field(api15: bool, allow_undo: bool, joiner: str) -> dict[str, str | None]:
    """A batch's undo switch: ``allow<joiner>undo`` in the 1.5 form, else ``no<joiner>undo``
    (the two batch calls spell it with ``_`` and ``-``)."""
    if api15:
        return {f"allow{joiner}undo": "yes" if allow_undo else None}
    return {f"no{joiner}undo": None if allow_undo else "yes"}


def _header_fields(prefix: str, header: Sequence[str]) -> dict[str, str]:
    """A batch's column names: ``<prefix>_header_1`` …"""
    return {f"{prefix}_header_{number}": column for number, column in enumerate(header, start=1)}


class ClientToolboxApi(PooledPlatformClient):
    """Typed async calls of the Client Toolbox API, over one pooled client."""

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

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(url={self._url!r}, account_id={self._settings.account_id!r}, "
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

    async def _look_up(
        self, model: type[Payload], call: str, fields: Mapping[str, str | None]
    ) -> Payload | None:
        """A read-only call about one customer; ``None`` when there is no such customer
        (``no_match``, or the platform's not-found error)."""
        try:
            return await self._fetch(model, call, fields, read_only=True)
        except NotFound:
            return None

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
            form["auto_add"] = number_text(auto_add) if isinstance(auto_add, Decimal) else auto_add
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
            "card_number_generate": optional_number(card_number_generate),
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
            "card_number_generate": optional_number(card_number_generate),
            "campaigns_to_include": (",".join if api15 else "|,|".join)(campaign_ids),
        }
        fields.update(_undo_field(api15, allow_undo, "_"))
        fields.update(_header_fields("profiles", header))
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
        _one_customer("customer_info", code, card_number)
        fields = {
            "code": code or None,
            "card_number": card_number or None,
            "include_balances": "Y" if include_balances else "N",
            "campaign_id": campaign_id,
        }
        answer = await self._look_up(CustomerInfoAnswer, "customer_info", fields)
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
        _one_customer("customer_balance", code, card_number)
        fields = {
            "campaign_id": campaign_id,
            "code": code or None,
            "card_number": card_number or None,
            "transactions_number": optional_number(transactions_number),
        }
        answer = await self._look_up(BalanceStatementAnswer, "customer_balance", fields)
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
        _one_customer("record_activity", code, card_number)
        fields: dict[str, str | None] = {
            "campaign_id": campaign_id,
            "code": code or None,
            "card_number": card_number or None,
            "amount": optional_number(amount),
            "promo_id": promo_id or None,
            "service_product": service_product or None,
            "buyx_quantity": optional_number(buyx_quantity),
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
            number_text(reward_to_redeem)
            if isinstance(reward_to_redeem, Decimal)
            else reward_to_redeem
        )
        fields = {
            "code": code,
            "campaign_id": campaign_id,
            "reward_to_redeem": reward,
            "custom_points_redeem": optional_number(custom_points_redeem),
            "custom_dollars_redeem": optional_number(custom_dollars_redeem),
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
        fields.update(_undo_field(api15, allow_undo, "-"))
        fields["send_transaction_email"] = "Y" if send_transaction_email else None
        if create_new_customers is not None:
            fields["create_new_customers"] = "Y" if create_new_customers else "N"
        fields.update(_header_fields("visits", header))
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
            "offset": optional_number(offset),
            "length": optional_number(length),
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

    def kept_campaign_rewards(self, campaign_id: str) -> list[Reward] | None:
        """The campaign's reward list if one is kept and fresh, without a request."""
        kept = self._reward_lists.fresh(campaign_id)
        return None if kept is None else list(kept)

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
