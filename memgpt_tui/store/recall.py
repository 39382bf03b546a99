"""Recall memory: every message of the conversation, with full-text and date search."""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from ..model.errors import NotFound
from ..model.messages import Message
from ..model.records import Page
from .rows import MESSAGES, message_from_row, message_row, sql_str
from .search import page_of, text_search
from .writes import Writes

_FTS_COLUMNS = ["id", "_score"]


class Recall(Writes):
    _msg_set: set[str]
    _recent: OrderedDict[str, Message]  # up to ``recent_cache`` messages read or written lately

    def append_messages(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        with self._lock:
            clash = [m.id for m in messages if m.id in self._msg_set]
            if clash or len({m.id for m in messages}) != len(messages):
                raise ValueError(f"messages already in recall: {clash or 'duplicate ids'}")
            seq = self._next_seq()
            self._append({"op": "messages", "seq": seq, "rows": [message_row(m, seq) for m in messages]})
            for message in messages:
                self._index_message(message, seq)

    def replace_messages(self, messages: Sequence[Message]) -> None:
        """New content for existing ids (/rewrite, /rethink); the old versions stay restorable."""
        if not messages:
            return
        with self._lock:
            missing = [m.id for m in messages if m.id not in self._msg_set]
            if missing:
                raise NotFound(f"no messages with ids {missing} in recall")
            seq = self._next_seq()
            self._append({"op": "forget", "seq": seq, "ids": [m.id for m in messages]})
            self._append({"op": "messages", "seq": seq, "rows": [message_row(m, seq) for m in messages]})
            for message in messages:
                self._pending[message.id] = (seq, message)
                self._remember(message)

    def delete_messages(self, ids: Sequence[str]) -> None:
        with self._lock:
            live = [i for i in dict.fromkeys(ids) if i in self._msg_set]
            if not live:
                return
            self._append({"op": "forget", "seq": self._next_seq(), "ids": live})
            for item_id in live:
                self._msg_set.discard(item_id)
                index = bisect.bisect_left(self._msg_ids, item_id)
                if index < len(self._msg_ids) and self._msg_ids[index] == item_id:
                    del self._msg_ids[index]
                self._pending.pop(item_id, None)
                self._recent.pop(item_id, None)

    def get_messages(self, ids: Sequence[str]) -> list[Message]:
        """The live messages with these ids, in the order asked; unknown ids are skipped."""
        found: dict[str, Message] = {}
        with self._lock:
            for item_id in ids:
                pending = self._pending.get(item_id)
                message = pending[1] if pending else self._recent.get(item_id)
                if message is not None:
                    found[item_id] = message
            missing = [i for i in dict.fromkeys(ids) if i not in found and i in self._msg_set]
        if missing:
            rows = self._tables.rows_by_id(MESSAGES, missing)
            for row in rows.to_pylist() if rows.num_rows else []:
                found[row["id"]] = message_from_row(row)
        return [found[i] for i in ids if i in found]

    def count_messages(self) -> int:
        return len(self._msg_ids)

    def recent_messages(self, before_id: str | None, limit: int) -> list[Message]:
        """Up to ``limit`` messages just before ``before_id`` (the newest when None), oldest first."""
        with self._lock:
            end = len(self._msg_ids) if before_id is None else bisect.bisect_left(self._msg_ids, before_id)
            ids = self._msg_ids[max(0, end - limit) : end] if limit > 0 else []
        return self.get_messages(ids)

    def messages_after(self, after_id: str | None, limit: int) -> list[Message]:
        """Up to ``limit`` messages just after ``after_id`` (the oldest when None), oldest first."""
        with self._lock:
            start = 0 if after_id is None else bisect.bisect_right(self._msg_ids, after_id)
            ids = self._msg_ids[start : start + limit] if limit > 0 else []
        return self.get_messages(ids)

    def search_messages(self, query: str, page: int, page_size: int) -> Page[Message]:
        """Full-text search over every message (BM25; ties go to the newest), paged."""
        self.sync()
        if not query.strip():
            return page_of([], 0, page, page_size)
        hits = text_search(
            self._tables,
            MESSAGES,
            lambda table: (
                table.search(query, query_type="fts", fts_columns="text")
                .limit(self.tuning.fts_candidates)
                .select(_FTS_COLUMNS)
                .to_arrow()
            ),
            self._upkeep_lock,
            self.name,
        )
        ranked = sorted(zip(hits["_score"].to_pylist(), hits["id"].to_pylist(), strict=True), reverse=True)
        ids = [item_id for _, item_id in ranked]
        chosen = ids[page * page_size : (page + 1) * page_size] if page >= 0 else []
        return page_of(self.get_messages(chosen), len(ids), page, page_size)

    def search_messages_by_date(self, start: date, end: date, page: int, page_size: int) -> Page[Message]:
        """Messages from ``start`` to ``end``, both days included, in local time; oldest first."""
        from .lance import ColumnOrdering

        self.sync()
        start, end = min(start, end), max(start, end)
        since = datetime.combine(start, time.min).astimezone(UTC)
        until = datetime.combine(end + timedelta(days=1), time.min).astimezone(UTC)
        where = f"created_at >= {_sql_time(since)} AND created_at < {_sql_time(until)}"
        table = self._tables[MESSAGES]
        total = table.count_rows(where)
        if total == 0 or page < 0:
            return page_of([], total, page, page_size)
        rows = (
            table.search()
            .where(where)
            .order_by([ColumnOrdering(column_name="created_at"), ColumnOrdering(column_name="id")])
            .offset(page * page_size)
            .limit(page_size)
            .to_arrow()
        )
        return page_of([message_from_row(r) for r in rows.to_pylist()], total, page, page_size)

    def _index_message(self, message: Message, seq: int) -> None:
        if not self._msg_ids or message.id > self._msg_ids[-1]:
            self._msg_ids.append(message.id)
        else:
            bisect.insort(self._msg_ids, message.id)
        self._msg_set.add(message.id)
        self._pending[message.id] = (seq, message)
        self._remember(message)

    def _remember(self, message: Message) -> None:
        self._recent[message.id] = message
        self._recent.move_to_end(message.id)
        while len(self._recent) > self.tuning.recent_cache:
            self._recent.popitem(last=False)

    def _load_recall(self) -> None:
        """Recall's in-memory views, from the table (on open and after a restore)."""
        ids = self._tables[MESSAGES].search().select(["id"]).to_arrow()["id"].to_pylist()
        self._start_recall(ids)

    def _start_recall(self, ids: list[str] | None = None) -> None:
        self._msg_ids = sorted(ids or ())
        self._msg_set = set(self._msg_ids)
        self._pending = {}
        self._recent = OrderedDict()


def _sql_time(moment: datetime) -> str:
    return "timestamp " + sql_str(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
