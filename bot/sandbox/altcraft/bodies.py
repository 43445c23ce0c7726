"""Request and answer bodies as Altcraft writes them: JSON, or XML under an ``<xml>`` root with
arrays as repeated ``<item>`` elements (``<data array="true">`` is read too)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, Literal

from aiohttp import web

BodyFormat = Literal["json", "xml"]


class BodyError(ValueError):
    """The request body could not be read."""


def body_format(content_type: str, raw: bytes) -> BodyFormat:
    kind = content_type.lower()
    if "xml" in kind:
        return "xml"
    if "json" in kind:
        return "json"
    return "xml" if raw.lstrip().startswith(b"<") else "json"


def parse_request(raw: bytes, fmt: BodyFormat) -> dict[str, Any]:
    if not raw.strip():
        return {}
    if fmt == "json":
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BodyError(f"Cannot parse JSON body: {exc}") from None
        if not isinstance(parsed, dict):
            raise BodyError("The JSON body must be an object")
        return parsed
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise BodyError(f"Cannot parse XML body: {exc}") from None
    if root.tag != "xml":
        raise BodyError(f"The XML root element must be <xml>, not <{root.tag}>")
    value = _read(root)
    return value if isinstance(value, dict) else {}


def _read(element: ET.Element) -> Any:
    children = list(element)
    if element.get("array") == "true" or (children and all(c.tag == "item" for c in children)):
        return [_read(child) for child in children]
    if not children:
        return (element.text or "").strip()
    value: dict[str, Any] = {}
    for child in children:
        inner = _read(child)
        if child.tag in value:
            previous = value[child.tag]
            value[child.tag] = [*_as_items(previous), inner]
        else:
            value[child.tag] = inner
    return value


def render(payload: Mapping[str, Any], fmt: BodyFormat) -> web.Response:
    """An answer in the request's format, always HTTP 200 (the ``error`` field tells the rest)."""
    if fmt == "json":
        return web.json_response(dict(payload), dumps=_dumps)
    root = ET.Element("xml")
    for name, value in payload.items():
        _write(root, name, value)
    text = ET.tostring(root, encoding="unicode")
    return web.Response(text=text, content_type="application/xml")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _write(parent: ET.Element, name: str, value: Any) -> None:
    element = ET.SubElement(parent, name)
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _write(element, str(key), inner)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            _write(element, "item", inner)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)


def _as_items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
