"""A crowd in the chat: the real ``loyalty-bot run`` process against a bare aiogram echo bot.

Run: ``python bench/chat_load.py [--users 40] [--taps 10] [--latency 0.0] [--redis]
[--postgres 1 --postgres 3]``

Three processes besides this one: the Client Toolbox sandbox (``loyalty-bot sandbox``, with
``--latency`` seconds added to every answer as a hosted platform's round trip adds them), the
bot (``loyalty-bot run`` in a fresh folder, polling), and, in the same run, the floor: a bare
aiogram bot that echoes text (``bench/telegram_floor.py``). Both bots poll the Bot API stand-in
that this script serves; its simulated users wait for each answer before their next action.

Actions, by ``--users`` users at once: join by sharing a contact (until the card arrives),
``--taps`` taps on "⭐ Balance" as fast as each answer comes (throughput), the same taps paced
one per ``--pace`` seconds per user (the latency a member sees on a busy day), "💳 My card",
"🧾 History", and a profile edit (open the profile, press "✏️ First name", type a name, until
"✅ Saved."). For each action it prints answers per second, p50/p95/p99 latency, the bot
process's CPU per update and its RSS, and the platform sandbox's CPU per update; the floor
answers the same balance taps, both ways. ``--memory`` then reports the RSS of a bot that
holds 10,000 member links and 1,000 users in the middle of a conversation.

``--postgres N`` (given once per count, e.g. ``--postgres 1 --postgres 3``) also runs N
``loyalty-bot run`` replicas, each in a working directory of its own, with ``DATABASE_URL`` on a
throw-away PostgreSQL (and ``REDIS_URL`` on a throw-away ``redis-server`` when N > 1, or with
``--postgres-redis``), in webhook mode: the stand-in then POSTs every update, as Telegram
does, to a round-robin balancer (aiohttp, in this script) in front of the replicas instead of
serving ``getUpdates``. Its ``CPU ms`` is summed over the replicas' processes, ``RSS MB`` too,
and ``db ms`` is the CPU of PostgreSQL (all its processes) and redis-server per update.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.sandbox.clienttoolbox import demo  # noqa: E402
from bot.sandbox.runner import serve  # noqa: E402
from tests.postgres_server import PostgresServer, postgres_server  # noqa: E402
from tests.redis_server import free_port, redis_server  # noqa: E402

TOKEN = "4242424242:chat-load-benchmark"
BOT_USER = {"id": 4242424242, "is_bot": True, "first_name": "Load", "username": "load_bot"}
STARTUP_SECONDS = 120.0
ANSWER_SECONDS = 60.0
IDLE_SECONDS = 5.0

Predicate = Callable[["Sent"], bool]


@dataclass
class Sent:
    """One message the bot sent (or edited) in a chat."""

    method: str
    chat_id: int
    message_id: int
    text: str
    buttons: dict[str, str]
    """Inline buttons: text → callback data."""
    at: float


@dataclass
class Chat:
    messages: list[Sent] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class BotApiStandIn:
    """Just enough of the Bot API for an aiogram bot: updates in, messages out.

    By default updates wait for ``getUpdates`` (long polling). With ``webhook=True`` they are
    POSTed, as Telegram does, to the URL the bot gave ``setWebhook`` (with its secret token),
    up to its ``max_connections`` at once, again until answered 200."""

    def __init__(self, webhook: bool = False) -> None:
        self.pending: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.chats: dict[int, Chat] = {}
        self.calls = 0
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._closing = False
        self.webhook = webhook
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhooks_set = 0
        self.redeliveries = 0
        self._deliveries: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(40)
        self._session: ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._call)

        async def release(app: web.Application) -> None:
            self._closing = True
            self.arrived.set()
            for task in self._deliveries:
                task.cancel()
            await asyncio.gather(*self._deliveries, return_exceptions=True)
            if self._session is not None:
                await self._session.close()

        app.on_shutdown.append(release)
        return app

    def chat(self, chat_id: int) -> Chat:
        return self.chats.setdefault(chat_id, Chat())

    def push(self, update: dict[str, Any]) -> None:
        update["update_id"] = next(self._update_ids)
        if self.webhook:
            task = asyncio.create_task(self._deliver(update))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
            return
        self.pending.append(update)
        self.arrived.set()

    async def _deliver(self, update: dict[str, Any]) -> None:
        """POST the update to the webhook until it is answered 200, as Telegram does."""
        if self._session is None:
            self._session = ClientSession(
                connector=TCPConnector(limit=0), timeout=ClientTimeout(total=ANSWER_SECONDS)
            )
        body = json.dumps(update)
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": self.webhook_secret,
        }
        while not self._closing:
            async with self._slots:
                with contextlib.suppress(ClientError, TimeoutError):
                    async with self._session.post(
                        self.webhook_url, data=body, headers=headers
                    ) as answer:
                        await answer.read()
                        if answer.status == 200:
                            return
            self.redeliveries += 1
            await asyncio.sleep(0.1)

    async def _call(self, request: web.Request) -> web.Response:
        self.calls += 1
        method = request.match_info["method"]
        fields: dict[str, Any] = dict(await request.post()) if request.can_read_body else {}
        if request.content_type == "application/json":
            fields = await request.json()
        handler = getattr(self, f"_{method.lower()}", None)
        result = await handler(fields) if handler else True
        return web.json_response({"ok": True, "result": result})

    async def _getme(self, fields: dict[str, Any]) -> Any:
        return BOT_USER

    async def _getwebhookinfo(self, fields: dict[str, Any]) -> Any:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending),
        }

    async def _setwebhook(self, fields: dict[str, Any]) -> Any:
        self.webhook_url = str(fields["url"])
        self.webhook_secret = str(fields.get("secret_token") or "")
        connections = int(fields.get("max_connections") or 40)
        if self.webhooks_set == 0:
            self._slots = asyncio.Semaphore(connections)
        self.webhooks_set += 1
        return True

    async def _deletewebhook(self, fields: dict[str, Any]) -> Any:
        self.webhook_url = ""
        return True

    async def _getupdates(self, fields: dict[str, Any]) -> Any:
        offset = int(fields.get("offset") or 0)
        timeout = float(fields.get("timeout") or 0)
        limit = int(fields.get("limit") or 100)
        self.pending = [u for u in self.pending if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while not self.pending and not self._closing:
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)
        return self.pending[:limit]

    def _record(self, method: str, fields: dict[str, Any], message_id: int | None = None) -> Any:
        chat_id = int(fields["chat_id"])
        markup = fields.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        buttons = {
            button["text"]: button.get("callback_data", "")
            for row in (markup or {}).get("inline_keyboard", [])
            for button in row
        }
        text = str(fields.get("text") or fields.get("caption") or "")
        sent = Sent(
            method, chat_id, message_id or next(self._message_ids), text, buttons, time.monotonic()
        )
        chat = self.chat(chat_id)
        chat.messages.append(sent)
        chat.changed.set()
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
        }
        if method == "sendPhoto":
            size = {"file_unique_id": f"u{sent.message_id}", "width": 640, "height": 640}
            message["photo"] = [size | {"file_id": f"photo-{sent.message_id}"}]
            message["caption"] = text
        else:
            message["text"] = text
        return message

    async def _sendmessage(self, fields: dict[str, Any]) -> Any:
        return self._record("sendMessage", fields)

    async def _sendphoto(self, fields: dict[str, Any]) -> Any:
        return self._record("sendPhoto", fields)

    async def _editmessagetext(self, fields: dict[str, Any]) -> Any:
        return self._record("editMessageText", fields, int(fields["message_id"]))


class User:
    """A simulated Telegram user who waits for the answer to each action."""

    def __init__(self, telegram: BotApiStandIn, user_id: int) -> None:
        self.telegram = telegram
        self.id = user_id
        self.chat = telegram.chat(user_id)
        self._message_ids = itertools.count(1)

    def _message(self, **fields: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": self.id, "type": "private", "first_name": f"User{self.id}"},
            "from": self._from(),
            **fields,
        }

    def _from(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_bot": False,
            "first_name": f"User{self.id}",
            "language_code": "en",
        }

    async def _answer(self, update: dict[str, Any], wanted: Predicate) -> tuple[float, Sent]:
        seen = len(self.chat.messages)
        started = time.monotonic()
        self.telegram.push(update)
        deadline = started + ANSWER_SECONDS
        while True:
            for sent in self.chat.messages[seen:]:
                if wanted(sent):
                    return sent.at - started, sent
            seen = len(self.chat.messages)
            self.chat.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"user {self.id} got no answer in {ANSWER_SECONDS:g} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.chat.changed.wait(), left)

    async def send(self, text: str, wanted: Predicate) -> tuple[float, Sent]:
        return await self._answer({"message": self._message(text=text)}, wanted)

    async def share_contact(self, phone: str, wanted: Predicate) -> tuple[float, Sent]:
        contact = {"phone_number": phone, "first_name": f"User{self.id}", "user_id": self.id}
        return await self._answer({"message": self._message(contact=contact)}, wanted)

    async def press(self, on: Sent, button: str, wanted: Predicate) -> tuple[float, Sent]:
        query = {
            "id": f"{self.id}-{time.monotonic_ns()}",
            "from": self._from(),
            "chat_instance": str(self.id),
            "data": on.buttons[button],
            "message": {
                "message_id": on.message_id,
                "date": int(time.time()),
                "chat": {"id": self.id, "type": "private"},
                "from": BOT_USER,
                "text": on.text,
            },
        }
        return await self._answer({"callback_query": query}, wanted)


def photo(sent: Sent) -> bool:
    return sent.method == "sendPhoto"


def starts(prefix: str) -> Predicate:
    return lambda sent: sent.text.startswith(prefix)


def anything(sent: Sent) -> bool:
    return True


class Process:
    """A child process whose CPU time and RSS are read from ``/proc``."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self._log = log.open("w")
        self.popen = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._log.close()


class Meter(Protocol):
    def cpu_seconds(self) -> float: ...

    def rss_mb(self) -> float: ...


class Replicas:
    """Several bot processes measured as one: CPU time and RSS summed."""

    def __init__(self, processes: list[Process]) -> None:
        self.processes = processes

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        """The first replica (the one ``--profile`` samples)."""
        return self.processes[0].popen

    def cpu_seconds(self) -> float:
        return sum(process.cpu_seconds() for process in self.processes)

    def rss_mb(self) -> float:
        return sum(process.rss_mb() for process in self.processes)


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


class ServerCpu:
    """The CPU time of servers that fork (PostgreSQL's backends): each root process's own and
    its reaped children's, plus its live children's."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids

    def cpu_seconds(self) -> float:
        ticks = 0
        roots = set(self.pids)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = _stat(int(entry.name))
            except (OSError, IndexError):
                continue  # it ended meanwhile
            pid, parent = int(entry.name), int(fields[1])
            if pid in roots:
                ticks += sum(int(value) for value in fields[11:15])
            elif parent in roots:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        return 0.0


def postmaster_pid(server: PostgresServer) -> int:
    data = server.psql("SHOW data_directory").strip()
    return int((Path(data) / "postmaster.pid").read_text().split()[0])


async def redis_pid(url: str) -> int:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        info = await client.info("server")
        return int(info["process_id"])
    finally:
        await client.aclose()


@dataclass
class Result:
    action: str
    latencies: list[float]
    seconds: float
    cpu_ms_per_update: float
    rss_mb: float
    platform_ms_per_update: float = 0.0
    database_ms_per_update: float | None = None

    def row(self, floor: Result | None) -> str:
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

        rate = len(ordered) / self.seconds
        ratios = ""
        if floor is not None:
            speed = rate / (len(floor.latencies) / floor.seconds)
            cpu = self.cpu_ms_per_update / floor.cpu_ms_per_update
            ratios = f" {speed:>7.2f}x {cpu:>6.1f}x"
        p50 = statistics.median(ordered) * 1000
        database = self.database_ms_per_update
        db = f"{database:>6.2f}" if database is not None else f"{'-':>6}"
        return (
            f"{self.action:<22} {len(ordered):>6} {rate:>9.1f} {p50:>7.0f}"
            f" {pct(0.95):>7.0f} {pct(0.99):>7.0f} {self.cpu_ms_per_update:>7.2f}"
            f" {self.rss_mb:>7.1f} {self.platform_ms_per_update:>8.2f} {db}{ratios}"
        )


Step = Callable[[User], Awaitable[list[float]]]


async def measure(
    action: str,
    users: list[User],
    process: Meter,
    step: Step,
    updates_per_step: int,
    platform: Process | None = None,
    database: Meter | None = None,
) -> Result:
    cpu = process.cpu_seconds()
    platform_cpu = platform.cpu_seconds() if platform else 0.0
    database_cpu = database.cpu_seconds() if database else 0.0
    started = time.monotonic()
    latencies = [lat for batch in await asyncio.gather(*(step(u) for u in users)) for lat in batch]
    seconds = time.monotonic() - started
    used = process.cpu_seconds() - cpu
    platform_used = platform.cpu_seconds() - platform_cpu if platform else 0.0
    updates = len(users) * updates_per_step
    return Result(
        action,
        latencies,
        seconds,
        used * 1000 / updates,
        process.rss_mb(),
        platform_used * 1000 / updates,
        (database.cpu_seconds() - database_cpu) * 1000 / updates if database else None,
    )


def phone_of(user: User) -> str:
    return f"+1202555{user.id % 10000:04d}"


async def join(user: User) -> list[float]:
    await user.send("/start", starts(""))
    latency, _ = await user.share_contact(phone_of(user), photo)
    return [latency]


def balance_taps(taps: int, wanted: Predicate) -> Step:
    async def step(user: User) -> list[float]:
        return [(await user.send("⭐ Balance", wanted))[0] for _ in range(taps)]

    return step


def paced_taps(taps: int, pace: float, wanted: Predicate) -> Step:
    """Users who tap once every ``pace`` seconds (starting at random moments), as people do:
    the latency a member sees when the bot is busy but not swamped."""

    async def step(user: User) -> list[float]:
        await asyncio.sleep(random.uniform(0, pace))
        latencies = []
        for _ in range(taps):
            started = time.monotonic()
            latencies.append((await user.send("⭐ Balance", wanted))[0])
            await asyncio.sleep(max(0.0, pace - (time.monotonic() - started)))
        return latencies

    return step


async def card(user: User) -> list[float]:
    return [(await user.send("💳 My card", photo))[0]]


async def history(user: User) -> list[float]:
    return [(await user.send("🧾 History", starts("🧾")))[0]]


async def profile_edit(user: User) -> list[float]:
    first, profile = await user.send("👤 Profile", starts("👤 Your profile"))
    second, _ = await user.press(profile, "✏️ First name", starts("Type your first name"))
    third, _ = await user.send(f"Name{user.id}", starts("✅"))
    return [first, second, third]


def bot_environment(folder: Path, telegram_url: str, sandbox_url: str) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CLIENTTOOLBOX", "ALTCRAFT", "SMTP", "WEBHOOK", "KIOSK"))
        and key
        not in ("BOT_TOKEN", "PLATFORM", "REDIS_URL", "DATABASE", "DATABASE_URL", "LOG_LEVEL")
    }
    environment |= {
        "PYTHONPATH": str(ROOT),
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram_url,
        "PLATFORM": "clienttoolbox",
        "CLIENTTOOLBOX__URL": f"{sandbox_url}/api.php",
        "CLIENTTOOLBOX__ACCOUNT_ID": demo.ACCOUNT_ID,
        "CLIENTTOOLBOX__USER_ID": demo.USER_ID,
        "CLIENTTOOLBOX__USER_API_KEY": demo.API_KEY,
        "DATABASE": str(folder / "bot.db"),
        "PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
    }
    return environment


@contextlib.asynccontextmanager
async def platform_sandbox(folder: Path, latency: float) -> AsyncIterator[tuple[str, Process]]:
    port = free_port()
    sandbox = Process(
        [
            sys.executable,
            "-m",
            "bot",
            "sandbox",
            "--port",
            str(port),
            "--db",
            str(folder / "ct.db"),
        ],
        folder,
        os.environ | {"PYTHONPATH": str(ROOT)},
        folder / "sandbox.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_for_http(f"{url}/_sandbox/faults", sandbox, method="DELETE")
        if latency:
            await http_call(f"{url}/_sandbox/faults", "POST", {"latency": latency})
        yield url, sandbox
    finally:
        sandbox.stop()


async def http_call(url: str, method: str, body: dict[str, Any] | None = None) -> int:
    import httpx

    async with httpx.AsyncClient() as client:
        answer = await client.request(method, url, json=body)
        return answer.status_code


async def wait_for_http(url: str, process: Process, method: str = "GET") -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise SystemExit(f"{url} did not start (exit {process.popen.returncode})")
        with contextlib.suppress(OSError, Exception):
            if await http_call(url, method) < 500:
                return
        await asyncio.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {STARTUP_SECONDS:g} s")


async def wait_until_polling(telegram: BotApiStandIn, process: Process, log: Path) -> None:
    """Wait until the bot has called the stand-in (``getMe``, ``getUpdates``)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while telegram.calls < 3:
        if process.popen.poll() is not None:
            raise SystemExit(f"the bot stopped at start (see {log})")
        if time.monotonic() > deadline:
            raise SystemExit("the bot did not start polling")
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # its start-up calls settle


async def run_bot_scenario(
    folder: Path, args: argparse.Namespace, redis_url: str | None, sandbox: tuple[str, Process]
) -> list[Result]:
    sandbox_url, platform = sandbox
    telegram = BotApiStandIn()
    async with serve(telegram.app()) as telegram_url:
        environment = bot_environment(folder, telegram_url, sandbox_url)
        if args.profile and args.sampler == "cpu":
            environment["PYTHONPATH"] = f"{SAMPLER}{os.pathsep}{environment['PYTHONPATH']}"
            environment["CPU_SAMPLES"] = str(STACKS)
        if redis_url:
            environment["REDIS_URL"] = redis_url
        log = folder / "bot.log"
        bot = Process([sys.executable, "-m", "bot", "run"], folder, environment, log)
        try:
            await wait_until_polling(telegram, bot, log)
            results = await chat_actions(telegram, bot, args, platform)
            if args.memory:
                results.append(await memory_scenario(telegram, bot))
            return results
        finally:
            bot.stop()
            report_log_problems(log)


async def chat_actions(
    telegram: BotApiStandIn,
    bot: Process | Replicas,
    args: argparse.Namespace,
    platform: Process,
    database: Meter | None = None,
) -> list[Result]:
    """Warm up, then every action by ``args.users`` users at once, measured."""

    async def timed(action: str, step: Step, updates_per_step: int) -> Result:
        return await measure(action, users, bot, step, updates_per_step, platform, database)

    users = [User(telegram, 100_000 + n) for n in range(args.users)]
    warm = [User(telegram, 900_000 + n) for n in range(4)]
    await asyncio.gather(*(join(u) for u in warm))
    await asyncio.gather(*(balance_taps(3, starts("⭐"))(u) for u in warm))
    results = [await timed("join by contact", join, 2)]
    with profiled(bot, args, "balance"):
        taps = balance_taps(args.taps, starts("⭐"))
        results.append(await timed("balance tap", taps, args.taps))
    paced = paced_taps(args.taps, args.pace, starts("⭐"))
    with profiled(bot, args, "paced"):
        results.append(await timed(f"balance, 1 per {args.pace:g} s", paced, args.taps))
    results += [
        await timed("my card", card, 1),
        await timed("history", history, 1),
        await timed("profile edit (3 steps)", profile_edit, 3),
    ]
    return results


class RoundRobin:
    """The load balancer in front of the replicas: each request to the next one in turn."""

    def __init__(self) -> None:
        self.replicas: list[str] = []
        self.hits: dict[str, int] = {}
        self._turn = 0
        self._session: ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/{path:.*}", self._forward)
        app.cleanup_ctx.append(self._client)
        return app

    async def _client(self, app: web.Application) -> AsyncIterator[None]:
        async with ClientSession(connector=TCPConnector(limit=0)) as self._session:
            yield

    async def _forward(self, request: web.Request) -> web.Response:
        if not self.replicas or self._session is None:
            return web.Response(status=502, text="no replica up")
        replica = self.replicas[self._turn % len(self.replicas)]
        self._turn += 1
        self.hits[replica] = self.hits.get(replica, 0) + 1
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in ("content-type", "x-telegram-bot-api-secret-token")
        }
        try:
            async with self._session.post(
                replica + request.path_qs, data=await request.read(), headers=headers
            ) as answer:
                body, kind = await answer.read(), answer.content_type
                return web.Response(status=answer.status, body=body, content_type=kind)
        except ClientError:
            return web.Response(status=502, text="replica did not answer")


async def run_replicas_scenario(
    folder: Path,
    args: argparse.Namespace,
    count: int,
    database_url: str,
    redis_url: str | None,
    sandbox: tuple[str, Process],
    database: Meter,
) -> list[Result]:
    """``count`` replicas of ``loyalty-bot run`` in webhook mode behind ``RoundRobin``."""
    sandbox_url, platform = sandbox
    telegram = BotApiStandIn(webhook=True)
    balancer = RoundRobin()
    processes: list[Process] = []
    logs: list[Path] = []
    async with serve(telegram.app()) as telegram_url, serve(balancer.app()) as balancer_url:
        try:
            for number in range(count):
                own = folder / f"replica-{number}"
                own.mkdir()
                environment = bot_environment(own, telegram_url, sandbox_url)
                environment |= {
                    "DATABASE_URL": database_url,
                    "WEBHOOK__URL": f"{balancer_url}/telegram/webhook",
                }
                if redis_url:
                    environment["REDIS_URL"] = redis_url
                if number == 0 and args.profile and args.sampler == "cpu":
                    environment["PYTHONPATH"] = f"{SAMPLER}{os.pathsep}{environment['PYTHONPATH']}"
                    environment["CPU_SAMPLES"] = str(STACKS)
                logs.append(own / "bot.log")
                command = [sys.executable, "-m", "bot", "run"]
                processes.append(Process(command, own, environment, logs[-1]))
                balancer.replicas.append(f"http://127.0.0.1:{environment['PORT']}")
                if number == 0:  # the first one migrates the database alone
                    await wait_until_webhooks(telegram, processes, logs, 1)
            await wait_until_webhooks(telegram, processes, logs, count)
            bots = Replicas(processes)
            idle = bots.cpu_seconds(), database.cpu_seconds()
            await asyncio.sleep(IDLE_SECONDS)
            idle_bots = (bots.cpu_seconds() - idle[0]) * 1000 / IDLE_SECONDS
            idle_database = (database.cpu_seconds() - idle[1]) * 1000 / IDLE_SECONDS
            results = await chat_actions(telegram, bots, args, platform, database)
            hits = ", ".join(str(balancer.hits.get(url, 0)) for url in balancer.replicas)
            print(
                f"balancer: updates per replica {hits}; "
                f"{telegram.redeliveries} deliveries repeated (not answered 200); idle, before "
                f"the users: replicas {idle_bots:.1f} ms CPU a second, databases "
                f"{idle_database:.1f}"
            )
            return results
        finally:
            for process in processes:
                process.stop()
            for log in logs:
                report_log_problems(log)


async def wait_until_webhooks(
    telegram: BotApiStandIn, processes: list[Process], logs: list[Path], count: int
) -> None:
    """Wait until ``count`` replicas have set the webhook (each does when it takes updates)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while telegram.webhooks_set < count:
        for process, log in zip(processes, logs, strict=True):
            if process.popen.poll() is not None:
                raise SystemExit(f"a replica stopped at start (see {log})")
        if time.monotonic() > deadline:
            raise SystemExit(f"{count - telegram.webhooks_set} replicas did not set the webhook")
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # their start-up calls settle


def report_log_problems(log: Path) -> None:
    """A benchmark of a bot that logged errors measured the errors: say so."""
    lines = log.read_text(errors="replace").splitlines()
    problems = [
        line for line in lines if "WARNING" in line or "ERROR" in line or "Traceback" in line
    ]
    if problems:
        print(f"bot log: {len(problems)} warnings or errors, first: {problems[:3]}")


STACKS = ROOT / "artifacts" / "chat_load.stacks"
SAMPLER = ROOT / "bench" / "cpu_sampler"


@contextlib.contextmanager
def profiled(process: Process | Replicas, args: argparse.Namespace, action: str) -> Iterator[None]:
    """The bot sampled during the block when ``--profile`` names ``action``: collapsed stacks
    in ``artifacts/chat_load.stacks`` (read them with ``bench/stacks.py``)."""
    if args.profile != action:
        yield
    elif args.sampler == "py-spy":
        with spy(process):
            yield
    else:
        with cpu_samples(process):
            yield


@contextlib.contextmanager
def cpu_samples(process: Process | Replicas) -> Iterator[None]:
    """``bench/cpu_sampler``, loaded into the bot at start: samples by CPU time."""
    STACKS.parent.mkdir(exist_ok=True)
    STACKS.unlink(missing_ok=True)
    process.popen.send_signal(signal.SIGUSR1)
    try:
        yield
    finally:
        process.popen.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while not STACKS.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        times = STACKS.with_name(STACKS.name + ".times")
        if times.exists():
            print(f"profiled: {times.read_text().strip()} s of CPU; stacks in {STACKS}")


@contextlib.contextmanager
def spy(process: Process | Replicas) -> Iterator[None]:
    """py-spy sampling the bot by wall-clock time for the block."""
    output = STACKS
    output.parent.mkdir(exist_ok=True)
    pid = str(process.popen.pid)
    command = ["py-spy", "record", "-p", pid, "-o", str(output), "-f", "raw", "-r", "250"]
    profiler = Process(command, output.parent, dict(os.environ), output.with_suffix(".log"))
    try:
        yield
    finally:
        profiler.popen.send_signal(signal.SIGINT)
        profiler.popen.wait(timeout=60)
        profiler.stop()


async def memory_scenario(telegram: BotApiStandIn, bot: Process) -> Result:
    """1,000 users in the middle of a join by email, on top of the members already linked."""
    users = [User(telegram, 2_000_000 + n) for n in range(1000)]

    async def begin_email_join(user: User) -> list[float]:
        await user.send("/start", anything)
        latency, _ = await user.send("✉️ Join with email", anything)
        return [latency]

    batches = [users[i : i + 100] for i in range(0, len(users), 100)]
    results = [await measure("mid-conversation", b, bot, begin_email_join, 2) for b in batches]
    latencies = [lat for r in results for lat in r.latencies]
    seconds = sum(r.seconds for r in results)
    cpu = statistics.mean(r.cpu_ms_per_update for r in results)
    return Result("1,000 mid-conversation", latencies, seconds, cpu, bot.rss_mb())


async def link_members(folder: Path, count: int) -> None:
    """``count`` member links in the bot's database, as if that many had joined before."""
    from bot.storage import open_database
    from bot.storage.members import MemberLinks

    database = await open_database(folder / "bot.db")
    try:
        links = MemberLinks(database)
        for n in range(count):
            await links.link(3_000_000 + n, f"M{n:07d}", card_number=f"{n:012d}")
    finally:
        await database.close()


async def run_floor(args: argparse.Namespace, folder: Path) -> list[Result]:
    telegram = BotApiStandIn()
    async with serve(telegram.app()) as telegram_url:
        log = folder / "floor.log"
        floor = Process(
            [sys.executable, str(ROOT / "bench" / "telegram_floor.py"), TOKEN, telegram_url],
            folder,
            os.environ | {"PYTHONPATH": str(ROOT)},
            log,
        )
        try:
            await wait_until_polling(telegram, floor, log)
            users = [User(telegram, 100_000 + n) for n in range(args.users)]
            await asyncio.gather(*(balance_taps(3, anything)(u) for u in users))
            taps = balance_taps(args.taps, anything)
            paced = paced_taps(args.taps, args.pace, anything)
            return [
                await measure("echo (floor)", users, floor, taps, args.taps),
                await measure(f"echo, 1 per {args.pace:g} s", users, floor, paced, args.taps),
            ]
        finally:
            floor.stop()


HEADER = (
    f"{'action':<22} {'answers':>6} {'answers/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    f" {'CPU ms':>7} {'RSS MB':>7} {'platf ms':>8} {'db ms':>6} {'vs echo':>8} {'CPU x':>7}"
)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        floors = await run_floor(args, root)
        floor = floors[0]
        modes: list[tuple[str, str | None]] = [("SQLite sessions", None)] if args.sqlite else []
        if args.redis:
            modes.append(("REDIS_URL", "redis"))
        print(
            f"\n{args.users} users at once, {args.taps} balance taps each; platform latency "
            f"{args.latency * 1000:g} ms; CPU ms = bot process CPU per update\n"
        )
        for title, mode in modes:
            folder = root / title.replace(" ", "-")
            folder.mkdir()
            if args.memory:
                await link_members(folder, 10_000)
            async with contextlib.AsyncExitStack() as stack:
                sandbox = await stack.enter_async_context(platform_sandbox(folder, args.latency))
                redis_url = await stack.enter_async_context(redis_server()) if mode else None
                results = await run_bot_scenario(folder, args, redis_url, sandbox)
            print(f"loyalty-bot run, {title}")
            print(HEADER)
            for row in floors:
                print(row.row(None))
            for result in results:
                print(result.row(floor if result.action == "balance tap" else None))
            print()
        if args.postgres:
            await postgres_modes(args, root, floors)


async def postgres_modes(args: argparse.Namespace, root: Path, floors: list[Result]) -> None:
    """Each ``--postgres N``: N replicas on one PostgreSQL (and Redis when N > 1)."""
    with postgres_server() as server:
        postmaster = postmaster_pid(server)
        for count in args.postgres:
            folder = root / f"postgres-{count}"
            folder.mkdir()
            async with contextlib.AsyncExitStack() as stack:
                sandbox = await stack.enter_async_context(platform_sandbox(folder, args.latency))
                pids = [postmaster]
                redis_url = None
                if count > 1 or args.postgres_redis:
                    redis_url = await stack.enter_async_context(redis_server())
                    pids.append(await redis_pid(redis_url))
                results = await run_replicas_scenario(
                    folder,
                    args,
                    count,
                    server.create_database(),
                    redis_url,
                    sandbox,
                    ServerCpu(pids),
                )
            shared = " and REDIS_URL" if redis_url else ""
            print(f"loyalty-bot run, PostgreSQL{shared}, {count} replica(s) by webhook")
            print("CPU ms and RSS MB summed over the replicas; db ms = PostgreSQL + Redis CPU")
            print(HEADER)
            for row in floors:
                print(row.row(None))
            for result in results:
                print(result.row(floors[0] if result.action == "balance tap" else None))
            print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--taps", type=int, default=10)
    parser.add_argument(
        "--pace", type=float, default=1.0, help="seconds between the paced users' taps"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added by the platform")
    parser.add_argument("--redis", action="store_true", help="also run with REDIS_URL")
    parser.add_argument(
        "--postgres",
        type=int,
        action="append",
        choices=[1, 2, 3, 4],
        metavar="N",
        help="also run N replicas by webhook on PostgreSQL (+ Redis when N > 1); repeatable",
    )
    parser.add_argument(
        "--postgres-redis",
        action="store_true",
        help="REDIS_URL for a single --postgres replica too (always with several)",
    )
    parser.add_argument(
        "--sqlite",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the single bot on SQLite (--no-sqlite: only the --postgres runs)",
    )
    parser.add_argument(
        "--memory", action="store_true", help="10,000 linked members, 1,000 mid-conversation"
    )
    parser.add_argument(
        "--profile",
        choices=["balance", "paced"],
        help="sample the bot during these balance taps (stacks: bench/stacks.py reads them)",
    )
    parser.add_argument(
        "--sampler",
        choices=["cpu", "py-spy"],
        default="cpu",
        help="cpu: by the bot's CPU time (bench/cpu_sampler); py-spy: by wall-clock time",
    )
    arguments = parser.parse_args()
    several = arguments.postgres_redis or any(n > 1 for n in arguments.postgres or [])
    if (arguments.redis or several) and not shutil.which("redis-server"):
        raise SystemExit("--redis and --postgres N > 1 need Debian's redis-server")
    asyncio.run(main(arguments))
