"""The Client Toolbox sandbox over loopback HTTP: every call, both formats, the seed examples."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sqlite3
import ssl
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.sandbox.clienttoolbox import LEDGER, create_app, run_sandbox
from bot.sandbox.clienttoolbox import demo as d
from bot.sandbox.clienttoolbox.ledger import Campaign
from bot.sandbox.runner import serve

AUTH = {"user_id": d.USER_ID, "user_password": d.API_KEY, "account_id": d.ACCOUNT_ID}
AUTH15 = {
    "API": "1.5",
    "user_id": d.USER_ID,
    "user_api_key": d.API_KEY,
    "account_id": d.ACCOUNT_ID,
}
# Building a TLS context costs ~50 ms per client; the loopback clients share one (unused on http).
_TLS = ssl.create_default_context()
PLURALS = {
    "campaigns": "campaign",
    "customers": "customer",
    "rewards": "reward",
    "transactions": "transaction",
    "available_rewards": "reward",
    "balances": "item",
    "items": "item",
    "rows": "row",
    "promos": "promo",
}


def xml_as_json(element: ET.Element) -> Any:
    """The JSON the wire page derives from XML: attributes as keys, plural wrappers as lists."""
    children = list(element)
    singular = PLURALS.get(element.tag)
    # An empty wrapper is an empty list; a childless element with text is a scalar.
    holds_entries = bool(children) or not (element.text or "").strip()
    entries_only = all(child.tag == singular for child in children)
    if singular and not element.attrib and holds_entries and entries_only:
        return [xml_as_json(child) for child in children]
    if not children and not element.attrib:
        return element.text or ""
    tree: dict[str, Any] = dict(element.attrib)
    for child in children:
        assert child.tag not in tree, f"repeated <{child.tag}> outside a plural wrapper"
        tree[child.tag] = xml_as_json(child)
    return tree


def all_strings(node: Any) -> bool:
    if isinstance(node, dict):
        return all(all_strings(value) for value in node.values())
    if isinstance(node, list):
        return all(all_strings(value) for value in node)
    return isinstance(node, str)


@dataclass
class Sandbox:
    url: str
    http: httpx.AsyncClient
    app: web.Application

    async def post(
        self,
        fields: Mapping[str, str],
        *,
        path: str = "/",
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        response = await self.http.post(path, data=dict(fields), headers=headers)
        assert response.status_code == 200
        return response

    async def json(self, fields: Mapping[str, str] | None = None, **more: str) -> dict[str, Any]:
        """A call with the demo credentials (unless ``fields`` brings its own), as JSON."""
        body = {**AUTH, **(fields or {}), **more, "output": "JSON"}
        document: dict[str, Any] = (await self.post(body)).json()
        assert all_strings(document)
        return document

    async def xml(self, fields: Mapping[str, str] | None = None, **more: str) -> ET.Element:
        body = {**AUTH, **(fields or {}), **more}
        response = await self.post(body)
        assert response.headers["content-type"].startswith("text/xml")
        return ET.fromstring(response.text)

    async def ok(self, fields: Mapping[str, str] | None = None, **more: str) -> dict[str, Any]:
        document = await self.json(fields, **more)
        assert document["status"] == "success", document
        return document

    async def error(self, fields: Mapping[str, str] | None = None, **more: str) -> str:
        document = await self.json(fields, **more)
        assert document["status"] == "error", document
        message: str = document["error"]
        return message

    async def info(self, code: str = d.JOHN_CODE) -> dict[str, Any]:
        return await self.ok(type="customer_info", code=code)

    async def balance(self, campaign_id: str, code: str = d.JOHN_CODE) -> str:
        document = await self.ok(type="customer_info", code=code, campaign_id=campaign_id)
        value: str = document["campaigns"][0]["balance"]
        return value

    async def items(self, code: str = d.JOHN_CODE) -> dict[str, str]:
        document = await self.ok(type="customer_info", code=code, campaign_id=d.BUYX_CAMPAIGN)
        return {item["name"]: item["current"] for item in document["campaigns"][0]["balances"]}


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    app = create_app()
    async with serve(app) as url, httpx.AsyncClient(base_url=url, verify=_TLS, timeout=5) as http:
        yield Sandbox(url, http, app)


SEED_000_CUSTOMERS_BATCH = {
    "API": "1.5",
    "user_id": "john1970",
    "user_api_key": "1959caadac9b13dcb3",
    "account_id": "greatwidgets",
    "type": "customers_batch",
    "delimiter": "pipe",
    "overwrite_duplicates": "update",
    "campaigns_to_include": "898989889|,|13234545|,|34534554",
    "profiles_header_1": "code",
    "profiles_header_2": "card_number",
    "profiles_header_3": "first_name",
    "profiles_header_4": "last_name",
    "profiles_header_5": "custome_date",
    "profiles_header_6": "phone",
    "Profiles_Data": "\n11223344|11223344|jane|doe|1970-07-14|555-5555\n"
    "22334455|22334455|jim|mcdoe|1966-07-28|555-5556\n"
    "33445566|33445566|larry|smith|1980-02-05|555-5557\n",
}

SEED_001_NEW_CUSTOMER = {
    "user_id": "john1970",
    "user_password": "1959caadac9b13dcb3",
    "type": "record_customer",
    "customer_action": "new",
    "account_id": "greatwidgets",
    "campaign_id": "1234567890123456",
    "card_number": "1212121212",
    "code": "89898989898989",
    "first_name": "John",
    "last_name": "Doe",
    "phone": "555-555-2455",
    "email": "test@yourdomain.com",
    "custom_date": "1970-07-14",
    "street1": "123 Main St.",
    "street2": "Apt 3G",
    "city": "Anytown",
    "state": "ZZ",
    "postal_code": "55555",
    "country": "NZ",
    "custom_field": "John likes cheese.",
    "customer_username": "jdoe1970",
    "customer_password": "ilovecheese",
    "customer_PIN": "1234",
    "custom_field_2": "Single",
}

SEED_002_EDIT_CUSTOMER = {
    key: value for key, value in SEED_001_NEW_CUSTOMER.items() if key != "campaign_id"
} | {"customer_action": "edit"}

SEED_003_RECORD_POINTS = {
    "user_id": "john1970",
    "user_password": "1959caadac9b13dcb3",
    "type": "record_activity",
    "account_id": "greatwidgets",
    "code": "1234567890123456",
    "campaign_id": "1111222233334444",
    "amount": "9.95",
    "promo_id": "89",
    "authorization": "Custom description",
    "custom_field_2": "Store 35",
    "custom_field_5": "Some other data",
    "send_transaction_email": "Y",
}

_REDEEM_BASE = {
    "user_id": "john1970",
    "user_password": "1959caadac9b13dcb3",
    "type": "redeem",
    "account_id": "greatwidgets",
    "code": "1234567890123456",
    "authorization": "Custom description",
}
SEED_003_REDEEMS = {
    "points reward": (
        _REDEEM_BASE | {"campaign_id": "546734563456", "reward_to_redeem": "98"},
        d.POINTS_CAMPAIGN,
    ),
    "points custom": (
        _REDEEM_BASE | {"campaign_id": "546734563456", "custom_points_redeem": "100"},
        d.POINTS_CAMPAIGN,
    ),
    "points monetary": (
        _REDEEM_BASE | {"campaign_id": "546734563456", "custom_dollars_redeem": "9.95"},
        d.POINTS_CAMPAIGN,
    ),
    "points combination": (
        _REDEEM_BASE
        | {
            "campaign_id": "546734563456",
            "reward_to_redeem": "98",
            "custom_points_redeem": "100",
            "custom_dollars_redeem": "9.95",
        },
        d.POINTS_CAMPAIGN,
    ),
    "gift card": (
        _REDEEM_BASE | {"campaign_id": "83635463645756", "reward_to_redeem": "9.95"},
        d.GIFTCARD_CAMPAIGN,
    ),
    "buy-x": (
        _REDEEM_BASE | {"campaign_id": "763446467657", "reward_to_redeem": "96"},
        d.BUYX_CAMPAIGN,
    ),
    "events": (
        _REDEEM_BASE | {"campaign_id": "763446467657", "reward_to_redeem": "41"},
        d.EVENTS_CAMPAIGN,
    ),
    "earn-per-event": (
        _REDEEM_BASE | {"campaign_id": "2355464634565", "reward_to_redeem": "9.95"},
        d.EARNED_CAMPAIGN,
    ),
}

SEED_003_DELETE = {
    "user_id": "john1970",
    "user_password": "1959caadac9b13dcb3",
    "type": "transaction_delete",
    "account_id": "greatwidgets",
    "campaign_id": "4564222953051300",
    "code": "1234567890123456",
    "transaction_id": "4056",
}

SEED_003_BATCH_PHP = {
    "API": "1.5",
    "user_id": "john1970",
    "user_api_key": "1959caadac9a8f7e42938a7b13dcb3",
    "account_id": "greatwidgets",
    "type": "batch_transactions",
    "delimiter": "pipe",
    "apply_ratio": "yes",
    "allow-undo": "yes",
    "visits_header_1": "campaign_id",
    "visits_header_2": "code",
    "visits_header_3": "redeemed",
    "visits_header_4": "amount",
    "visits_header_5": "date",
    "visits_header_6": "custom_field_3",
    "Visits_Data": """
              4638472975924871|12121|N|14,95|2010-03-15|API test import 1
              4638472975924871|12121|N|50|2010-03-15|API test import 2
              4638472975924871|12121|N|34.67|2010-03-15|API test import 3
              4638472975924871|12121|N|0,50|2010-03-15|API test import 4
              4638472975924871|12121|N|.75|2010-03-15|API test import 5
              4638472975924871|12121|N|2.00|2010-03-15|API test import 6
              4638472975924871|12121|Y|1500|2010-03-15|API test redeem 1
              """,
}

_BATCH_BASE = AUTH15 | {"type": "batch_transactions", "delimiter": "pipe"}


def _headers(*names: str) -> dict[str, str]:
    return {f"visits_header_{n}": name for n, name in enumerate(names, start=1)}


POINTS_TABLE = {
    **_BATCH_BASE,
    **_headers("campaign_id", "code", "redeemed", "amount", "date", "authorization", "promo_id"),
    # As the seed page shows them: one blank line between rows.
    "Visits_Data": "\n\n".join(
        [
            "1111222233334444|12121|N|14,95|2013-0315|API test import 1|123",
            "1111222233334444|12121|N|50|2010-03-15|API test import 2|345,345,354",
            "1111222233334444|12121|N|34.67|2010-03-15|API test import 3",
            "1111222233334444|12121|N|0,50|2010-03-15|API test import 4",
            "1111222233334444|12121|N|.75|2010-03-15|API test import 5",
            "1111222233334444|12121|N|2.00|2010-03-15|API test import 6",
            "1111222233334444|12121|Y|1500|2010-03-15|API test redeem 1",
        ]
    ),
}
GIFTCARD_TABLE = {
    **_BATCH_BASE,
    **_headers("campaign_id", "code", "redeemed", "amount", "date", "authorization"),
    "Visits_Data": "1111222233334444|12121|N|14,95|2010-03-15|API test import 1\n"
    "1111222233334444|12121|N|34.67|2010-03-15|API test import 2\n"
    "1111222233334444|12121|Y|49.62|2010-03-15|API test redeem 1\n",
}
BUYX_TABLE = {
    **_BATCH_BASE,
    **_headers(
        "campaign_id", "code", "redeemed", "service_product", "amount", "date", "authorization"
    ),
    "Visits_Data": "1111222233334444|12121|N|Coffees|3|2010-03-15|API test import 1\n"
    "1111222233334444|12121|N|Cakes|1|2010-03-15|API test import 2\n"
    "1111222233334444|12121|Y|Coffees|1|2010-03-15|API test redeem 1\n",
}
VISITS_ADD_TABLE = {
    **_BATCH_BASE,
    **_headers("campaign_id", "code", "redeemed", "date", "authorization", "none"),
    "Visits_Data": "1111222233334444|12121|N|2010-03-15|API add event\n"
    "1111222233334444|12121|N|2010-03-15|API add event\n",
}
EVENTS_REDEEM_TABLE = {
    **_BATCH_BASE,
    **_headers("campaign_id", "code", "redeemed", "date", "authorization", "amount"),
    "Visits_Data": "1111222233334444|12121|Y|2010-03-15|API redeem|2\n",
}
EARNED_REDEEM_TABLE = {
    **EVENTS_REDEEM_TABLE,
    "Visits_Data": "1111222233334444|12121|Y|2010-03-15|API redeem|46.95\n",
}


def _on_campaign(table: Mapping[str, str], campaign_id: str) -> dict[str, str]:
    data = table["Visits_Data"].replace(d.POINTS_CAMPAIGN, campaign_id)
    return {**table, "Visits_Data": data}


def _rows(document: dict[str, Any]) -> dict[int, dict[str, str]]:
    return {int(row["line"]): row for row in document["batch"]["rows"]}


@pytest.mark.parametrize("path", ["/", "/api.php", "/index.php"])
async def test_every_path_answers_form_posts_multipart_and_get(
    sandbox: Sandbox, path: str
) -> None:
    fields = {**AUTH, "type": "customer_exists", "card_number": d.JOHN_CARD, "output": "json"}
    form = await sandbox.http.post(path, data=fields)
    multipart = await sandbox.http.post(
        path, data=fields, files={"unused": ("note.txt", b"x", "text/plain")}
    )
    query = await sandbox.http.get(path, params=fields)
    for response in (form, multipart, query):
        assert response.status_code == 200
        assert response.json() == {"status": "success", "message": "The customer exists."}


async def test_multipart_file_field_carries_batch_data(sandbox: Sandbox) -> None:
    fields = {**_on_campaign(GIFTCARD_TABLE, d.GIFTCARD_CAMPAIGN), "output": "json"}
    data = fields.pop("Visits_Data")
    response = await sandbox.http.post(
        "/api.php", data=fields, files={"Visits_Data": ("rows.txt", data.encode(), "text/plain")}
    )
    assert response.json()["batch"]["status"] == "all_imported"


async def test_xml_is_the_default_and_output_is_case_insensitive(sandbox: Sandbox) -> None:
    root = await sandbox.xml(type="customer_info", code=d.JOHN_CODE)
    assert root.tag == "response"
    assert root.get("status") == "success"
    assert root.findtext("customer/first_name") == "John"
    for output in ("json", "Json", "JSON"):
        body = {**AUTH, "type": "customer_info", "code": d.JOHN_CODE, "output": output}
        response = await sandbox.post(body)
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["customer"]["first_name"] == "John"
    xml = await sandbox.post(
        {**AUTH, "type": "customer_info", "code": d.JOHN_CODE, "output": "xml"}
    )
    assert ET.fromstring(xml.text).get("status") == "success"


async def test_jsonp_wraps_the_json_and_condensed_drops_the_white_space(sandbox: Sandbox) -> None:
    fields = {**AUTH, "type": "campaign_rewards", "campaign_id": d.POINTS_CAMPAIGN}
    jsonp = await sandbox.post({**fields, "output": "JSON", "callback": "showRewards"})
    assert jsonp.headers["content-type"].startswith("application/javascript")
    assert jsonp.text.startswith("showRewards(") and jsonp.text.endswith(")")
    inner = json.loads(jsonp.text[len("showRewards(") : -1])
    assert [reward["id"] for reward in inner["rewards"]] == ["97", "98"]

    spaced = await sandbox.post({**fields, "output": "JSON"})
    condensed = await sandbox.post({**fields, "output": "JSON", "condensed": "yes"})
    assert spaced.json() == condensed.json() == inner
    assert ", " in spaced.text
    assert condensed.text == json.dumps(inner, separators=(",", ":"), ensure_ascii=False)

    condensed_jsonp = await sandbox.post({**fields, "callback": "cb", "condensed": "yes"})
    assert condensed_jsonp.text == f"cb({condensed.text})"


async def test_bad_output_fields_are_refused(sandbox: Sandbox) -> None:
    csv = await sandbox.post({**AUTH, "type": "campaigns_list", "output": "csv"})
    assert ET.fromstring(csv.text).findtext("error") == "output must be JSON or XML, not 'csv'"
    script = await sandbox.post({**AUTH, "type": "campaigns_list", "callback": "alert(1)//"})
    assert "is not a JavaScript function name" in script.json()["error"]


async def test_unknown_or_missing_type_is_an_error_naming_it(sandbox: Sandbox) -> None:
    assert await sandbox.error(type="customer_teleport") == "Unknown type 'customer_teleport'"
    assert await sandbox.error() == "type is required"
    root = await sandbox.xml(type="customer_teleport")
    assert root.get("status") == "error"
    assert root.findtext("error") == "Unknown type 'customer_teleport'"
    assert await sandbox.error(type="campaigns_list", API="2.0") == (
        "API version '2.0' is not supported (use 1.5 or 1.6)"
    )


async def test_plural_wrappers_are_arrays_even_with_one_entry_or_none(sandbox: Sandbox) -> None:
    one = await sandbox.ok(type="campaigns_list", type_restrict="giftcard")
    assert [campaign["id"] for campaign in one["campaigns"]] == [d.GIFTCARD_CAMPAIGN]
    assert one["pagination"] == {"total": "1", "offset": "0"}
    none = await sandbox.ok(type="campaign_rewards", campaign_id=d.GIFTCARD_CAMPAIGN)
    assert none["rewards"] == []
    root = await sandbox.xml(type="campaigns_list", type_restrict="giftcard")
    assert [c.findtext("id") for c in root.findall("campaigns/campaign")] == [d.GIFTCARD_CAMPAIGN]


async def test_xml_escapes_ampersands_and_markup_in_names(sandbox: Sandbox) -> None:
    rows = f'{d.BUYX_CAMPAIGN}|{d.JOHN_CARD}|N|Coffees & Teas|2|2025-05-01|<tea> & "cake"'
    imported = await sandbox.ok(
        {
            **AUTH15,
            **_headers(
                "campaign_id",
                "code",
                "redeemed",
                "service_product",
                "amount",
                "date",
                "authorization",
            ),
        },
        type="batch_transactions",
        delimiter="pipe",
        Visits_Data=rows,
    )
    assert imported["batch"]["status"] == "all_imported"
    root = await sandbox.xml(type="customer_info", code=d.JOHN_CODE, campaign_id=d.BUYX_CAMPAIGN)
    names = [item.findtext("name") for item in root.iter("item")]
    assert "Coffees & Teas" in names
    history = await sandbox.xml(
        type="customer_balance",
        code=d.JOHN_CODE,
        campaign_id=d.BUYX_CAMPAIGN,
        transactions_number="1",
    )
    assert history.findtext("campaign/customer/transactions/transaction/authorization") == (
        '<tea> & "cake"'
    )


READ_CALLS: list[dict[str, str]] = [
    {"type": "customer_exists", "email": "JSMITH@workemail.com"},
    {"type": "customer_exists", "code": "nobody"},
    {"type": "customer_search", "last_name": "smi", "include_balances": "Y"},
    {"type": "customer_search", "first_name": "nobody"},
    {"type": "customer_find", "find_customer": "jane, smith"},
    {"type": "customer_info", "card_number": d.JOHN_CARD},
    {"type": "customer_info", "code": d.JANE_CODE, "include_balances": "N"},
    {"type": "customer_balance", "code": d.JOHN_CODE, "campaign_id": d.GIFTCARD_CAMPAIGN},
    {
        "type": "validate_customer_password",
        "card_number": d.JOHN_CARD,
        "customer_password": d.JOHN_PASSWORD,
    },
    {
        "type": "validate_customer_password",
        "card_number": d.JOHN_CARD,
        "customer_password": "wrong",
    },
    {"type": "campaigns_list"},
    {"type": "campaign_rewards", "campaign_id": d.EVENTS_CAMPAIGN},
    {"type": "buyx_items_list", "campaign_id": d.BUYX_CAMPAIGN},
    {"type": "campaign_promos", "campaign_id": d.POINTS_CAMPAIGN},
]
WRITE_CALLS: list[dict[str, str]] = [
    {
        "type": "record_customer",
        "customer_action": "new",
        "code": "C-1",
        "card_number": "777001",
        "first_name": "Ann",
        "campaign_id": f"{d.POINTS_CAMPAIGN},{d.BUYX_CAMPAIGN}",
        "auto_add": "25",
    },
    {
        "type": "record_customer",
        "customer_action": "register",
        "card_number": d.JANE_CARD,
        "customer_password": "secret",
    },
    {
        "type": "record_customer",
        "customer_action": "edit",
        "code": d.JOHN_CODE,
        "first_name": "Johnny",
    },
    {"type": "customer_delete", "code": d.JANE_CODE},
    SEED_003_RECORD_POINTS,
    {
        "type": "record_activity",
        "card_number": d.JANE_CARD,
        "campaign_id": d.GIFTCARD_CAMPAIGN,
        "amount": "10",
    },
    {"type": "record_activity", "code": d.JOHN_CODE, "campaign_id": d.EVENTS_CAMPAIGN},
    {"type": "record_activity", "code": d.JOHN_CODE, "campaign_id": d.EARNED_CAMPAIGN},
    {
        "type": "record_activity",
        "code": d.JOHN_CODE,
        "campaign_id": d.BUYX_CAMPAIGN,
        "service_product": "[CAKE]",
        "buyx_quantity": "2",
    },
    *({**body, "campaign_id": demo_campaign} for body, demo_campaign in SEED_003_REDEEMS.values()),
    {
        "type": "transaction_delete",
        "code": d.JOHN_CODE,
        "campaign_id": d.POINTS_CAMPAIGN,
        "transaction_id": "6",
    },
    {**_on_campaign(GIFTCARD_TABLE, d.GIFTCARD_CAMPAIGN), "user_api_key": d.API_KEY},
    {
        **SEED_000_CUSTOMERS_BATCH,
        "profiles_header_5": "custom_date",
        "campaigns_to_include": d.POINTS_CAMPAIGN,
    },
]
_STAMPS = {"date", "record_timestamp", "first_transaction", "last_transaction"}


def _without_stamps(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: "…" if k in _STAMPS else _without_stamps(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_stamps(value) for value in node]
    return node


@pytest.mark.parametrize("fields", READ_CALLS, ids=lambda f: f["type"])
async def test_read_calls_say_the_same_in_xml_and_json(
    sandbox: Sandbox, fields: dict[str, str]
) -> None:
    as_json = await sandbox.json(fields)
    as_xml = xml_as_json(await sandbox.xml(fields))
    assert as_xml == as_json


@pytest.mark.parametrize("fields", WRITE_CALLS, ids=lambda f: f["type"])
async def test_write_calls_say_the_same_in_xml_and_json(fields: dict[str, str]) -> None:
    answers = []
    for output in ("XML", "JSON"):
        async with (
            serve(create_app()) as url,
            httpx.AsyncClient(base_url=url, verify=_TLS) as http,
        ):
            response = await http.post("/", data={**AUTH, **fields, "output": output})
            if output == "XML":
                answers.append(xml_as_json(ET.fromstring(response.text)))
            else:
                answers.append(response.json())
    assert answers[0]["status"] == "success", answers[0]
    assert _without_stamps(answers[0]) == _without_stamps(answers[1])


@pytest.mark.parametrize(
    ("fields", "headers", "message"),
    [
        ({"user_password": "nope"}, {}, "unknown user_id or wrong API key"),
        ({"user_id": "mallory"}, {}, "unknown user_id or wrong API key"),
        ({"user_id": ""}, {}, "user_id is required"),
        ({"user_password": ""}, {}, "unknown user_id or wrong API key"),
        ({"account_id": "otherbiz"}, {}, "user john1970 has no access to account otherbiz"),
        ({"account_id": ""}, {}, "account_id is required"),
        ({}, {"api_access_key": "wrong"}, "unknown user_id or wrong API key"),
    ],
)
async def test_authentication_failures(
    sandbox: Sandbox, fields: dict[str, str], headers: dict[str, str], message: str
) -> None:
    body = {**AUTH, **fields, "type": "campaigns_list", "output": "json"}
    document = (await sandbox.post(body, headers=headers)).json()
    assert document == {"status": "error", "error": f"Authentication failed: {message}"}


async def test_api_key_in_body_field_or_header_and_the_header_wins(sandbox: Sandbox) -> None:
    base = {"user_id": d.USER_ID, "account_id": d.ACCOUNT_ID, "type": "campaigns_list"}
    with_key = {**base, "API": "1.5", "user_api_key": d.API_KEY, "output": "json"}
    assert (await sandbox.post(with_key)).json()["status"] == "success"
    header_only = {**base, "output": "json"}
    answer = await sandbox.post(header_only, headers={"api_access_key": d.API_KEY})
    assert answer.json()["status"] == "success"
    wrong_body = {**base, "user_password": "wrong", "output": "json"}
    answer = await sandbox.post(wrong_body, headers={"api_access_key": d.API_KEY})
    assert answer.json()["status"] == "success"
    right_body = {**base, "user_password": d.API_KEY, "output": "json"}
    answer = await sandbox.post(right_body, headers={"api_access_key": "wrong"})
    assert answer.json()["status"] == "error"


async def test_seed_001_new_customer_as_written(sandbox: Sandbox) -> None:
    first = await sandbox.post(SEED_001_NEW_CUSTOMER)
    root = ET.fromstring(first.text)
    assert root.get("status") == "success"
    assert root.find("customer").get("status") == "new"  # type: ignore[union-attr]
    assert root.findtext("customer/code") == "89898989898989"
    assert root.findtext("customer/card_number") == "1212121212"

    info = await sandbox.info("89898989898989")
    customer = info["customer"]
    assert customer["email"] == "test@yourdomain.com"
    assert customer["custom_date"] == "1970-07-14"
    assert customer["registered"] == "Y"
    assert customer["custom_field_2"] == {"label": "Custom field 2", "data": "Single"}
    assert "customer_password" not in customer
    assert [c["id"] for c in info["campaigns"]] == [d.SIGNUP_CAMPAIGN]
    history = await sandbox.ok(
        type="customer_balance", code="89898989898989", campaign_id=d.SIGNUP_CAMPAIGN
    )
    (activation,) = history["campaign"]["customer"]["transactions"]
    assert activation["authorization"] == "Account Activated."
    assert activation["service_product"] == "Activation"
    assert activation["amount"] == "0"
    assert history["campaign"]["customer"]["balance"] == "0"

    again = ET.fromstring((await sandbox.post(SEED_001_NEW_CUSTOMER)).text)
    assert again.get("status") == "error"
    assert again.findtext("error") == "a customer with code 89898989898989 already exists"


async def test_seed_001_with_the_card_number_generate_alternative(sandbox: Sandbox) -> None:
    body = {k: v for k, v in SEED_001_NEW_CUSTOMER.items() if k != "card_number"}
    answer = await sandbox.ok({**body, "card_number_generate": "10"})
    assert answer["customer"]["code"] == "89898989898989"
    card = answer["customer"]["card_number"]
    assert len(card) == 10 and card.isdigit()
    found = await sandbox.ok(type="customer_info", card_number=card, include_balances="N")
    assert found["customer"]["code"] == "89898989898989"


async def test_new_customer_code_rules(sandbox: Sandbox) -> None:
    base = {"type": "record_customer", "customer_action": "new", "first_name": "Ann"}
    from_card = await sandbox.ok(base, card_number="5550001")
    assert from_card["customer"] == {"status": "new", "code": "5550001", "card_number": "5550001"}

    forced = await sandbox.ok(base, card_number="5550002", new_code="Yes")
    assert forced["customer"]["card_number"] == "5550002"
    assert len(forced["customer"]["code"]) == 16 and forced["customer"]["code"].isdigit()

    bare = await sandbox.ok(base)
    assert len(bare["customer"]["code"]) == 16 and bare["customer"]["card_number"] == ""

    generated = await sandbox.ok(
        base, card_number_generate="12", card_number_prefix="77", card_number_suffix="9"
    )
    card = generated["customer"]["card_number"]
    assert len(card) == 12 and card.startswith("77") and card.endswith("9") and card.isdigit()
    assert generated["customer"]["code"] != card and len(generated["customer"]["code"]) == 16


async def test_new_customer_refusals(sandbox: Sandbox) -> None:
    base = {"type": "record_customer", "customer_action": "new"}
    assert await sandbox.error(base, card_number=d.JOHN_CARD) == (
        "card_number 11112222 is already used by another customer"
    )
    assert await sandbox.error(base, code=d.JANE_CODE) == (
        f"a customer with code {d.JANE_CODE} already exists"
    )
    assert await sandbox.error(base) == "at least one customer field is required"
    assert await sandbox.error(base, first_name="A", custom_date="07/14/1970") == (
        "custom_date must be in YYYY-MM-DD format, not '07/14/1970'"
    )
    assert await sandbox.error(base, first_name="A", campaign_id="999") == (
        "campaign_id 999 is not a campaign of account greatwidgets"
    )
    assert await sandbox.error(base, first_name="A", auto_add="5") == (
        "auto_add needs a campaign_id to credit"
    )
    assert await sandbox.error(type="record_customer", first_name="A") == (
        "customer_action is required: new, register or edit"
    )
    assert await sandbox.error(
        type="record_customer", customer_action="merge", first_name="A"
    ) == ("customer_action must be new, register or edit, not 'merge'")
    nothing = await sandbox.ok(type="customer_search", first_name="A")
    assert [c["code"] for c in nothing["customers"]] == [d.JANE_CODE]


@pytest.mark.parametrize(
    ("campaign_id", "auto_add", "expected"),
    [
        (d.POINTS_CAMPAIGN, "1500", "1500"),
        (d.GIFTCARD_CAMPAIGN, "25,50", "25.50"),
        (d.EVENTS_CAMPAIGN, "3", "3"),
        (d.EARNED_CAMPAIGN, "9", "9.00"),
        (d.BUYX_CAMPAIGN, "Cakes", "1"),
    ],
)
async def test_auto_add_credits_the_first_campaign_by_kind(
    sandbox: Sandbox, campaign_id: str, auto_add: str, expected: str
) -> None:
    answer = await sandbox.ok(
        type="record_customer",
        customer_action="new",
        code="BONUS-1",
        campaign_id=f"{campaign_id},{d.SIGNUP_CAMPAIGN}",
        auto_add=auto_add,
    )
    assert answer["customer"]["code"] == "BONUS-1"
    info = await sandbox.info("BONUS-1")
    balances = {campaign["id"]: campaign["balance"] for campaign in info["campaigns"]}
    assert balances == {campaign_id: expected, d.SIGNUP_CAMPAIGN: "0"}


async def test_register_activates_a_card_once(sandbox: Sandbox) -> None:
    base = {"type": "record_customer", "customer_action": "register"}
    registered = await sandbox.ok(
        base, card_number=d.JANE_CARD, customer_password="n3w", email="jane@new.example"
    )
    assert registered["customer"] == {
        "status": "registered",
        "code": d.JANE_CODE,
        "card_number": d.JANE_CARD,
    }
    info = await sandbox.info(d.JANE_CODE)
    assert info["customer"]["registered"] == "Y"
    assert info["customer"]["email"] == "jane@new.example"
    assert info["customer"]["first_name"] == "Jane"
    assert await sandbox.ok(
        type="validate_customer_password", card_number=d.JANE_CARD, customer_password="n3w"
    )
    twice = await sandbox.error(base, card_number=d.JANE_CARD, customer_password="again")
    assert "card has already been registered" in twice
    john = await sandbox.error(base, card_number=d.JOHN_CARD, customer_password="x")
    assert "card has already been registered" in john
    assert await sandbox.error(base, card_number="000", customer_password="x") == (
        "card 000 cannot be registered: no customer has this card_number"
    )
    assert await sandbox.error(base, card_number=d.JANE_CARD) == (
        "customer_password is required to register a card"
    )


async def test_seed_002_edit_as_written_creates_the_customer_when_the_code_is_unknown(
    sandbox: Sandbox,
) -> None:
    answer = ET.fromstring((await sandbox.post(SEED_002_EDIT_CUSTOMER)).text)
    assert answer.get("status") == "success"
    assert answer.find("customer").get("status") == "new"  # type: ignore[union-attr]
    assert answer.findtext("customer/code") == "89898989898989"
    again = ET.fromstring(
        (await sandbox.post(SEED_002_EDIT_CUSTOMER | {"city": "Elsewhere"})).text
    )
    assert again.find("customer").get("status") == "update"  # type: ignore[union-attr]
    assert (await sandbox.info("89898989898989"))["customer"]["city"] == "Elsewhere"


async def test_edit_matches_by_code_then_card_then_card_as_code(sandbox: Sandbox) -> None:
    edit = {"type": "record_customer", "customer_action": "edit"}
    by_code = await sandbox.ok(edit, code=d.JOHN_CODE, first_name="Johnny")
    assert by_code["customer"]["status"] == "update"
    john = (await sandbox.info())["customer"]
    assert (john["first_name"], john["last_name"], john["email"]) == (
        "Johnny",
        "Smith",
        "jsmith@workemail.com",
    )

    by_card = await sandbox.ok(edit, card_number=d.JANE_CARD, city="Springfield")
    assert by_card["customer"] == {
        "status": "update",
        "code": d.JANE_CODE,
        "card_number": d.JANE_CARD,
    }

    await sandbox.ok(type="record_customer", customer_action="new", code="777", last_name="Lee")
    card_as_code = await sandbox.ok(edit, card_number="777", first_name="Kim")
    assert card_as_code["customer"] == {"status": "update", "code": "777", "card_number": "777"}

    unknown = await sandbox.ok(edit, card_number="424242", first_name="Neo")
    assert unknown["customer"]["status"] == "new"
    assert len(unknown["customer"]["code"]) == 16
    assert unknown["customer"]["card_number"] == "424242"

    regenerated = await sandbox.ok(edit, code=d.JOHN_CODE, card_number_generate="8")
    assert len(regenerated["customer"]["card_number"]) == 8
    assert regenerated["customer"]["card_number"] != d.JOHN_CARD

    assert await sandbox.error(edit, code=d.JANE_CODE, card_number="777") == (
        "card_number 777 is already used by another customer"
    )


async def test_customer_exists(sandbox: Sandbox) -> None:
    assert (await sandbox.ok(type="customer_exists", email="JDOE@WorkEmail.com"))["message"]
    both = await sandbox.json(type="customer_exists", code=d.JOHN_CODE, card_number=d.JANE_CARD)
    assert both == {"status": "no_match", "message": "No customer matches."}
    username = await sandbox.ok(type="customer_exists", customer_username="jsmith")
    assert username["message"] == "The customer exists."
    assert await sandbox.error(type="customer_exists") == (
        "one of card_number, code, customer_username or email is required"
    )


async def test_customer_search_partial_exact_and_combined(sandbox: Sandbox) -> None:
    async def codes(**criteria: str) -> list[str]:
        document = await sandbox.json({"type": "customer_search", **criteria})
        if document["status"] == "no_match":
            return []
        return [customer["code"] for customer in document["customers"]]

    assert await codes(last_name="SMI") == [d.JOHN_CODE]
    assert await codes(card_number="1112") == [d.JOHN_CODE]
    assert await codes(last_name="smith", exact_match="sensitive") == []
    assert await codes(last_name="Smith", exact_match="sensitive") == [d.JOHN_CODE]
    assert await codes(last_name="SMITH", exact_match="insensitive") == [d.JOHN_CODE]
    assert await codes(last_name="smit", exact_match="insensitive") == []
    assert await codes(email="JDOE@workemail.com", exact_match="insensitive") == [d.JANE_CODE]
    assert await codes(phone="555-5556", exact_match="insensitive") == [d.JANE_CODE]
    assert await codes(first_name="j") == [d.JOHN_CODE, d.JANE_CODE]
    assert await codes(first_name="j", last_name="doe") == [d.JANE_CODE]
    assert await codes() == [d.JOHN_CODE, d.JANE_CODE]
    assert await codes(customer_PIN="1970") == [d.JOHN_CODE]
    await sandbox.ok(
        type="record_customer", customer_action="new", code="CF", custom_field_4="Gold tier"
    )
    assert await codes(custom_field_4="gold") == ["CF"]
    assert await sandbox.error(type="customer_search", exact_match="fuzzy") == (
        "exact_match must be sensitive or insensitive, not 'fuzzy'"
    )
    no_match = await sandbox.json(type="customer_search", last_name="Nobody")
    assert no_match == {"status": "no_match", "message": "No customer matches."}


async def test_customer_search_with_balances(sandbox: Sandbox) -> None:
    plain = await sandbox.ok(type="customer_search", last_name="Doe")
    assert "campaigns" not in plain["customers"][0]
    document = await sandbox.ok(type="customer_search", last_name="Doe", include_balances="Y")
    (jane,) = document["customers"]
    balances = {campaign["id"]: campaign["balance"] for campaign in jane["campaigns"]}
    assert balances == {d.POINTS_CAMPAIGN: "2000", d.EARNED_CAMPAIGN: "45.00"}


async def test_customer_find_boolean_phrase(sandbox: Sandbox) -> None:
    async def codes(phrase: str) -> list[str]:
        document = await sandbox.json(type="customer_find", find_customer=phrase)
        if document["status"] == "no_match":
            return []
        return [customer["code"] for customer in document["customers"]]

    assert await codes("john smith") == [d.JOHN_CODE]
    assert await codes("JOHN DOE") == []
    assert await codes("jane, smith") == [d.JOHN_CODE, d.JANE_CODE]
    assert await codes("cheese") == [d.JOHN_CODE, d.JANE_CODE]
    assert await codes("she cheese, anytown nz") == [d.JOHN_CODE, d.JANE_CODE]
    assert await codes("12121") == [d.JANE_CODE]
    assert await sandbox.error(type="customer_find", find_customer=" , ") == (
        "find_customer is required"
    )


async def test_customer_info_options(sandbox: Sandbox) -> None:
    full = await sandbox.ok(type="customer_info", card_number=d.JOHN_CARD)
    assert full["customer"]["custom_field"] == "He likes cheese"
    assert [c["id"] for c in full["campaigns"]] == [
        d.POINTS_CAMPAIGN,
        d.GIFTCARD_CAMPAIGN,
        d.EVENTS_CAMPAIGN,
        d.EARNED_CAMPAIGN,
        d.BUYX_CAMPAIGN,
    ]
    points = full["campaigns"][0]
    assert points | {"available_rewards": None} == {
        "id": d.POINTS_CAMPAIGN,
        "name": "Widget Rewards",
        "type": "points",
        "balance": "2600",
        "cumulative": "2600",
        "monetary_balance": "26.00",
        "currency": "USD",
        "glyph": "$",
        "first_transaction": "2025-01-05",
        "last_transaction": "2025-01-10",
        "available_rewards": None,
    }
    assert [r["id"] for r in points["available_rewards"]] == ["97", "98"]
    buyx = full["campaigns"][4]
    assert buyx["balance"] == "14"
    assert buyx["balances"] == [
        {"name": "Cakes", "current": "2", "cumulative": "2", "reward_level": "5"},
        {"name": "Coffees", "current": "12", "cumulative": "12", "reward_level": "10"},
    ]
    assert [r["description"] for r in buyx["available_rewards"]] == ["Coffees"]
    events = full["campaigns"][2]
    assert [r["id"] for r in events["available_rewards"]] == ["41"]

    bare = await sandbox.ok(type="customer_info", code=d.JOHN_CODE, include_balances="N")
    assert "campaigns" not in bare
    one = await sandbox.ok(type="customer_info", code=d.JOHN_CODE, campaign_id=d.EARNED_CAMPAIGN)
    assert [(c["id"], c["balance"]) for c in one["campaigns"]] == [(d.EARNED_CAMPAIGN, "18.00")]
    outside = await sandbox.ok(type="customer_info", code=d.JANE_CODE, campaign_id=d.BUYX_CAMPAIGN)
    assert outside["campaigns"][0]["balance"] == "0"
    assert outside["campaigns"][0]["first_transaction"] == "0000-00-00"
    hidden = await sandbox.ok(type="customer_info", code=d.JOHN_CODE, hide_custom_field="Y")
    assert "custom_field" not in hidden["customer"]
    assert await sandbox.json(type="customer_info", code="nobody") == {
        "status": "no_match",
        "message": "No customer has code nobody",
    }
    assert await sandbox.error(type="customer_info") == "code or card_number is required"


async def test_customer_balance_history(sandbox: Sandbox) -> None:
    document = await sandbox.ok(
        type="customer_balance", code=d.JOHN_CODE, campaign_id=d.GIFTCARD_CAMPAIGN
    )
    campaign = document["campaign"]
    assert (campaign["campaign_id"], campaign["campaign_type"], campaign["campaign_name"]) == (
        d.GIFTCARD_CAMPAIGN,
        "giftcard",
        "Gift Card",
    )
    customer = campaign["customer"]
    assert customer["balance"] == "38.75"
    assert (customer["last_transaction"], customer["last_transaction_points"]) == (
        "2025-01-12",
        "50.00",
    )
    assert (customer["last_redemption"], customer["last_redemption_points"]) == (
        "2025-02-01",
        "11.25",
    )
    assert [(t["date"], t["redeemed"], t["amount"]) for t in customer["transactions"]] == [
        ("2025-02-01 12:00:00", "Y", "11.25"),
        ("2025-01-12 12:00:00", "N", "50.00"),
        ("2025-01-05 10:00:00", "N", "0.00"),
    ]
    assert customer["transactions"][0]["user_name"] == d.USER_ID
    assert customer["transactions"][0]["real"] == "Y"
    two = await sandbox.ok(
        type="customer_balance",
        card_number=d.JOHN_CARD,
        campaign_id=d.GIFTCARD_CAMPAIGN,
        transactions_number="2",
    )
    assert len(two["campaign"]["customer"]["transactions"]) == 2
    none = await sandbox.ok(
        type="customer_balance",
        code=d.JOHN_CODE,
        campaign_id=d.GIFTCARD_CAMPAIGN,
        transactions_number="0",
    )
    assert none["campaign"]["customer"]["transactions"] == []
    points = await sandbox.ok(
        type="customer_balance", code=d.JANE_CODE, campaign_id=d.POINTS_CAMPAIGN
    )
    assert points["campaign"]["reward_ratio"] == "0.01"
    assert points["campaign"]["customer"]["last_redemption"] == "0000-00-00"
    assert await sandbox.error(type="customer_balance", code=d.JOHN_CODE) == (
        "campaign_id is required"
    )
    absent = await sandbox.json(
        type="customer_balance", code="ghost", campaign_id=d.POINTS_CAMPAIGN
    )
    assert absent["status"] == "no_match"


async def test_validate_customer_password(sandbox: Sandbox) -> None:
    valid = await sandbox.json(
        type="validate_customer_password",
        card_number=d.JOHN_CARD,
        customer_password=d.JOHN_PASSWORD,
    )
    assert valid == {"status": "success"}
    assert await sandbox.ok(
        type="validate_customer_password", customer_username="jsmith", customer_PIN=d.JOHN_PIN
    )
    assert await sandbox.ok(
        type="validate_customer_password",
        code=d.JOHN_CODE,
        customer_password=d.JOHN_PASSWORD,
        phone="555-5555",
    )
    mismatch = "The password does not match the customer."
    assert (
        await sandbox.error(
            type="validate_customer_password",
            card_number=d.JOHN_CARD,
            customer_password="Cheddar1970",
        )
        == mismatch
    )
    assert (
        await sandbox.error(
            type="validate_customer_password",
            code=d.JOHN_CODE,
            customer_password=d.JOHN_PASSWORD,
            phone="555-0000",
        )
        == mismatch
    )
    # Jane has no password: an empty one must not open her account.
    assert (
        await sandbox.error(
            type="validate_customer_password", card_number=d.JANE_CARD, customer_password=" "
        )
        == mismatch
    )
    assert await sandbox.error(type="validate_customer_password", card_number=d.JOHN_CARD) == (
        "one of customer_password or customer_PIN is required"
    )


async def test_generate_card_number_is_unique_and_shaped(sandbox: Sandbox) -> None:
    default = await sandbox.ok(type="generate_card_number")
    assert len(default["customer"]["card_number"]) == 16
    as_xml = await sandbox.xml(type="generate_card_number", how_many_digits="6")
    assert re.fullmatch(r"[1-9]\d{5}", as_xml.findtext("customer/card_number") or "")
    # A batch takes every card 1111220X but 11112205: that one is all that is left.
    rows = "\n".join(f"C{n}|1111220{n}" for n in range(10) if n != 5)
    await sandbox.ok(
        {**AUTH15, "profiles_header_1": "code", "profiles_header_2": "card_number"},
        type="customers_batch",
        delimiter="pipe",
        campaigns_to_include=d.POINTS_CAMPAIGN,
        profiles_data=rows,
    )
    for _ in range(3):
        only = await sandbox.ok(
            type="generate_card_number", how_many_digits="8", card_number_prefix="1111220"
        )
        assert only["customer"]["card_number"] == "11112205"
    assert (
        await sandbox.error(
            type="generate_card_number", how_many_digits="4", card_number_prefix="12345"
        )
        == "a 4-digit card number has no room for prefix '12345' and suffix ''"
    )
    assert await sandbox.error(type="generate_card_number", card_number_prefix="AB") == (
        "card_number_prefix must be digits, not 'AB'"
    )
    assert await sandbox.error(type="generate_card_number", how_many_digits="sixteen") == (
        "how_many_digits must be a whole number from 1 to 32, not 'sixteen'"
    )


async def test_customer_delete_removes_profile_and_history(sandbox: Sandbox) -> None:
    deleted = await sandbox.ok(type="customer_delete", code=d.JANE_CODE)
    assert deleted["customer"] == {"status": "deleted", "code": d.JANE_CODE}
    assert (await sandbox.json(type="customer_info", code=d.JANE_CODE))["status"] == "no_match"
    assert (await sandbox.json(type="customer_exists", card_number=d.JANE_CARD))["status"] == (
        "no_match"
    )
    assert (await sandbox.json(type="customer_delete", code=d.JANE_CODE))["status"] == "no_match"
    assert await sandbox.error(type="customer_delete", card_number=d.JOHN_CARD) == (
        "code is required"
    )


async def test_seed_003_points_record_as_written(sandbox: Sandbox) -> None:
    root = ET.fromstring((await sandbox.post(SEED_003_RECORD_POINTS)).text)
    assert root.get("status") == "success"
    receipt = root.find("receipt")
    assert receipt is not None
    assert receipt.findtext("account_name") == "Great Widgets Rewards"
    assert receipt.findtext("campaign/id") == d.POINTS_CAMPAIGN
    assert receipt.findtext("customer/card_number") == d.JOHN_CARD
    assert receipt.findtext("customer/custom_date") == "1970-07-14"
    transaction = receipt.find("transaction")
    assert transaction is not None
    assert transaction.findtext("purchase/amount") == "9.95"
    assert transaction.findtext("purchase/currency") == "USD"
    assert transaction.findtext("promotion/description") == "Double Points Tuesday"
    assert transaction.findtext("promotion/operation") == "x"
    assert transaction.findtext("promotion/amount") == "2"
    assert transaction.findtext("recorded/points") == "1990"
    assert transaction.findtext("recorded/description") == "Custom description"
    assert transaction.findtext("balance/points") == "4590"
    assert transaction.findtext("balance/monetary") == "45.90"
    assert transaction.findtext("cumulative_balance/points") == "4590"
    assert receipt.find("agency") is None


@pytest.mark.parametrize(
    ("fields", "recorded", "balance"),
    [
        ({"amount": "9,95"}, "995", "3595"),
        ({"amount": ".75"}, "75", "2675"),
        ({}, "0", "2600"),
        ({"amount": "1.00", "promo_id": d.WELCOME_PROMO}, "200", "2800"),
        ({"amount": "0.99", "promo_id": d.HAPPY_HOUR_PROMO}, "148", "2748"),
    ],
)
async def test_points_earn_arithmetic(
    sandbox: Sandbox, fields: dict[str, str], recorded: str, balance: str
) -> None:
    receipt = (
        await sandbox.ok(
            fields, type="record_activity", code=d.JOHN_CODE, campaign_id=d.POINTS_CAMPAIGN
        )
    )["receipt"]
    assert receipt["transaction"]["recorded"]["points"] == recorded
    assert receipt["transaction"]["balance"]["points"] == balance
    assert ("promotion" in receipt["transaction"]) == ("promo_id" in fields)
    assert await sandbox.balance(d.POINTS_CAMPAIGN) == balance


async def test_points_earn_refusals(sandbox: Sandbox) -> None:
    base = {"type": "record_activity", "code": d.JOHN_CODE, "campaign_id": d.POINTS_CAMPAIGN}
    assert await sandbox.error(base, amount="-5") == "amount '-5' must be at least 0"
    assert await sandbox.error(base, amount="1,000.50") == "amount '1,000.50' is not an amount"
    assert await sandbox.error(base, amount="9.999") == "amount '9.999' has more than two decimals"
    assert await sandbox.error(base, amount="5", promo_id="7") == (
        f"promo_id 7 is not a promotion of campaign {d.POINTS_CAMPAIGN}"
    )
    assert await sandbox.error(base, amount="5", promo_id="89,123") == (
        "promo_id takes one promotion id (batch_transactions takes a list)"
    )
    assert await sandbox.error(base | {"campaign_id": "1"}) == (
        "campaign_id 1 is not a campaign of account greatwidgets"
    )
    assert await sandbox.error(type="record_activity", campaign_id=d.POINTS_CAMPAIGN) == (
        "code or card_number is required"
    )
    assert await sandbox.balance(d.POINTS_CAMPAIGN) == "2600"


async def test_gift_card_events_and_earned_receipts(sandbox: Sandbox) -> None:
    gift = (
        await sandbox.ok(
            type="record_activity",
            card_number=d.JOHN_CARD,
            campaign_id=d.GIFTCARD_CAMPAIGN,
            amount="9,95",
            authorization="Top-up",
        )
    )["receipt"]["transaction"]
    assert gift["add"] == {"amount": "9.95", "currency": "USD", "description": "Top-up"}
    assert gift["balance"] == {"amount": "48.70", "currency": "USD"}
    assert gift["cumulative_balance"] == {"amount": "59.95", "currency": "USD"}
    assert (
        await sandbox.error(
            type="record_activity", code=d.JOHN_CODE, campaign_id=d.GIFTCARD_CAMPAIGN
        )
        == "amount is required"
    )

    visit = (
        await sandbox.ok(type="record_activity", code=d.JOHN_CODE, campaign_id=d.EVENTS_CAMPAIGN)
    )["receipt"]["transaction"]
    assert visit["event"] == {"description": ""}
    assert (visit["balance"], visit["cumulative_balance"]) == ({"events": "7"}, {"events": "7"})

    earned = (
        await sandbox.ok(
            type="record_activity",
            code=d.JOHN_CODE,
            campaign_id=d.EARNED_CAMPAIGN,
            authorization="Referral",
        )
    )["receipt"]["transaction"]
    assert earned["event"] == {"description": "Referral"}
    assert earned["earn"] == {"amount": "4.50", "currency": "USD"}
    assert earned["balance"] == {"amount": "22.50", "currency": "USD"}


@pytest.mark.parametrize("product", [d.COFFEES_ITEM, d.COFFEES_IDENTIFIER, "[COFFEE]", "Coffees"])
async def test_buyx_purchase_by_id_identifier_or_description(
    sandbox: Sandbox, product: str
) -> None:
    transaction = (
        await sandbox.ok(
            type="record_activity",
            code=d.JOHN_CODE,
            campaign_id=d.BUYX_CAMPAIGN,
            service_product=product,
            buyx_quantity="3",
        )
    )["receipt"]["transaction"]
    assert transaction["purchase"] == {"item": "Coffees", "quantity": "3", "description": ""}
    assert transaction["balances"] == [
        {"name": "Cakes", "current": "2", "cumulative": "2"},
        {"name": "Coffees", "current": "15", "cumulative": "15"},
    ]
    assert "balance" not in transaction


async def test_buyx_purchase_refusals(sandbox: Sandbox) -> None:
    base = {"type": "record_activity", "code": d.JOHN_CODE, "campaign_id": d.BUYX_CAMPAIGN}
    assert await sandbox.error(base) == "service_product is required"
    assert await sandbox.error(base, service_product="Teas") == (
        f"service_product 'Teas' is not an item of campaign {d.BUYX_CAMPAIGN}"
    )
    assert await sandbox.error(base, service_product="96", buyx_quantity="1.5") == (
        "buyx_quantity '1.5' is not a whole number of items"
    )


async def test_an_unknown_code_or_card_creates_the_customer(sandbox: Sandbox) -> None:
    await sandbox.ok(
        type="record_activity", code="WALKIN-1", campaign_id=d.POINTS_CAMPAIGN, amount="3"
    )
    assert await sandbox.balance(d.POINTS_CAMPAIGN, "WALKIN-1") == "300"
    await sandbox.ok(type="record_activity", card_number="CARD-9", campaign_id=d.EVENTS_CAMPAIGN)
    by_card = await sandbox.ok(type="customer_info", card_number="CARD-9")
    assert by_card["customer"]["code"] == "CARD-9"
    assert by_card["campaigns"][0]["balance"] == "1"


@pytest.mark.parametrize("name", list(SEED_003_REDEEMS))
async def test_seed_003_redeem_examples_name_their_unknown_campaign(
    sandbox: Sandbox, name: str
) -> None:
    body, _ = SEED_003_REDEEMS[name]
    root = ET.fromstring((await sandbox.post(body)).text)
    assert root.get("status") == "error"
    assert root.findtext("error") == (
        f"campaign_id {body['campaign_id']} is not a campaign of account greatwidgets"
    )


@pytest.mark.parametrize(
    ("name", "blocks", "balance_after"),
    [
        (
            "points reward",
            {"reward": {"id": "98", "points": "500", "description": "Free widget"}},
            {"points": "2100", "monetary": "21.00", "currency": "USD"},
        ),
        (
            "points custom",
            {"custom": {"points": "100"}},
            {"points": "2500", "monetary": "25.00", "currency": "USD"},
        ),
        (
            "points monetary",
            {"monetary": {"amount": "9.95", "currency": "USD", "points": "995"}},
            {"points": "1605", "monetary": "16.05", "currency": "USD"},
        ),
        (
            "points combination",
            {
                "reward": {"id": "98", "points": "500", "description": "Free widget"},
                "custom": {"points": "100"},
                "monetary": {"amount": "9.95", "currency": "USD", "points": "995"},
            },
            {"points": "1005", "monetary": "10.05", "currency": "USD"},
        ),
        (
            "gift card",
            {"deduct": {"amount": "9.95", "currency": "USD", "description": "Custom description"}},
            {"amount": "28.80", "currency": "USD"},
        ),
        (
            "events",
            {"reward": {"id": "41", "amount": "5", "description": "10% off your next visit"}},
            {"events": "1"},
        ),
        (
            "earn-per-event",
            {"deduct": {"amount": "9.95", "currency": "USD", "description": "Custom description"}},
            {"amount": "8.05", "currency": "USD"},
        ),
    ],
)
async def test_seed_003_redeem_examples_on_the_demo_campaigns(
    sandbox: Sandbox, name: str, blocks: dict[str, Any], balance_after: dict[str, str]
) -> None:
    body, campaign_id = SEED_003_REDEEMS[name]
    receipt = (await sandbox.ok({**body, "campaign_id": campaign_id}))["receipt"]
    assert receipt["agency"] == {
        "id": d.AGENCY_ID,
        "name": d.AGENCY_NAME,
        "email": d.AGENCY_EMAIL,
    }
    transaction = receipt["transaction"]
    assert transaction["description"] == "Custom description"
    assert {key: transaction[key] for key in blocks} == blocks
    assert transaction["balance"] == balance_after
    document = await sandbox.ok(type="customer_balance", code=d.JOHN_CODE, campaign_id=campaign_id)
    latest = document["campaign"]["customer"]["transactions"][0]
    assert latest["redeemed"] == "Y"
    assert latest["authorization"] == "Custom description"


async def test_seed_003_buyx_redeem_on_the_demo_campaign(sandbox: Sandbox) -> None:
    body, campaign_id = SEED_003_REDEEMS["buy-x"]
    transaction = (await sandbox.ok({**body, "campaign_id": campaign_id}))["receipt"][
        "transaction"
    ]
    assert transaction["reward"] == {"service_product": "Coffees", "deduct": "10"}
    assert transaction["balances"][1] == {"name": "Coffees", "current": "2", "cumulative": "12"}
    assert (await sandbox.error({**body, "campaign_id": campaign_id})).startswith(
        "Insufficient balance: the customer has 2 items of Coffees"
    )


async def test_buyx_redeem_by_identifier_deducts_the_reward_level(sandbox: Sandbox) -> None:
    await sandbox.ok(
        type="record_activity",
        code=d.JOHN_CODE,
        campaign_id=d.BUYX_CAMPAIGN,
        service_product="[CAKE]",
        buyx_quantity="3",
    )
    await sandbox.ok(
        type="redeem", code=d.JOHN_CODE, campaign_id=d.BUYX_CAMPAIGN, reward_to_redeem="[CAKE]"
    )
    assert await sandbox.items() == {"Cakes": "0", "Coffees": "12"}


async def test_redeem_refusals_leave_balances_alone(sandbox: Sandbox) -> None:
    redeem = {"type": "redeem", "code": d.JANE_CODE}
    too_much = await sandbox.error(
        redeem, campaign_id=d.POINTS_CAMPAIGN, custom_points_redeem="2001"
    )
    assert too_much == (
        "Insufficient balance: the customer has 2000 points in campaign 1111222233334444,"
        " the redemption needs 2001 points"
    )
    combined = await sandbox.error(
        redeem,
        campaign_id=d.POINTS_CAMPAIGN,
        reward_to_redeem=d.FREE_WIDGET_REWARD,
        custom_dollars_redeem="15.01",
    )
    assert combined.endswith("the redemption needs 2001 points")
    assert await sandbox.error(
        redeem, campaign_id=d.EARNED_CAMPAIGN, reward_to_redeem="45.01"
    ) == (
        "Insufficient balance: the customer has $45.00 in campaign 4444555566667777,"
        " the redemption needs $45.01"
    )
    assert await sandbox.error(redeem, campaign_id=d.POINTS_CAMPAIGN) == (
        "one of reward_to_redeem, custom_points_redeem or custom_dollars_redeem is required"
    )
    assert await sandbox.error(redeem, campaign_id=d.POINTS_CAMPAIGN, reward_to_redeem="41") == (
        f"reward 41 is not a reward of campaign {d.POINTS_CAMPAIGN}"
    )
    assert (
        await sandbox.error(
            type="redeem",
            card_number=d.JANE_CARD,
            campaign_id=d.POINTS_CAMPAIGN,
            custom_points_redeem="1",
        )
        == "code is required"
    )
    ghost = await sandbox.json(
        type="redeem", code="ghost", campaign_id=d.POINTS_CAMPAIGN, custom_points_redeem="1"
    )
    assert ghost == {"status": "no_match", "message": "No customer has code ghost"}
    assert await sandbox.balance(d.POINTS_CAMPAIGN, d.JANE_CODE) == "2000"
    assert await sandbox.balance(d.EARNED_CAMPAIGN, d.JANE_CODE) == "45.00"


async def test_points_redeem_by_merchant_reward_id_and_exact_balance(sandbox: Sandbox) -> None:
    await sandbox.ok(
        type="redeem",
        code=d.JANE_CODE,
        campaign_id=d.POINTS_CAMPAIGN,
        reward_to_redeem="SKU-COFFEE",
        custom_points_redeem="1700",
    )
    assert await sandbox.balance(d.POINTS_CAMPAIGN, d.JANE_CODE) == "0"


async def test_custom_dollars_round_up_to_points_and_need_a_reward_ratio(
    sandbox: Sandbox,
) -> None:
    ledger = sandbox.app[LEDGER]
    with ledger.transaction():
        ledger.add_campaign(d.ACCOUNT_ID, Campaign("9090", "No ratio", "points"))
        ledger.add_campaign(
            d.ACCOUNT_ID,
            Campaign("9191", "Three cents", "points", reward_ratio=Decimal("0.03")),
        )
    await sandbox.ok(type="record_activity", code=d.JOHN_CODE, campaign_id="9090", amount="5")
    assert await sandbox.balance("9090") == "500"
    assert (
        await sandbox.error(
            type="redeem", code=d.JOHN_CODE, campaign_id="9090", custom_dollars_redeem="1"
        )
        == "custom_dollars_redeem needs a spend-to-reward ratio; campaign 9090 has none"
    )
    await sandbox.ok(type="record_activity", code=d.JOHN_CODE, campaign_id="9191", amount="1")
    transaction = (
        await sandbox.ok(
            type="redeem", code=d.JOHN_CODE, campaign_id="9191", custom_dollars_redeem="1.00"
        )
    )["receipt"]["transaction"]
    # $1.00 at $0.03 a point is 33.3 points: the customer pays 34; 66 points are worth $1.98.
    assert transaction["monetary"] == {"amount": "1.00", "currency": "USD", "points": "34"}
    assert transaction["balance"] == {"points": "66", "monetary": "1.98", "currency": "USD"}


async def test_transaction_delete(sandbox: Sandbox) -> None:
    root = ET.fromstring((await sandbox.post(SEED_003_DELETE)).text)
    assert root.findtext("error") == (
        "campaign_id 4564222953051300 is not a campaign of account greatwidgets"
    )
    receipt = await sandbox.ok(
        type="record_activity", code=d.JOHN_CODE, campaign_id=d.POINTS_CAMPAIGN, amount="10"
    )
    transaction_id = receipt["receipt"]["transaction"]["id"]
    assert await sandbox.balance(d.POINTS_CAMPAIGN) == "3600"
    wrong_customer = {
        "type": "transaction_delete",
        "campaign_id": d.POINTS_CAMPAIGN,
        "code": d.JANE_CODE,
        "transaction_id": transaction_id,
    }
    assert await sandbox.error(wrong_customer) == (
        f"transaction {transaction_id} is not a transaction of customer {d.JANE_CODE}"
        f" in campaign {d.POINTS_CAMPAIGN}"
    )
    deleted = await sandbox.json(wrong_customer | {"code": d.JOHN_CODE})
    assert deleted == {"status": "success"}
    assert await sandbox.balance(d.POINTS_CAMPAIGN) == "2600"
    for missing in ("campaign_id", "code", "transaction_id"):
        body = {k: v for k, v in (wrong_customer | {"code": d.JOHN_CODE}).items() if k != missing}
        assert await sandbox.error(body) == f"{missing} is required"


async def test_campaigns_list_filters_pages_and_shapes(sandbox: Sandbox) -> None:
    everything = await sandbox.ok(type="campaigns_list")
    assert everything["account_name"] == "Great Widgets Rewards"
    assert [c["id"] for c in everything["campaigns"]] == [c.campaign_id for c in d.CAMPAIGNS]
    by_id = {c["id"]: c for c in everything["campaigns"]}
    assert by_id[d.POINTS_CAMPAIGN] == {
        "id": d.POINTS_CAMPAIGN,
        "name": "Widget Rewards",
        "type": "points",
        "currency": "USD",
        "glyph": "$",
        "created_stamp": "2024-01-02 09:00:00",
        "points_ratio": "100",
        "reward_ratio": "0.01",
    }
    assert by_id[d.EARNED_CAMPAIGN]["earned_per_event"] == "4.50"
    assert by_id[d.BUYX_CAMPAIGN]["items"] == [
        {"id": "95", "description": "Cakes", "reward_level": "5", "item_identifier": "CAKE"},
        {"id": "96", "description": "Coffees", "reward_level": "10", "item_identifier": "COFFEE"},
    ]
    restricted = await sandbox.ok(type="campaigns_list", type_restrict="buyx, Events")
    assert [c["id"] for c in restricted["campaigns"]] == [d.EVENTS_CAMPAIGN, d.BUYX_CAMPAIGN]
    page = await sandbox.ok(
        AUTH15, type="campaigns_list", type_restrict="points", offset="1", length="1"
    )
    assert [c["id"] for c in page["campaigns"]] == [d.SIGNUP_CAMPAIGN]
    assert page["pagination"] == {"total": "3", "offset": "1"}
    searched = await sandbox.ok(
        type="campaigns_list",
        searchField="campaign_name",
        searchOper="cn",
        searchValue="Points",
        sortField="campaign_id",
        sortOrder="DESC",
    )
    assert [c["id"] for c in searched["campaigns"]] == [d.IMPORT_CAMPAIGN, d.SIGNUP_CAMPAIGN]
    assert await sandbox.error(type="campaigns_list", type_restrict="coupons") == (
        "type_restrict: 'coupons' is not one of points, giftcard, events, earned, buyx"
    )
    assert await sandbox.error(type="campaigns_list", offset="-1") == (
        "offset must be a whole number from 0 to 1000000000, not '-1'"
    )


async def test_campaign_rewards_items_and_promos(sandbox: Sandbox) -> None:
    rewards = await sandbox.ok(type="campaign_rewards", campaign_id=d.EVENTS_CAMPAIGN)
    assert rewards["campaign"] == {"id": d.EVENTS_CAMPAIGN}
    assert rewards["rewards"] == [
        {"id": "41", "level": "5", "description": "10% off your next visit", "reward_id": ""},
        {"id": "42", "level": "10", "description": "Free widget polish", "reward_id": ""},
    ]
    items = await sandbox.ok(
        AUTH15, type="buyx_items_list", campaign_id=d.BUYX_CAMPAIGN, length="1"
    )
    assert items["items"] == [
        {"id": "95", "description": "Cakes", "reward_level": "5", "item_identifier": "CAKE"}
    ]
    assert await sandbox.error(type="buyx_items_list", campaign_id=d.POINTS_CAMPAIGN) == (
        f"campaign {d.POINTS_CAMPAIGN} is a points campaign, not buyx"
    )
    promos = await sandbox.ok(AUTH15, type="campaign_promos", campaign_id=d.POINTS_CAMPAIGN)
    assert [(p["id"], p["operand"], p["value"]) for p in promos["promos"]] == [
        ("89", "x", "2"),
        ("123", "+", "100"),
        ("345", "x", "1.5"),
        ("354", "+", "250"),
    ]
    assert promos["promos"][0]["description"] == "Double Points Tuesday"
    assert await sandbox.error(type="campaign_rewards") == "campaign_id is required"


async def test_seed_000_customers_batch_as_written_names_the_bad_header(sandbox: Sandbox) -> None:
    root = ET.fromstring((await sandbox.post(SEED_000_CUSTOMERS_BATCH)).text)
    assert root.get("status") == "error"
    assert root.findtext("error") == "profiles_header_5 names an unknown field 'custome_date'"
    fixed_header = SEED_000_CUSTOMERS_BATCH | {"profiles_header_5": "custom_date"}
    root = ET.fromstring((await sandbox.post(fixed_header)).text)
    assert (
        root.findtext("error") == "campaign_id 898989889 is not a campaign of account greatwidgets"
    )


async def test_seed_000_customers_batch_with_demo_campaigns(sandbox: Sandbox) -> None:
    body = SEED_000_CUSTOMERS_BATCH | {
        "profiles_header_5": "custom_date",
        "campaigns_to_include": f"{d.POINTS_CAMPAIGN}|,|{d.EVENTS_CAMPAIGN}",
    }
    root = ET.fromstring((await sandbox.post(body)).text)
    batch = root.find("batch")
    assert batch is not None and batch.get("status") == "imported"
    assert (batch.findtext("customers/new"), batch.findtext("customers/updated")) == ("3", "0")
    rows = [
        (row.findtext("line"), row.findtext("status"), row.findtext("code"))
        for row in batch.findall("rows/row")
    ]
    assert rows == [("2", "new", "11223344"), ("3", "new", "22334455"), ("4", "new", "33445566")]
    info = await sandbox.info("22334455")
    assert (info["customer"]["first_name"], info["customer"]["custom_date"]) == (
        "jim",
        "1966-07-28",
    )
    assert [c["id"] for c in info["campaigns"]] == [d.POINTS_CAMPAIGN, d.EVENTS_CAMPAIGN]

    again = await sandbox.ok(body)
    assert again["batch"]["customers"] == {"new": "0", "updated": "3", "skipped": "0"}


@pytest.mark.parametrize(("delimiter", "char"), [("pipe", "|"), ("comma", ","), ("tab", "\t")])
async def test_customers_batch_delimiters(sandbox: Sandbox, delimiter: str, char: str) -> None:
    lines = [["", "900001", "Ann", "ann@example.com"], ["B-2", "900002", "Bob", ""]]
    answer = await sandbox.ok(
        AUTH15,
        type="customers_batch",
        delimiter=delimiter,
        allow_undo="yes",
        campaigns_to_include=f"{d.GIFTCARD_CAMPAIGN}, {d.EARNED_CAMPAIGN}",
        profiles_header_1="code",
        profiles_header_2="card_number",
        profiles_header_3="first_name",
        profiles_header_4="email",
        profiles_data="\r\n".join(char.join(line) for line in lines),
    )
    rows = answer["batch"]["rows"]
    assert [row["status"] for row in rows] == ["new", "new"]
    assert len(rows[0]["code"]) == 16 and rows[0]["card_number"] == "900001"
    assert rows[1]["code"] == "B-2"
    ann = await sandbox.ok(type="customer_info", card_number="900001")
    assert (ann["customer"]["first_name"], ann["customer"]["email"]) == ("Ann", "ann@example.com")
    assert [c["id"] for c in ann["campaigns"]] == [d.GIFTCARD_CAMPAIGN, d.EARNED_CAMPAIGN]


@pytest.mark.parametrize(
    ("mode", "status", "first_name", "email", "card"),
    [
        ("ignore", "skipped", "John", "jsmith@workemail.com", d.JOHN_CARD),
        ("update", "updated", "Johnny", "jsmith@workemail.com", d.JOHN_CARD),
        ("yes", "updated", "Johnny", "", ""),
    ],
)
async def test_customers_batch_overwrite_modes(
    sandbox: Sandbox, mode: str, status: str, first_name: str, email: str, card: str
) -> None:
    answer = await sandbox.ok(
        AUTH15,
        type="customers_batch",
        delimiter="pipe",
        overwrite_duplicates=mode,
        campaigns_to_include=d.POINTS_CAMPAIGN,
        profiles_header_1="code",
        profiles_header_2="first_name",
        profiles_header_3="phone",
        profiles_data=f"{d.JOHN_CODE}|Johnny|",
    )
    counts = {"new": "0", "updated": "0", "skipped": "0"} | {status: "1"}
    assert answer["batch"]["customers"] == counts
    john = (await sandbox.info())["customer"]
    assert (john["first_name"], john["email"], john["card_number"]) == (first_name, email, card)
    assert john["phone"] == ("" if mode == "yes" else "555-5555")
    assert await sandbox.balance(d.POINTS_CAMPAIGN) == "2600"


async def test_customers_batch_rows_fail_alone(sandbox: Sandbox) -> None:
    answer = await sandbox.ok(
        {
            **AUTH,
            "Profiles_Header_1": "card_number",
            "profiles_header_2": "custom_date",
            "profiles_header_4": "auto_add",
            "profiles_header_5": "customer_PIN",
        },
        type="customers_batch",
        delimiter="pipe",
        overwrite_duplicates="update",
        no_undo="yes",
        card_number_generate="10",
        campaigns_to_include=f"{d.POINTS_CAMPAIGN}|,|{d.SIGNUP_CAMPAIGN}",
        Profiles_Data="\n".join(
            [
                "|2001-02-03|250|4321",
                "800002|04/03/2010||",
                "800003|2001-02-30||",
                f"{d.JANE_CARD}||10|",
                "800005|||",
                "800006|||||",
                "800007||lots|",
            ]
        ),
    )
    rows = _rows(answer)
    assert rows[1]["status"] == "new" and len(rows[1]["card_number"]) == 10
    assert rows[2]["error"] == "custom_date must be in YYYY-MM-DD format, not '04/03/2010'"
    assert rows[3]["error"] == "custom_date must be in YYYY-MM-DD format, not '2001-02-30'"
    assert (rows[4]["status"], rows[4]["code"]) == ("updated", d.JANE_CODE)
    assert rows[5]["status"] == "new"
    assert rows[6]["error"] == "the line has 6 fields but only 4 headers"
    assert rows[7]["error"] == "auto_add 'lots' is not an amount"
    assert rows[7]["card_number"] == "800007"
    assert answer["batch"]["customers"] == {"new": "2", "updated": "1", "skipped": "0"}
    assert await sandbox.balance(d.POINTS_CAMPAIGN, rows[1]["code"]) == "250"
    assert await sandbox.balance(d.POINTS_CAMPAIGN, d.JANE_CODE) == "2010"
    assert (await sandbox.json(type="customer_info", card_number="800007"))["status"] == "no_match"
    assert await sandbox.ok(
        type="validate_customer_password", card_number=rows[1]["card_number"], customer_PIN="4321"
    )


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            {"profiles_header_1": "code", "profiles_header_4": "phone"},
            "profiles_header_4 comes after profiles_header_1: number the headers from 1"
            " and do not skip more than one",
        ),
        (
            {"profiles_header_3": "code"},
            "profiles_header_3 comes after the start: number the headers from 1"
            " and do not skip more than one",
        ),
        (
            {"profiles_header_1": "code", "profiles_header_2": "Code"},
            "profiles_header_2 names 'Code' a second time",
        ),
        ({}, "profiles_header_1 is required: name the field of each column"),
    ],
)
async def test_customers_batch_header_numbering(
    sandbox: Sandbox, headers: dict[str, str], message: str
) -> None:
    body = {"type": "customers_batch", "delimiter": "pipe", "profiles_data": "a|b|c"}
    assert await sandbox.error(body | headers, campaigns_to_include=d.POINTS_CAMPAIGN) == message


async def test_customers_batch_one_skipped_header_number_is_allowed(sandbox: Sandbox) -> None:
    answer = await sandbox.ok(
        type="customers_batch",
        delimiter="comma",
        campaigns_to_include=d.POINTS_CAMPAIGN,
        profiles_header_1="code",
        profiles_header_3="last_name",
        profiles_data="GAP-1,Gapson",
    )
    assert answer["batch"]["rows"][0]["status"] == "new"
    assert (await sandbox.info("GAP-1"))["customer"]["last_name"] == "Gapson"


async def test_customers_batch_call_level_refusals(sandbox: Sandbox) -> None:
    base = {
        "type": "customers_batch",
        "profiles_header_1": "code",
        "profiles_data": "X",
        "delimiter": "pipe",
        "campaigns_to_include": d.POINTS_CAMPAIGN,
    }
    assert await sandbox.error(base | {"delimiter": "semicolon"}) == (
        "delimiter must be pipe, comma or tab, not 'semicolon'"
    )
    assert await sandbox.error(base | {"campaigns_to_include": ""}) == (
        "campaigns_to_include is required: at least one campaign_id"
    )
    assert await sandbox.error(base | {"overwrite_duplicates": "merge"}) == (
        "overwrite_duplicates must be yes, update or ignore, not 'merge'"
    )
    assert await sandbox.error(base | {"profiles_data": "\n \n"}) == (
        "profiles_data is required: one line per row"
    )


async def test_seed_003_batch_php_example_as_written_has_a_wrong_key(sandbox: Sandbox) -> None:
    root = ET.fromstring((await sandbox.post(SEED_003_BATCH_PHP)).text)
    assert root.get("status") == "error"
    assert (root.findtext("error") or "").startswith("Authentication failed")


async def test_seed_003_batch_php_example_with_the_demo_key(sandbox: Sandbox) -> None:
    root = ET.fromstring(
        (await sandbox.post(SEED_003_BATCH_PHP | {"user_api_key": d.API_KEY})).text
    )
    batch = root.find("batch")
    assert batch is not None and batch.get("status") == "all_imported"
    assert batch.findtext("transactions") == "7"
    assert batch.findtext("new_customers") == "0"
    assert [row.findtext("line") for row in batch.findall("rows/row")] == [
        str(n) for n in range(2, 9)
    ]
    # apply_ratio=yes: money × 100 points (1495 + 5000 + 3467 + 50 + 75 + 200), less reward 1500.
    assert await sandbox.balance(d.IMPORT_CAMPAIGN, d.JANE_CODE) == "8787"
    history = await sandbox.ok(
        type="customer_balance", code=d.JANE_CODE, campaign_id=d.IMPORT_CAMPAIGN
    )
    dates = {t["date"] for t in history["campaign"]["customer"]["transactions"]}
    assert dates == {"2010-03-15 00:00:00"}


async def test_seed_003_points_table_as_written_imports_the_good_rows(sandbox: Sandbox) -> None:
    answer = await sandbox.ok(POINTS_TABLE)
    assert answer["batch"]["status"] == "partially_imported"
    assert answer["batch"]["transactions"] == "3"
    rows = _rows(answer)
    assert list(rows) == [1, 3, 5, 7, 9, 11, 13]
    assert rows[1]["error"] == "date '2013-0315' is not YYYY-MM-DD (or MM/DD/YYYY)"
    for line, amount in ((5, "34.67"), (7, "0,50"), (9, ".75")):
        assert rows[line]["error"] == (
            f"amount '{amount}' is not a whole number of points"
            " (apply_ratio is no: amount is points)"
        )
    assert [rows[line]["status"] for line in (3, 11, 13)] == ["imported"] * 3
    assert rows[3]["transaction_id"].isdigit() and rows[3]["error"] == ""
    # 2000 + (50 × 1.5 + 250, promo 345 counted once) + 2 − 1500
    assert await sandbox.balance(d.POINTS_CAMPAIGN, d.JANE_CODE) == "827"


async def test_points_table_with_apply_ratio_converts_money(sandbox: Sandbox) -> None:
    data = (
        POINTS_TABLE["Visits_Data"]
        .replace("2013-0315", "03/15/2013")
        .replace("|Y|1500|", "|Y|98|")
    )
    answer = await sandbox.ok(POINTS_TABLE | {"apply_ratio": "yes", "Visits_Data": data})
    assert answer["batch"]["status"] == "all_imported"
    # (1495 + 100) + (5000 × 1.5 + 250) + 3467 + 50 + 75 + 200 − reward 98 (500 points)
    assert await sandbox.balance(d.POINTS_CAMPAIGN, d.JANE_CODE) == str(
        2000 + 1595 + 7750 + 3467 + 50 + 75 + 200 - 500
    )


@pytest.mark.parametrize(
    ("tables", "campaign_id", "expected"),
    [
        ([GIFTCARD_TABLE], d.GIFTCARD_CAMPAIGN, "0.00"),
        ([VISITS_ADD_TABLE], d.EVENTS_CAMPAIGN, "2"),
        ([VISITS_ADD_TABLE, EVENTS_REDEEM_TABLE], d.EVENTS_CAMPAIGN, "0"),
        ([VISITS_ADD_TABLE], d.EARNED_CAMPAIGN, "54.00"),
        ([VISITS_ADD_TABLE, EARNED_REDEEM_TABLE], d.EARNED_CAMPAIGN, "7.05"),
    ],
    ids=["giftcard", "events-add", "events-redeem", "earned-add", "earned-redeem"],
)
async def test_seed_003_tables_on_the_demo_campaign_of_their_kind(
    sandbox: Sandbox, tables: list[dict[str, str]], campaign_id: str, expected: str
) -> None:
    for table in tables:
        answer = await sandbox.ok(_on_campaign(table, campaign_id))
        assert answer["batch"]["status"] == "all_imported", answer
    assert await sandbox.balance(campaign_id, d.JANE_CODE) == expected


async def test_a_batch_redemption_beyond_the_balance_is_a_row_error(sandbox: Sandbox) -> None:
    answer = await sandbox.ok(_on_campaign(EVENTS_REDEEM_TABLE, d.EVENTS_CAMPAIGN))
    assert answer["batch"]["status"] == "none_imported"
    assert answer["batch"]["transactions"] == "0"
    assert answer["batch"]["rows"][0]["error"] == (
        f"Insufficient balance: the customer has 0 events in campaign {d.EVENTS_CAMPAIGN},"
        " the redemption needs 2 events"
    )


async def test_seed_003_buyx_table_on_the_demo_campaign(sandbox: Sandbox) -> None:
    answer = await sandbox.ok(_on_campaign(BUYX_TABLE, d.BUYX_CAMPAIGN))
    assert answer["batch"]["status"] == "all_imported"
    assert await sandbox.items(d.JANE_CODE) == {"Cakes": "1", "Coffees": "2"}


@pytest.mark.parametrize(
    ("table", "errors"),
    [
        (GIFTCARD_TABLE, ["not a whole number of points"] * 3),
        (BUYX_TABLE, ["service_product is for buy-X campaigns"] * 3),
        (EARNED_REDEEM_TABLE, ["not a whole number of points"]),
    ],
    ids=["giftcard", "buyx", "earned-redeem"],
)
async def test_seed_003_tables_as_written_run_on_the_points_campaign(
    sandbox: Sandbox, table: dict[str, str], errors: list[str]
) -> None:
    answer = await sandbox.ok(table)
    assert answer["batch"]["status"] == "none_imported"
    for row, fragment in zip(answer["batch"]["rows"], errors, strict=True):
        assert fragment in row["error"]
    assert await sandbox.balance(d.POINTS_CAMPAIGN, d.JANE_CODE) == "2000"


async def test_events_table_as_written_records_zero_point_visits(sandbox: Sandbox) -> None:
    assert (await sandbox.ok(VISITS_ADD_TABLE))["batch"]["status"] == "all_imported"
    assert (await sandbox.ok(EVENTS_REDEEM_TABLE))["batch"]["status"] == "all_imported"
    assert await sandbox.balance(d.POINTS_CAMPAIGN, d.JANE_CODE) == "1998"


@pytest.mark.parametrize(
    ("campaign_id", "rows", "expected"),
    [
        (d.EVENTS_CAMPAIGN, [f"{d.EVENTS_CAMPAIGN}|{d.JOHN_CARD}|Y|41"], "1"),
        (d.EARNED_CAMPAIGN, [f"{d.EARNED_CAMPAIGN}|{d.JOHN_CARD}|N|3"], "31.50"),
        (d.EARNED_CAMPAIGN, [f"{d.EARNED_CAMPAIGN}|{d.JOHN_CARD}|N|"], "22.50"),
        (d.BUYX_CAMPAIGN, [f"{d.BUYX_CAMPAIGN}|{d.JOHN_CARD}|Y|1|Coffees"], "2"),
        (d.BUYX_CAMPAIGN, [f"{d.BUYX_CAMPAIGN}|{d.JOHN_CARD}|N|4|Cakes"], "6"),
    ],
    ids=["events-reward", "earned-events", "earned-one-event", "buyx-free-items", "buyx-buy"],
)
async def test_apply_ratio_yes_per_kind(
    sandbox: Sandbox, campaign_id: str, rows: list[str], expected: str
) -> None:
    answer = await sandbox.ok(
        {
            **_BATCH_BASE,
            **_headers("campaign_id", "code", "redeemed", "amount", "service_product"),
        },
        apply_ratio="yes",
        visits_data="\n".join(rows),
    )
    assert answer["batch"]["status"] == "all_imported", answer
    if campaign_id == d.BUYX_CAMPAIGN:
        product = rows[0].split("|")[-1]
        assert (await sandbox.items())[product] == expected
    else:
        assert await sandbox.balance(campaign_id) == expected


@pytest.mark.parametrize(("delimiter", "char"), [("comma", ","), ("tab", "\t"), ("pipe", "|")])
async def test_batch_transactions_delimiters_none_columns_and_custom_fields(
    sandbox: Sandbox, delimiter: str, char: str
) -> None:
    columns = ["campaign_id", "none", "code", "redeemed", "amount", "date", "custom_field_3"]
    rows = [
        [d.GIFTCARD_CAMPAIGN, "skip me", d.JOHN_CARD, "N", "10.5", "2025-06-01", "Store 7"],
        [d.GIFTCARD_CAMPAIGN, "", d.JOHN_CODE, "y", "0.25", "", ""],
    ]
    answer = await sandbox.ok(
        {**AUTH15, **{f"Visits_Header_{n}": c for n, c in enumerate(columns, 1)}},
        type="batch_transactions",
        delimiter=delimiter,
        **{"no-undo": "yes"},
        VISITS_DATA="\n".join(char.join(row) for row in rows),
    )
    assert answer["batch"]["status"] == "all_imported"
    assert await sandbox.balance(d.GIFTCARD_CAMPAIGN) == "49.00"


async def test_batch_transactions_row_errors_and_new_customers(sandbox: Sandbox) -> None:
    answer = await sandbox.ok(
        {
            **_BATCH_BASE,
            **_headers("campaign_id", "code", "redeemed", "amount", "date", "promo_id"),
        },
        visits_data="\n".join(
            [
                f"{d.POINTS_CAMPAIGN}|NEWBIE|N|100|12/31/2024|",
                f"{d.POINTS_CAMPAIGN}|NEWBIE|maybe|1|2024-12-31|",
                "999|NEWBIE|N|1|2024-12-31|",
                f"{d.GIFTCARD_CAMPAIGN}|NEWBIE|N|1|2024-12-31|89",
                f"{d.POINTS_CAMPAIGN}||N|1|2024-12-31|",
                f"{d.POINTS_CAMPAIGN}|NEWBIE|N|1|2024-12-31|89|extra",
                f"{d.POINTS_CAMPAIGN}|NEWBIE|N|1|13/01/2024|",
                f"{d.POINTS_CAMPAIGN}|NEWBIE|Y||2024-12-31|",
                f"{d.POINTS_CAMPAIGN}|OTHER|Y|5|2024-12-31|",
                f"{d.POINTS_CAMPAIGN}|NEWBIE|N|10|2024-12-31|89,123",
            ]
        ),
    )
    rows = _rows(answer)
    assert rows[1]["status"] == "imported"
    assert rows[2]["error"] == "redeemed must be Y or N, not 'maybe'"
    assert rows[3]["error"] == "campaign_id 999 is not a campaign of account greatwidgets"
    assert rows[4]["error"] == (
        f"promo_id is for points campaigns; campaign {d.GIFTCARD_CAMPAIGN} is a giftcard campaign"
    )
    assert rows[5]["error"] == "code is empty"
    assert rows[6]["error"] == "the line has 7 fields but only 6 headers"
    assert rows[7]["error"] == "date '13/01/2024' is not YYYY-MM-DD (or MM/DD/YYYY)"
    assert rows[8]["error"] == "amount is required"
    assert rows[9]["error"].startswith("Insufficient balance: the customer has 0 points")
    assert rows[10]["status"] == "imported"
    # The failed redemption for OTHER did not leave a customer behind; NEWBIE counts once.
    assert answer["batch"]["new_customers"] == "1"
    assert (await sandbox.json(type="customer_info", code="OTHER"))["status"] == "no_match"
    # 100 points, then 10 × 2 + 100
    assert await sandbox.balance(d.POINTS_CAMPAIGN, "NEWBIE") == "220"
    history = await sandbox.ok(
        type="customer_balance", code="NEWBIE", campaign_id=d.POINTS_CAMPAIGN
    )
    assert history["campaign"]["customer"]["transactions"][-1]["date"] == "2024-12-31 00:00:00"


async def test_batch_transactions_can_refuse_unknown_customers(sandbox: Sandbox) -> None:
    answer = await sandbox.ok(
        {**_BATCH_BASE, **_headers("campaign_id", "code", "redeemed")},
        create_new_customers="N",
        visits_data=f"{d.EVENTS_CAMPAIGN}|STRANGER|N\n{d.EVENTS_CAMPAIGN}|{d.JOHN_CODE}|N",
    )
    rows = answer["batch"]["rows"]
    assert rows[0]["error"] == "no customer has code or card_number STRANGER"
    assert rows[1]["status"] == "imported"
    assert answer["batch"]["status"] == "partially_imported"


async def test_batch_transactions_new_buyx_items_come_from_purchases(sandbox: Sandbox) -> None:
    answer = await sandbox.ok(
        {**_BATCH_BASE, **_headers("campaign_id", "code", "redeemed", "service_product")},
        visits_data="\n".join(
            [
                f"{d.BUYX_CAMPAIGN}|{d.JANE_CARD}|N|Muffins",
                f"{d.BUYX_CAMPAIGN}|{d.JANE_CARD}|Y|Scones",
                f"{d.BUYX_CAMPAIGN}|{d.JANE_CARD}|N|",
            ]
        ),
    )
    rows = answer["batch"]["rows"]
    assert rows[0]["status"] == "imported"
    assert (
        rows[1]["error"]
        == f"service_product 'Scones' is not an item of campaign {d.BUYX_CAMPAIGN}"
    )
    assert rows[2]["error"] == f"service_product is required for buy-X campaign {d.BUYX_CAMPAIGN}"
    listed = await sandbox.ok(type="buyx_items_list", campaign_id=d.BUYX_CAMPAIGN)
    assert [item["description"] for item in listed["items"]] == ["Cakes", "Coffees", "Muffins"]
    assert (await sandbox.items(d.JANE_CODE))["Muffins"] == "1"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"visits_header_2": "customer"}, "visits_header_2 names an unknown field 'customer'"),
        ({"visits_header_3": "none"}, "a visits_header_N must name the redeemed column"),
        ({"visits_header_2": "none"}, "a visits_header_N must name the code column"),
        ({"apply_ratio": "maybe"}, "apply_ratio must be yes or no, not 'maybe'"),
        ({"delimiter": ""}, "delimiter is required: pipe, comma or tab"),
        ({"visits_data": ""}, "visits_data is required: one line per row"),
    ],
)
async def test_batch_transactions_call_level_refusals(
    sandbox: Sandbox, fields: dict[str, str], message: str
) -> None:
    body = {
        **_BATCH_BASE,
        **_headers("campaign_id", "code", "redeemed"),
        "visits_data": f"{d.EVENTS_CAMPAIGN}|{d.JOHN_CODE}|N",
    }
    assert await sandbox.error(body | fields) == message


async def test_fault_injection_through_the_sandbox(sandbox: Sandbox) -> None:
    probe = {**AUTH, "type": "customer_exists", "code": d.JOHN_CODE, "output": "JSON"}
    control = await sandbox.http.post("/_sandbox/faults", json={"error_status": 503, "count": 1})
    assert control.json() == {"ok": True}
    failed = await sandbox.http.post("/api.php", data=probe)
    assert (failed.status_code, failed.text) == (503, "sandbox: injected fault")
    assert (await sandbox.http.post("/api.php", data=probe)).json()["status"] == "success"

    await sandbox.http.post("/_sandbox/faults", json={"drop": True, "count": 1})
    with pytest.raises(httpx.TransportError):
        await sandbox.http.post("/api.php", data=probe)
    assert (await sandbox.http.post("/api.php", data=probe)).json()["status"] == "success"

    await sandbox.http.post("/_sandbox/faults", json={"latency": 0.3})
    with pytest.raises(httpx.ReadTimeout):
        await sandbox.http.post("/api.php", data=probe, timeout=0.1)
    await sandbox.http.delete("/_sandbox/faults")
    answer = await sandbox.http.post("/api.php", data=probe, timeout=1)
    assert answer.json()["status"] == "success"


async def test_a_dropped_redeem_changes_nothing(sandbox: Sandbox) -> None:
    await sandbox.http.post("/_sandbox/faults", json={"drop": True, "count": 1})
    with pytest.raises(httpx.TransportError):
        await sandbox.http.post(
            "/",
            data={
                **AUTH,
                "type": "redeem",
                "code": d.JOHN_CODE,
                "campaign_id": d.POINTS_CAMPAIGN,
                "custom_points_redeem": "100",
            },
        )
    assert await sandbox.balance(d.POINTS_CAMPAIGN) == "2600"


async def test_a_file_database_keeps_customers_and_the_demo_is_added_once(tmp_path: Path) -> None:
    path = tmp_path / "ctb.sqlite3"
    fields = {**AUTH, "output": "JSON"}
    async with (
        serve(create_app(path)) as url,
        httpx.AsyncClient(base_url=url, verify=_TLS) as http,
    ):
        created = await http.post(
            "/",
            data={**fields, "type": "record_customer", "customer_action": "new", "code": "KEEP"},
        )
        assert created.json()["status"] == "success"
    async with (
        serve(create_app(path)) as url,
        httpx.AsyncClient(base_url=url, verify=_TLS) as http,
    ):
        found = await http.post("/", data={**fields, "type": "customer_search"})
        codes = [customer["code"] for customer in found.json()["customers"]]
        assert codes == [d.JOHN_CODE, d.JANE_CODE, "KEEP"]
        listed = await http.post("/", data={**fields, "type": "campaigns_list"})
        assert len(listed.json()["campaigns"]) == len(d.CAMPAIGNS)
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    async with (
        serve(create_app(path, demo=False)) as url,
        httpx.AsyncClient(base_url=url, verify=_TLS) as http,
    ):
        kept = await http.post("/", data={**fields, "type": "customer_info", "code": "KEEP"})
        assert kept.json()["customer"]["code"] == "KEEP"


async def test_an_empty_sandbox_without_the_demo_knows_no_user() -> None:
    async with (
        serve(create_app(demo=False)) as url,
        httpx.AsyncClient(base_url=url, verify=_TLS) as http,
    ):
        answer = await http.post("/", data={**AUTH, "type": "campaigns_list", "output": "JSON"})
        assert answer.json()["error"].startswith("Authentication failed")


async def test_per_customer_calls_never_scan_customers_or_transactions(
    sandbox: Sandbox,
) -> None:
    ledger = sandbox.app[LEDGER]
    with ledger.recorded_statements() as statements:
        await sandbox.ok(type="customer_info", code=d.JOHN_CODE)
        await sandbox.ok(type="customer_info", card_number=d.JANE_CARD)
        await sandbox.ok(type="customer_exists", email="JSMITH@workemail.com")
        await sandbox.ok(type="customer_search", phone="555-5556", exact_match="insensitive")
        await sandbox.ok(
            type="customer_search", email="jdoe@WORKEMAIL.com", exact_match="insensitive"
        )
        await sandbox.ok(type="customer_balance", code=d.JOHN_CODE, campaign_id=d.BUYX_CAMPAIGN)
        await sandbox.ok(SEED_003_RECORD_POINTS)
        await sandbox.ok(
            type="redeem", code=d.JOHN_CODE, campaign_id=d.POINTS_CAMPAIGN, reward_to_redeem="97"
        )
        await sandbox.ok(type="generate_card_number")
    queries = [sql for sql in statements if sql.lstrip().upper().startswith(("SELECT", "UPDATE"))]
    assert len(queries) > 20
    for sql in queries:
        plan = ledger.query_plan(sql)
        # An index used on account_id alone still walks every customer of the account.
        walks = [
            step
            for step in plan
            if (" customers" in step or " transactions" in step)
            and (not step.startswith("SEARCH") or step.endswith("(account_id=?)"))
        ]
        assert not walks, (sql, plan)


async def test_customer_info_and_search_find_the_right_member_among_many_customers(
    sandbox: Sandbox,
) -> None:
    # Speed is measured by bench/sandbox_throughput.py, never asserted here; the query-plan test
    # above proves that no per-customer call walks the whole account.
    data = "\n".join(f"P{n}|{700000 + n}|Person{n}|555-{n:04d}" for n in range(2000))
    imported = await sandbox.ok(
        type="customers_batch",
        delimiter="pipe",
        campaigns_to_include=d.POINTS_CAMPAIGN,
        profiles_header_1="code",
        profiles_header_2="card_number",
        profiles_header_3="first_name",
        profiles_header_4="phone",
        profiles_data=data,
    )
    assert imported["batch"]["customers"]["new"] == "2000"
    for code, first_name in (("P1999", "Person1999"), (d.JOHN_CODE, "John")):
        body = {**AUTH, "type": "customer_info", "code": code, "output": "JSON"}
        response = await sandbox.post(body)
        assert response.json()["customer"]["first_name"] == first_name
        assert float(response.headers["Server-Timing"].split("dur=")[1]) >= 0
    by_phone = await sandbox.ok(
        type="customer_search", phone="555-1999", exact_match="insensitive"
    )
    assert [c["code"] for c in by_phone["customers"]] == ["P1999"]


async def test_run_sandbox_serves_until_cancelled(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    task = asyncio.create_task(run_sandbox("127.0.0.1", port, str(tmp_path / "cli.db")))
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, verify=_TLS) as http:
        async with asyncio.timeout(5):
            while True:
                # Each refused connection yields to the loop, where the server is starting.
                try:
                    answer = await http.post("/", data={**AUTH, "type": "campaigns_list"})
                    break
                except httpx.ConnectError:
                    continue
        assert ET.fromstring(answer.text).get("status") == "success"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
