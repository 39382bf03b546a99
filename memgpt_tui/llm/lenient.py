"""Parse what a model meant as JSON: code fences, prose around it, single quotes, trailing commas,
Python literals, and objects cut off mid-way are all repaired before giving up."""

from __future__ import annotations

import json
from typing import Any

import json_repair


class NotJSON(ValueError):
    """Nothing resembling the expected JSON could be recovered from the text."""


def loads(text: str) -> Any:
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except RecursionError:
        raise NotJSON(f"JSON nested too deeply: {_preview(stripped)}") from None
    except ValueError:
        pass
    try:
        repaired = json_repair.repair_json(stripped, return_objects=True, skip_json_loads=True)
    except (RecursionError, ValueError):  # newer json_repair reports its recursion limit as ValueError
        raise NotJSON(f"JSON nested too deeply: {_preview(stripped)}") from None
    if repaired == "" or repaired is None:
        raise NotJSON(f"no JSON found in {_preview(stripped)}")
    return repaired


def load_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text``, repaired if need be."""
    value = loads(text)
    if isinstance(value, list):
        value = next((item for item in value if isinstance(item, dict)), value)
    if not isinstance(value, dict):
        raise NotJSON(f"expected a JSON object, got {type(value).__name__}: {_preview(text.strip())}")
    return value


def _preview(text: str, limit: int = 120) -> str:
    if not text:
        return "an empty reply"
    return repr(text if len(text) <= limit else text[:limit] + "...")
