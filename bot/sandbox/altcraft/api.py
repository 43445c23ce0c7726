"""The sandbox's Altcraft methods: request checks, the points ledger rules and the answers.

Every method answers HTTP 200 with ``{"error": 0, "error_text": "Successful operation", ...}``
or with a non-zero ``error``; ``docs/altcraft-wire.md`` lists the codes this sandbox uses.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from bot.sandbox.altcraft.bodies import BodyError, BodyFormat, body_format, parse_request, render
from bot.sandbox.altcraft.store import (
    AltcraftStore,
    Currency,
    LedgerRow,
    Program,
    amount_text,
    now_stamp,
    stamp,
)

API_PREFIX = "/api/v1.1/"
OK_TEXT = "Successful operation"
_TASK_CHUNK = 500

_PROFILE_MATCHING = {
    "email": "email",
    "email_profile": "email",
    "email_sub": "email",
    "phone": "phone",
    "phone_sub": "phone",
    "profile_id": "profile_id",
    "custom": "custom",
    "custom_sub": "custom",
}
_LOYALTY_MATCHING = ("email", "phone", "profile_id", "custom")


class ApiError(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


class Params:
    """Request fields with Altcraft's types; XML gives every scalar as text."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.fields = fields

    def has(self, name: str) -> bool:
        return self.fields.get(name) not in (None, "")

    def text(self, name: str) -> str:
        value = self.fields.get(name)
        if value in (None, ""):
            raise ApiError(400, f"Parameter {name} is required")
        if isinstance(value, (dict, list)):
            raise ApiError(400, f"Parameter {name} must be a string")
        return str(value)

    def optional_text(self, name: str) -> str | None:
        return self.text(name) if self.has(name) else None

    def integer(self, name: str) -> int:
        value = self.fields.get(name)
        if isinstance(value, bool):
            raise ApiError(400, f"Parameter {name} must be an integer")
        if isinstance(value, int):
            return value
        try:
            return int(str(self.text(name)).strip())
        except ValueError:
            raise ApiError(400, f"Parameter {name} must be an integer") from None

    def optional_integer(self, name: str) -> int | None:
        return self.integer(name) if self.has(name) else None

    def flag(self, name: str) -> bool:
        value = self.fields.get(name)
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("true", "1")

    def amount(self, name: str = "amount") -> Decimal:
        value = self.fields.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        text = self.text(name).strip()
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ApiError(400, f"Parameter {name} must be a decimal string") from None
        if not amount.is_finite() or amount <= 0:
            raise ApiError(400, f"Parameter {name} must be a positive amount")
        if amount != amount.quantize(Decimal("0.01")):
            raise ApiError(400, f"Parameter {name} has more than 2 decimal places")
        return amount

    def time(self, name: str) -> str | None:
        if not self.has(name):
            return None
        return parse_time(self.text(name), name)

    def object(self, name: str) -> dict[str, Any]:
        value = self.fields.get(name)
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise ApiError(400, f"Parameter {name} must be an object")
        return value


def parse_time(text: str, name: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ApiError(400, f"Parameter {name} must be an RFC 3339 time") from None
    return stamp(moment)


def balances(ledger: list[LedgerRow], now: str) -> tuple[Decimal, Decimal]:
    """``(total, active)``: not-yet-active accruals count in total only; temp accruals in
    neither until committed; temp redemptions hold points at once."""
    total = active = Decimal(0)
    for row in ledger:
        if row.type == "cancel" or row.status in ("cancelled", "rolled_back"):
            continue
        if row.status == "temp" and row.temp_deadline is not None and row.temp_deadline <= now:
            continue
        if row.type == "accrual":
            if row.status == "temp":
                continue
            total += row.amount
            if row.activation_date is None or row.activation_date <= now:
                active += row.amount
        else:
            total -= row.amount
            active -= row.amount
    return total, active


def transaction_answer(row: LedgerRow) -> dict[str, Any]:
    return {
        "transaction_id": row.id,
        "transaction_eid": row.eid,
        "created_at": row.created_at,
        "transaction_type": row.type,
        "amount": amount_text(row.amount),
        "balance_before": amount_text(row.balance_before),
        "balance_after": amount_text(row.balance_after),
        "status": row.status,
        "promo_iid": None,
        "promo_eid": None,
        "description": row.description,
        "activation_date": row.activation_date,
        "expiration_date": row.expiration_date,
        "source_type": "api",
        "source_iid": None,
    }


Method = Callable[[Params], dict[str, Any]]


class AltcraftApi:
    def __init__(self, store: AltcraftStore, *, max_batch_items: int, max_body_bytes: int) -> None:
        self.store = store
        self.max_batch_items = max_batch_items
        self.max_body_bytes = max_body_bytes
        self._workers: dict[str, asyncio.Task[None]] = {}
        self.methods: dict[str, Method] = {
            "loyalty/register_member": self.register_member,
            "loyalty/register_member_batch": self.register_member_batch,
            "loyalty/register_member_batch_task": self.register_member_batch_task,
            "loyalty/delete_member": self.delete_member,
            "loyalty/account/balance": self.account_balance,
            "loyalty/account/transactions": self.account_transactions,
            "loyalty/accrue_points": self.accrue_points,
            "loyalty/redeeme_points": self.redeem_points,
            "loyalty/redeem_points": self.redeem_points,
            "loyalty/commit_transaction": self.commit_transaction,
            "loyalty/rollback_transaction": self.rollback_transaction,
            "loyalty/cancel_transaction": self.cancel_transaction,
            "tasks/status": self.task_status,
            "profiles/add": self.add_profile,
            "profiles/import": self.import_profile,
            "profiles/update": self.update_profile,
            "profiles/get": self.get_profile,
        }

    def install(self, app: web.Application) -> None:
        for path in self.methods:
            app.router.add_post(API_PREFIX + path, self.handle)
            app.router.add_post(API_PREFIX + path + "/", self.handle)
        app.on_cleanup.append(self._stop_workers)

    async def _stop_workers(self, app: web.Application) -> None:
        for worker in self._workers.values():
            worker.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def handle(self, request: web.Request) -> web.Response:
        method = self.methods[request.path.removeprefix(API_PREFIX).rstrip("/")]
        raw = await self._read_body(request)
        fmt: BodyFormat = body_format(request.headers.get("Content-Type", ""), raw or b"")
        if raw is None:
            limit_mb = self.max_body_bytes / (1024 * 1024)
            return render(
                _error(
                    400,
                    f"Request body is over the limit of {self.max_body_bytes} bytes "
                    f"({limit_mb:g} MB); send the data in several requests",
                ),
                fmt,
            )
        try:
            fields = parse_request(raw, fmt)
        except BodyError as exc:
            return render(_error(400, str(exc)), fmt)
        answer_format = fields.get("format")
        if answer_format in ("json", "xml"):
            fmt = answer_format
        token = _bearer(request) or fields.get("token")
        if not token:
            return render(_error(401, "API token required"), fmt)
        if not isinstance(token, str) or not self.store.token_known(token):
            return render(_error(401, "Invalid API token"), fmt)
        try:
            payload = method(Params(fields))
        except ApiError as exc:
            return render(_error(exc.code, exc.text), fmt)
        return render({"error": 0, "error_text": OK_TEXT, **payload}, fmt)

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The body, or ``None`` past the size limit (read to the end so the client gets
        the answer instead of a reset connection)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size <= self.max_body_bytes:
                chunks.append(chunk)
        return None if size > self.max_body_bytes else b"".join(chunks)

    def _program(self, params: Params) -> Program:
        program = self.store.program(params.integer("loyalty_program_id"))
        if program is None:
            raise ApiError(404, "Loyalty program not found")
        return program

    def _find_profile(self, db_id: int, matching: str, source: Params) -> str | None:
        if matching == "email":
            return self.store.profile_by_email(db_id, _lookup(source, "email", matching))
        if matching == "phone":
            return self.store.profile_by_phone(db_id, _lookup(source, "phone", matching))
        if matching == "profile_id":
            return self.store.profile_by_id(db_id, _lookup(source, "profile_id", matching))
        name = _lookup(source, "field_name", matching)
        value = _lookup(source, "field_value", matching)
        return self.store.profile_by_field(db_id, name, value)

    def _loyalty_matching(self, params: Params) -> str:
        matching = params.text("matching")
        if matching not in _LOYALTY_MATCHING:
            raise ApiError(
                400, f"Unknown matching {matching!r}: use email, phone, profile_id or custom"
            )
        return matching

    def _profile(self, program: Program, params: Params) -> str:
        profile_id = self._find_profile(program.db_id, self._loyalty_matching(params), params)
        if profile_id is None:
            raise ApiError(404, "Profile not found")
        return profile_id

    def _member(self, program: Program, params: Params) -> str:
        profile_id = self._profile(program, params)
        if not self.store.is_member(program.id, profile_id):
            raise ApiError(404, "Member not found")
        return profile_id

    def _currency(self, program: Program, params: Params) -> Currency:
        currency = self.store.currency(
            program.id,
            eid=params.optional_text("points_currency_eid"),
            iid=params.optional_integer("points_currency_iid"),
        )
        if currency is None:
            raise ApiError(404, "Points currency not found")
        return currency

    def _balances(
        self, program: Program, profile_id: str, currency: Currency
    ) -> tuple[Decimal, Decimal]:
        ledger = list(self.store.ledger(program.id, profile_id, currency.iid))
        return balances(ledger, now_stamp())

    def _register(self, program: Program, profile_id: str, registered_at: str) -> None:
        self.store.add_member(program.id, profile_id, registered_at)
        for currency in self.store.currencies(program.id):
            if currency.initial_balance > 0:
                self.store.add_transaction(
                    program_id=program.id,
                    profile_id=profile_id,
                    currency_iid=currency.iid,
                    type="accrual",
                    amount=currency.initial_balance,
                    balance_before=Decimal(0),
                    balance_after=currency.initial_balance,
                    description="Initial balance",
                )

    def register_member(self, params: Params) -> dict[str, Any]:
        program = self._program(params)
        profile_id = self._profile(program, params)
        if self.store.is_member(program.id, profile_id):
            raise ApiError(409, "Member already exists")
        registered_at = params.time("registration_date") or now_stamp()
        self._register(program, profile_id, registered_at)
        return {"profile_id": profile_id}

    def _batch(self, params: Params) -> tuple[Program, str, list[Any]]:
        program = self._program(params)
        matching = self._loyalty_matching(params)
        rows = params.fields.get("data")
        if rows in (None, ""):
            raise ApiError(400, "Parameter data is required")
        if isinstance(rows, dict):
            rows = [rows]
        if not isinstance(rows, list):
            raise ApiError(400, "Parameter data must be an array")
        if len(rows) > self.max_batch_items:
            raise ApiError(
                400,
                f"Too many items in data: {len(rows)}; the limit is {self.max_batch_items} "
                "per request, send the rest in several requests",
            )
        return program, matching, rows

    def _register_row(self, program: Program, matching: str, row: Any) -> dict[str, Any]:
        if not isinstance(row, dict):
            return {"error": 400, "error_text": "Item must be an object", "profile_id": None}
        try:
            profile_id = self._find_profile(program.db_id, matching, Params(row))
            if profile_id is None:
                return {"error": 404, "error_text": "Profile not found", "profile_id": None}
            if self.store.is_member(program.id, profile_id):
                return {
                    "error": 409,
                    "error_text": "Member already exists",
                    "profile_id": profile_id,
                }
            registered_at = Params(row).time("registration_date") or now_stamp()
        except ApiError as exc:
            return {"error": exc.code, "error_text": exc.text, "profile_id": None}
        self._register(program, profile_id, registered_at)
        return {"error": 0, "error_text": OK_TEXT, "profile_id": profile_id}

    def register_member_batch(self, params: Params) -> dict[str, Any]:
        program, matching, rows = self._batch(params)
        return {"result": [self._register_row(program, matching, row) for row in rows]}

    def register_member_batch_task(self, params: Params) -> dict[str, Any]:
        program, matching, rows = self._batch(params)
        task_id = params.optional_text("task_id")
        if task_id is None:
            task_id = self.store.create_task(program.id, matching, rows)
        else:
            task = self.store.task(task_id)
            if task is None or task.program_id != program.id:
                raise ApiError(404, "Task not found")
            if task.matching != matching:
                raise ApiError(400, f"Task {task_id} uses matching {task.matching!r}")
            self.store.append_task_rows(task_id, rows)
        worker = self._workers.get(task_id)
        if worker is None or worker.done():
            self._workers[task_id] = asyncio.get_running_loop().create_task(
                self._run_task(task_id)
            )
        return {"data": {"task_id": task_id}}

    async def _run_task(self, task_id: str) -> None:
        # Chunks with a yield between them, so tasks/status can see the task in progress.
        while True:
            task = self.store.task(task_id)
            if task is None:
                return
            program = self.store.program(task.program_id)
            results = task.result
            if program is None or len(results) >= len(task.rows):
                self.store.save_task_progress(task_id, "completed", 100, results)
                return
            for row in task.rows[len(results) : len(results) + _TASK_CHUNK]:
                results.append(self._register_row(program, task.matching, row))
            progress = min(99, len(results) * 100 // max(len(task.rows), 1))
            self.store.save_task_progress(task_id, "processing", progress, results)
            await asyncio.sleep(0)

    def task_status(self, params: Params) -> dict[str, Any]:
        task_id = params.text("task_id")
        task = self.store.task(task_id)
        if task is None:
            raise ApiError(404, "Task not found")
        items = task.result
        codes = [item.get("error") for item in items]
        return {
            "data": {
                "task_id": task.id,
                "status": task.status,
                "progress": task.progress,
                "result": {
                    "total": len(task.rows),
                    "processed": len(items),
                    "added": codes.count(0),
                    "already_members": codes.count(409),
                    "not_found": codes.count(404),
                    "failed": len(items) - codes.count(0) - codes.count(409) - codes.count(404),
                    "items": items,
                },
            }
        }

    def delete_member(self, params: Params) -> dict[str, Any]:
        program = self._program(params)
        profile_id = self._member(program, params)
        self.store.remove_member(program.id, profile_id)
        return {"profile_id": profile_id}

    def account_balance(self, params: Params) -> dict[str, Any]:
        program = self._program(params)
        profile_id = self._member(program, params)
        total, active = self._balances(program, profile_id, self._currency(program, params))
        return {
            "data": {"total_balance": amount_text(total), "active_balance": amount_text(active)}
        }

    def account_transactions(self, params: Params) -> dict[str, Any]:
        program = self._program(params)
        profile_id = self._member(program, params)
        currency = self._currency(program, params)
        limit = params.optional_integer("limit") or 20
        if not 1 <= limit <= 100:
            raise ApiError(400, "Parameter limit must be between 1 and 100")
        after_seq = 0
        from_id = params.optional_text("from_id")
        if from_id is not None:
            found = self.store.transaction(transaction_id=from_id)
            if found is None or found[1].profile_id != profile_id:
                raise ApiError(404, "Transaction from_id not found")
            after_seq = found[1].seq
        rows = self.store.transactions_after(
            program.id, profile_id, currency.iid, after_seq, limit + 1
        )
        page = rows[:limit]
        return {
            "data": [transaction_answer(row) for row in page],
            "next_from_id": page[-1].id if len(rows) > limit else None,
            "total_count": self.store.count_transactions(program.id, profile_id, currency.iid),
        }

    def _points(self, params: Params, kind: str) -> dict[str, Any]:
        program = self._program(params)
        profile_id = self._member(program, params)
        currency = self._currency(program, params)
        amount = params.amount()
        eid = params.optional_text("transaction_eid")
        if eid is not None and self.store.eid_taken(program.id, eid):
            raise ApiError(409, "Transaction with this transaction_eid already exists")
        now = now_stamp()
        total, active = self._balances(program, profile_id, currency)
        is_temp = params.flag("is_temp")
        deadline = None
        if is_temp and params.has("temp_timeout_sec"):
            seconds = params.integer("temp_timeout_sec")
            deadline = stamp(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds))
        activation = params.time("activation_date") if kind == "accrual" else None
        expiration = params.time("expiration_date") if kind == "accrual" else None
        if kind == "redemption" and amount > active:
            raise ApiError(
                400,
                f"Insufficient points: the active balance is {amount_text(active)}, "
                f"{amount_text(amount)} requested",
            )
        counts_now = not (is_temp and kind == "accrual")
        sign = 1 if kind == "accrual" else -1
        total_after = total + sign * amount if counts_now else total
        external = params.fields.get("external_data")
        transaction_id = self.store.add_transaction(
            program_id=program.id,
            profile_id=profile_id,
            currency_iid=currency.iid,
            type=kind,
            amount=amount,
            balance_before=total,
            balance_after=total_after,
            status="temp" if is_temp else "active",
            eid=eid,
            temp_deadline=deadline,
            activation_date=activation,
            expiration_date=expiration,
            created_at=params.time("created_at") or now,
            description=params.optional_text("description") or "",
            external_data=external if isinstance(external, dict) else None,
        )
        _, active_after = self._balances(program, profile_id, currency)
        return {"data": {"transaction_id": transaction_id, "balance": amount_text(active_after)}}

    def accrue_points(self, params: Params) -> dict[str, Any]:
        return self._points(params, "accrual")

    def redeem_points(self, params: Params) -> dict[str, Any]:
        return self._points(params, "redemption")

    def _transaction(self, params: Params) -> tuple[Program, LedgerRow]:
        transaction_id = params.optional_text("transaction_id")
        eid = params.optional_text("transaction_eid")
        if transaction_id is None and eid is None:
            raise ApiError(400, "Parameter transaction_id or transaction_eid is required")
        found = self.store.transaction(transaction_id=transaction_id, eid=eid)
        if found is None:
            raise ApiError(404, "Transaction not found")
        program = self.store.program(found[0])
        if program is None or (
            params.has("loyalty_program_id") and params.integer("loyalty_program_id") != program.id
        ):
            raise ApiError(404, "Transaction not found")
        return program, found[1]

    def _settled(self, program: Program, row: LedgerRow) -> dict[str, Any]:
        currency = Currency(row.currency_iid, "", "", Decimal(0))
        _, active = self._balances(program, row.profile_id, currency)
        return {"data": {"transaction_id": row.id, "balance": amount_text(active)}}

    def _temp(self, params: Params) -> tuple[Program, LedgerRow]:
        program, row = self._transaction(params)
        if row.status != "temp":
            raise ApiError(400, "Transaction is not temporary")
        if row.temp_deadline is not None and row.temp_deadline <= now_stamp():
            raise ApiError(400, "Temporary transaction has expired and was rolled back")
        return program, row

    def commit_transaction(self, params: Params) -> dict[str, Any]:
        program, row = self._temp(params)
        self.store.set_status(row.id, "active")
        return self._settled(program, row)

    def rollback_transaction(self, params: Params) -> dict[str, Any]:
        program, row = self._temp(params)
        self.store.set_status(row.id, "rolled_back")
        return self._settled(program, row)

    def cancel_transaction(self, params: Params) -> dict[str, Any]:
        program, row = self._transaction(params)
        if row.type == "cancel":
            raise ApiError(400, "A cancellation cannot be cancelled")
        if row.status in ("cancelled", "rolled_back"):
            raise ApiError(400, f"Transaction is already {row.status.replace('_', ' ')}")
        currency = Currency(row.currency_iid, "", "", Decimal(0))
        total, active = self._balances(program, row.profile_id, currency)
        counted = row.status != "temp" or row.type == "redemption"
        change = Decimal(0)
        if counted:
            change = row.amount if row.type == "redemption" else -row.amount
            is_active = row.activation_date is None or row.activation_date <= now_stamp()
            if row.type == "accrual" and is_active and active < row.amount:
                raise ApiError(400, "Cannot cancel: the accrued points were already spent")
        self.store.set_status(row.id, "cancelled")
        self.store.add_transaction(
            program_id=program.id,
            profile_id=row.profile_id,
            currency_iid=row.currency_iid,
            type="cancel",
            amount=row.amount,
            balance_before=total,
            balance_after=total + change,
            description=f"Cancelled {row.type} {row.id}",
            cancels=row.id,
        )
        return self._settled(program, row)

    def _database(self, params: Params) -> int:
        db_id = params.integer("db_id")
        if not self.store.database_exists(db_id):
            raise ApiError(404, "Database not found")
        return db_id

    def _profile_matching(self, params: Params) -> str:
        matching = params.optional_text("matching") or "email"
        if matching not in _PROFILE_MATCHING:
            raise ApiError(400, f"Unknown matching {matching!r}")
        return _PROFILE_MATCHING[matching]

    def _profile_data(self, params: Params) -> dict[str, Any]:
        data = params.object("data")
        phones = data.get("phones")
        if isinstance(phones, str):
            data["phones"] = [phones] if phones else []
        elif phones is not None and not isinstance(phones, list):
            raise ApiError(400, "Field phones must be an array")
        for name in ("_bdate", "_regdate"):
            if data.get(name):
                data[name] = parse_time(str(data[name]), name)
        return data

    def _email_free(self, db_id: int, data: Mapping[str, Any], profile_id: str | None) -> None:
        email = data.get("email")
        if email:
            holder = self.store.profile_by_email(db_id, str(email))
            if holder is not None and holder != profile_id:
                raise ApiError(409, "Profile with this email already exists")

    def add_profile(self, params: Params) -> dict[str, Any]:
        db_id = self._database(params)
        data = self._profile_data(params)
        self._email_free(db_id, data, None)
        return {"profile_id": self.store.add_profile(db_id, data)}

    def _lookup_source(self, params: Params, data: Mapping[str, Any]) -> Params:
        merged = dict(params.fields)
        for name in ("email", "profile_id"):
            if not params.has(name) and data.get(name):
                merged[name] = data[name]
        phones = data.get("phones")
        if not params.has("phone") and isinstance(phones, list) and phones:
            merged["phone"] = phones[0]
        return Params(merged)

    def import_profile(self, params: Params) -> dict[str, Any]:
        db_id = self._database(params)
        matching = self._profile_matching(params)
        data = self._profile_data(params)
        profile_id = self._find_profile(db_id, matching, self._lookup_source(params, data))
        self._email_free(db_id, data, profile_id)
        if profile_id is None:
            return {"profile_id": self.store.add_profile(db_id, data)}
        self.store.update_profile(profile_id, data)
        return {"profile_id": profile_id}

    def _existing_profile(self, params: Params) -> tuple[int, str]:
        """The database and the profile the call names; 404 when there is none."""
        db_id = self._database(params)
        profile_id = self._find_profile(db_id, self._profile_matching(params), params)
        if profile_id is None:
            raise ApiError(404, "Profile not found")
        return db_id, profile_id

    def update_profile(self, params: Params) -> dict[str, Any]:
        db_id, profile_id = self._existing_profile(params)
        data = self._profile_data(params)
        self._email_free(db_id, data, profile_id)
        self.store.update_profile(profile_id, data)
        return {"profile_id": profile_id}

    def get_profile(self, params: Params) -> dict[str, Any]:
        _, profile_id = self._existing_profile(params)
        return {"data": self.store.profile_fields(profile_id)}


def _lookup(source: Params, name: str, matching: str) -> str:
    if not source.has(name):
        raise ApiError(400, f"Parameter {name} is required when matching is {matching}")
    value = source.fields[name]
    if isinstance(value, (dict, list)):
        raise ApiError(400, f"Parameter {name} must be a string")
    return str(value)


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _error(code: int, text: str) -> dict[str, Any]:
    return {"error": code, "error_text": text}
