"""What every part of an agent's store shares: its in-memory views and the one way a write goes, the
next ``seq``, the journal, then (batched, by the writer) the Lance tables.

Recall ids, counts and the checkpoint list live in memory, so the hot path (append, count, recent,
checkpoint) never touches Lance; what is journaled but not in Lance yet is kept in memory too. A new
agent's tables are made on first need: a search, a read of what memory no longer holds, or a journal
of ``StoreTuning.unmade_records`` records; until then nothing loads LanceDB or pyarrow, and closing
leaves the journal to the next open, which makes the tables and replays it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..model.clock import now
from ..model.errors import StoreError
from ..model.messages import Message
from . import preview
from .api import Embedder
from .journal import Journal, Record
from .lock import AgentLock, StoreLease
from .meta import AgentMeta, write_meta
from .tuning import StoreTuning
from .uploads import Uploads

if TYPE_CHECKING:
    from .tables import StoreTables


class Writes:
    """The base of ``LanceAgentStore``'s parts; ``agent_store.py`` sets every attribute on open."""

    name: str
    uri: str
    tuning: StoreTuning
    _embedder: Embedder | None
    _meta: AgentMeta
    _state_dir: Path
    _lock_file: AgentLock | StoreLease
    _closed: bool
    _uploads: Uploads | None  # an object store's shared journal
    _made: StoreTables | None  # the Lance tables, once opened or made
    _make: Callable[[], StoreTables]  # makes a new agent's tables on first need
    _made_lock: threading.Lock
    _preview_gone: bool
    _lock: threading.RLock  # in-memory views, seq and journal order
    _flush_lock: threading.Lock  # one writer into Lance at a time
    _upkeep_lock: threading.Lock  # one upkeep round at a time, the writer's or a caller's
    _journal: Journal
    _ops: list[Record]  # journaled since the last flush
    _backlog: list[tuple[Path, list[Record], bool]]  # segments not in Lance yet; True: partly applied
    _commits: dict[str, int]  # per table, since its last upkeep round
    _bulk_rows: int  # archival rows inserted in bulk since the last upkeep round
    _seq: int
    _wake: threading.Event
    _stop: threading.Event
    _meta_written: datetime
    _pending: dict[str, tuple[int, Message]]  # messages written, maybe not in Lance yet
    _pending_states: dict[str, str]  # checkpoints' packed states, not in Lance yet
    _kept_states: dict[str, str]  # the head's packed state and those it refers to (also in Lance)
    _msg_ids: list[str]  # live recall, sorted
    _archival_count: int

    @property
    def _tables(self) -> StoreTables:
        return self._made or self._made_now()

    def _made_now(self) -> StoreTables:
        with self._made_lock:
            if self._made is None:
                self._made = self._make()
            return self._made

    def _due(self) -> bool:
        """Whether the journal goes into Lance now: always once the tables are there; before a new
        agent's tables are needed, only once its journal is long."""
        return self._made is not None or len(self._ops) >= self.tuning.unmade_records

    def sync(self) -> None:
        """Apply everything journaled so far to the Lance tables, making a new agent's if need be."""
        if self._made is None:
            self._made_now()
        self._flush()

    def _next_seq(self) -> int:
        if not self._preview_gone:  # the head moves away from the preview: a crash must not show it
            preview.remove(self._state_dir)
            self._preview_gone = True
        self._seq += 1
        return self._seq

    def _append(self, record: Record) -> None:
        if self._closed:
            raise StoreError(f"The store of agent {self.name!r} is closed.")
        self._lock_file.check()
        if self._uploads is not None:
            self._uploads.journaled(record)
        self._journal.append(record)
        self._ops.append(record)
        if len(self._ops) >= self.tuning.flush_records and self._due():
            self._wake.set()

    def _flush(self) -> None:
        with self._flush_lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._lock_file.check()
        with self._lock:
            if self._ops:
                segment = self._journal.rotate()
                assert segment is not None
                self._backlog.append((segment, self._ops, False))
                self._ops = []
        while self._backlog:
            segment, ops, replay = self._backlog[0]
            try:
                touched = self._tables.apply(ops, replay=replay)
            except BaseException:
                self._backlog[0] = (segment, ops, True)  # partly applied: the retry must skip what landed
                raise
            self._backlog.pop(0)
            self._journal.remove(segment)
            with self._lock:
                for op in ops:
                    if op["op"] == "messages":
                        for row in op["rows"]:
                            if self._pending.get(row["id"], (None,))[0] == row["seq"]:  # not rewritten since
                                del self._pending[row["id"]]
                    elif op["op"] == "checkpoint":
                        self._pending_states.pop(op["row"]["id"], None)
                for name in touched:
                    self._commits[name] += 1
                if self._uploads is not None and ops:
                    self._uploads.applied(max(op["seq"] for op in ops))
        if self._uploads is not None:
            self._uploads.forget_applied()

    def meta(self) -> AgentMeta:
        """``agent.json`` as it stands now (counts and last use are refreshed on disk periodically)."""
        with self._lock:
            self._meta.last_used = now()
            self._meta.messages = len(self._msg_ids)
            self._meta.archival = self._archival_count
            return self._meta.model_copy(deep=True)

    def _write_meta(self) -> None:
        meta = self.meta()
        self._meta_written = meta.last_used or now()
        write_meta(self.uri, meta)
