"""The Lance tables of one agent and the two ways they change: journal batches and restores.

Both are idempotent when ``replay`` is set, so a batch interrupted by a crash can simply be applied
again from the journal. Restores never rely on old Lance versions (which compaction deletes): they
re-materialise a checkpoint from the live and attic tables, as new rows in new versions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from ..model.errors import StoreError
from . import location, paths
from .arrow import archival_schema, checkpoints_schema, messages_schema, to_table, with_del_seq
from .journal import Record
from .lance import FTS, BTree, Table, lancedb
from .rows import ALL_TABLES, ARCHIVAL, CHECKPOINTS, MESSAGES, Row, attic, sql_in

_ID_CHUNK = 500  # ids per IN (...) filter


@dataclass
class _Changes:
    """What one batch does to one item table: new versions, and versions it removes."""

    adds: dict[str, Row] = field(default_factory=dict)
    buried: list[Row] = field(default_factory=list)  # added and removed inside the batch
    kills: dict[str, int] = field(default_factory=dict)  # id -> del_seq of a version already in Lance

    def add(self, row: Row) -> None:
        self.adds[row["id"]] = row

    def kill(self, item_id: str, del_seq: int) -> None:
        row = self.adds.pop(item_id, None)
        if row is not None:
            self.buried.append({**row, "del_seq": del_seq})
        else:
            self.kills.setdefault(item_id, del_seq)

    def __bool__(self) -> bool:
        return bool(self.adds or self.buried or self.kills)


class StoreTables:
    def __init__(self, uri: str, dim: int, *, create: bool) -> None:
        """``create``: make the tables (those not there yet), else open them."""
        self.uri = uri
        self.db = lancedb.connect(uri, storage_options=location.storage_options(uri))
        self.schemas = {
            MESSAGES: messages_schema(),
            ARCHIVAL: archival_schema(dim),
            CHECKPOINTS: checkpoints_schema(),
        }
        self.schemas[attic(MESSAGES)] = with_del_seq(self.schemas[MESSAGES])
        self.schemas[attic(ARCHIVAL)] = with_del_seq(self.schemas[ARCHIVAL])
        self.tables: dict[str, Table] = {}
        for name in ALL_TABLES:
            self.tables[name] = self._create(name) if create else self._open(name)

    def __getitem__(self, name: str) -> Table:
        return self.tables[name]

    def _create(self, name: str) -> Table:
        """The table made now, with its indexes; or opened, when an earlier making of the agent's
        tables was cut short after it, and given the indexes it lacks."""
        if location.exists(paths.join(self.uri, f"{name}.lance")):
            table = self._open(name)
            have = {tuple(index.columns) for index in table.list_indices()}
        else:
            table, have = self.db.create_table(name, schema=self.schemas[name]), set()
        for column in ("id", "text") if name in (MESSAGES, ARCHIVAL) else ("id",):
            if (column,) not in have:
                table.create_index(column, config=BTree() if column == "id" else FTS())
        return table

    def _open(self, name: str) -> Table:
        try:
            table = self.db.open_table(name)
        except Exception as exc:
            raise StoreError(f"table {name!r} is missing or unreadable ({exc})") from exc
        expected = self.schemas[name]
        if not table.schema.equals(expected, check_metadata=False):
            raise StoreError(f"table {name!r} does not have the expected columns")
        return table

    # reading

    def rows(self, name: str, where: str, columns: Sequence[str] | None = None) -> pa.Table:
        query = self.tables[name].search().where(where)
        if columns is not None:
            query = query.select(list(columns))
        return query.to_arrow()

    def rows_by_id(
        self, name: str, ids: Sequence[str], extra: str = "", columns: Sequence[str] | None = None
    ) -> pa.Table:
        parts = [
            self.rows(name, f"{sql_in('id', ids[i : i + _ID_CHUNK])}{extra}", columns)
            for i in range(0, len(ids), _ID_CHUNK)
        ]
        return pa.concat_tables(parts) if parts else pa.table({})

    def max_seq(self) -> int:
        best = 0
        for name in ALL_TABLES:
            for column in ("seq", "del_seq") if name.endswith("_attic") else ("seq",):
                values = self.tables[name].search().select([column]).to_arrow()[column]
                if len(values):
                    best = max(best, int(pc.max(values).as_py() or 0))
        return best

    # journal batches

    def apply(self, records: Iterable[Record], *, replay: bool) -> set[str]:
        """Apply journal records in order; returns the names of the tables that got new versions."""
        touched: set[str] = set()
        batch: list[Record] = []
        for record in records:
            if record["op"] == "restore":
                touched |= self._apply_batch(batch, replay=replay)
                batch = []
                touched |= self.restore(
                    record["to"], record["seq"], keep_user=record["keep_user"], replay=replay
                )
            else:
                batch.append(record)
        return touched | self._apply_batch(batch, replay=replay)

    def _apply_batch(self, records: list[Record], *, replay: bool) -> set[str]:
        if not records:
            return set()
        changes = {MESSAGES: _Changes(), ARCHIVAL: _Changes()}
        checkpoints: list[Row] = []
        for record in records:
            op, seq = record["op"], record["seq"]
            if op == "messages":
                for row in record["rows"]:
                    changes[MESSAGES].add(row)
            elif op == "forget":
                for item_id in record["ids"]:
                    changes[MESSAGES].kill(item_id, seq)
            elif op == "passages":
                for row in record["rows"]:
                    changes[ARCHIVAL].add(row)
            elif op == "update_passage":
                changes[ARCHIVAL].kill(record["row"]["id"], seq)
                changes[ARCHIVAL].add(record["row"])
            elif op == "drop_passages":
                for item_id in record["ids"]:
                    changes[ARCHIVAL].kill(item_id, seq)
            elif op == "checkpoint":
                checkpoints.append(record["row"])
            else:
                raise StoreError(f"unknown journal operation {op!r}")
        first_seq = records[0]["seq"]
        touched: set[str] = set()
        for name, change in changes.items():
            if change:
                touched |= self._commit(name, change, first_seq, replay=replay)
        if checkpoints:
            table = to_table(checkpoints, self.schemas[CHECKPOINTS])
            if replay:
                table = self._without_existing(CHECKPOINTS, table, ("id",))
            if table.num_rows:
                self.tables[CHECKPOINTS].add(table)
                touched.add(CHECKPOINTS)
        return touched

    def _commit(self, name: str, change: _Changes, first_seq: int, *, replay: bool) -> set[str]:
        """Attic first, then deletes, then adds: every prefix of this order survives a crash."""
        live, grave = self.tables[name], self.tables[attic(name)]
        grave_schema = self.schemas[attic(name)]
        touched: set[str] = set()
        # versions killed here were written by earlier batches, so their seq is below this batch's
        older = f" AND seq < {first_seq}"
        parts = []
        if change.kills:
            victims = self.rows_by_id(name, list(change.kills), older)
            if victims.num_rows:
                del_seq = pa.array([change.kills[i] for i in victims["id"].to_pylist()], pa.int64())
                parts.append(victims.append_column("del_seq", del_seq).cast(grave_schema))
        if change.buried:
            parts.append(to_table(change.buried, grave_schema))
        if parts:
            buried = pa.concat_tables(parts)
            if replay:
                buried = self._without_existing(attic(name), buried, ("id", "del_seq"))
            if buried.num_rows:
                grave.add(buried)
                touched.add(attic(name))
        if change.kills:
            ids = list(change.kills)
            for i in range(0, len(ids), _ID_CHUNK):
                live.delete(sql_in("id", ids[i : i + _ID_CHUNK]) + older)
            touched.add(name)
        if change.adds:
            added = to_table(list(change.adds.values()), self.schemas[name])
            if replay:
                added = self._without_existing(name, added, ("id", "seq"))
                added = self._without_existing(attic(name), added, ("id", "seq"))
            if added.num_rows:
                live.add(added)
                touched.add(name)
        return touched

    def _without_existing(self, name: str, table: pa.Table, key: tuple[str, ...]) -> pa.Table:
        if not table.num_rows:
            return table
        ids = sorted(set(table["id"].to_pylist()))
        present = self.rows_by_id(name, ids, columns=list(key))
        if not present.num_rows:
            return table
        seen = set(zip(*(present[k].to_pylist() for k in key), strict=True))
        keep = [k not in seen for k in zip(*(table[k].to_pylist() for k in key), strict=True)]
        return table.filter(pa.array(keep))

    # restores

    def restore(self, to_seq: int, seq: int, *, keep_user: bool, replay: bool) -> set[str]:
        """Make the live tables what they were at ``to_seq``, as operation ``seq``.

        Live versions written after ``to_seq`` go to the attic; versions that were live at ``to_seq`` and
        were removed since come back as new versions ``(id, seq)``. With ``keep_user`` the human's
        messages written after ``to_seq`` stay (crash recovery keeps them for a retry).
        """
        touched: set[str] = set()
        for name in (MESSAGES, ARCHIVAL):
            live, grave = self.tables[name], self.tables[attic(name)]
            later = f"seq > {to_seq} AND seq < {seq}"
            if keep_user and name == MESSAGES:
                # Keep the human's words first written after ``to_seq``; a user message that merely came
                # back as a copy (an interrupted restore revives rows with a new seq) still goes.
                later += f" AND NOT (kind = 'user_message' AND origin > {to_seq})"
            victims = live.search().where(later).to_arrow()
            if victims.num_rows:
                buried = victims.append_column("del_seq", pa.array([seq] * victims.num_rows, pa.int64()))
                buried = buried.cast(self.schemas[attic(name)])
                if replay:
                    buried = self._without_existing(attic(name), buried, ("id", "del_seq"))
                if buried.num_rows:
                    grave.add(buried)
                live.delete(later)
                touched |= {name, attic(name)}
            revived = (
                grave.search().where(f"seq <= {to_seq} AND del_seq > {to_seq} AND del_seq < {seq}").to_arrow()
            )
            if revived.num_rows:
                revived = revived.drop_columns(["del_seq"])
                revived = revived.set_column(
                    revived.schema.get_field_index("seq"),
                    "seq",
                    pa.array([seq] * revived.num_rows, pa.int64()),
                ).cast(self.schemas[name])
                if replay:
                    revived = self._without_existing(name, revived, ("id", "seq"))
                if revived.num_rows:
                    live.add(revived)
                    touched.add(name)
        return touched
