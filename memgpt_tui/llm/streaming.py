"""Read string fields out of JSON text that is still arriving, for token-by-token display."""

from __future__ import annotations

from typing import Any

import jiter


def partial_object(text: str) -> dict[str, Any] | None:
    """The object parsed so far from a JSON prefix, skipping any prose or code fence before it.

    Unfinished strings are kept as far as they go; an escape cut in half is left out until its
    remaining characters arrive, so a field's value only ever grows.
    """
    start = text.find("{")
    if start < 0:
        return None
    try:
        value = jiter.from_json(_escape_raw_controls(text[start:]).encode(), partial_mode="trailing-strings")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


_CONTROL_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_raw_controls(text: str) -> str:
    """Escape raw newlines and tabs inside strings: grammar-constrained llama.cpp output allows them,
    strict JSON does not, and the stream would otherwise stop at the first line break."""
    if not any(c in text for c in _CONTROL_ESCAPES):
        return text
    out, in_string, escaped = [], False, False
    for char in text:
        if in_string and not escaped and char in _CONTROL_ESCAPES:
            out.append(_CONTROL_ESCAPES[char])
            continue
        out.append(char)
        if escaped:
            escaped = False
        elif char == "\\" and in_string:
            escaped = True
        elif char == '"':
            in_string = not in_string
    return "".join(out)


def lookup(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


class PartialJSON:
    """Accumulates JSON text and tells, per string field, what arrived since it was last asked."""

    def __init__(self) -> None:
        self.text = ""
        self._sent: dict[tuple[str, ...], str] = {}

    def feed(self, delta: str) -> dict[str, Any]:
        self.text += delta
        return partial_object(self.text) or {}

    def grown(self, obj: dict[str, Any], *path: str) -> str:
        """The new tail of the string at ``path``; empty when it has not grown (or is not a string)."""
        value = lookup(obj, path)
        sent = self._sent.get(path, "")
        if not isinstance(value, str) or len(value) <= len(sent) or not value.startswith(sent):
            return ""
        self._sent[path] = value
        return value[len(sent) :]
