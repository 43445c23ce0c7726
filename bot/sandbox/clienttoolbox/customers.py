"""Customer calls: record_customer (new, register, edit), lookups, searches, password check,
card number generation and deletion."""

from __future__ import annotations

from bot.sandbox.clienttoolbox.arithmetic import format_units
from bot.sandbox.clienttoolbox.calls import ApiCall, ApiError, NoMatch, iso_date, now_stamp
from bot.sandbox.clienttoolbox.cards import new_card_number, new_code
from bot.sandbox.clienttoolbox.enrollment import credit_auto_add, enroll
from bot.sandbox.clienttoolbox.envelope import Answer, Many, Node
from bot.sandbox.clienttoolbox.ledger import PROFILE_COLUMNS, Campaign, Customer
from bot.sandbox.clienttoolbox.standing import (
    UNSET_DATE,
    campaign_balances,
    profile_block,
    stamp_date,
)

_FIND_COLUMNS = ("code", "card_number", *PROFILE_COLUMNS[:-2])


def wire_field_column(name: str) -> str | None:
    """The profile column a wire field name writes (``customer_PIN`` → ``customer_pin``)."""
    lowered = name.lower()
    if lowered == "custom_field_1":
        return "custom_field"
    return lowered if lowered in PROFILE_COLUMNS else None


def check_custom_date(value: str) -> None:
    if value and iso_date(value) is None:
        raise ApiError(f"custom_date must be in YYYY-MM-DD format, not {value!r}")


def _profile(call: ApiCall) -> dict[str, str]:
    """Profile fields present in the call (present and empty means: make it empty)."""
    profile: dict[str, str] = {}
    for name, value in call.params.items():
        column = wire_field_column(name)
        if column is not None:
            profile[column] = value if column == "customer_password" else value.strip()
    check_custom_date(profile.get("custom_date", ""))
    return profile


def _require_some_field(call: ApiCall, profile: dict[str, str], custom: dict[str, str]) -> None:
    identity = ("code", "card_number", "card_number_generate", "campaign_id", "auto_add")
    if not profile and not custom and not any(call.given(name) for name in identity):
        raise ApiError("at least one customer field is required")


def _generated_card(call: ApiCall, digits_field: str = "card_number_generate") -> str:
    """A new card number of the call's ``digits_field`` digits (16 if not given), with its
    ``card_number_prefix`` and ``card_number_suffix``."""
    digits = call.whole_number(digits_field, 16, low=1, high=32)
    return new_card_number(
        call.ledger,
        call.account_id,
        digits,
        call.text("card_number_prefix"),
        call.text("card_number_suffix"),
    )


def ensure_card_free(call: ApiCall, card: str, owner: Customer | None = None) -> None:
    holder = call.ledger.customer_by_card(call.account_id, card)
    if holder is not None and (owner is None or holder.pk != owner.pk):
        raise ApiError(f"card_number {card} is already used by another customer")


def _campaigns_and_bonus(call: ApiCall) -> tuple[list[Campaign], str]:
    campaigns = call.campaign_list("campaign_id")
    auto_add = call.text("auto_add")
    if auto_add and not campaigns:
        raise ApiError("auto_add needs a campaign_id to credit")
    return campaigns, auto_add


def _enroll_and_credit(
    call: ApiCall, customer: Customer, campaigns: list[Campaign], auto_add: str
) -> None:
    enroll(call, customer, campaigns)
    if auto_add:
        credit_auto_add(call, customer, campaigns[0], auto_add)


def _customer_answer(status: str, customer: Customer) -> Answer:
    return Answer(
        {
            "customer": {
                "@status": status,
                "code": customer.code,
                "card_number": customer.card_number,
            }
        }
    )


def record_customer(call: ApiCall) -> Answer:
    action = call.text("customer_action").lower()
    if action == "new":
        return _new(call)
    if action == "register":
        return _register(call)
    if action == "edit":
        return _edit(call)
    if not action:
        raise ApiError("customer_action is required: new, register or edit")
    raise ApiError(f"customer_action must be new, register or edit, not {action!r}")


def _new(call: ApiCall) -> Answer:
    profile, custom = _profile(call), call.custom_fields()
    _require_some_field(call, profile, custom)
    campaigns, auto_add = _campaigns_and_bonus(call)
    code, card = call.text("code"), call.text("card_number")
    if code and call.ledger.code_taken(call.account_id, code):
        raise ApiError(f"a customer with code {code} already exists")
    if card:
        ensure_card_free(call, card)
    elif call.text("card_number_generate"):
        card = _generated_card(call)
    if not code:
        if call.text("card_number") and not call.yes("new_code"):
            code = card
            if call.ledger.code_taken(call.account_id, code):
                raise ApiError(f"a customer with code {code} already exists")
        else:
            code = new_code(call.ledger, call.account_id)
    customer = call.ledger.add_customer(call.account_id, code, card, profile, custom, now_stamp())
    _enroll_and_credit(call, customer, campaigns, auto_add)
    return _customer_answer("new", customer)


def _register(call: ApiCall) -> Answer:
    card = call.text("card_number")
    if not card:
        raise ApiError("card_number is required to register a card")
    if not call.raw("customer_password"):
        raise ApiError("customer_password is required to register a card")
    customer = call.ledger.customer_by_card(call.account_id, card)
    if customer is None:
        raise ApiError(f"card {card} cannot be registered: no customer has this card_number")
    if customer.registered:
        raise ApiError("The card has already been registered.")
    campaigns, auto_add = _campaigns_and_bonus(call)
    customer = call.ledger.update_customer(
        customer, profile=_profile(call), custom_fields=call.custom_fields()
    )
    _enroll_and_credit(call, customer, campaigns, auto_add)
    return _customer_answer("registered", customer)


def _edit(call: ApiCall) -> Answer:
    profile, custom = _profile(call), call.custom_fields()
    _require_some_field(call, profile, custom)
    campaigns, auto_add = _campaigns_and_bonus(call)
    code, card = call.text("code"), call.text("card_number")
    ledger, account_id = call.ledger, call.account_id
    match: Customer | None = None
    if code:
        match = ledger.customer_by_code(account_id, code)
    elif card:
        match = ledger.customer_by_card(account_id, card) or ledger.customer_by_code(
            account_id, card
        )
    if match is not None:
        new_card: str | None = card if call.given("card_number") else None
        if not card and call.text("card_number_generate"):
            new_card = _generated_card(call)
        if new_card:
            ensure_card_free(call, new_card, match)
        customer = ledger.update_customer(
            match, card_number=new_card, profile=profile, custom_fields=custom
        )
        status = "update"
    else:
        if card:
            ensure_card_free(call, card)
        elif call.text("card_number_generate"):
            card = _generated_card(call)
        if not code or call.yes("new_code"):
            code = new_code(ledger, account_id)
        customer = ledger.add_customer(account_id, code, card, profile, custom, now_stamp())
        status = "new"
    _enroll_and_credit(call, customer, campaigns, auto_add)
    return _customer_answer(status, customer)


def customer_exists(call: ApiCall) -> Answer:
    conditions: list[tuple[str, list[str]]] = []
    for name in ("card_number", "code", "customer_username", "email"):
        value = call.text(name)
        if value:
            collation = " COLLATE NOCASE" if name == "email" else ""
            conditions.append((f"{name} = ?{collation}", [value]))
    if not conditions:
        raise ApiError("one of card_number, code, customer_username or email is required")
    if call.ledger.search_customers(call.account_id, conditions):
        return Answer({"message": "The customer exists."})
    raise NoMatch("No customer matches.")


def _column_expression(name: str) -> str | None:
    if name in ("code", "card_number"):
        return name
    column = wire_field_column(name)
    if column is not None:
        return column
    if name.startswith("custom_field_") and name[13:].isdigit():
        return f"coalesce(json_extract(custom_fields, '$.\"{int(name[13:])}\"'), '')"
    return None


def _search_condition(expression: str, value: str, mode: str) -> tuple[str, list[str]]:
    if mode == "sensitive":
        return f"{expression} = ?", [value]
    if mode == "insensitive":
        if value.lower() == value.upper():
            # No letters: plain equality is the same test and can use the index.
            return f"{expression} = ?", [value]
        if value.isascii() and expression == "email":
            return "email = ? COLLATE NOCASE", [value]
        return f"casefold({expression}) = ?", [value.casefold()]
    return f"instr(casefold({expression}), ?) > 0", [value.casefold()]


def _customers_answer(call: ApiCall, customers: list[Customer]) -> Answer:
    if not customers:
        raise NoMatch("No customer matches.")
    with_balances = call.text("include_balances").upper() in {"Y", "YES"}
    entries: list[Node] = []
    for customer in customers:
        block = profile_block(customer)
        if with_balances:
            block["campaigns"] = campaign_balances(call.ledger, call.catalogue, customer)
        entries.append(block)
    return Answer({"customers": Many("customer", entries)})


def customer_search(call: ApiCall) -> Answer:
    mode = call.text("exact_match").lower()
    if mode not in {"", "sensitive", "insensitive"}:
        raise ApiError(f"exact_match must be sensitive or insensitive, not {mode!r}")
    conditions: list[tuple[str, list[str]]] = []
    for name, raw in call.params.items():
        value = raw if name == "customer_password" else raw.strip()
        if not value:
            continue
        expression = _column_expression(name)
        if expression is not None:
            conditions.append(_search_condition(expression, value, mode))
    return _customers_answer(call, call.ledger.search_customers(call.account_id, conditions))


def customer_find(call: ApiCall) -> Answer:
    groups = [
        [term.casefold() for term in group.split()]
        for group in call.text("find_customer").split(",")
    ]
    groups = [group for group in groups if group]
    if not groups:
        raise ApiError("find_customer is required")
    found: list[Customer] = []
    for customer in call.ledger.search_customers(call.account_id, []):
        values = [customer.code, customer.card_number]
        values += [customer.profile[name] for name in _FIND_COLUMNS[2:]]
        values += list(customer.custom_fields.values())
        folded = [value.casefold() for value in values if value]
        if any(all(any(term in value for value in folded) for term in group) for group in groups):
            found.append(customer)
    return _customers_answer(call, found)


def customer_info(call: ApiCall) -> Answer:
    customer = call.customer()
    campaign_id = call.text("campaign_id") or None
    if campaign_id is not None:
        call.campaign_by_id(campaign_id)
    payload: dict[str, Node] = {
        "customer": profile_block(customer, hide_custom_field=call.yes("hide_custom_field"))
    }
    if call.text("include_balances").upper() not in {"N", "NO"}:
        payload["campaigns"] = campaign_balances(
            call.ledger, call.catalogue, customer, campaign_id
        )
    return Answer(payload)


def customer_balance(call: ApiCall) -> Answer:
    campaign = call.campaign()
    customer = call.customer()
    limit: int | None = None
    if call.text("transactions_number"):
        limit = call.whole_number("transactions_number", 0, low=0, high=10**9)
    ledger, campaign_id = call.ledger, campaign.campaign_id
    balance = sum(total.balance for total in ledger.totals(customer, campaign_id))
    last = ledger.last_movement(customer, campaign_id, redeemed=False)
    last_redemption = ledger.last_movement(customer, campaign_id, redeemed=True)
    movements = [] if limit == 0 else ledger.movements(customer, campaign_id, limit)
    transactions: list[Node] = [
        {
            "id": movement.pk,
            "date": movement.stamp,
            "authorization": movement.authorization,
            "service_product": movement.service_product,
            "redeemed": "Y" if movement.redeemed else "N",
            "amount": format_units(campaign, abs(movement.units)),
            "campaign": campaign_id,
            "user_name": movement.user_name,
            "real": "Y",
        }
        for movement in movements
    ]
    ratio = campaign.reward_ratio
    return Answer(
        {
            "campaign": {
                "campaign_id": campaign_id,
                "campaign_type": campaign.kind,
                "campaign_name": campaign.name,
                "reward_ratio": "" if ratio is None or campaign.kind != "points" else str(ratio),
                "customer": {
                    "code": customer.code,
                    "card_number": customer.card_number,
                    "first_name": customer.profile["first_name"],
                    "last_name": customer.profile["last_name"],
                    "balance": format_units(campaign, balance),
                    "last_transaction": stamp_date(last.stamp) if last else UNSET_DATE,
                    "last_transaction_points": format_units(campaign, last.units if last else 0),
                    "last_redemption": (
                        stamp_date(last_redemption.stamp) if last_redemption else UNSET_DATE
                    ),
                    "last_redemption_points": format_units(
                        campaign, -last_redemption.units if last_redemption else 0
                    ),
                    "transactions": Many("transaction", transactions),
                },
            }
        }
    )


def validate_customer_password(call: ApiCall) -> Answer:
    identity = [
        (f"{name} = ?", [call.text(name)])
        for name in ("code", "card_number", "customer_username")
        if call.text(name)
    ]
    if not identity:
        raise ApiError("one of card_number, code or customer_username is required")
    secrets: list[tuple[str, list[str]]] = []
    if call.raw("customer_password"):
        secrets.append(("customer_password = ?", [call.raw("customer_password")]))
    pin = call.text("customer_PIN") or call.text("customer_pin")
    if pin:
        secrets.append(("customer_pin = ?", [pin]))
    if not secrets:
        raise ApiError("one of customer_password or customer_PIN is required")
    extra = [("phone = ?", [call.text("phone")])] if call.text("phone") else []
    if call.ledger.search_customers(call.account_id, identity + secrets + extra):
        return Answer()
    raise ApiError("The password does not match the customer.")


def generate_card_number(call: ApiCall) -> Answer:
    return Answer({"customer": {"card_number": _generated_card(call, "how_many_digits")}})


def customer_delete(call: ApiCall) -> Answer:
    customer = call.customer(code_only=True)
    call.ledger.delete_customer(customer)
    return Answer({"customer": {"@status": "deleted", "code": customer.code}})
