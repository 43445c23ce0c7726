"""Telegram's HTML parse mode as the stand-in applies it: text and UTF-16 entities, or a 400."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.devtools.telegram_standin.errors import BotApiError
from bot.devtools.telegram_standin.formatting import parse_html, with_detected_entities
from bot.devtools.telegram_standin.state import TelegramStandIn


def test_nested_tags_become_entities_with_utf16_offsets() -> None:
    parsed = parse_html(
        '👋 <b>Jane, <i>450</i></b> &lt;pts&gt; <a href="https://ex.com/?a=1&amp;b=2">go</a>'
    )

    assert parsed.text == "👋 Jane, 450 <pts> go"
    assert parsed.entities == [
        {"type": "bold", "offset": 3, "length": 9},
        {"type": "italic", "offset": 9, "length": 3},
        {"type": "text_link", "url": "https://ex.com/?a=1&b=2", "offset": 19, "length": 2},
    ]


def test_pre_with_a_language_is_one_entity() -> None:
    parsed = parse_html('<pre><code class="language-python">print(1)</code></pre>')

    assert parsed.text == "print(1)"
    assert parsed.entities == [{"type": "pre", "language": "python", "offset": 0, "length": 8}]


def test_a_bare_ampersand_is_kept_as_text() -> None:
    assert parse_html("Fish & chips &copy; &#128512;").text == "Fish & chips &copy; 😀"


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        ("Hello <Jane>", 'Unsupported start tag "jane" at byte offset 6'),
        ("Ünï <script>x</script>", 'Unsupported start tag "script" at byte offset 6'),
        ("2 < 3", 'Unsupported start tag "" at byte offset 2'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ('<span class="x">y</span>', 'must have class "tg-spoiler"'),
    ],
)
def test_bad_markup_is_refused_like_telegram(markup: str, reason: str) -> None:
    with pytest.raises(BotApiError) as refused:
        parse_html(markup)

    assert refused.value.error_code == 400
    assert refused.value.description.startswith("Bad Request: can't parse entities: ")
    assert reason in refused.value.description


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_escaped_text_always_survives_unchanged(text: str) -> None:
    parsed = parse_html(html.escape(text))

    assert parsed.text == text
    assert parsed.entities == []


async def test_commands_are_found_where_telegram_finds_them() -> None:
    standin = TelegramStandIn("1:x")
    jane = next(iter(standin.users))

    sent = await standin.send_text(jane, "a </b> x/y /help@great_widgets_bot and /card")

    assert sent.entities == [
        {"type": "bot_command", "offset": 11, "length": 23},
        {"type": "bot_command", "offset": 39, "length": 5},
    ]


def test_commands_and_links_in_bot_text_are_detected_outside_code() -> None:
    parsed = with_detected_entities(
        parse_html("Try /menu, not <code>/card</code>, at https://example.com/x.")
    )

    assert parsed.entities == [
        {"type": "bot_command", "offset": 4, "length": 5},
        {"type": "code", "offset": 15, "length": 5},
        {"type": "url", "offset": 25, "length": 21},
    ]
