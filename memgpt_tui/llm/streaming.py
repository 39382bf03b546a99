"""Read string fields out of JSON text that is still arriving, for token-by-token display."""

from __future__ import annotations

from typing import Any

import jiter


def _parse(json_text: str) -> dict[str, Any] | None:
    try:
        value = jiter.from_json(json_text.encode(), partial_mode="trailing-strings")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


_CONTROL_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SIGNIFICANT = ('"', "\\", *_CONTROL_ESCAPES)


class _Escaper:
    """Escapes raw newlines and tabs inside strings: grammar-constrained llama.cpp output allows them,
    strict JSON does not, and the stream would otherwise stop at the first line break. Keeps its place
    between calls, so text arriving in pieces is escaped once, piece by piece."""

    def __init__(self) -> None:
        self.in_string = False
        self.escaped = False

    def escape(self, text: str) -> str:
        if not self.escaped and not any(c in text for c in _SIGNIFICANT):
            return text  # changes neither the text nor where it stands
        out = []
        for char in text:
            if self.in_string and not self.escaped and char in _CONTROL_ESCAPES:
                out.append(_CONTROL_ESCAPES[char])
                continue
            out.append(char)
            if self.escaped:
                self.escaped = False
            elif char == "\\" and self.in_string:
                self.escaped = True
            elif char == '"':
                self.in_string = not self.in_string
        return "".join(out)


def lookup(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


# Text is parsed again as each piece arrives, which grows quadratically: past this length the fields
# stop growing on screen, and the whole reply is read once at the end.
WATCH_CHARS = 64 * 1024


class PartialJSON:
    """Accumulates JSON text and tells, per string field, what arrived since it was last asked."""

    def __init__(self) -> None:
        # The text in pieces, joined when read: appending to a string attribute copies it each time,
        # which a long reply in small pieces makes quadratic.
        self._pieces: list[str] = []
        self._sent: dict[tuple[str, ...], str] = {}
        self._json = ""  # ``text`` from its first "{", escaped
        self._read = 0  # how much of ``text`` is in ``_json``
        self._escaper = _Escaper()

    @property
    def text(self) -> str:
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    @text.setter
    def text(self, value: str) -> None:
        self._pieces = [value]

    def add(self, delta: str) -> None:
        """Append without parsing, when nobody watches the fields grow."""
        self._pieces.append(delta)

    def feed(self, delta: str) -> dict[str, Any]:
        """The object parsed so far, skipping any prose or code fence before it. Unfinished strings
        are kept as far as they go; an escape cut in half is left out until its remaining characters
        arrive, so a field's value only ever grows."""
        self._pieces.append(delta)
        if len(self._json) > WATCH_CHARS:
            return {}
        text = self.text
        new, self._read = text[self._read :], len(text)
        if not self._json:
            start = new.find("{")
            if start < 0:
                return {}
            new = new[start:]
        self._json += self._escaper.escape(new)
        return _parse(self._json) or {}

    def grown(self, obj: dict[str, Any], *path: str) -> str:
        """The new tail of the string at ``path``; empty when it has not grown (or is not a string)."""
        value = lookup(obj, path)
        sent = self._sent.get(path, "")
        if not isinstance(value, str) or len(value) <= len(sent) or not value.startswith(sent):
            return ""
        self._sent[path] = value
        return value[len(sent) :]
