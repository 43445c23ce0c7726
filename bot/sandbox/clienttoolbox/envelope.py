"""Answers of the Client Toolbox API: one tree, written as XML, JSON or JSONP.

The tree follows ``docs/clienttoolbox-wire.md``: a ``dict`` is an element (keys starting with
``@`` are its attributes), ``Many`` is a plural wrapper of repeated singular elements, and
every scalar is written as a string.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, Union

Scalar: TypeAlias = str | int
Node: TypeAlias = Union[Scalar, "Many", dict[str, "Node"]]

_CALLBACK = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Many:
    """A plural wrapper (``campaigns``) holding repeated singular elements (``campaign``)."""

    item: str
    entries: Sequence[Node]


@dataclass
class Answer:
    payload: dict[str, Node] = field(default_factory=dict)
    status: str = "success"


def error_answer(message: str) -> Answer:
    return Answer({"error": message}, "error")


def no_match_answer(message: str) -> Answer:
    return Answer({"message": message}, "no_match")


@dataclass(frozen=True)
class Rendering:
    as_json: bool = False
    callback: str | None = None
    condensed: bool = False


def rendering_for(params: Mapping[str, str]) -> tuple[Rendering, str | None]:
    """How to write the answer, and a complaint about the output fields if they are wrong."""
    output = params.get("output", "").strip().lower()
    callback = params.get("callback", "").strip() or None
    condensed = params.get("condensed", "").strip().lower() in {"yes", "y", "true", "1"}
    if output not in {"", "xml", "json"}:
        return Rendering(), f"output must be JSON or XML, not {params['output']!r}"
    if callback is not None and not _CALLBACK.match(callback):
        return (
            Rendering(as_json=True, condensed=condensed),
            f"callback {callback!r} is not a JavaScript function name",
        )
    return Rendering(output == "json" or callback is not None, callback, condensed), None


def render(answer: Answer, rendering: Rendering) -> tuple[str, str]:
    """The body and its content type."""
    if not rendering.as_json:
        return _xml(answer), "text/xml"
    document = {"status": answer.status, **{k: _json(v) for k, v in answer.payload.items()}}
    # Spaces after separators but no indentation: indenting would bypass the C encoder.
    separators = (",", ":") if rendering.condensed else (", ", ": ")
    text = json.dumps(document, ensure_ascii=False, separators=separators)
    if rendering.callback is not None:
        return f"{rendering.callback}({text})", "application/javascript"
    return text, "application/json"


def _json(node: Node) -> object:
    if isinstance(node, Many):
        return [_json(entry) for entry in node.entries]
    if isinstance(node, dict):
        return {key.removeprefix("@"): _json(value) for key, value in node.items()}
    return str(node)


def _xml(answer: Answer) -> str:
    root = ET.Element("response", status=answer.status)
    for tag, node in answer.payload.items():
        _xml_element(root, tag, node)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def _xml_element(parent: ET.Element, tag: str, node: Node) -> None:
    element = ET.SubElement(parent, tag)
    if isinstance(node, Many):
        for entry in node.entries:
            _xml_element(element, node.item, entry)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("@"):
                element.set(key[1:], _xml_text(str(value)))
            else:
                _xml_element(element, key, value)
    else:
        element.text = _xml_text(str(node))


def _xml_text(text: str) -> str:
    # Control characters cannot appear in XML 1.0 at all, escaped or not.
    return _NOT_XML_CHAR.sub("\ufffd", text)
