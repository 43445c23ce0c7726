"""Which CSV column feeds which platform field: guessed from the header, or read from JSON.

A mapping file is plain JSON that the operator can edit and reuse for every export of the same
shape::

    {"kind": "members", "columns": {"E-mail": "email", "Tel.": "phone", "Notes": null}}

``null`` ignores a column on purpose; a column the mapping does not name is reported once as
unknown.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from bot.loyalty.models import MemberImportRow, TransactionImportRow


class ImportKind(StrEnum):
    MEMBERS = "members"
    TRANSACTIONS = "transactions"


# The row models' fields, but for ``line`` (the row's own line number, not a column).
MEMBER_FIELDS = tuple(name for name in MemberImportRow.model_fields if name != "line")
TRANSACTION_FIELDS = tuple(name for name in TransactionImportRow.model_fields if name != "line")
FIELDS: dict[ImportKind, tuple[str, ...]] = {
    ImportKind.MEMBERS: MEMBER_FIELDS,
    ImportKind.TRANSACTIONS: TRANSACTION_FIELDS,
}

# Header spellings in English, Russian and Spanish, compared after ``header_key``. Order matters
# only inside one kind: the first field whose list holds a header wins.
_MEMBER_NAMES: dict[str, tuple[str, ...]] = {
    "code": (
        "code",
        "customer code",
        "customer id",
        "customer uid",
        "client id",
        "member id",
        "member code",
        "external id",
        "uid",
        "id",
        "код",
        "код клиента",
        "id клиента",
        "идентификатор",
        "código",
        "código de cliente",
        "id cliente",
        "id de cliente",
    ),
    "card_number": (
        "card",
        "card number",
        "card no",
        "card #",
        "card num",
        "loyalty card",
        "loyalty card number",
        "карта",
        "номер карты",
        "карта лояльности",
        "tarjeta",
        "número de tarjeta",
        "nº tarjeta",
        "no tarjeta",
    ),
    "first_name": (
        "first name",
        "firstname",
        "given name",
        "forename",
        "name",
        "имя",
        "nombre",
    ),
    "last_name": (
        "last name",
        "lastname",
        "surname",
        "family name",
        "фамилия",
        "apellido",
        "apellidos",
    ),
    "phone": (
        "phone",
        "phone number",
        "telephone",
        "telephone number",
        "tel",
        "mobile",
        "mobile phone",
        "mobile number",
        "cell",
        "cell phone",
        "msisdn",
        "телефон",
        "номер телефона",
        "мобильный",
        "мобильный телефон",
        "тел",
        "teléfono",
        "móvil",
        "celular",
        "número de teléfono",
    ),
    "email": (
        "email",
        "e-mail",
        "email address",
        "e-mail address",
        "mail",
        "почта",
        "электронная почта",
        "эл почта",
        "емейл",
        "correo",
        "correo electrónico",
    ),
    "birthday": (
        "dob",
        "birthday",
        "birth date",
        "birthdate",
        "date of birth",
        "born",
        "custom date",
        "дата рождения",
        "день рождения",
        "др",
        "fecha de nacimiento",
        "cumpleaños",
        "nacimiento",
    ),
    "signup_bonus": (
        "signup bonus",
        "sign-up bonus",
        "welcome bonus",
        "bonus",
        "auto add",
        "points",
        "balance",
        "opening balance",
        "points balance",
        "бонус",
        "баллы",
        "баланс",
        "bono",
        "puntos",
        "saldo",
    ),
}
_TRANSACTION_NAMES: dict[str, tuple[str, ...]] = {
    "campaign_id": (
        "campaign",
        "campaign id",
        "program",
        "program id",
        "кампания",
        "программа",
        "campaña",
        "programa",
    ),
    "member": (
        "member",
        "code",
        "customer",
        "customer code",
        "customer id",
        "client",
        "card",
        "card number",
        "member id",
        "клиент",
        "код",
        "код клиента",
        "карта",
        "номер карты",
        "cliente",
        "código",
        "tarjeta",
        "número de tarjeta",
    ),
    "redeemed": (
        "redeemed",
        "redeem",
        "redemption",
        "is redemption",
        "списание",
        "списано",
        "canje",
        "canjeado",
        "redimido",
    ),
    "amount": (
        "amount",
        "sum",
        "total",
        "value",
        "points",
        "quantity",
        "qty",
        "сумма",
        "количество",
        "баллы",
        "importe",
        "monto",
        "cantidad",
        "puntos",
    ),
    "item": (
        "item",
        "product",
        "service product",
        "item identifier",
        "sku",
        "товар",
        "продукт",
        "producto",
        "artículo",
    ),
    "date": (
        "date",
        "transaction date",
        "purchase date",
        "visit date",
        "datetime",
        "дата",
        "дата покупки",
        "fecha",
        "fecha de compra",
    ),
    "description": (
        "description",
        "authorization",
        "note",
        "notes",
        "comment",
        "memo",
        "описание",
        "комментарий",
        "примечание",
        "descripción",
        "nota",
        "comentario",
    ),
}


def header_key(text: str) -> str:
    """A header reduced to letters and digits: ``"E-mail"``, ``"e mail"`` → ``"email"``."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ё", "е").replace("Ё", "Е"))
    return "".join(
        char
        for char in decomposed.casefold()
        if char.isalnum() and not unicodedata.combining(char)
    )


def _index(names: dict[str, tuple[str, ...]]) -> dict[str, str]:
    index: dict[str, str] = {}
    for field_name, spellings in names.items():
        for spelling in (field_name, *spellings):
            index.setdefault(header_key(spelling), field_name)
    return index


_GUESSES: dict[ImportKind, dict[str, str]] = {
    ImportKind.MEMBERS: _index(_MEMBER_NAMES),
    ImportKind.TRANSACTIONS: _index(_TRANSACTION_NAMES),
}


class MappingError(ValueError):
    """The mapping file is not valid, or does not fit the file's header."""


@dataclass(frozen=True)
class ColumnMapping:
    """CSV column (as written in the header) → platform field, or ``None`` to ignore it."""

    kind: ImportKind
    columns: dict[str, str | None]
    unknown: tuple[str, ...] = field(default=(), compare=False)
    """Header columns this mapping does not mention (reported once, not imported)."""

    def positions(self, header: Sequence[str]) -> dict[str, int]:
        """Field → index of its column in ``header``."""
        where = {name: index for index, name in enumerate(header)}
        return {
            target: where[column]
            for column, target in self.columns.items()
            if target is not None and column in where
        }

    def to_json(self) -> str:
        return json.dumps(
            {"kind": self.kind.value, "columns": self.columns}, ensure_ascii=False, indent=2
        )

    def fingerprint(self) -> str:
        """Identifies what the mapping does (not how it is spelled in its file)."""
        used = sorted((column, target) for column, target in self.columns.items() if target)
        canonical = json.dumps([self.kind.value, used], ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def guess_mapping(kind: ImportKind, header: Sequence[str]) -> ColumnMapping:
    """Map each column whose name is a known spelling of a field; each field at most once."""
    guesses = _GUESSES[kind]
    columns: dict[str, str | None] = {}
    taken: set[str] = set()
    unknown: list[str] = []
    for column in header:
        target = guesses.get(header_key(column))
        if target is None or target in taken or column in columns:
            unknown.append(column)
            continue
        columns[column] = target
        taken.add(target)
    return ColumnMapping(kind, columns, tuple(unknown))


def read_mapping(text: str, kind: ImportKind, header: Sequence[str]) -> ColumnMapping:
    """Parse a mapping file and check it against the kind and the file's header."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappingError(f"the mapping is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("columns"), dict):
        raise MappingError('the mapping must be an object with "columns": {"CSV column": field}')
    declared = document.get("kind", kind.value)
    if declared != kind.value:
        raise MappingError(f"the mapping is for {declared}, not {kind.value}")
    allowed = FIELDS[kind]
    columns: dict[str, str | None] = {}
    seen: dict[str, str] = {}
    for column, target in document["columns"].items():
        if target is not None and (not isinstance(target, str) or target not in allowed):
            raise MappingError(
                f"column {column!r} maps to {target!r}; {kind.value} fields are "
                f"{', '.join(allowed)} (or null to ignore the column)"
            )
        if target is not None and target in seen:
            raise MappingError(f"columns {seen[target]!r} and {column!r} both map to {target}")
        if target is not None:
            seen[target] = column
        columns[column] = target
    missing = [column for column, target in columns.items() if target and column not in header]
    if missing:
        raise MappingError(
            f"the file has no column {', '.join(repr(name) for name in missing)}; "
            f"its columns are {', '.join(repr(name) for name in header)}"
        )
    unknown = tuple(column for column in header if column not in columns)
    return ColumnMapping(kind, columns, unknown)


def load_or_save_mapping(
    path: Path | None, kind: ImportKind, header: Sequence[str]
) -> tuple[ColumnMapping, bool]:
    """The mapping of ``path`` if it exists; otherwise the guess, saved there when a path is
    given so the operator can edit and reuse it. Returns the mapping and whether it was saved."""
    if path is not None and path.exists():
        return read_mapping(path.read_text(encoding="utf-8-sig"), kind, header), False
    mapping = guess_mapping(kind, header)
    if path is None:
        return mapping, False
    saved = ColumnMapping(
        kind, {**mapping.columns, **dict.fromkeys(mapping.unknown)}, mapping.unknown
    )
    path.write_text(saved.to_json() + "\n", encoding="utf-8")
    return mapping, True
