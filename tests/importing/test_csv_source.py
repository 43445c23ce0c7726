"""Reading exports: encodings, delimiters, line numbers, and a file that is never read whole."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from bot.importing.csv_source import (
    CsvSource,
    SourceError,
    SourceIdentity,
    estimate_rows,
    sniff,
)
from tests.importing.exports import write_csv, write_members

ROWS = "Card;Nombre;Correo\n1001;José;jose@example.com\n1002;Zoë;zoe@example.com\n"


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "utf-8-sig"), ("utf-8-sig", "utf-8-sig"), ("cp1252", "cp1252")],
)
def test_encoding_is_detected_with_or_without_bom(
    tmp_path: Path, encoding: str, expected: str
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(ROWS, encoding=encoding)

    source_format = sniff(path)
    with CsvSource(path, source_format) as source:
        names = [record.cells[1] for record in source.records()]
        header = source.header

    assert source_format.encoding == expected
    assert header == ["Card", "Nombre", "Correo"]
    assert names == ["José", "Zoë"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    rows = [["code", "first name", "amount"], ["C1", "Ann", "9,95"], ["C2", "Bob", "14"]]
    path = write_csv(tmp_path / "export.csv", rows[0], rows[1:], delimiter=delimiter)

    assert sniff(path).delimiter == delimiter
    with CsvSource(path, sniff(path)) as source:
        assert next(record.cells for record in source.records()) == rows[1]


def test_a_given_delimiter_and_encoding_win(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(ROWS, encoding="cp1252")

    assert sniff(path, "cp1252", "semicolon").delimiter == ";"
    with pytest.raises(SourceError, match="unknown delimiter"):
        sniff(path, delimiter="colon")
    with pytest.raises(SourceError, match="unknown encoding"):
        sniff(path, encoding="koi8-r")


def test_a_cp1252_file_read_as_utf8_names_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(ROWS, encoding="cp1252")

    with (
        pytest.raises(SourceError, match="--encoding cp1252"),
        CsvSource(path, sniff(path, "utf-8")) as source,
    ):
        list(source.records())


def test_line_numbers_follow_the_file_through_blank_lines_and_quoted_breaks(
    tmp_path: Path,
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        'code,note\n\nC1,"two\nlines"\nC2,plain\n,\nC3,last\n', encoding="utf-8", newline=""
    )

    with CsvSource(path, sniff(path)) as source:
        records = [(record.index, record.line, record.cells[0]) for record in source.records()]

    assert records == [(0, 3, "C1"), (1, 5, "C2"), (2, 7, "C3")]


def test_empty_and_bad_headers_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n", encoding="utf-8")
    twice = tmp_path / "twice.csv"
    twice.write_text("Email,Phone,Email\n", encoding="utf-8")

    with pytest.raises(SourceError, match="empty"):
        CsvSource(empty, sniff(empty))
    with pytest.raises(SourceError, match="twice: Email"):
        CsvSource(twice, sniff(twice))


def test_utf16_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(ROWS, encoding="utf-16")

    with pytest.raises(SourceError, match="UTF-16"):
        sniff(path)


def test_identity_changes_with_the_content(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(ROWS, encoding="utf-8")
    before = SourceIdentity.of(path)
    path.write_text(ROWS.replace("1001", "1003"), encoding="utf-8")

    assert SourceIdentity.of(path).head_sha256 != before.head_sha256


def test_reading_a_large_file_keeps_memory_flat(tmp_path: Path) -> None:
    path = write_members(tmp_path / "members.csv", 50_000)
    assert path.stat().st_size > 4_000_000

    tracemalloc.start()
    try:
        with CsvSource(path, sniff(path)) as source:
            count = sum(1 for _ in source.records())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == 50_000
    assert peak < 1_000_000


def test_a_forced_encoding_that_fails_names_the_first_bad_line_and_the_encoding(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cp1252.csv"
    lines = ["Card,Name"] + [f"{1000 + n},Plain{n}" for n in range(686)]
    lines += ["1686,José", *(f"{2000 + n},Zoë{n}" for n in range(300))]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))

    with pytest.raises(SourceError) as refused, CsvSource(path, sniff(path, "utf-8")) as source:
        for _ in source.records():
            pass

    text = str(refused.value)
    assert "line 688 " in text and "not valid UTF-8:" in text
    assert "utf-8-sig" not in text and "--encoding cp1252" in text


def test_the_row_estimate_counts_data_lines(tmp_path: Path) -> None:
    with_end = tmp_path / "a.csv"
    with_end.write_text("Card\n1\n2\n3\n", encoding="utf-8")
    without_end = tmp_path / "b.csv"
    without_end.write_text("Card\r\n1\r\n2", encoding="utf-8")
    empty = tmp_path / "c.csv"
    empty.write_bytes(b"")

    assert [estimate_rows(path) for path in (with_end, without_end, empty)] == [3, 2, 0]
