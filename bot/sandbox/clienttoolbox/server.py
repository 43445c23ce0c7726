"""The HTTP side: one endpoint, credentials, routing by ``type``, and the answer's format."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping

from aiohttp import web

from bot.sandbox.clienttoolbox.activity import record_activity, redeem, transaction_delete
from bot.sandbox.clienttoolbox.calls import ApiCall, ApiError, NoMatch
from bot.sandbox.clienttoolbox.campaigns import (
    buyx_items_list,
    campaign_promos,
    campaign_rewards,
    campaigns_list,
)
from bot.sandbox.clienttoolbox.customer_import import customers_batch
from bot.sandbox.clienttoolbox.customers import (
    customer_balance,
    customer_delete,
    customer_exists,
    customer_find,
    customer_info,
    customer_search,
    generate_card_number,
    record_customer,
    validate_customer_password,
)
from bot.sandbox.clienttoolbox.envelope import (
    Answer,
    error_answer,
    no_match_answer,
    render,
    rendering_for,
)
from bot.sandbox.clienttoolbox.ledger import Ledger
from bot.sandbox.clienttoolbox.transaction_import import batch_transactions

LEDGER = web.AppKey("clienttoolbox_ledger", Ledger)
PATHS = ("/", "/api.php", "/index.php")
API_VERSIONS = frozenset({"", "1.5", "1.6"})
AUTH_FAILED = "Authentication failed"

CALLS: Mapping[str, Callable[[ApiCall], Answer]] = {
    "record_customer": record_customer,
    "customers_batch": customers_batch,
    "customer_exists": customer_exists,
    "customer_search": customer_search,
    "customer_find": customer_find,
    "customer_info": customer_info,
    "customer_balance": customer_balance,
    "validate_customer_password": validate_customer_password,
    "generate_card_number": generate_card_number,
    "customer_delete": customer_delete,
    "record_activity": record_activity,
    "redeem": redeem,
    "batch_transactions": batch_transactions,
    "transaction_delete": transaction_delete,
    "campaigns_list": campaigns_list,
    "campaign_rewards": campaign_rewards,
    "buyx_items_list": buyx_items_list,
    "campaign_promos": campaign_promos,
}


def answer_call(ledger: Ledger, params: Mapping[str, str], header_key: str | None) -> Answer:
    """Authenticate, route by ``type`` and run the call in one ledger transaction."""
    try:
        call = _authenticated(ledger, params, header_key)
        version = params.get("API", "").strip()
        if version not in API_VERSIONS:
            raise ApiError(f"API version {version!r} is not supported (use 1.5 or 1.6)")
        kind = params.get("type", "").strip()
        handler = CALLS.get(kind)
        if handler is None:
            if not kind:
                raise ApiError("type is required")
            raise ApiError(f"Unknown type {kind!r}")
        with ledger.transaction():
            return handler(call)
    except ApiError as problem:
        return error_answer(problem.message)
    except NoMatch as absent:
        return no_match_answer(absent.message)


def _authenticated(ledger: Ledger, params: Mapping[str, str], header_key: str | None) -> ApiCall:
    user_id = params.get("user_id", "").strip()
    if not user_id:
        raise ApiError(f"{AUTH_FAILED}: user_id is required")
    # The header wins over the body; user_api_key over the older user_password.
    key = header_key or params.get("user_api_key") or params.get("user_password") or ""
    user = ledger.user(user_id)
    expected = user[0] if user else secrets.token_hex(16)
    if not key or not secrets.compare_digest(key.encode(), expected.encode()) or user is None:
        raise ApiError(f"{AUTH_FAILED}: unknown user_id or wrong API key")
    account_id = params.get("account_id", "").strip()
    if not account_id:
        raise ApiError(f"{AUTH_FAILED}: account_id is required")
    account = ledger.account(account_id) if account_id == user[1] else None
    if account is None:
        raise ApiError(f"{AUTH_FAILED}: user {user_id} has no access to account {account_id}")
    return ApiCall(params, ledger, account, user_id)


async def _params(request: web.Request) -> dict[str, str]:
    """Query string and form fields (form wins; the last of a repeated field wins, as in PHP)."""
    params = dict(request.query.items())
    if request.method == "POST" and request.body_exists:
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                params[name] = value.file.read().decode("utf-8", "replace")
            else:
                params[name] = str(value)
    return params


async def api_endpoint(request: web.Request) -> web.Response:
    started = time.perf_counter()
    params = await _params(request)
    rendering, complaint = rendering_for(params)
    if complaint is not None:
        answer = error_answer(complaint)
    else:
        answer = answer_call(
            request.app[LEDGER], params, request.headers.get("api_access_key") or None
        )
    body, content_type = render(answer, rendering)
    response = web.Response(text=body, content_type=content_type, charset="utf-8")
    response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.3f}"
    return response


def add_routes(app: web.Application) -> None:
    for path in PATHS:
        app.router.add_get(path, api_endpoint)
        app.router.add_post(path, api_endpoint)
