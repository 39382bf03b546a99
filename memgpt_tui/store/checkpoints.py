"""Checkpoints: the agent's state pinned after each step, restore (as a new head, so nothing is lost),
and the rollback of a step a crash cut short.

A checkpoint pins the state plus its ``seq``; the tables' history is kept as row versions (live
tables + attics), so any checkpoint can be re-materialised no matter how Lance versions were
compacted and cleaned up since.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..model.clock import new_id, now
from ..model.errors import NotFound, StoreError
from ..model.messages import Message
from ..model.records import CheckpointInfo
from ..model.state import AgentState
from . import states
from .archival import Archival
from .recall import Recall
from .rows import ARCHIVAL, CHECKPOINTS, MESSAGES, attic, checkpoint_from_row, message_from_row, micros

log = logging.getLogger(__name__)


class Checkpoints(Recall, Archival):
    _checkpoints: list[CheckpointInfo]  # oldest first
    _checkpoint_seq: dict[str, int]
    _packer: states.StatePacker

    def head(self) -> AgentState | None:
        with self._lock:
            newest = self._checkpoints[-1].id if self._checkpoints else None
        return self.checkpoint_state(newest) if newest else None

    def checkpoint(self, state: AgentState, label: str | None, summary: str) -> CheckpointInfo:
        with self._lock:
            seq = self._next_seq()
            info = CheckpointInfo(
                id=new_id(),
                step=state.step,
                time=now(),
                label=label,
                summary=summary,
                messages=len(self._msg_ids),
                archival=self._archival_count,
                in_context=len(state.in_context_ids),
            )
            packed = self._packer.pack(info.id, state)
            row = {
                **info.model_dump(exclude={"time"}),
                "seq": seq,
                "time": micros(info.time),
                "state": packed,
            }
            self._append({"op": "checkpoint", "seq": seq, "row": row})
            self._checkpoints.append(info)
            self._checkpoint_seq[info.id] = seq
            self._pending_states[info.id] = packed
            # The head's state, and the rows it refers to, stay at hand after the flush: reading the
            # head back (a preview, a load) then needs no query of the checkpoints table.
            kept = {**self._kept_states, info.id: packed}
            self._kept_states = {i: kept[i] for i in self._packer.referenced() | {info.id} if i in kept}
            self._meta.backend, self._meta.model = state.config.backend, state.config.model
            if self._uploads is not None:
                self._uploads.commit_step()
        return info

    def checkpoints(self) -> list[CheckpointInfo]:
        """Oldest first."""
        with self._lock:
            return list(self._checkpoints)

    def checkpoint_state(self, checkpoint_id: str) -> AgentState:
        with self._lock:
            if checkpoint_id not in self._checkpoint_seq:
                raise NotFound(f"No checkpoint {checkpoint_id!r} in agent {self.name!r}.")
        packed = self._packed_states([checkpoint_id]).get(checkpoint_id)
        if packed is None:
            raise StoreError(f"Checkpoint {checkpoint_id!r} of agent {self.name!r} has lost its state.")
        return states.unpack(packed, self._packed_states)

    def _packed_states(self, ids: Sequence[str]) -> dict[str, str]:
        """Checkpoint id -> packed state, from memory or Lance. Memory is looked at first: a flush drops
        a state from memory only once it is in Lance, so each one is found in one place or the other
        (the head's and those it refers to are kept in memory too, see ``checkpoint``)."""
        with self._lock:
            found = {
                i: packed for i in ids if (packed := self._pending_states.get(i) or self._kept_states.get(i))
            }
        missing = [i for i in ids if i not in found]
        if missing:
            rows = self._tables.rows_by_id(CHECKPOINTS, missing, columns=["id", "state"])
            if rows.num_rows:
                found.update(zip(rows["id"].to_pylist(), rows["state"].to_pylist(), strict=True))
        return found

    def restore(self, checkpoint_id: str) -> tuple[AgentState, CheckpointInfo]:
        """Put recall, archival and state back as they were at the checkpoint, as a new head.

        Nothing is lost: the previous head stays in the list, so restoring it undoes this.
        """
        with self._lock:
            target = next((c for c in self._checkpoints if c.id == checkpoint_id), None)
            if target is None:
                raise NotFound(f"No checkpoint {checkpoint_id!r} in agent {self.name!r}.")
            to_seq = self._checkpoint_seq[checkpoint_id]
        state = self.checkpoint_state(checkpoint_id)
        self.sync()
        self._pin_unkept("before a restore")
        self._rewind(to_seq, keep_user=False)
        label = f"restored {target.label or f'step {target.step}'}"
        when = target.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        return state, self.checkpoint(
            state, label, f"restored the checkpoint of step {target.step} from {when}"
        )

    def pending_user_messages(self) -> list[Message]:
        """The human's messages no step answered (a crash, a failure): in recall and numbered past the
        head's step, or journaled after the head. Checkpoints made without answering them (a summary in
        the middle of the step, the pin of a restore, an undo) do not count as an answer."""
        self.sync()
        with self._lock:
            head_seq, step = self._head_seq(), self._checkpoints[-1].step if self._checkpoints else 0
        where = f"kind = 'user_message' AND (origin > {head_seq} OR step > {step})"
        rows = self._tables.rows(MESSAGES, where)
        return sorted((message_from_row(r) for r in rows.to_pylist()), key=lambda m: m.id)

    def _pin_unkept(self, why: str) -> None:
        """Checkpoint the head again when the human's messages were journaled after it, so that they
        belong to a checkpoint: restoring it (undoing whatever restore comes next) brings them back."""
        with self._lock:
            head_seq = self._head_seq()
        unkept = self._tables[MESSAGES].count_rows(f"kind = 'user_message' AND origin > {head_seq}")
        if unkept and (head := self.head()) is not None:
            self.checkpoint(head, None, f"{why}: {unkept} unanswered message{'s' * (unkept > 1)} kept")

    def _head_seq(self) -> int:
        return self._checkpoint_seq[self._checkpoints[-1].id] if self._checkpoints else 0

    def _load_checkpoints(self) -> None:
        columns = [f for f in self._tables.schemas[CHECKPOINTS].names if f != "state"]
        rows = self._tables[CHECKPOINTS].search().select(columns).to_arrow().sort_by("seq").to_pylist()
        self._checkpoints = [checkpoint_from_row(r) for r in rows]
        self._checkpoint_seq = {r["id"]: r["seq"] for r in rows}
        self._pending_states = {}
        self._kept_states = {}
        self._packer = states.StatePacker()

    def _start_empty(self) -> None:
        """The in-memory views of a store whose tables were made just now, without reading them."""
        self._checkpoints = []
        self._checkpoint_seq = {}
        self._pending_states = {}
        self._kept_states = {}
        self._packer = states.StatePacker()
        self._start_recall()
        self._archival_count = 0

    def _reload(self) -> None:
        """Rebuild the in-memory views from the Lance tables (on open and after a restore)."""
        self._load_recall()
        self._archival_count = self._tables[ARCHIVAL].count_rows()

    def _roll_back_unfinished_step(self) -> None:
        """After a crash, make the tables agree with the head checkpoint again, keeping the human's words."""
        head = self._head_seq()
        if self._agrees_with(head):
            return
        log.info("agent %s: rolling back an unfinished step after checkpoint seq %d", self.name, head)
        self._rewind(head, keep_user=True)

    def _agrees_with(self, head: int) -> bool:
        """Live rows are exactly what was live at ``head``, plus the human's messages written since."""
        if self._tables[MESSAGES].count_rows(f"origin > {head} AND kind != 'user_message'"):
            return False
        if self._tables[ARCHIVAL].count_rows(f"origin > {head}"):
            return False
        if self._checkpoints:  # a restore cut short brings back older rows: the counts tell
            info, since = self._checkpoints[-1], self._tables[MESSAGES].count_rows(f"origin > {head}")
            if self._tables[MESSAGES].count_rows() != info.messages + since:
                return False
            if self._tables[ARCHIVAL].count_rows() != info.archival:
                return False
        for name in (MESSAGES, ARCHIVAL):
            removed = self._tables.rows(attic(name), f"seq <= {head} AND del_seq > {head}", ["id", "origin"])
            if not removed.num_rows:
                continue
            wanted = set(zip(removed["id"].to_pylist(), removed["origin"].to_pylist(), strict=True))
            live = self._tables.rows_by_id(name, sorted({i for i, _ in wanted}), columns=["id", "origin"])
            have = (
                set(zip(live["id"].to_pylist(), live["origin"].to_pylist(), strict=True))
                if live.num_rows
                else set()
            )
            if not wanted <= have:
                return False
        return True

    def _rewind(self, to_seq: int, *, keep_user: bool) -> None:
        with self._flush_lock, self._lock:
            self._append({"op": "restore", "seq": self._next_seq(), "to": to_seq, "keep_user": keep_user})
            self._flush_locked()
            if self._uploads is not None:
                self._uploads.drop_unsent()
            self._reload()
