"""A local imitation of Altcraft's loyalty, profiles and tasks API, for tests and trials."""

from bot.sandbox.altcraft import demo
from bot.sandbox.altcraft.app import STORE, create_app, run_sandbox

__all__ = ["STORE", "connection", "create_app", "demo", "run_sandbox"]


def connection(url: str) -> dict[str, object]:
    """The client settings (``ALTCRAFT__*``, as plain values) of the demo account of the
    sandbox served at ``url``."""
    return {
        "url": f"{url}/api/v1.1/",
        "token": demo.TOKEN,
        "loyalty_program_id": demo.PROGRAM_ID,
        "profiles_db_id": demo.DB_ID,
    }
