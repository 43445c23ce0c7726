"""A local imitation of Altcraft's loyalty, profiles and tasks API, for tests and trials."""

from bot.sandbox.altcraft import demo
from bot.sandbox.altcraft.app import STORE, create_app, run_sandbox

__all__ = ["STORE", "create_app", "demo", "run_sandbox"]
