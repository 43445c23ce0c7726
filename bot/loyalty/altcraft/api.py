"""The Altcraft API mirror (``/api/v1.1/loyalty/...``, ``profiles/...``, ``tasks/...``): typed
methods that mirror Altcraft's calls one to one, over one pooled HTTP client.
``AltcraftClient`` (``client.py``) maps the ``LoyaltyBackend`` onto them;
``docs/altcraft-wire.md`` records every mapping choice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx

from bot.loyalty.altcraft.settings import AltcraftSettings
from bot.loyalty.altcraft.wire import (
    CONTENT_TYPES,
    MAX_BATCH_ROWS,
    MAX_BODY_BYTES,
    AccountBalance,
    AccountTransaction,
    BatchMember,
    BatchRowResult,
    BatchTooLarge,
    PointsOperation,
    Profile,
    ProfileRef,
    TaskStatus,
    as_int,
    as_str,
    batch_rows_body,
    decode_answer,
    encode_body,
    error_for,
    parse_balance,
    parse_batch_rows,
    parse_points_operation,
    parse_profile,
    parse_task_status,
    parse_transactions,
    points_text,
    rfc3339,
)
from bot.loyalty.errors import (
    AlreadyExists,
    AuthFailed,
    LoyaltyError,
    NotFound,
    ProtocolError,
    Rejected,
    Unavailable,
)
from bot.loyalty.models import (
    CardFormat,
)
from bot.loyalty.options import HttpSettings
from bot.loyalty.pooled_client import PooledPlatformClient

_log = logging.getLogger(__name__)


class AltcraftApi(PooledPlatformClient):
    """Altcraft's typed calls, over one pooled client."""

    def __init__(
        self,
        settings: AltcraftSettings,
        http: HttpSettings,
        *,
        card: CardFormat = CardFormat(),  # noqa: B008 - frozen model, safe as a default
        transport: httpx.AsyncBaseTransport | None = None,
        token_in_header: bool = False,
        region: str = "US",
    ) -> None:
        self._settings = settings
        self._card = card
        self._region = region
        self._token = settings.token.get_secret_value() if settings.token is not None else ""
        self._token_in_header = token_in_header
        self._format = settings.body_format
        self._base_url = str(settings.url).rstrip("/") + "/"
        headers = {
            "Content-Type": CONTENT_TYPES[self._format],
            "Accept": CONTENT_TYPES[self._format],
        }
        if token_in_header and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        super().__init__(http, transport=transport, headers=headers)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(url={self._base_url!r}, "
            f"loyalty_program_id={self._settings.loyalty_program_id}, "
            f"profiles_db_id={self._settings.profiles_db_id}, body_format={self._format!r})"
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    async def _call(
        self, method: str, params: Mapping[str, Any], *, max_bytes: int | None = None
    ) -> dict[str, Any]:
        if not self._token:
            raise AuthFailed(f"{method}: altcraft.token is not set")
        body: dict[str, Any] = {} if self._token_in_header else {"token": self._token}
        body.update(params)
        content = encode_body(body, self._format)
        if max_bytes is not None and len(content) > max_bytes:
            raise BatchTooLarge(
                f"{method}: the request is {len(content):,} bytes, over Altcraft's limit of "
                f"{max_bytes:,} bytes per request; split it into smaller batches"
            )
        started = time.monotonic()
        try:
            response = await self._http.post(self._base_url + method, content=content)
        except httpx.TimeoutException as exc:
            raise self._failed(
                Unavailable(f"{method}: timed out ({type(exc).__name__})")
            ) from None
        except httpx.HTTPError as exc:
            detail = self._redact(str(exc)) or "connection failed"
            raise self._failed(Unavailable(f"{method}: {type(exc).__name__}: {detail}")) from None
        elapsed_ms = (time.monotonic() - started) * 1000
        status = response.status_code
        if status >= 500 or status == 429:
            raise self._failed(Unavailable(f"{method}: HTTP {status}"))
        try:
            answer = decode_answer(response.content, response.headers.get("content-type", ""))
        except ProtocolError as exc:
            raise self._failed(self._http_error(method, status, exc.message)) from None
        if "error" not in answer:
            raise self._failed(self._http_error(method, status, "answer has no 'error' field"))
        code = as_int(answer["error"], "error")
        _log.debug("altcraft %s: error %s, HTTP %s, %.0f ms", method, code, status, elapsed_ms)
        if code != 0:
            raise self._failed(
                error_for(code, self._redact(as_str(answer.get("error_text"))), method)
            )
        if status != 200:
            raise self._failed(ProtocolError(f"{method}: HTTP {status} with a success answer"))
        return answer

    def _http_error(self, method: str, status: int, problem: str) -> LoyaltyError:
        if status in (401, 403):
            return AuthFailed(f"{method}: HTTP {status}")
        if status != 200:
            return ProtocolError(f"{method}: HTTP {status} without an Altcraft answer")
        return ProtocolError(f"{method}: {problem}")

    def _failed(self, error: LoyaltyError) -> LoyaltyError:
        # Lookups answer 404 all the time; only failures worth a look are warnings.
        level = logging.DEBUG if isinstance(error, (NotFound, AlreadyExists)) else logging.WARNING
        _log.log(level, "altcraft call failed: %s: %s", type(error).__name__, error.message)
        return error

    def _program_id(self) -> int:
        if self._settings.loyalty_program_id is None:
            raise Rejected("altcraft.loyalty_program_id is not set")
        return self._settings.loyalty_program_id

    def _db_id(self) -> int:
        if self._settings.profiles_db_id is None:
            raise Rejected("altcraft.profiles_db_id is not set")
        return self._settings.profiles_db_id

    def _loyalty(self, ref: ProfileRef | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"loyalty_program_id": self._program_id()}
        if ref is not None:
            params.update(ref.params())
        return params

    def _currency(self, params: dict[str, Any]) -> dict[str, Any]:
        if self._settings.points_currency_eid:
            params["points_currency_eid"] = self._settings.points_currency_eid
        return params

    async def register_member(
        self, ref: ProfileRef, *, registration_date: dt.datetime | None = None
    ) -> str:
        """Register an existing profile in the program; returns its profile id."""
        params = self._loyalty(ref)
        if registration_date is not None:
            params["registration_date"] = rfc3339(registration_date)
        answer = await self._call("loyalty/register_member", params)
        return _profile_id_of(answer, "register_member")

    def _batch_params(self, method: str, rows: Sequence[BatchMember]) -> dict[str, Any]:
        if len(rows) > MAX_BATCH_ROWS:
            raise BatchTooLarge(
                f"{method}: {len(rows):,} rows is over Altcraft's limit of {MAX_BATCH_ROWS:,} "
                "rows per request; split it into smaller batches"
            )
        matching, data = batch_rows_body(rows)
        return {**self._loyalty(), "matching": matching, "data": data}

    async def register_member_batch(self, rows: Sequence[BatchMember]) -> list[BatchRowResult]:
        """Register up to 10,000 profiles at once; one result per row, in input order."""
        params = self._batch_params("register_member_batch", rows)
        answer = await self._call(
            "loyalty/register_member_batch", params, max_bytes=MAX_BODY_BYTES
        )
        results = parse_batch_rows(answer.get("result"))
        if len(results) != len(rows):
            raise ProtocolError(
                f"register_member_batch: {len(results)} results for {len(rows)} rows"
            )
        return list(results)

    async def register_member_batch_task(
        self, rows: Sequence[BatchMember], *, task_id: str | None = None
    ) -> str:
        """Start (or, with ``task_id``, extend) a background registration; returns the task id."""
        params = self._batch_params("register_member_batch_task", rows)
        if task_id is not None:
            params["task_id"] = task_id
        answer = await self._call(
            "loyalty/register_member_batch_task", params, max_bytes=MAX_BODY_BYTES
        )
        data = answer.get("data")
        found = as_str(data.get("task_id")) if isinstance(data, dict) else ""
        found = found or as_str(answer.get("task_id"))
        if not found:
            raise ProtocolError("register_member_batch_task: answer has no task_id")
        return found

    async def task_status(self, task_id: str) -> TaskStatus:
        answer = await self._call("tasks/status", {"task_id": task_id})
        return parse_task_status(answer, task_id)

    async def wait_for_task(
        self, task_id: str, *, max_wait: float = 60.0, interval: float = 0.2
    ) -> TaskStatus:
        """Poll ``tasks/status`` until the task finishes; ``Unavailable`` after ``max_wait`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        delay = interval
        while True:
            status = await self.task_status(task_id)
            if status.status in {"failed", "error", "cancelled"}:
                raise Rejected(f"tasks/status: task {task_id} ended as {status.status}")
            if status.finished:
                return status
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise Unavailable(
                    f"tasks/status: task {task_id} not finished within {max_wait:g} s "
                    f"({status.status}, {status.progress}%)"
                )
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 2.0)

    async def delete_member(self, ref: ProfileRef) -> str:
        answer = await self._call("loyalty/delete_member", self._loyalty(ref))
        return _profile_id_of(answer, "delete_member")

    async def account_balance(self, ref: ProfileRef) -> AccountBalance:
        answer = await self._call("loyalty/account/balance", self._currency(self._loyalty(ref)))
        return parse_balance(answer)

    async def account_transactions(
        self, ref: ProfileRef, *, from_id: str | None = None, limit: int = 20
    ) -> list[AccountTransaction]:
        """One page, oldest first: transactions after ``from_id`` (1 ≤ ``limit`` ≤ 100)."""
        if not 1 <= limit <= 100:
            raise ValueError("limit must be between 1 and 100")
        params = self._currency(self._loyalty(ref))
        params["limit"] = limit
        if from_id:
            params["from_id"] = from_id
        answer = await self._call("loyalty/account/transactions", params)
        return parse_transactions(answer)

    def _points_params(
        self,
        ref: ProfileRef,
        amount: Decimal,
        *,
        transaction_eid: str | None,
        description: str,
        created_at: dt.datetime | None,
    ) -> dict[str, Any]:
        if amount <= 0:
            raise Rejected(f"the points amount must be positive, not {amount}")
        params = self._currency(self._loyalty(ref))
        params["amount"] = points_text(amount)
        if transaction_eid:
            params["transaction_eid"] = transaction_eid
        if description:
            params["description"] = description
        if created_at is not None:
            params["created_at"] = rfc3339(created_at)
        return params

    async def accrue_points(
        self,
        ref: ProfileRef,
        amount: Decimal,
        *,
        transaction_eid: str | None = None,
        description: str = "",
        created_at: dt.datetime | None = None,
        activation_date: dt.datetime | None = None,
        expiration_date: dt.datetime | None = None,
    ) -> PointsOperation:
        params = self._points_params(
            ref,
            amount,
            transaction_eid=transaction_eid,
            description=description,
            created_at=created_at,
        )
        if activation_date is not None:
            params["activation_date"] = rfc3339(activation_date)
        if expiration_date is not None:
            params["expiration_date"] = rfc3339(expiration_date)
        return parse_points_operation(await self._call("loyalty/accrue_points", params))

    async def redeem_points(
        self,
        ref: ProfileRef,
        amount: Decimal,
        *,
        transaction_eid: str | None = None,
        description: str = "",
        created_at: dt.datetime | None = None,
    ) -> PointsOperation:
        params = self._points_params(
            ref,
            amount,
            transaction_eid=transaction_eid,
            description=description,
            created_at=created_at,
        )
        path = "loyalty/" + self._settings.redeem_path.strip("/")
        return parse_points_operation(await self._call(path, params))

    async def cancel_transaction(
        self, *, transaction_id: str | None = None, transaction_eid: str | None = None
    ) -> PointsOperation:
        if not transaction_id and not transaction_eid:
            raise ValueError("cancel_transaction needs transaction_id or transaction_eid")
        params: dict[str, Any] = {}
        if transaction_id:
            params["transaction_id"] = transaction_id
        if transaction_eid:
            params["transaction_eid"] = transaction_eid
        return parse_points_operation(await self._call("loyalty/cancel_transaction", params))

    async def add_profile(self, data: Mapping[str, Any], *, skip_triggers: bool = False) -> str:
        """Create a profile in ``profiles_db_id``; returns its id. Never looks for duplicates."""
        params: dict[str, Any] = {"db_id": self._db_id(), "data": dict(data)}
        if skip_triggers:
            params["skip_triggers"] = True
        return _profile_id_of(await self._call("profiles/add", params), "profiles/add")

    async def get_profile(self, ref: ProfileRef) -> Profile:
        """The profile's fields; ``NotFound`` if no profile matches."""
        answer = await self._call("profiles/get", {"db_id": self._db_id(), **ref.params()})
        return parse_profile(answer)

    async def update_profile_data(self, ref: ProfileRef, data: Mapping[str, Any]) -> str:
        """Set fields of an existing profile (``profiles/update`` never creates one)."""
        params = {"db_id": self._db_id(), **ref.params(), "data": dict(data)}
        return _profile_id_of(await self._call("profiles/update", params), "profiles/update")


def _profile_id_of(answer: Mapping[str, Any], method: str) -> str:
    data = answer.get("data")
    found = as_str(answer.get("profile_id"))
    if not found and isinstance(data, dict):
        found = as_str(data.get("profile_id") or data.get("id"))
    if not found:
        raise ProtocolError(f"{method}: answer has no profile_id")
    return found
