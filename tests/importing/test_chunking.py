"""Chunks stay under the platforms' row and byte limits and never span settled records."""

from __future__ import annotations

from bot.importing.chunking import ChunkLimits, Entry, make_chunks
from bot.importing.validation import RowProblem
from bot.loyalty.models import MemberImportRow
from bot.loyalty.registry import platform

ALTCRAFT = platform("altcraft").imports
ALTCRAFT_LIMITS = ALTCRAFT.member_limits
CLIENTTOOLBOX_LIMITS = platform("clienttoolbox").imports.member_limits


def altcraft_member_size(row: MemberImportRow) -> int:
    assert ALTCRAFT.member_size is not None
    return ALTCRAFT.member_size(row)


def member(index: int, email: str = "") -> MemberImportRow:
    return MemberImportRow(line=index + 2, code=f"C{index}", email=email)


def test_rows_are_cut_at_the_row_limit_and_ranges_cover_every_record() -> None:
    entries = [(index, member(index)) for index in range(1_050)]

    chunks = list(make_chunks(entries, ChunkLimits(rows=500)))

    assert [(c.first_record, c.end_record) for c in chunks] == [
        (0, 500),
        (500, 1000),
        (1000, 1050),
    ]
    assert [c.number for c in chunks] == [0, 1, 2]
    assert chunks[2].lines == (1002, 1051)


def test_refused_rows_ride_along_but_are_not_sent() -> None:
    entries: list[tuple[int, Entry]] = [
        (0, member(0)),
        (1, RowProblem(3, "email: bad")),
        (2, member(2)),
    ]

    (chunk,) = make_chunks(entries, ChunkLimits(rows=10))

    assert [row.line for row in chunk.rows] == [2, 4]
    assert [problem.line for problem in chunk.problems] == [3]


def test_a_chunk_never_spans_a_gap_or_a_boundary() -> None:
    entries = [(index, member(index)) for index in (0, 1, 2, 5, 6, 7, 8)]

    chunks = list(make_chunks(entries, ChunkLimits(rows=100), boundaries={7}))

    assert [(c.first_record, c.end_record) for c in chunks] == [(0, 3), (5, 7), (7, 9)]


def test_altcraft_chunks_stay_under_ten_thousand_rows() -> None:
    entries = [(index, member(index, f"m{index}@example.com")) for index in range(25_000)]

    chunks = list(make_chunks(entries, ALTCRAFT_LIMITS, altcraft_member_size))

    assert [len(chunk.entries) for chunk in chunks] == [10_000, 10_000, 5_000]
    assert ALTCRAFT_LIMITS.bytes is not None
    assert ALTCRAFT_LIMITS.bytes < 10 * 1024 * 1024


def test_chunks_stay_under_the_byte_limit() -> None:
    limits = ChunkLimits(rows=10_000, max_rows=10_000, bytes=100_000)
    big_email = "x" * 200 + "@example.com"
    entries = [(index, member(index, big_email)) for index in range(3_000)]

    chunks = list(make_chunks(entries, limits, altcraft_member_size))

    assert len(chunks) > 3
    for chunk in chunks:
        assert sum(altcraft_member_size(row) for row in chunk.rows) <= 100_000
    assert sum(len(chunk.entries) for chunk in chunks) == 3_000
    assert altcraft_member_size(member(0, big_email)) > 2 * len(big_email)


def test_chunk_size_is_kept_under_the_platform_ceiling() -> None:
    assert ALTCRAFT_LIMITS.sized(25_000).rows == 10_000
    assert ALTCRAFT_LIMITS.sized(200).rows == 200
    assert CLIENTTOOLBOX_LIMITS.rows == 500
    assert CLIENTTOOLBOX_LIMITS.sized(2_000).rows == 2_000
    assert CLIENTTOOLBOX_LIMITS.sized(None) is CLIENTTOOLBOX_LIMITS
