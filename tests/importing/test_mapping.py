"""Column mapping: guesses from header names in English, Russian and Spanish; JSON files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.importing.mapping import (
    ImportKind,
    MappingError,
    guess_mapping,
    load_or_save_mapping,
    read_mapping,
)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("E-mail", "email"),
        ("email address", "email"),
        ("Correo electrónico", "email"),
        ("Электронная почта", "email"),
        ("Phone number", "phone"),
        ("Teléfono", "phone"),
        ("Телефон", "phone"),
        ("Mobile", "phone"),
        ("Card", "card_number"),
        ("Card #", "card_number"),
        ("Номер карты", "card_number"),
        ("Número de tarjeta", "card_number"),
        ("First name", "first_name"),
        ("Имя", "first_name"),
        ("Nombre", "first_name"),
        ("Surname", "last_name"),
        ("Фамилия", "last_name"),
        ("Apellidos", "last_name"),
        ("DOB", "birthday"),
        ("Birthday", "birthday"),
        ("Дата рождения", "birthday"),
        ("Fecha de nacimiento", "birthday"),
        ("custom_date", "birthday"),
        ("Customer ID", "code"),
        ("Código", "code"),
        ("Points", "signup_bonus"),
    ],
)
def test_member_headers_are_guessed_in_common_forms(header: str, field: str) -> None:
    mapping = guess_mapping(ImportKind.MEMBERS, [header, "Something else"])

    assert mapping.columns == {header: field}
    assert mapping.unknown == ("Something else",)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Amount", "amount"),
        ("Сумма", "amount"),
        ("Importe", "amount"),
        ("Date", "date"),
        ("Fecha", "date"),
        ("Дата", "date"),
        ("Card number", "member"),
        ("Customer", "member"),
        ("Campaign", "campaign_id"),
        ("Redeemed", "redeemed"),
        ("Product", "item"),
        ("service_product", "item"),
        ("Authorization", "description"),
        ("Комментарий", "description"),
    ],
)
def test_transaction_headers_are_guessed(header: str, field: str) -> None:
    assert guess_mapping(ImportKind.TRANSACTIONS, [header]).columns == {header: field}


def test_a_field_is_guessed_once_and_the_second_column_is_unknown() -> None:
    mapping = guess_mapping(ImportKind.MEMBERS, ["Phone", "Mobile", "E-mail"])

    assert mapping.columns == {"Phone": "phone", "E-mail": "email"}
    assert mapping.unknown == ("Mobile",)
    assert mapping.positions(["Phone", "Mobile", "E-mail"]) == {"phone": 0, "email": 2}


def test_guessed_mapping_is_saved_for_editing_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "mapping.json"
    header = ["Tarjeta", "Correo", "Notas"]

    guessed, saved = load_or_save_mapping(path, ImportKind.MEMBERS, header)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["columns"]["Notas"] = "last_name"
    path.write_text(json.dumps(document), encoding="utf-8")
    edited, saved_again = load_or_save_mapping(path, ImportKind.MEMBERS, header)

    assert saved and not saved_again
    assert document["kind"] == "members"
    assert guessed.columns == {"Tarjeta": "card_number", "Correo": "email"}
    assert guessed.unknown == ("Notas",)
    assert edited.columns == {"Tarjeta": "card_number", "Correo": "email", "Notas": "last_name"}
    assert edited.unknown == ()


def test_the_fingerprint_ignores_columns_mapped_to_nothing() -> None:
    header = ["Card", "Notes"]
    guessed = guess_mapping(ImportKind.MEMBERS, header)
    saved = read_mapping(
        '{"kind": "members", "columns": {"Card": "card_number", "Notes": null}}',
        ImportKind.MEMBERS,
        header,
    )
    other = read_mapping('{"columns": {"Notes": "card_number"}}', ImportKind.MEMBERS, header)

    assert saved.fingerprint() == guessed.fingerprint()
    assert other.fingerprint() != guessed.fingerprint()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"columns": {"Card": "card"}}', "maps to 'card'"),
        ('{"kind": "transactions", "columns": {}}', "is for transactions"),
        ('{"columns": {"Card": "email", "Mail": "email"}}', "both map to email"),
        ('{"columns": {"Phone": "phone"}}', "no column 'Phone'"),
        ("[]", '"columns"'),
    ],
)
def test_a_bad_mapping_file_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        read_mapping(text, ImportKind.MEMBERS, ["Card", "Mail"])
