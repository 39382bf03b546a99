"""Text as it enters the app (from a model, a file or the user) and as it leaves it (on a screen or in a
log): ``clean`` removes what the storage and the terminal must never see; ``redact`` hides keys."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

# Lone surrogates (pyarrow and UTF-8 files refuse them), NUL and the other control characters except
# tab, newline and carriage return (escape sequences would drive the terminal), DEL and C1 controls.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_REPLACEMENT = "\ufffd"


def _replace(match: re.Match[str]) -> str:
    return _REPLACEMENT if "\ud800" <= match.group() <= "\udfff" else ""


def clean(text: str) -> str:
    """``text`` without control characters; a lone surrogate becomes U+FFFD."""
    return text if _UNSAFE.search(text) is None else _UNSAFE.sub(_replace, text)


def clean_value(value: Any) -> Any:
    """A JSON value with every string in it (keys too) cleaned."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [clean_value(item) for item in value]
    if isinstance(value, dict):
        return {clean(str(key)): clean_value(item) for key, item in value.items()}
    return value


def clean_json(text: str) -> str:
    """JSON text whose strings, once decoded, are clean: ``\\ud800`` escapes are as unsafe as the
    characters themselves. Text that is not JSON is cleaned as text."""
    text = clean(text)
    if "\\u" not in text:
        return text
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    cleaned = clean_value(value)
    return text if cleaned == value else json.dumps(cleaned, ensure_ascii=False)


def size(chars: int) -> str:
    """A length for a message: "5.0 MB (5,242,880 characters)"."""
    if chars < 10_000:
        return f"{chars:,} characters"
    return f"{chars / (1 << 20):.1f} MB ({chars:,} characters)"


# Anything shaped like an API key: OpenAI's sk-..., bearer tokens, key=... pairs.
_KEY_SHAPES = re.compile(
    r"\bsk-[A-Za-z0-9_\-]{8,}|(?i:\bbearer\s+)[A-Za-z0-9._~+/\-]{8,}=*"
    r"|(?i:\b(?:api[_-]?key|access[_-]?token|secret)\b\s*[:=]\s*[\"']?)[A-Za-z0-9._\-]{8,}"
)
_secrets: set[str] = set()


def register_secret(secret: str | None) -> None:
    """A key the user configured: it is redacted wherever it shows, whatever its shape."""
    if secret and len(secret) >= 4:
        _secrets.add(secret)


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "[redacted key]")
    return _KEY_SHAPES.sub(_redact_shape, text)


def _redact_shape(match: re.Match[str]) -> str:
    found = match.group()
    if found.startswith("sk-"):
        return "sk-[redacted]"
    prefix = re.match(r"(?i)(bearer\s+|[^:=]*[:=]\s*[\"']?)", found)
    return f"{prefix.group() if prefix else ''}[redacted]"


class RedactingFilter(logging.Filter):
    """Redacts keys from a log record's message and traceback before a handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
