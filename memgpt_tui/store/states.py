"""Checkpoint states stored by difference.

The long texts of an ``AgentState`` (system prompt, memory blocks, summary) rarely change between
steps. A checkpoint row holds each such text only when the previous checkpoint did not; otherwise it
names the checkpoint row that holds it (``$refs``: path -> [checkpoint id, path there]). The lists that
slide along with the conversation (the in-context message ids, prompt tokens per step) are stored as the
items added since a checkpoint that holds the list whole, and how many of its items were dropped from
the front (``$lists``: field -> [checkpoint id, dropped]). A list is stored whole again once the items
stored as added since its last whole copy would outweigh the list itself. So a checkpoint costs about
what changed in its step, and restoring one reads at most a few more rows, each holding its part
whole. Checkpoint rows are never deleted, so a reference stays valid through compaction, export and
import.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..model.errors import StoreError
from ..model.state import AgentState

REFS = "$refs"
LISTS = "$lists"
MIN_SHARED = 256  # characters; a shorter text costs less inline than referenced
SLIDING = ("in_context_ids", "prompt_history")

Holder = tuple[str, str]  # checkpoint id, path of the text in that checkpoint's state


class StatePacker:
    """Packs the states of successive checkpoints, remembering where the last one's texts live."""

    def __init__(self) -> None:
        self._holders: dict[str, Holder] = {}  # text digest -> where it is stored in full
        # field -> checkpoint holding it whole, that list, items stored as added since
        self._lists: dict[str, tuple[str, list[Any], int]] = {}

    def referenced(self) -> set[str]:
        """The checkpoints whose rows the last packed state refers to (itself included)."""
        return {holder for holder, _ in self._holders.values()} | {
            base for base, _, _ in self._lists.values()
        }

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
        lists: dict[str, tuple[str, int]] = {}
        for field in SLIDING:
            items = data[field]
            held = self._lists.get(field)
            dropped = _dropped(held[1], items) if held else None
            if held is not None and dropped is not None:
                base, whole, spent = held
                added = items[len(whole) - dropped :]
                if spent + len(added) < len(items):  # the added parts still cost less than a whole copy
                    self._lists[field] = (base, whole, spent + len(added))
                    lists[field] = (base, dropped)
                    data[field] = added
                    continue
            self._lists[field] = (checkpoint_id, items, 0)
        if lists:
            data[LISTS] = lists
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def unpack(packed: str, fetch: Callable[[Sequence[str]], dict[str, str]]) -> AgentState:
    """The state of a packed row; ``fetch`` gives the packed rows of the checkpoints it refers to."""
    data = json.loads(packed)
    refs: dict[str, list[str]] = data.pop(REFS, {})
    lists: dict[str, list[Any]] = data.pop(LISTS, {})
    wanted = {holder for holder, _ in refs.values()} | {holder for holder, _ in lists.values()}
    if wanted:
        rows = fetch(sorted(wanted))
        holders = {holder: json.loads(rows[holder]) for holder in rows}
        if wanted - holders.keys():
            missing = sorted(wanted - holders.keys())
            raise StoreError(f"checkpoint {missing[0]!r}, which holds part of this state, is missing")
        for path, (holder, there) in refs.items():
            _put(data, path, _get(holders[holder], there))
        for field, (holder, dropped) in lists.items():
            data[field] = holders[holder][field][dropped:] + data[field]
    return AgentState.model_validate(data)


def _dropped(held: list[Any], items: list[Any]) -> int | None:
    """How many items were dropped from the front of ``held`` for ``items`` to continue what is left,
    or None when ``items`` does not."""
    starts = [i for i, item in enumerate(held) if items and item == items[0]] + [len(held)]
    for start in starts:
        kept = len(held) - start
        if held[start:] == items[:kept]:
            return start
    return None


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
