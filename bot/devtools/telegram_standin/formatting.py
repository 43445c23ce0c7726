"""Telegram's HTML parse mode: markup in, plain text plus message entities out.

The rules follow Telegram's own parser (tdlib ``parse_html``): a closed set of tags, ``<`` always
starts a tag, only ``&lt; &gt; &amp; &quot;`` and numeric references are decoded, and entity
offsets count UTF-16 code units.  A bot that forgets to escape a customer's name fails here the
way it would fail against Telegram.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.devtools.telegram_standin.errors import BotApiError, bad_request

_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
}
_SUPPORTED_TAGS = {*_SIMPLE_TAGS, "a", "span", "tg-emoji", "pre", "code", "blockquote"}
_NAMED_REFERENCES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME = re.compile(r"[a-zA-Z0-9-]*")
_ATTRIBUTE_NAME = re.compile(r"[a-zA-Z0-9_-]*")
_COMMAND = re.compile(r"(?<![\w/<>])/[a-zA-Z0-9_]{1,32}(?:@[a-zA-Z0-9_]{3,32})?(?![\w@/<>])")
_URL = re.compile(r"(?<![\w@/])https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_VERBATIM_TYPES = {"code", "pre", "text_link", "url"}
_REFERENCE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]{2,10}));")


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class FormattedText:
    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _OpenTag:
    name: str
    start: int
    entity: dict[str, Any] | None


def _entity_error(reason: str) -> BotApiError:
    return bad_request(f"can't parse entities: {reason}")


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _decode_references(raw: str) -> str:
    def replace(match: re.Match[str]) -> str:
        decimal, hexadecimal, name = match.groups()
        if name is not None:
            return _NAMED_REFERENCES.get(name, match.group(0))
        code = int(decimal) if decimal is not None else int(hexadecimal, 16)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return match.group(0)
        return chr(code)

    return _REFERENCE.sub(replace, raw)


def _parse_attributes(source: str, index: int, tag: str, begin: int) -> tuple[dict[str, str], int]:
    """Read ``name="value"`` pairs up to the closing ``>``; return them and the index after it."""
    attributes: dict[str, str] = {}
    length = len(source)
    while True:
        while index < length and source[index].isspace():
            index += 1
        if index >= length:
            raise _entity_error(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
        if source[index] == ">":
            return attributes, index + 1
        if source[index] == "/" and source.startswith("/>", index):
            return attributes, index + 2
        name_match = _ATTRIBUTE_NAME.match(source, index)
        assert name_match is not None
        name = name_match.group(0).lower()
        if not name:
            raise _entity_error(
                f'Empty attribute name in the tag "{tag}" at byte offset '
                f"{_byte_offset(source, begin)}"
            )
        index = name_match.end()
        while index < length and source[index].isspace():
            index += 1
        if index >= length or source[index] != "=":
            attributes[name] = ""
            continue
        index += 1
        while index < length and source[index].isspace():
            index += 1
        if index < length and source[index] in "\"'":
            quote = source[index]
            close = source.find(quote, index + 1)
            if close < 0:
                raise _entity_error(
                    f"Unclosed start tag at byte offset {_byte_offset(source, begin)}"
                )
            value = source[index + 1 : close]
            index = close + 1
        else:
            end = index
            while end < length and not source[end].isspace() and source[end] != ">":
                end += 1
            value = source[index:end]
            index = end
        attributes[name] = _decode_references(value)


def _entity_for(
    tag: str, attributes: dict[str, str], parent: _OpenTag | None, source: str, begin: int
) -> dict[str, Any] | None:
    if tag in _SIMPLE_TAGS:
        return {"type": _SIMPLE_TAGS[tag]}
    if tag == "span":
        if attributes.get("class") != "tg-spoiler":
            raise _entity_error('Tag "span" must have class "tg-spoiler"')
        return {"type": "spoiler"}
    if tag == "a":
        url = attributes.get("href", "")
        if not url:
            return None
        return {"type": "text_link", "url": url}
    if tag == "tg-emoji":
        emoji_id = attributes.get("emoji-id", "")
        if not emoji_id.isdigit():
            raise _entity_error(
                f"Invalid custom emoji identifier specified at byte offset "
                f"{_byte_offset(source, begin)}"
            )
        return {"type": "custom_emoji", "custom_emoji_id": emoji_id}
    if tag == "pre":
        return {"type": "pre"}
    if tag == "code":
        language = attributes.get("class", "")
        if parent is not None and parent.name == "pre" and parent.entity is not None:
            if language.startswith("language-"):
                parent.entity["language"] = language.removeprefix("language-")
            return None
        return {"type": "code"}
    if tag == "blockquote":
        return {"type": "expandable_blockquote" if "expandable" in attributes else "blockquote"}
    raise AssertionError(tag)


def parse_html(source: str) -> FormattedText:
    """Parse Telegram HTML; raise ``BotApiError`` (400) with Telegram's wording when it is bad."""
    pieces: list[str] = []
    position = 0
    entities: list[dict[str, Any]] = []
    stack: list[_OpenTag] = []
    index = 0
    length = len(source)
    while index < length:
        char = source[index]
        if char == "&":
            match = _REFERENCE.match(source, index)
            decoded = _decode_references(match.group(0)) if match else "&"
            pieces.append(decoded)
            position += utf16_length(decoded)
            index = match.end() if match else index + 1
            continue
        if char != "<":
            end = index
            while end < length and source[end] not in "<&":
                end += 1
            chunk = source[index:end]
            pieces.append(chunk)
            position += utf16_length(chunk)
            index = end
            continue
        begin = index
        index += 1
        if index < length and source[index] == "/":
            name_match = _TAG_NAME.match(source, index + 1)
            assert name_match is not None
            name = name_match.group(0).lower()
            index = name_match.end()
            while index < length and source[index].isspace():
                index += 1
            if index >= length or source[index] != ">":
                raise _entity_error(
                    f"Unclosed end tag at byte offset {_byte_offset(source, begin)}"
                )
            index += 1
            if not stack:
                raise _entity_error(
                    f"Unexpected end tag at byte offset {_byte_offset(source, begin)}"
                )
            open_tag = stack.pop()
            if name and name != open_tag.name:
                raise _entity_error(
                    f"Unmatched end tag at byte offset {_byte_offset(source, begin)}, "
                    f'expected "</{open_tag.name}>", found "</{name}>"'
                )
            if open_tag.entity is not None and position > open_tag.start:
                open_tag.entity["offset"] = open_tag.start
                open_tag.entity["length"] = position - open_tag.start
                entities.append(open_tag.entity)
            continue
        name_match = _TAG_NAME.match(source, index)
        assert name_match is not None
        name = name_match.group(0).lower()
        if name not in _SUPPORTED_TAGS:
            raise _entity_error(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, begin)}'
            )
        attributes, index = _parse_attributes(source, name_match.end(), name, begin)
        parent = stack[-1] if stack else None
        entity = _entity_for(name, attributes, parent, source, begin)
        stack.append(_OpenTag(name, position, entity))
    if stack:
        raise _entity_error(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
    return FormattedText("".join(pieces), entities)


def plain_text_entities(text: str, raw_entities: Any) -> FormattedText:
    """Text sent without a parse mode, with explicit ``entities`` (already decoded JSON)."""
    if raw_entities is None:
        return FormattedText(text)
    if not isinstance(raw_entities, list) or not all(
        isinstance(entity, dict) and {"type", "offset", "length"} <= entity.keys()
        for entity in raw_entities
    ):
        raise bad_request("can't parse entities JSON object")
    return FormattedText(text, [dict(entity) for entity in raw_entities])


def with_detected_entities(formatted: FormattedText) -> FormattedText:
    """Add the ``bot_command`` and ``url`` entities Telegram finds in any message text."""
    text = formatted.text
    verbatim = [
        (entity["offset"], entity["offset"] + entity["length"])
        for entity in formatted.entities
        if entity["type"] in _VERBATIM_TYPES
    ]
    found: list[dict[str, Any]] = []
    for kind, pattern in (("bot_command", _COMMAND), ("url", _URL)):
        for match in pattern.finditer(text):
            start = utf16_length(text[: match.start()])
            end = start + utf16_length(match.group())
            if not any(start < stop and begin < end for begin, stop in verbatim):
                found.append({"type": kind, "offset": start, "length": end - start})
    if not found:
        return formatted
    entities = sorted(
        [*formatted.entities, *found], key=lambda entity: (entity["offset"], -entity["length"])
    )
    return FormattedText(text, entities)
