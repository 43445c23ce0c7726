"""CSV exports as merchants bring them, generated for the import tests and the benchmark."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

MEMBER_HEADER = ("Customer ID", "First name", "Last name", "E-mail", "Phone number", "DOB")
_AREAS = ("212", "312", "415", "617", "713", "303", "206", "404", "305", "702")


def member_phone(number: int) -> str:
    """A valid US number, different for every ``number`` below 7,000,000."""
    area = _AREAS[number % 10]
    exchange = 234 + (number // 10) % 700
    line = (number // 7000) % 10000
    return f"+1 ({area}) {exchange:03d}-{line:04d}"


def member_row(number: int, domain: str = "import.example.com") -> list[str]:
    return [
        f"M{number:07d}",
        f"Ann{number}",
        "Member",
        f"member{number}@{domain}",
        member_phone(number),
        f"{1950 + number % 50}-{1 + number % 12:02d}-{1 + number % 28:02d}",
    ]


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> Path:
    with path.open("w", encoding=encoding, newline="") as file:
        writer = csv.writer(file, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_members(
    path: Path, count: int, *, start: int = 0, domain: str = "import.example.com"
) -> Path:
    """``count`` good member rows, streamed to disk (never held in memory)."""
    rows = (member_row(number, domain) for number in range(start, start + count))
    return write_csv(path, MEMBER_HEADER, rows)


def read_report(path: Path) -> list[dict[str, str]]:
    """The per-row lines of a report (the ``#`` summary lines left out)."""
    with path.open(encoding="utf-8", newline="") as file:
        lines = [line for line in file if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(lines))


def report_summary(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as file:
        return [line[2:].rstrip("\n") for line in file if line.startswith("# ")]
