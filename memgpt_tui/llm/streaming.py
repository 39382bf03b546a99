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
        value = jiter.from_json(text[start:].encode(), partial_mode="trailing-strings")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


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
