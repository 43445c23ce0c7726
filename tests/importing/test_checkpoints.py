"""The import checkpoint in SQLite: contiguous confirmation, doubt, results in file order."""

from __future__ import annotations

from pathlib import Path

from bot.storage.database import open_database
from bot.storage.imports import ChunkRange, ImportCheckpoints


async def test_an_import_is_found_again_by_its_key(checkpoints: ImportCheckpoints) -> None:
    first, resumed = await checkpoints.start("k1", kind="members", source="/a.csv", options="{}")
    again, resumed_again = await checkpoints.start(
        "k1", kind="members", source="/a.csv", options='{"x": 1}'
    )
    other, _ = await checkpoints.start("k2", kind="members", source="/a.csv", options="{}")

    assert not resumed and resumed_again
    assert again.id == first.id and again.options == "{}"
    assert other.id != first.id


async def test_the_checkpoint_moves_only_over_a_contiguous_prefix(
    checkpoints: ImportCheckpoints,
) -> None:
    record, _ = await checkpoints.start("k", kind="members", source="/a.csv", options="{}")
    for first in (0, 500, 1000):
        await checkpoints.begin_chunk(record.id, first, first + 500)

    after_second = await checkpoints.settle_chunk(record.id, 500, 1000, "[]")
    after_third = await checkpoints.settle_chunk(record.id, 1000, 1500, "[]")
    after_first = await checkpoints.settle_chunk(record.id, 0, 500, "[]")

    assert (after_second, after_third, after_first) == (0, 0, 1500)
    assert await checkpoints.ranges(record.id) == [
        ChunkRange(0, 500, "done"),
        ChunkRange(500, 1000, "done"),
        ChunkRange(1000, 1500, "done"),
    ]


async def test_an_abandoned_chunk_leaves_a_gap_to_send_again(
    checkpoints: ImportCheckpoints,
) -> None:
    record, _ = await checkpoints.start("k", kind="members", source="/a.csv", options="{}")
    await checkpoints.settle_chunk(record.id, 0, 10, "[]")
    await checkpoints.begin_chunk(record.id, 10, 20)
    await checkpoints.abandon_chunk(record.id, 10)
    confirmed = await checkpoints.settle_chunk(record.id, 20, 30, "[]")

    assert confirmed == 10
    assert [item.first_record for item in await checkpoints.ranges(record.id)] == [0, 20]


async def test_chunks_in_doubt_can_be_reopened(checkpoints: ImportCheckpoints) -> None:
    record, _ = await checkpoints.start("k", kind="transactions", source="/t.csv", options="{}")
    await checkpoints.settle_chunk(record.id, 0, 10, "[]")
    await checkpoints.settle_chunk(record.id, 10, 20, "[]", state="doubt")
    await checkpoints.settle_chunk(record.id, 20, 30, "[]")
    await checkpoints.finish(record.id, 30)

    reopened = await checkpoints.reopen_doubtful(record.id)
    after = await checkpoints.get("k")

    assert reopened == 10
    assert after is not None
    assert after.confirmed_records == 10 and after.finished_at is None
    assert [item.first_record for item in await checkpoints.ranges(record.id)] == [0, 20]


async def test_results_come_back_in_file_order_page_by_page(
    checkpoints: ImportCheckpoints,
) -> None:
    record, _ = await checkpoints.start("k", kind="members", source="/a.csv", options="{}")
    for first in reversed(range(0, 200, 10)):
        await checkpoints.settle_chunk(record.id, first, first + 10, f"[{first}]")

    pages = [text async for text in checkpoints.results(record.id)]

    assert pages == [f"[{first}]" for first in range(0, 200, 10)]


async def test_checkpoints_survive_reopening_the_database(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    database = await open_database(path)
    record, _ = await ImportCheckpoints(database).start(
        "k", kind="members", source="/a.csv", options="{}"
    )
    await ImportCheckpoints(database).settle_chunk(record.id, 0, 5, '[[2, "created", "", ""]]')
    await database.close()

    reopened = await open_database(path)
    try:
        checkpoints = ImportCheckpoints(reopened)
        again = await checkpoints.get("k")
        pages = [text async for text in checkpoints.results(record.id)]
        assert await checkpoints.discard("k")
        assert await checkpoints.get("k") is None
        assert await checkpoints.ranges(record.id) == []
    finally:
        await reopened.close()

    assert again is not None and again.confirmed_records == 5
    assert pages == ['[[2, "created", "", ""]]']
