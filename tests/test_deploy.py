"""The `scale` profile of docker-compose.yml, the bot's Dockerfile and the balancer's nginx
configuration, read as files: Docker has no daemon on the test machines. The profile must
run PostgreSQL, Redis, several replicas and a round-robin balancer, each with a healthcheck,
and the balancer must reach every replica for every path the bot serves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AnyHttpUrl

from bot.api.app import PREFIX as POS_PREFIX
from bot.config import Settings, WebhookSettings
from bot.health import HEALTH_PATH
from bot.kiosk.app import PREFIX as KIOSK_PREFIX
from bot.telegram.webhook import webhook_address

ROOT = Path(__file__).resolve().parent.parent
SCALE = "scale"
REPLICAS = ("bot-1", "bot-2", "bot-3")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _scale_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if SCALE in service.get("profiles", [])
    }


def _healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL"), test
    return " ".join(test[1:])


def test_the_scale_profile_runs_postgres_redis_replicas_and_a_balancer(
    compose: dict[str, Any],
) -> None:
    services = _scale_services(compose)
    assert set(services) == {"postgres", "redis", *REPLICAS, "balancer"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["balancer"]["image"].startswith("nginx:")
    # A plain `docker compose up` is unchanged: one bot on SQLite, polling, no profile.
    single = compose["services"]["bot"]
    assert "profiles" not in single
    assert "DATABASE_URL" not in single["environment"]
    assert "REDIS_URL" not in single["environment"]


def test_every_service_of_the_profile_has_a_healthcheck_that_asks_the_right_thing(
    compose: dict[str, Any],
) -> None:
    services = _scale_services(compose)
    for name, service in services.items():
        assert "healthcheck" in service, name
    assert "pg_isready" in _healthcheck_command(services["postgres"])
    assert "-U loyalty" in _healthcheck_command(services["postgres"])
    assert _healthcheck_command(services["redis"]) == "redis-cli ping"
    assert "/balancer-health" in _healthcheck_command(services["balancer"])
    for name in REPLICAS:
        command = _healthcheck_command(services[name])
        port = services[name]["environment"]["PORT"]
        assert f"http://127.0.0.1:{port}{HEALTH_PATH}" in command, name


def test_replicas_share_postgres_and_redis_and_no_file(compose: dict[str, Any]) -> None:
    services = _scale_services(compose)
    volumes: list[str] = []
    for name in REPLICAS:
        replica = services[name]
        environment = replica["environment"]
        settings = Settings(
            _env_file=None,
            database_url=environment["DATABASE_URL"].replace(
                "${POSTGRES_PASSWORD:-loyalty}", "pw"
            ),
            redis_url=environment["REDIS_URL"],
        )
        assert settings.database_target == "postgresql://loyalty:pw@postgres:5432/loyalty"
        assert settings.redis_url is not None
        assert settings.redis_url.get_secret_value() == "redis://redis:6379/0"
        assert environment["HOST"] == "0.0.0.0"
        depends = replica["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert "ports" not in replica  # reached through the balancer only
        volumes += [volume.split(":")[0] for volume in replica.get("volumes", [])]
    assert len(volumes) == len(set(volumes)), volumes
    password = compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert password == "${POSTGRES_PASSWORD:-loyalty}"
    assert "${POSTGRES_PASSWORD:-loyalty}@" in services["bot-1"]["environment"]["DATABASE_URL"]


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_image_runs_as_a_user_that_is_not_root_and_checks_its_health() -> None:
    steps = _dockerfile()
    users = [arguments for instruction, arguments in steps if instruction == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    user = users[-1]
    created = [
        arguments
        for instruction, arguments in steps
        if instruction == "RUN" and "useradd" in arguments
    ]
    assert created and re.search(rf"\b{user}\b", created[0])
    assert f"chown {user}" in created[0] and "/data" in created[0]
    order = [instruction for instruction, _ in steps]
    # Nothing runs as root after USER, and the volume is declared after /data is owned.
    assert "RUN" not in order[order.index("USER") :]
    assert order.index("VOLUME") > order.index("USER")
    (healthcheck,) = [
        arguments for instruction, arguments in steps if instruction == "HEALTHCHECK"
    ]
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command[:2] == ["python", "-c"] and HEALTH_PATH in command[2]


def _nginx() -> str:
    return "\n".join(
        line.split("#", 1)[0] for line in (ROOT / "deploy" / "nginx.conf").read_text().splitlines()
    )


def _blocks(config: str, keyword: str) -> dict[str, str]:
    """``keyword ARGS { body }`` blocks without nested braces, by their arguments."""
    return {
        match[1].strip(): match[2]
        for match in re.finditer(rf"\b{keyword}\s+([^{{;]*)\{{([^{{}}]*)\}}", config)
    }


def _route(locations: dict[str, str], path: str) -> str:
    """The body of the location nginx picks for ``path`` (exact, then longest prefix)."""
    exact = {
        key.removeprefix("=").strip(): body for key, body in locations.items() if key[0] == "="
    }
    if path in exact:
        return exact[path]
    prefixes = {key: body for key, body in locations.items() if key[0] != "=" and key[0] != "~"}
    best = max((key for key in prefixes if path.startswith(key)), key=len)
    return prefixes[best]


def test_the_balancer_sends_every_path_the_bot_serves_round_robin_to_every_replica(
    compose: dict[str, Any],
) -> None:
    config = _nginx()
    upstreams = _blocks(config, "upstream")
    assert set(upstreams) == {"bot_replicas"}
    servers = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", upstreams["bot_replicas"], re.M)
    services = _scale_services(compose)
    assert sorted(host for host, _ in servers) == sorted(REPLICAS)
    for host, port in servers:
        assert port == services[host]["environment"]["PORT"]
    # Round robin is nginx's default; no directive may pick another method or stick.
    for method in ("ip_hash", "hash ", "least_conn", "least_time", "random", "sticky"):
        assert method not in upstreams["bot_replicas"], method

    locations = _blocks(config, "location")
    webhook_paths = [
        webhook_address(
            Settings(
                _env_file=None,
                bot_token="123456:abc",
                webhook=WebhookSettings(url=AnyHttpUrl(url)),
            )
        )[1]
        for url in ("https://bot.example.com", "https://bot.example.com/telegram")
    ]
    served = [
        *webhook_paths,
        KIOSK_PREFIX,
        f"{KIOSK_PREFIX}/",
        f"{KIOSK_PREFIX}/api/lookup",
        f"{KIOSK_PREFIX}/static/kiosk.js",
        f"{POS_PREFIX}/purchases",
        HEALTH_PATH,
    ]
    for path in served:
        assert "proxy_pass http://bot_replicas;" in _route(locations, path), path
    # The local stand-in's chat page and anything else are not exposed.
    for path in ("/chat", "/", "/bot123:abc/getMe"):
        assert "return 404" in _route(locations, path), path
    assert "return 200" in _route(locations, "/balancer-health")
    # Only a stopping replica's 503 (the update not stored) is retried on another; kiosk and
    # POS purchases are never sent twice.
    for path in (f"{KIOSK_PREFIX}/api/staff/record", f"{POS_PREFIX}/purchases"):
        assert "proxy_next_upstream" not in _route(locations, path)
    assert "http_503" in _route(locations, webhook_paths[0])
    assert "timeout" not in _route(locations, webhook_paths[0]).split("proxy_next_upstream ")[1]

    balancer = services["balancer"]
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in balancer["volumes"]
    assert set(balancer["depends_on"]) == set(REPLICAS)


def test_docker_compose_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed")
    version = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, check=False
    )
    if version.returncode != 0:
        pytest.skip("docker has no compose plugin here")
    checked = subprocess.run(
        [docker, "compose", "--profile", SCALE, "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
