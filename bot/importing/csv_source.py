"""Streaming a CSV export: encoding and delimiter found from the first bytes, rows read one by one.

The file is never read whole: a ``csv.reader`` runs over a text stream, so memory stays flat for
any size. Each record comes with its index (0 = first data row) and the file line it starts on.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SAMPLE_BYTES = 64 * 1024
DELIMITERS = {
    ",": ",",
    "comma": ",",
    ";": ";",
    "semicolon": ";",
    "tab": "\t",
    "\\t": "\t",
    "\t": "\t",
    "|": "|",
    "pipe": "|",
}
ENCODINGS = {
    "auto": "auto",
    "utf-8": "utf-8-sig",
    "utf8": "utf-8-sig",
    "utf-8-sig": "utf-8-sig",
    "cp1252": "cp1252",
    "windows-1252": "cp1252",
    "latin-1": "cp1252",
}
_CANDIDATES = (",", ";", "\t", "|")


class SourceError(ValueError):
    """The file cannot be read as CSV with the given or detected settings."""


@dataclass(frozen=True, slots=True)
class Record:
    index: int
    """Position among the data rows, from 0; the checkpoint counts these."""
    line: int
    """File line the record starts on (the header is line 1)."""
    cells: list[str]


@dataclass(frozen=True, slots=True)
class SourceFormat:
    encoding: str
    delimiter: str


@dataclass(frozen=True, slots=True)
class SourceIdentity:
    """What tells one file from another for the checkpoint, without reading it whole."""

    path: str
    size: int
    mtime_ns: int
    head_sha256: str

    @classmethod
    def of(cls, path: Path) -> SourceIdentity:
        stat = path.stat()
        with path.open("rb") as raw:
            head = raw.read(SAMPLE_BYTES)
        return cls(
            path=str(path.resolve()),
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            head_sha256=hashlib.sha256(head).hexdigest(),
        )


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM) if the sample decodes as UTF-8, else Windows-1252."""
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SourceError("the file is UTF-16; save it as UTF-8 (CSV UTF-8 in Excel)")
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        # final=False: the sample may end in the middle of a multi-byte character.
        decoder.decode(sample, final=False)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


def detect_delimiter(text: str) -> str:
    """The candidate giving the most columns consistently over the sample's complete lines."""
    lines = text.splitlines()
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]
    lines = [line for line in lines[:50] if line.strip()]
    if not lines:
        return ","
    best, best_score = ",", (0, 0)
    for candidate in _CANDIDATES:
        widths = [len(row) for row in csv.reader(lines, delimiter=candidate)]
        header_width = widths[0]
        if header_width < 2:
            continue
        agreeing = sum(1 for width in widths if width == header_width)
        score = (agreeing, header_width)
        if score > best_score:
            best, best_score = candidate, score
    return best


def sniff(path: Path, encoding: str = "auto", delimiter: str | None = None) -> SourceFormat:
    """The encoding and delimiter to read ``path`` with; ``auto``/``None`` detect them."""
    try:
        chosen_encoding = ENCODINGS[encoding.lower()]
    except KeyError:
        raise SourceError(
            f"unknown encoding {encoding!r}: use auto, utf-8 (with or without BOM) or cp1252"
        ) from None
    with path.open("rb") as raw:
        sample = raw.read(SAMPLE_BYTES)
    if chosen_encoding == "auto":
        chosen_encoding = detect_encoding(sample)
    if delimiter is not None:
        try:
            return SourceFormat(chosen_encoding, DELIMITERS[delimiter.lower()])
        except KeyError:
            raise SourceError(
                f"unknown delimiter {delimiter!r}: use comma, semicolon, tab or pipe"
            ) from None
    text = sample.decode(chosen_encoding, errors="ignore")
    return SourceFormat(chosen_encoding, detect_delimiter(text))


def estimate_rows(path: Path) -> int:
    """About how many data rows the file holds (its line breaks, less the header), read in
    blocks without decoding: the progress bar's total before the rows are read."""
    breaks = 0
    last = b"\n"
    with path.open("rb") as raw:
        while block := raw.read(1 << 20):
            breaks += block.count(b"\n")
            last = block[-1:]
    lines = breaks + (0 if last == b"\n" else 1)
    return max(lines - 1, 0)


_ENCODING_NAMES = {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252 (cp1252)"}


def _first_undecodable(path: Path, encoding: str) -> tuple[int, str] | None:
    """The first physical line of ``path`` that does not decode, with the reason."""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            if number == 1 and codec == "utf-8":
                line = line.removeprefix(codecs.BOM_UTF8)
            try:
                line.decode(codec)
            except UnicodeDecodeError as exc:
                return number, exc.reason
    return None


class CsvSource:
    """Header and records of one CSV file, read lazily; use as a context manager."""

    def __init__(self, path: Path, source_format: SourceFormat) -> None:
        self.path = path
        self.format = source_format
        self._raw = path.open("rb")
        self._text = io.TextIOWrapper(self._raw, encoding=source_format.encoding, newline="")
        self._reader = csv.reader(self._text, delimiter=source_format.delimiter, strict=False)
        try:
            self.header = self._read_header()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> CsvSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._text.close()

    @property
    def bytes_read(self) -> int:
        """How far into the file the reader is (read-ahead included): for progress only."""
        return self._raw.tell() if not self._raw.closed else 0

    def _next_row(self) -> list[str] | None:
        try:
            return next(self._reader)
        except StopIteration:
            return None
        except UnicodeDecodeError as exc:
            # The decoder reads ahead of the CSV reader: find the line that really fails.
            found = _first_undecodable(self.path, self.format.encoding)
            line, reason = found if found else (self._reader.line_num + 1, exc.reason)
            name = _ENCODING_NAMES.get(self.format.encoding, self.format.encoding)
            other = "cp1252" if self.format.encoding == "utf-8-sig" else "utf-8"
            raise SourceError(
                f"the file is not valid {name}: line {line} does not decode ({reason}); pass "
                f"--encoding {other} (or auto) to say how it was saved"
            ) from None
        except csv.Error as exc:
            raise SourceError(f"line {self._reader.line_num}: {exc}") from None

    def _read_header(self) -> list[str]:
        while True:
            row = self._next_row()
            if row is None:
                raise SourceError("the file is empty: the first line must name the columns")
            if any(cell.strip() for cell in row):
                break
        header = [cell.strip() for cell in row]
        named = [name for name in header if name]
        duplicates = sorted({name for name in named if named.count(name) > 1})
        if duplicates:
            raise SourceError(f"the header names a column twice: {', '.join(duplicates)}")
        return header

    def records(self) -> Iterator[Record]:
        """Data rows in file order; blank lines are skipped and do not count."""
        index = 0
        start = self._reader.line_num + 1
        while True:
            row = self._next_row()
            if row is None:
                return
            if any(cell.strip() for cell in row):
                yield Record(index, start, row)
                index += 1
            start = self._reader.line_num + 1
