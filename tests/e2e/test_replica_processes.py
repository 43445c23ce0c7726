"""Three replicas as separate ``python -m bot run`` PROCESSES, each in a working directory of
its own (no shared file), the bot's tables in a real PostgreSQL (``DATABASE_URL``), sessions,
per-user ordering and the kiosk's state in a real ``redis-server`` (``REDIS_URL``), behind a
round-robin load balancer served by the test: the Telegram stand-in posts its webhook updates
to it, the kiosk calls go through it. A replica whose connection is refused is skipped, as a
real balancer's health check takes it out. One replica is killed with SIGKILL in the middle of
a hundred joins: the two left take over what it had taken in and not finished."""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from bot.config import HttpSettings
from bot.devtools.telegram_standin import STANDIN, ChatMessage, create_app
from bot.devtools.telegram_standin.records import DemoUser
from bot.devtools.telegram_standin.state import TelegramStandIn
from bot.kiosk.api import KEY_HEADER, STAFF_HEADER
from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.loyalty.models import NewMember, Purchase
from bot.sandbox.clienttoolbox import create_app as create_sandbox
from bot.sandbox.clienttoolbox import demo
from bot.sandbox.runner import serve
from tests.conftest import ct_settings
from tests.e2e.balancer import WEBHOOK_PATH, RoundRobin
from tests.e2e.card_scan import scan_card
from tests.e2e.conftest import clean_environment
from tests.postgres_server import PostgresServer
from tests.redis_server import free_port, redis_server

# Three real processes, started once for the module (their start takes seconds each on a busy
# machine), the tests in the order written: the last one kills a replica.
pytestmark = [pytest.mark.timeout(300), pytest.mark.asyncio(loop_scope="module")]
in_module = pytest_asyncio.fixture(scope="module", loop_scope="module")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "4242424243:replica-processes"
STAFF_PIN = "2468"
UNKNOWN_CARD_LIMIT = 3
TAKEOVER_SECONDS = 10
"""How soon the live replicas take a silent one for dead (``WEBHOOK__TAKEOVER_SECONDS``; a
minute by default): its stored updates, its users' Redis locks and its outbox claims."""
STARTUP_SECONDS = 120.0


@dataclass
class ReplicaProcess:
    """One ``python -m bot run``, in a folder of its own."""

    folder: Path
    port: int
    process: asyncio.subprocess.Process
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def owner(self) -> str:
        """Its name in the shared inbox (host and port, as ``serve_webhook`` names it)."""
        return f"{socket.gethostname()}:{self.port}"

    @property
    def stderr(self) -> str:
        return self.log.read_text()

    async def kill(self) -> None:
        self.process.kill()
        await self.process.wait()

    async def stop(self, seconds: float = 60) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), seconds)


@dataclass
class Deployment:
    standin: TelegramStandIn
    balancer: RoundRobin
    balancer_url: str
    replicas: list[ReplicaProcess]
    environment: dict[str, str]
    database_url: str
    postgres: PostgresServer
    sandbox_db: Path
    killed: list[ReplicaProcess] = field(default_factory=list)

    def sql(self, query: str) -> str:
        return self.postgres.psql(query, self.database_url.rsplit("/", 1)[1]).strip()


def host_folder(base: Path, number: int) -> Path:
    """A host's working directory: nothing in it is shared with another host."""
    folder = base / f"host-{number}"
    folder.mkdir()
    return folder


async def start_replica(folder: Path, environment: dict[str, str]) -> ReplicaProcess:
    port = free_port()
    log = folder / "bot.log"
    with log.open("w") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=folder,
            env=environment | {"PORT": str(port)},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    return ReplicaProcess(folder, port, process, log)


async def wait_until_serving(standin: TelegramStandIn, replicas: list[ReplicaProcess]) -> None:
    """Until every replica has set the webhook (its endpoint is open by then)."""
    launched = datetime.now(UTC)

    def everyone() -> bool | None:
        calls = [c for c in standin.method_calls("setWebhook") if c.at >= launched]
        return True if len(calls) >= len(replicas) else None

    waiting = asyncio.create_task(standin.wait_for(everyone, STARTUP_SECONDS))
    ended = [asyncio.create_task(r.process.wait()) for r in replicas]
    await asyncio.wait({waiting, *ended}, return_when=asyncio.FIRST_COMPLETED)
    for task in ended:
        task.cancel()
    if not waiting.done():
        waiting.cancel()
        dead = next(r for r in replicas if r.process.returncode is not None)
        raise AssertionError(f"a replica ended at start:\n{dead.stderr[-3000:]}")
    waiting.result()


def assert_clean(replica: ReplicaProcess) -> None:
    log = replica.stderr
    assert "Traceback" not in log, log[-5000:]
    assert " ERROR " not in log and " CRITICAL " not in log, log[-5000:]


@pytest.fixture(scope="module")
def sandbox_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sandbox platform's database (its members are counted from it)."""
    return tmp_path_factory.mktemp("platform") / "clienttoolbox-sandbox.db"


@in_module
async def ct_sandbox_url(sandbox_db: Path) -> AsyncIterator[str]:
    async with serve(create_sandbox(sandbox_db)) as url:
        yield url


@in_module
async def ct_backend(ct_sandbox_url: str) -> AsyncIterator[ClientToolboxClient]:
    client = ClientToolboxClient(
        ct_settings(ct_sandbox_url), HttpSettings(connect_timeout=5, read_timeout=10)
    )
    try:
        yield client
    finally:
        await client.aclose()


@in_module
async def redis_url() -> AsyncIterator[str]:
    async with redis_server() as url:
        yield url


@in_module
async def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    sandbox_db: Path,
    ct_sandbox_url: str,
    redis_url: str,
    postgres: PostgresServer,
) -> AsyncIterator[Deployment]:
    tmp_path = tmp_path_factory.mktemp("hosts")
    crowd = members_to_be(100)
    telegram = create_app(TOKEN, users=crowd)
    balancer = RoundRobin()
    database_url = postgres.create_database()
    async with AsyncExitStack() as stack:
        telegram_url = await stack.enter_async_context(serve(telegram))
        balancer_url = await stack.enter_async_context(serve(balancer.app()))
        standin = telegram[STANDIN]
        environment = clean_environment() | {
            "PYTHONPATH": str(PROJECT_ROOT),
            "PLATFORM": "clienttoolbox",
            "CLIENTTOOLBOX__URL": f"{ct_sandbox_url}/api.php",
            "CLIENTTOOLBOX__ACCOUNT_ID": demo.ACCOUNT_ID,
            "CLIENTTOOLBOX__USER_ID": demo.USER_ID,
            "CLIENTTOOLBOX__USER_API_KEY": demo.API_KEY,
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": telegram_url,
            "WEBHOOK__URL": f"{balancer_url}{WEBHOOK_PATH}",
            "WEBHOOK__TAKEOVER_SECONDS": str(TAKEOVER_SECONDS),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "KIOSK__STAFF_PIN": STAFF_PIN,
            "KIOSK__UNKNOWN_CARD_LIMIT": str(UNKNOWN_CARD_LIMIT),
        }
        replicas = [
            await start_replica(host_folder(tmp_path, number), environment) for number in range(3)
        ]
        try:
            await wait_until_serving(standin, replicas)
            balancer.replicas.extend(replica.url for replica in replicas)
            yield Deployment(
                standin,
                balancer,
                balancer_url,
                replicas,
                environment,
                database_url,
                postgres,
                sandbox_db,
            )
        finally:
            codes = await asyncio.gather(*(replica.stop() for replica in replicas))
    for replica, code in zip(replicas, codes, strict=True):
        if replica.process.returncode == -signal.SIGKILL:
            continue
        assert code == 0, replica.stderr[-3000:]
        assert_clean(replica)
    # Each host kept its tables in PostgreSQL and its sessions in Redis: no database file.
    assert [p for p in tmp_path.glob("host-*/**/*") if p.suffix in (".db", ".sqlite")] == []


def members_to_be(count: int) -> list[DemoUser]:
    return [
        DemoUser(7_200_000_000 + n, f"Guest{n}", "Crowd", "", "en", f"+1202555{n:04d}")
        for n in range(count)
    ]


JANE = DemoUser(7_300_000_001, "Jane", "Roe", "janeroe", "en", "+12025550199")


async def test_a_join_crosses_the_replicas(
    deployment: Deployment, ct_backend: ClientToolboxClient
) -> None:
    standin = deployment.standin
    standin.add_user(JANE)
    sent = await standin.send_command(JANE.id, "start")
    welcome = await standin.wait_for_message(JANE.id, after=sent.message_id, timeout=30)
    assert welcome.text is not None and welcome.text.startswith("👋 Welcome to")
    sent = await standin.press_reply_button(JANE.id, "📱 Join with my phone")
    joined = await standin.wait_for_message(
        JANE.id, lambda m: bool(m.photo), after=sent.message_id, timeout=30
    )
    assert joined.photo_bytes is not None
    member = await ct_backend.find_member_by_phone(JANE.phone)
    assert member is not None and member.card_number == scan_card(joined.photo_bytes)
    # Her card, asked for once joined, comes from whichever replica takes the tap.
    sent = await standin.press_reply_button(JANE.id, "⭐ Balance")
    balance = await standin.wait_for_message(
        JANE.id,
        lambda m: (m.text or "").startswith("⭐ Your balances"),
        after=sent.message_id,
        timeout=30,
    )
    assert balance.message_id > joined.message_id

    taken_by = deployment.balancer.update_replicas(JANE.id)
    assert len(taken_by) == 3
    assert len(set(taken_by)) == 3, taken_by  # /start, the contact, the tap: three replicas


async def enroll_member(backend: ClientToolboxClient, number: int) -> tuple[str, str]:
    """A platform member with a card and 450 points; returns its code and card number."""
    created = await backend.enroll(
        NewMember(
            code=f"700000000000000{number}",
            first_name="Jane",
            last_name="Kioskova",
            phone=f"+1202555015{number}",
            email=f"jane.kioskova{number}@example.com",
            campaign_ids=(demo.POINTS_CAMPAIGN,),
        )
    )
    await backend.record_purchase(
        created.code, Purchase(campaign_id=demo.POINTS_CAMPAIGN, amount=Decimal("4.50"))
    )
    assert created.card_number
    return created.code, created.card_number


async def points_of(backend: ClientToolboxClient, code: str) -> Decimal:
    for balance in await backend.balances(code):
        if balance.campaign_id == demo.POINTS_CAMPAIGN:
            return balance.points  # type: ignore[union-attr]
    raise AssertionError("no points balance")


async def pair_kiosk(deployment: Deployment, http: httpx.AsyncClient) -> str:
    """``loyalty-bot kiosk add`` on one host, then the kiosk's screen opens the link (through
    the balancer); returns the kiosk's key."""
    added = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "kiosk",
        "add",
        "--store",
        "Main Street",
        cwd=deployment.replicas[0].folder,
        env=deployment.environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await added.communicate()
    assert added.returncode == 0, output.decode()
    code = output.decode().split("#pair=", 1)[1].split()[0]
    paired = await http.post("api/pair", json={"code": code})
    assert paired.status_code == 200, paired.text
    key: str = paired.json()["key"]
    return key


async def test_a_kiosk_visit_spread_over_three_replicas(
    deployment: Deployment, ct_backend: ClientToolboxClient
) -> None:
    code, card = await enroll_member(ct_backend, 1)
    balancer = deployment.balancer
    async with httpx.AsyncClient(base_url=f"{deployment.balancer_url}/kiosk/", timeout=30) as http:
        http.headers[KEY_HEADER] = await pair_kiosk(deployment, http)
        since = len(balancer.forwarded)
        looked_up = await http.post("api/lookup", json={"card": card})
        assert looked_up.status_code == 200, looked_up.text
        visit = looked_up.json()["visit"]
        unlocked = await http.post("api/staff/unlock", json={"pin": STAFF_PIN})
        assert unlocked.status_code == 200, unlocked.text
        bought = await http.post(
            "api/staff/record",
            json={"visit": visit, "campaign_id": demo.POINTS_CAMPAIGN, "amount": "1.00"},
            headers={STAFF_HEADER: unlocked.json()["staff"]},
        )
        assert bought.status_code == 200, bought.text
    assert await points_of(ct_backend, code) == Decimal(550)

    served = [
        balancer.replicas_of(f"/kiosk/api/{call}", since)
        for call in ("lookup", "staff/unlock", "staff/record")
    ]
    assert [len(replicas) for replicas in served] == [1, 1, 1]
    assert len({replicas[0] for replicas in served}) == 3, served  # three replicas, one visit


async def test_the_unknown_card_limit_is_counted_across_replicas(
    deployment: Deployment, ct_backend: ClientToolboxClient
) -> None:
    _, card = await enroll_member(ct_backend, 2)
    balancer = deployment.balancer
    async with httpx.AsyncClient(base_url=f"{deployment.balancer_url}/kiosk/", timeout=30) as http:
        http.headers[KEY_HEADER] = await pair_kiosk(deployment, http)
        since = len(balancer.forwarded)
        for number in range(UNKNOWN_CARD_LIMIT):
            unknown = await http.post("api/lookup", json={"card": f"0000-0000-000{number}"})
            assert unknown.status_code == 404, unknown.text
        tried = balancer.replicas_of("/kiosk/api/lookup", since)
        assert len(set(tried)) == UNKNOWN_CARD_LIMIT  # one unknown card on each replica
        for number in range(len(deployment.replicas)):  # now refused on every replica
            refused = await http.post("api/lookup", json={"card": f"0000-0000-001{number}"})
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"] == "unknown_cards_limited"
        refused_by = balancer.replicas_of("/kiosk/api/lookup", since)[UNKNOWN_CARD_LIMIT:]
        assert len(set(refused_by)) == 3, refused_by
        # A member's card is still looked up: the limit holds back unknown cards only.
        known = await http.post("api/lookup", json={"card": card})
        assert known.status_code == 200, known.text


def cards(standin: TelegramStandIn, user_id: int) -> int:
    return sum(1 for message in standin.messages(user_id) if message.photo)


def platform_phones(sandbox_db: Path) -> Counter[str]:
    with sqlite3.connect(sandbox_db) as connection:
        rows = connection.execute("SELECT phone FROM customers").fetchall()
    return Counter("".join(ch for ch in str(phone) if ch.isdigit()) for (phone,) in rows)


async def test_sigkill_of_one_replica_in_the_middle_of_100_joins(
    deployment: Deployment, ct_backend: ClientToolboxClient, ct_sandbox_url: str
) -> None:
    standin = deployment.standin
    crowd = members_to_be(100)
    victim = deployment.replicas[1]
    # A slow platform: the joins are still going on when the replica dies.
    async with httpx.AsyncClient(base_url=ct_sandbox_url) as sandbox:
        (await sandbox.post("/_sandbox/faults", json={"latency": 0.3})).raise_for_status()

    sent: list[ChatMessage] = []

    async def burst() -> None:
        # Users tap one after the other, a few ms apart: many joins at once, and updates
        # still arriving when the replica dies (the balancer must then skip it).
        for user in crowd:
            sent.append(await standin.share_contact(user.id))
            await asyncio.sleep(0.03)

    tapping = asyncio.create_task(burst())

    def some_answered() -> bool | None:
        done = sum(1 for user in crowd if cards(standin, user.id))
        return True if done >= 10 else None

    await standin.wait_for(some_answered, 120)
    await victim.kill()
    at_kill = sum(1 for user in crowd if cards(standin, user.id))
    contacts_at_kill = len(sent)
    await tapping
    left_over = int(
        deployment.sql(
            f"SELECT count(*) FROM inbox_updates WHERE owner = '{victim.owner}' AND state = 'new'"
        )
    )
    assert at_kill < len(crowd), "the kill came after the joins; nothing was tested"
    assert contacts_at_kill < len(crowd), "the kill came after the last contact was sent"

    def everyone() -> bool | None:
        return True if all(cards(standin, user.id) for user in crowd) else None

    try:
        await standin.wait_for(everyone, 150)
    except TimeoutError:
        missing = [user.id for user in crowd if not cards(standin, user.id)]
        raise AssertionError(f"{len(missing)} users never got their card") from None
    async with httpx.AsyncClient(base_url=ct_sandbox_url) as sandbox:
        (await sandbox.delete("/_sandbox/faults")).raise_for_status()

    # A hundred members on the platform, each phone once, each with a code of its own.
    phones = platform_phones(deployment.sandbox_db)
    wanted = {user.phone.removeprefix("+") for user in crowd}
    assert {phone: phones[phone] for phone in wanted} == dict.fromkeys(wanted, 1)
    members = [await ct_backend.find_member_by_phone(user.phone) for user in crowd]
    codes = {member.code for member in members if member is not None}
    assert len(codes) == len(crowd)
    # Every user answered with their own card.
    for user, member, contact in zip(crowd, members, sent, strict=True):
        assert member is not None
        card = await standin.wait_for_message(
            user.id, lambda m: bool(m.photo), after=contact.message_id
        )
        assert card.photo_bytes is not None and scan_card(card.photo_bytes) == member.card_number
    doubled = {user.id for user in crowd if cards(standin, user.id) > 1}
    in_doubt_chats = deployment.sql("SELECT chat_id FROM outbox WHERE in_doubt::int <> 0")
    in_doubt = {int(chat) for chat in in_doubt_chats.split()}
    # Only a send cut off by the kill (Telegram may have shown it, and cannot be asked) may
    # have gone twice; every other card went exactly once.
    assert doubled <= in_doubt, (doubled, in_doubt)
    assert deployment.sql("SELECT count(*) FROM dead_updates") == "0"
    assert deployment.sql("SELECT count(*) FROM inbox_updates WHERE state = 'new'") == "0"
    # Contacts kept coming after the kill: the balancer found the dead replica down (only it).
    assert set(deployment.balancer.refused) == {victim.url}
    print(
        f"SIGKILL after {contacts_at_kill} contacts sent and {at_kill} of 100 cards; "
        f"the dead replica left {left_over} update(s) unhandled; "
        f"{len(doubled)} card(s) sent twice ({len(in_doubt)} in doubt); "
        f"balancer: refused {dict(deployment.balancer.refused)}, "
        f"dropped {dict(deployment.balancer.dropped)}"
    )
