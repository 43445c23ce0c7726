"""The card picture's storage: uploaded once, re-sent by Telegram's file_id, rendered again
when the file_id is missing or refused; the PNG never reaches the database."""

from __future__ import annotations

from pathlib import Path

from bot.loyalty.clienttoolbox import ClientToolboxClient
from bot.storage.database import open_database
from bot.telegram.dispatcher import build_bot, build_dispatcher
from tests.telegram.chat import TelegramUser
from tests.telegram.conftest import BotUnderTest, MovableClock, stop_bot
from tests.telegram.test_join_by_phone import decode_qr


def _database_bytes(path: Path) -> bytes:
    return b"".join(
        candidate.read_bytes()
        for candidate in (path, path.with_name(path.name + "-wal"))
        if candidate.exists()
    )


async def test_cards_are_reused_by_file_id_and_rendered_again_never_stored(
    app: BotUnderTest,
    ct_backend: ClientToolboxClient,
    tmp_path: Path,
    clock: MovableClock,
) -> None:
    users = [app.user(2000 + n, first_name=f"Member{n}") for n in range(5)]
    for n, user in enumerate(users):
        [card] = await user.share_contact(f"1202555{n:04d}")
        assert card.photo is not None
    assert len(app.telegram.uploads) == 5
    db_path = Path(app.db.path)
    assert b"\x89PNG" not in _database_bytes(db_path), "a card PNG is in the database"

    [again] = await users[0].send("/card")
    assert again.photo is None and again.file_id is not None

    # After a restart the file_id is still known; once Telegram refuses it, the card is
    # rendered again (nothing kept it) and uploaded again.
    settings = app.dispatcher["settings"]
    await stop_bot(app)
    # The same Telegram (its file ids go on), a new process of the bot.
    db = await open_database(db_path)
    restarted = BotUnderTest(
        build_dispatcher(settings, backend=ct_backend, db=db, clock=clock),
        build_bot(settings, session=app.telegram),
        app.telegram,
        db,
    )
    try:
        user: TelegramUser = users[0]
        user.rewire(restarted.dispatcher, restarted.bot, restarted.telegram)
        [by_old_file_id] = await user.send("/card")
        assert by_old_file_id.photo is None and by_old_file_id.file_id == again.file_id
        app.telegram.rejected_file_ids.add(again.file_id)
        [fresh] = await user.send("/card")
        member = await ct_backend.find_member_by_phone("+12025550000")
        assert member is not None
        assert fresh.photo is not None and decode_qr(fresh.photo) == [member.card_number]
        [by_file_id] = await user.send("/card")
        assert by_file_id.photo is None and by_file_id.file_id == fresh.file_id
        assert b"\x89PNG" not in _database_bytes(db_path)
    finally:
        await stop_bot(restarted)
