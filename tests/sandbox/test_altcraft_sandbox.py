"""The Altcraft sandbox spoken to directly over loopback HTTP, the way the vendor pages show it."""

from __future__ import annotations

import asyncio
import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.sandbox.altcraft import create_app, demo, run_sandbox
from bot.sandbox.runner import serve

API = "/api/v1.1/"
TOKEN = demo.TOKEN
PROGRAM = demo.PROGRAM_ID

SEED_004_JSON = """{
"token": "abc123def456",
"loyalty_program_id": 123,
"matching": "email",
"data": [
{
"email": "user1@example.com",
"registration_date": "2024-09-01T12:34:56Z"
},
{
"email": "user2@example.com"
}
]
}"""

SEED_004_XML = """<xml>
<token>abc123def456</token>
<loyalty_program_id>123</loyalty_program_id>
<matching>email</matching>
<data>
<item>
<email>user1@example.com</email>
<registration_date>2024-09-01T12:34:56Z</registration_date>
</item>
<item>
<email>user2@example.com</email>
</item>
</data>
</xml>"""


@pytest.fixture
async def sandbox() -> AsyncIterator[str]:
    async with serve(create_app()) as url:
        yield url


async def call(url: str, method: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        response = await http.post(url + API + method, json=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    answer: dict[str, Any] = response.json()
    return answer


async def call_xml(url: str, method: str, body: str) -> ET.Element:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            url + API + method, content=body, headers={"Content-Type": "application/xml"}
        )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    return ET.fromstring(response.content)


def loyalty(**fields: Any) -> dict[str, Any]:
    return {"token": TOKEN, "loyalty_program_id": PROGRAM, **fields}


ANN = {"matching": "email", "email": "ann@example.com"}


async def test_seed_004_json_example_gets_the_documented_answer(sandbox: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            sandbox + API + "loyalty/register_member_batch",
            content=SEED_004_JSON,
            headers={"Content-Type": "application/json"},
        )
    answer = response.json()
    assert answer == {
        "error": 0,
        "error_text": "Successful operation",
        "result": [
            {
                "error": 0,
                "error_text": "Successful operation",
                "profile_id": "663a138cee44bb50a67115cd",
            },
            {
                "error": 409,
                "error_text": "Member already exists",
                "profile_id": "69df4fd5ff232800e2d1e2d6",
            },
        ],
    }
    again = json.loads(SEED_004_JSON)
    again["data"].append({"email": "nobody@example.com"})
    result = (await call(sandbox, "loyalty/register_member_batch", again))["result"]
    assert [row["error"] for row in result] == [409, 409, 404]
    assert result[2] == {"error": 404, "error_text": "Profile not found", "profile_id": None}


async def test_seed_004_xml_example_gets_the_documented_answer(sandbox: str) -> None:
    root = await call_xml(sandbox, "loyalty/register_member_batch", SEED_004_XML)
    assert root.tag == "xml"
    assert [child.tag for child in root] == ["error", "error_text", "result"]
    assert (root.findtext("error"), root.findtext("error_text")) == ("0", "Successful operation")
    items = root.findall("result/item")
    assert [(i.findtext("error"), i.findtext("profile_id")) for i in items] == [
        ("0", "663a138cee44bb50a67115cd"),
        ("409", "69df4fd5ff232800e2d1e2d6"),
    ]
    unknown = SEED_004_XML.replace(
        "</data>", "<item><email>nobody@example.com</email></item>\n</data>"
    )
    third = (await call_xml(sandbox, "loyalty/register_member_batch", unknown)).findall(
        "result/item"
    )[2]
    assert third.findtext("error") == "404"
    assert third.findtext("error_text") == "Profile not found"
    empty = third.find("profile_id")
    assert empty is not None and empty.text is None and len(empty) == 0


async def test_missing_or_unknown_token_is_error_401(sandbox: str) -> None:
    body = loyalty(**ANN)
    del body["token"]
    assert (await call(sandbox, "loyalty/account/balance", body))["error"] == 401
    unknown = await call(sandbox, "loyalty/account/balance", {**body, "token": "nope"})
    assert (unknown["error"], unknown["error_text"]) == (401, "Invalid API token")
    bearer = await call(sandbox, "loyalty/account/balance", body, Authorization=f"Bearer {TOKEN}")
    assert bearer["error"] == 0
    xml = await call_xml(
        sandbox,
        "loyalty/account/balance",
        f"<xml><loyalty_program_id>{PROGRAM}</loyalty_program_id><matching>email</matching>"
        "<email>ann@example.com</email></xml>",
    )
    assert xml.findtext("error") == "401"


async def test_bad_requests_are_error_400_with_a_reason(sandbox: str) -> None:
    async with httpx.AsyncClient() as http:
        broken = await http.post(
            sandbox + API + "profiles/get",
            content=b"<xml><token>",
            headers={"Content-Type": "application/xml"},
        )
    assert ET.fromstring(broken.content).findtext("error") == "400"
    no_matching = await call(sandbox, "loyalty/account/balance", loyalty(email="ann@example.com"))
    assert (no_matching["error"], no_matching["error_text"]) == (
        400,
        "Parameter matching is required",
    )
    odd = await call(sandbox, "loyalty/account/balance", loyalty(matching="fax", fax="1"))
    assert odd["error"] == 400 and "fax" in odd["error_text"]
    no_email = await call(sandbox, "loyalty/account/balance", loyalty(matching="email"))
    assert "email is required" in no_email["error_text"]
    program = await call(
        sandbox, "loyalty/account/balance", {**loyalty(**ANN), "loyalty_program_id": 9}
    )
    assert (program["error"], program["error_text"]) == (404, "Loyalty program not found")


async def test_batch_limits_refuse_too_many_items_and_too_large_bodies() -> None:
    async with serve(create_app(max_batch_items=3, max_body_bytes=2048)) as url:
        rows = [{"email": f"u{i}@example.com"} for i in range(4)]
        for method in ("loyalty/register_member_batch", "loyalty/register_member_batch_task"):
            over = await call(url, method, loyalty(matching="email", data=rows))
            assert over["error"] == 400
            assert "Too many items in data: 4; the limit is 3" in over["error_text"]
        fits = await call(
            url, "loyalty/register_member_batch", loyalty(matching="email", data=rows[:3])
        )
        assert [row["error"] for row in fits["result"]] == [404, 404, 404]

        padded = loyalty(matching="email", data=[{"email": "a" * 3000 + "@example.com"}])
        big = await call(url, "loyalty/register_member_batch", padded)
        assert big["error"] == 400
        assert "over the limit of 2048 bytes" in big["error_text"]
        async with httpx.AsyncClient() as http:
            xml = await http.post(
                url + API + "loyalty/register_member_batch",
                content="<xml>" + "<pad>x</pad>" * 300 + "</xml>",
                headers={"Content-Type": "application/xml"},
            )
        assert ET.fromstring(xml.content).findtext("error") == "400"


async def wait_for_task(url: str, task_id: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            answer = await call(url, "tasks/status", {"token": TOKEN, "task_id": task_id})
            assert answer["error"] == 0
            if answer["data"]["status"] == "completed":
                return dict(answer["data"])
            await asyncio.sleep(0.01)


async def test_batch_task_completes_with_every_item_in_order(sandbox: str) -> None:
    rows = [{"email": "user1@example.com"}, {"email": "user2@example.com"}]
    rows += [{"email": f"ghost{i}@example.com"} for i in range(1_500)]
    started = await call(
        sandbox, "loyalty/register_member_batch_task", loyalty(matching="email", data=rows)
    )
    task_id = started["data"]["task_id"]
    status = await wait_for_task(sandbox, task_id)
    assert status["progress"] == 100
    result = status["result"]
    assert (result["processed"], result["added"], result["already_members"]) == (1502, 1, 1)
    assert result["not_found"] == 1500
    assert [item["error"] for item in result["items"][:3]] == [0, 409, 404]

    more = loyalty(matching="email", data=[{"email": "ann@example.com"}], task_id=task_id)
    assert (await call(sandbox, "loyalty/register_member_batch_task", more))["error"] == 0
    extended = await wait_for_task(sandbox, task_id)
    assert len(extended["result"]["items"]) == 1503
    assert extended["result"]["items"][-1]["error"] == 409

    unknown = await call(sandbox, "tasks/status", {"token": TOKEN, "task_id": "nope"})
    assert (unknown["error"], unknown["error_text"]) == (404, "Task not found")


@pytest.mark.parametrize("redeem", ["loyalty/redeeme_points", "loyalty/redeem_points"])
async def test_redeeming_over_the_active_balance_is_refused(sandbox: str, redeem: str) -> None:
    pending = await call(
        sandbox,
        "loyalty/accrue_points",
        loyalty(**ANN, amount="80.00", activation_date="2999-01-01T00:00:00Z"),
    )
    assert pending["data"]["balance"] == "120.00"
    balance = await call(sandbox, "loyalty/account/balance", loyalty(**ANN))
    assert balance["data"] == {"total_balance": "200.00", "active_balance": "120.00"}

    over = await call(sandbox, redeem, loyalty(**ANN, amount="120.01"))
    assert over["error"] == 400
    assert (
        over["error_text"] == "Insufficient points: the active balance is 120.00, 120.01 requested"
    )
    spent = await call(sandbox, redeem, loyalty(**ANN, amount="120"))
    assert spent["data"]["balance"] == "0.00"


async def test_temporary_redemptions_hold_points_until_rolled_back(sandbox: str) -> None:
    held = await call(sandbox, "loyalty/redeem_points", loyalty(**ANN, amount="100", is_temp=True))
    assert held["data"]["balance"] == "20.00"
    again = await call(sandbox, "loyalty/redeem_points", loyalty(**ANN, amount="50"))
    assert again["error"] == 400
    rolled = await call(
        sandbox,
        "loyalty/rollback_transaction",
        {"token": TOKEN, "transaction_id": held["data"]["transaction_id"]},
    )
    assert rolled["data"]["balance"] == "120.00"
    accrual = await call(
        sandbox,
        "loyalty/accrue_points",
        loyalty(**ANN, amount="5", is_temp="true", transaction_eid="t-1"),
    )
    assert accrual["data"]["balance"] == "120.00"
    committed = await call(
        sandbox, "loyalty/commit_transaction", {"token": TOKEN, "transaction_eid": "t-1"}
    )
    assert committed["data"]["balance"] == "125.00"
    twice = await call(
        sandbox, "loyalty/commit_transaction", {"token": TOKEN, "transaction_eid": "t-1"}
    )
    assert (twice["error"], twice["error_text"]) == (400, "Transaction is not temporary")


async def test_transactions_list_in_xml_with_a_cursor(sandbox: str) -> None:
    body = (
        f"<xml><token>{TOKEN}</token><loyalty_program_id>{PROGRAM}</loyalty_program_id>"
        "<matching>phone</matching><phone>+15555550101</phone>"
        "<points_currency_eid>points</points_currency_eid><limit>2</limit></xml>"
    )
    root = await call_xml(sandbox, "loyalty/account/transactions", body)
    items = root.findall("data/item")
    assert [i.findtext("transaction_type") for i in items] == ["accrual", "accrual"]
    assert [i.findtext("amount") for i in items] == ["100.00", "50.00"]
    assert root.findtext("total_count") == "3"
    next_id = root.findtext("next_from_id")
    assert next_id == items[-1].findtext("transaction_id")
    rest = await call_xml(
        sandbox,
        "loyalty/account/transactions",
        body.replace("<limit>2</limit>", f"<limit>2</limit><from_id>{next_id}</from_id>"),
    )
    [last] = rest.findall("data/item")
    assert (last.findtext("transaction_type"), last.findtext("balance_after")) == (
        "redemption",
        "120.00",
    )
    empty_next = rest.find("next_from_id")
    assert empty_next is not None and empty_next.text is None
    limit = await call(sandbox, "loyalty/account/transactions", loyalty(**ANN, limit=101))
    assert limit["error"] == 400


async def test_profiles_in_xml_keep_custom_fields_and_phone_arrays(sandbox: str) -> None:
    added = await call_xml(
        sandbox,
        "profiles/add",
        f"<xml><token>{TOKEN}</token><db_id>{demo.DB_ID}</db_id><data>"
        "<_fname>Fillipp</_fname><email>fd@example.com</email>"
        "<phones><item>+15555550144</item></phones>"
        "<loyalty_code>CODE-44</loyalty_code><card_number>400000000044</card_number>"
        "</data></xml>",
    )
    profile_id = added.findtext("profile_id")
    assert added.findtext("error") == "0" and profile_id

    got = await call_xml(
        sandbox,
        "profiles/get",
        f"<xml><token>{TOKEN}</token><db_id>{demo.DB_ID}</db_id><matching>custom</matching>"
        "<field_name>card_number</field_name><field_value>400000000044</field_value></xml>",
    )
    assert got.findtext("data/id") == profile_id
    assert got.findtext("data/loyalty_code") == "CODE-44"
    assert [p.text for p in got.findall("data/phones/item")] == ["+15555550144"]

    updated = await call(
        sandbox,
        "profiles/update",
        {
            "token": TOKEN,
            "db_id": demo.DB_ID,
            "matching": "phone",
            "phone": "+15555550144",
            "data": {"_lname": "Doe", "phones": ["+15555550145"]},
        },
    )
    assert updated["profile_id"] == profile_id
    fetched = await call(
        sandbox,
        "profiles/get",
        {"token": TOKEN, "db_id": demo.DB_ID, "matching": "profile_id", "profile_id": profile_id},
    )
    assert (fetched["data"]["_lname"], fetched["data"]["phones"]) == ("Doe", ["+15555550145"])
    gone = await call(
        sandbox,
        "profiles/get",
        {"token": TOKEN, "db_id": demo.DB_ID, "matching": "phone", "phone": "+15555550144"},
    )
    assert (gone["error"], gone["error_text"]) == (404, "Profile not found")

    duplicate = await call(
        sandbox,
        "profiles/add",
        {"token": TOKEN, "db_id": demo.DB_ID, "data": {"email": "FD@example.com"}},
    )
    assert duplicate["error"] == 409


async def test_profiles_import_adds_then_updates_the_same_profile(sandbox: str) -> None:
    body = {
        "token": TOKEN,
        "db_id": demo.DB_ID,
        "matching": "email",
        "email": "i.petrov@example.com",
        "data": {"email": "i.petrov@example.com", "_fname": "Ivan"},
    }
    first = await call(sandbox, "profiles/import", body)
    body["data"] = {"_fname": "Ivan", "_lname": "Petrov"}
    second = await call(sandbox, "profiles/import", body)
    assert first["profile_id"] == second["profile_id"]
    missing = await call(sandbox, "profiles/update", {**body, "email": "nobody@example.com"})
    assert missing["error"] == 404


async def test_state_survives_a_restart_and_demo_is_seeded_once(tmp_path: Path) -> None:
    db_path = tmp_path / "altcraft.db"
    async with serve(create_app(db_path)) as url:
        await call(url, "loyalty/accrue_points", loyalty(**ANN, amount="5"))
    async with serve(create_app(str(db_path))) as url:
        balance = await call(url, "loyalty/account/balance", loyalty(**ANN))
        history = await call(url, "loyalty/account/transactions", loyalty(**ANN))
    assert balance["data"]["active_balance"] == "125.00"
    assert history["total_count"] == 4


async def test_without_demo_the_account_exists_but_holds_no_profiles() -> None:
    async with serve(create_app(demo=False)) as url:
        answer = await call(url, "loyalty/account/balance", loyalty(**ANN))
    assert (answer["error"], answer["error_text"]) == (404, "Profile not found")


async def test_faults_are_installed(sandbox: str) -> None:
    async with httpx.AsyncClient() as http:
        await http.post(f"{sandbox}/_sandbox/faults", json={"error_status": 503, "count": 1})
        failed = await http.post(sandbox + API + "loyalty/account/balance", json=loyalty(**ANN))
        healthy = await http.post(sandbox + API + "loyalty/account/balance", json=loyalty(**ANN))
    assert failed.status_code == 503
    assert healthy.json()["error"] == 0


async def test_run_sandbox_serves_until_cancelled(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = asyncio.create_task(run_sandbox("127.0.0.1", port, str(tmp_path / "run.db")))
    url = f"http://127.0.0.1:{port}"
    try:
        async with asyncio.timeout(10):
            while True:
                try:
                    answer = await call(url, "loyalty/account/balance", loyalty(**ANN))
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.02)
        assert answer["data"]["active_balance"] == "120.00"
    finally:
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server
