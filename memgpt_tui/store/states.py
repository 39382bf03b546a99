"""Checkpoint states stored by difference.

The long texts of an ``AgentState`` (system prompt, memory blocks, summary) rarely change between
steps. A checkpoint row holds each such text only when the previous checkpoint did not; otherwise it
names the checkpoint row that holds it (``$refs``: path -> [checkpoint id, path there]). So a
checkpoint costs what changed in its step, and restoring one reads at most a few more rows. Checkpoint
rows are never deleted, so a reference stays valid through compaction, export and import.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..engine.state import AgentState
from .api import StoreError

REFS = "$refs"
MIN_SHARED = 256  # characters; a shorter text costs less inline than referenced

Holder = tuple[str, str]  # checkpoint id, path of the text in that checkpoint's state


class StatePacker:
    """Packs the states of successive checkpoints, remembering where the last one's texts live."""

    def __init__(self) -> None:
        self._holders: dict[str, Holder] = {}  # text digest -> where it is stored in full

    def pack(self, checkpoint_id: str, state: AgentState) -> str:
        data = state.model_dump(mode="json")
        refs: dict[str, Holder] = {}
        holders: dict[str, Holder] = {}
        for path, text in list(_long_texts(data)):
            digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
            holder = self._holders.get(digest)
            if holder is None:
                holder = (checkpoint_id, path)
            else:
                refs[path] = holder
                _put(data, path, "")
            holders[digest] = holder
        self._holders = holders
        if refs:
            data[REFS] = refs
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def unpack(packed: str, fetch: Callable[[Sequence[str]], dict[str, str]]) -> AgentState:
    """The state of a packed row; ``fetch`` gives the packed rows of the checkpoints it refers to."""
    data = json.loads(packed)
    refs: dict[str, list[str]] = data.pop(REFS, {})
    if refs:
        rows = fetch(sorted({holder for holder, _ in refs.values()}))
        holders = {holder: json.loads(rows[holder]) for holder in rows}
        for path, (holder, there) in refs.items():
            if holder not in holders:
                raise StoreError(f"checkpoint {holder!r}, which holds part of this state, is missing")
            _put(data, path, _get(holders[holder], there))
    return AgentState.model_validate(data)


def _long_texts(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    candidates = [("system_prompt", data["system_prompt"]), ("summary", data.get("summary"))]
    candidates += [(f"blocks/{i}/value", block["value"]) for i, block in enumerate(data["blocks"])]
    for path, text in candidates:
        if isinstance(text, str) and len(text) >= MIN_SHARED:
            yield path, text


def _get(data: Any, path: str) -> Any:
    for key in path.split("/"):
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


def _put(data: Any, path: str, value: str) -> None:
    *parents, last = path.split("/")
    target = _get(data, "/".join(parents)) if parents else data
    target[int(last) if isinstance(target, list) else last] = value
