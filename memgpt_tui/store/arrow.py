"""The Lance tables' Arrow schemas, and journal rows (``rows.py``) as Arrow: what only the Lance side
of the store needs, so a store that has not touched its tables yet loads no pyarrow."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from .rows import Row

TIMESTAMP = pa.timestamp("us", tz="UTC")


def messages_schema() -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("seq", pa.int64()),
            ("origin", pa.int64()),
            ("role", pa.string()),
            ("kind", pa.string()),
            ("content", pa.string()),
            ("tool_calls", pa.string()),  # JSON list, null when none
            ("tool_call_id", pa.string()),
            ("name", pa.string()),
            ("created_at", TIMESTAMP),
            ("step", pa.int64()),
            ("text", pa.string()),  # what full-text search sees: the human's words, replies, arguments
        ]
    )


def archival_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("seq", pa.int64()),
            ("origin", pa.int64()),
            ("text", pa.string()),
            ("vector", pa.list_(pa.float32(), dim)),
            ("metadata", pa.string()),  # JSON object
            ("source", pa.string()),  # data source it was attached from, if any
            ("source_key", pa.string()),  # path, chunk and content hash within that source
            ("created_at", TIMESTAMP),
        ]
    )


def checkpoints_schema() -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("seq", pa.int64()),
            ("step", pa.int64()),
            ("time", TIMESTAMP),
            ("label", pa.string()),
            ("summary", pa.string()),
            ("messages", pa.int64()),
            ("archival", pa.int64()),
            ("in_context", pa.int64()),
            ("state", pa.string()),  # AgentState JSON (message ids, never messages); see states.py
        ]
    )


def with_del_seq(schema: pa.Schema) -> pa.Schema:
    return schema.append(pa.field("del_seq", pa.int64()))


def to_table(rows: Sequence[Row], schema: pa.Schema) -> pa.Table:
    """Journal rows to Arrow: timestamps are epoch microseconds, vectors base64 float32."""
    columns = []
    for field in schema:
        values = [row.get(field.name) for row in rows]
        if pa.types.is_fixed_size_list(field.type):
            size = field.type.list_size
            flat = np.frombuffer(b"".join(base64.b64decode(str(v)) for v in values), dtype="<f4")
            if flat.size != size * len(rows):
                raise ValueError(f"vectors must have {size} dimensions")
            columns.append(pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), size))
        else:
            columns.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)
