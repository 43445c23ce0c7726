"""``customers_batch``: import customer rows, both the API 1.5 form and the older one."""

from __future__ import annotations

from collections.abc import Sequence

from bot.sandbox.clienttoolbox.batch_layout import (
    batch_columns,
    batch_data,
    batch_delimiter,
    split_row,
)
from bot.sandbox.clienttoolbox.calls import ApiCall, ApiError, custom_field_number, now_stamp
from bot.sandbox.clienttoolbox.cards import new_card_number, new_code
from bot.sandbox.clienttoolbox.customers import (
    check_custom_date,
    ensure_card_free,
    wire_field_column,
)
from bot.sandbox.clienttoolbox.enrollment import credit_auto_add, enroll
from bot.sandbox.clienttoolbox.envelope import Answer, Many, Node
from bot.sandbox.clienttoolbox.ledger import Campaign, Customer

_MODES = ("yes", "update", "ignore")


def _known(name: str) -> bool:
    return (
        name in {"code", "card_number", "auto_add", "zip"}
        or wire_field_column(name) is not None
        or custom_field_number(name) is not None
    )


def customers_batch(call: ApiCall) -> Answer:
    delimiter = batch_delimiter(call)
    mode = call.text("overwrite_duplicates").lower() or "ignore"
    if mode not in _MODES:
        raise ApiError(f"overwrite_duplicates must be yes, update or ignore, not {mode!r}")
    columns = batch_columns(call, "profiles_header", _known)
    campaigns = call.campaign_list("campaigns_to_include")
    if not campaigns:
        raise ApiError("campaigns_to_include is required: at least one campaign_id")
    lines = batch_data(call, "profiles_data")
    generate = 0
    if call.text("card_number_generate"):
        generate = call.whole_number("card_number_generate", 0, low=1, high=32)
    counts = {"new": 0, "updated": 0, "skipped": 0}
    rows: list[Node] = []
    for number, line in lines:
        record: dict[str, str] = {}
        try:
            record = split_row(line, delimiter, columns)
            with call.ledger.savepoint():
                status, customer = _import_row(call, record, mode, campaigns, generate)
        except ApiError as problem:
            rows.append(
                _row(
                    number,
                    "error",
                    record.get("code", ""),
                    record.get("card_number", ""),
                    problem.message,
                )
            )
            continue
        counts[status] += 1
        rows.append(_row(number, status, customer.code, customer.card_number, ""))
    return Answer(
        {"batch": {"@status": "imported", "customers": dict(counts), "rows": Many("row", rows)}}
    )


def _row(line: int, status: str, code: str, card_number: str, error: str) -> Node:
    return {
        "line": line,
        "status": status,
        "code": code,
        "card_number": card_number,
        "error": error,
    }


def _import_row(
    call: ApiCall,
    record: dict[str, str],
    mode: str,
    campaigns: Sequence[Campaign],
    generate: int,
) -> tuple[str, Customer]:
    profile: dict[str, str] = {}
    custom: dict[str, str] = {}
    for name, value in record.items():
        number = custom_field_number(name)
        column = "postal_code" if name == "zip" else wire_field_column(name)
        if column is not None:
            profile[column] = value
        elif number is not None:
            custom[str(number)] = value
    check_custom_date(profile.get("custom_date", ""))
    ledger, account_id = call.ledger, call.account_id
    code, card = record.get("code", ""), record.get("card_number", "")
    match: Customer | None = None
    if code:
        match = ledger.customer_by_code(account_id, code)
    elif card:
        match = ledger.customer_by_card(account_id, card)
    if match is not None and mode == "ignore":
        return "skipped", match
    if match is not None:
        if mode == "update":
            # An empty cell in update mode leaves the field as it is.
            profile = {name: value for name, value in profile.items() if value}
            custom = {name: value for name, value in custom.items() if value}
        new_card = card or None
        if not card and generate and (mode == "yes" or not match.card_number):
            new_card = _generated(call, generate)
        if new_card:
            ensure_card_free(call, new_card, match)
        customer = ledger.update_customer(
            match,
            card_number=new_card,
            profile=profile,
            custom_fields=custom,
            blank_first=mode == "yes",
        )
        status = "updated"
    else:
        if card:
            ensure_card_free(call, card)
        elif generate:
            card = _generated(call, generate)
        customer = ledger.add_customer(
            account_id, code or new_code(ledger, account_id), card, profile, custom, now_stamp()
        )
        status = "new"
    enroll(call, customer, campaigns)
    if record.get("auto_add"):
        credit_auto_add(call, customer, campaigns[0], record["auto_add"])
    return status, customer


def _generated(call: ApiCall, digits: int) -> str:
    return new_card_number(call.ledger, call.account_id, digits)
