"""A local Client Toolbox (Sticky Street) loyalty API: aiohttp + SQLite, with fault injection.

It answers like the vendor's API as documented in ``../shared/seeds/000–003`` and
``../shared/docs/apis/clienttoolbox.md``, in the shapes fixed by ``docs/clienttoolbox-wire.md``.
Serve it with ``bot.sandbox.runner.serve(create_app())`` and post forms to ``/``, ``/api.php``
or ``/index.php`` (GET with a query string works too).

The demo account (``demo.py``)
------------------------------
``greatwidgets`` / user ``john1970`` / key ``1959caadac9b13dcb3``, "Great Widgets Rewards":

- points ``1111222233334444`` "Widget Rewards" (ratio 100 points per $1, reward ratio $0.01 a
  point; rewards 97 Free coffee 300, 98 Free widget 500; promos 89 ×2, 123 +100, 345 ×1.5,
  354 +250), gift card ``22223333444455555``, events ``3333444455556666`` "Frequent shopper"
  (rewards 41 at 5 visits, 42 at 10), earned ``4444555566667777`` "GateKeeper Rewards" ($4.50 a
  visit), buy-X ``5555666677778888`` "Coffee club" (item 96 Coffees, buy 10, ``[COFFEE]``; item
  95 Cakes, buy 5, ``[CAKE]``);
- two more points campaigns only because seed examples use their ids: ``1234567890123456``
  (seed 001 ``record_customer``) and ``4638472975924871`` (seed 003 batch PHP example; its
  reward 1500 makes that example's ``Y|1500`` row with ``apply_ratio=yes`` redeem 1500 points);
- John Smith, code ``1234567890123456`` (the code of seed 003's examples), card ``11112222``,
  registered, with history in the five campaigns (2600 points, $38.75 gift card, 6 visits,
  $18.00 earned, 12 Coffees and 2 Cakes); Jane Doe, code ``6000000000012121``, card ``12121``
  (the code of every seed batch row), not registered, 2000 points and $45.00 earned.

Seed examples that are wrong as written, and the answer they get
------------------------------------------------------------------
- seed 000 ``customers_batch``: header ``custome_date`` → error naming it (its campaign ids
  ``898989889`` etc. are not in the demo either → error naming the first one, once the header
  is fixed);
- seed 003 batch PHP example: ``user_api_key`` ``1959caadac9a8f7e42938a7b13dcb3`` is not the
  key of the other examples → ``Authentication failed…``; with the demo key all 7 rows import;
- seed 003 redeem and delete examples: campaign ids ``546734563456``, ``83635463645756``,
  ``763446467657`` (used for two kinds at once), ``2355464634565``, ``4564222953051300`` appear
  nowhere else → error naming the campaign id; with the demo campaign of the same kind they
  succeed against John's history;
- seed 003 batch tables use the points campaign ``1111222233334444`` for every kind: rows are
  read as points (``14,95`` is not a whole number of points without ``apply_ratio=yes``, a
  ``service_product`` on a points campaign is refused), each as a per-row error; the row dated
  ``2013-0315`` is refused while the good rows import.

Decisions where the vendor is silent (also in ``docs/clienttoolbox-wire.md``)
-----------------------------------------------------------------------------
- Unknown customer on lookups (``customer_info``, ``customer_balance``, ``redeem``,
  ``customer_delete``, ``transaction_delete``) → ``status="no_match"``; ``record_activity`` and
  ``batch_transactions`` create it (``create_new_customers=N`` refuses in a batch).
- ``record_customer new`` without ``code``: code := the given ``card_number`` unless
  ``new_code=Yes``; a generated card never becomes the code (a random 16-digit code does).
  ``card_number_generate=N`` makes an N-digit card, prefix and suffix included.
- ``register``: the card must exist without a password and a ``customer_password`` must be
  given; "registered" means the customer has a password.
- ``customers_batch``: a row matches by ``code``, else by ``card_number``; no ``code`` makes a
  random 16-digit one; ``overwrite_duplicates`` defaults to ``ignore``; in ``update`` mode an
  empty cell leaves the field alone; a single skipped header number is allowed (columns are
  the headers in number order), two in a row are an error.
- Batch ``line`` numbers count the lines of the data field as sent, from 1 (blank lines are
  skipped but counted). ``allow_undo``/``no_undo``/``allow-undo``/``no-undo`` and
  ``send_transaction_email``/``send_no_email`` are accepted and have no effect.
- Dates of batch transactions are ``YYYY-MM-DD`` or ``MM/DD/YYYY`` at 00:00:00 UTC; other
  stamps are the current UTC time.
- ``Server-Timing: app;dur=<ms>`` on every answer gives the server-side time of the call.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.sandbox.clienttoolbox import demo
from bot.sandbox.clienttoolbox.demo import install_demo
from bot.sandbox.clienttoolbox.ledger import Ledger
from bot.sandbox.clienttoolbox.server import LEDGER, add_routes
from bot.sandbox.runner import sandbox_app, serve_until_cancelled

__all__ = ["LEDGER", "connection", "create_app", "run_sandbox"]


def connection(url: str) -> dict[str, object]:
    """The client settings (``CLIENTTOOLBOX__*``, as plain values) of the demo account of the
    sandbox served at ``url``."""
    return {
        "url": f"{url}/api.php",
        "account_id": demo.ACCOUNT_ID,
        "user_id": demo.USER_ID,
        "user_api_key": demo.API_KEY,
    }


def create_app(db_path: str | Path = ":memory:", *, demo: bool = True) -> web.Application:
    """The sandbox app on a new or existing SQLite file; ``demo`` adds the demo account once."""
    ledger = Ledger(db_path)
    if demo:
        install_demo(ledger)
    return sandbox_app(LEDGER, ledger, add_routes, ledger.close)


async def run_sandbox(host: str, port: int, db_path: str) -> None:
    """Serve the sandbox (with the demo account) until cancelled."""
    await serve_until_cancelled(create_app(db_path), host, port)
