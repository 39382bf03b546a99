"""The tables' names and the conversions between models and journal rows (JSON-able dicts); the
Arrow side is ``arrow.py``.

Every row of ``messages`` and ``archival`` is one *version* of an item: ``(id, seq)``, where ``seq`` is
the store-wide operation counter at which it was written. Versions that stop being live move to the
``*_attic`` tables with ``del_seq``, the operation that removed them. That is all restore needs.
A restore brings old versions back as copies with a new ``seq``; ``origin`` keeps the ``seq`` of the
version a copy was made from, so a copy is recognisably the same content.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..model.messages import Message, ToolCall
from ..model.records import CheckpointInfo, Passage

if TYPE_CHECKING:  # the journal's rows are plain: numpy loads with the first vector
    import numpy as np

Row = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MESSAGES = "messages"
ARCHIVAL = "archival"
CHECKPOINTS = "checkpoints"


def attic(table: str) -> str:
    return f"{table}_attic"


ALL_TABLES = (MESSAGES, attic(MESSAGES), ARCHIVAL, attic(ARCHIVAL), CHECKPOINTS)


def micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)


def encode_vector(vector: Sequence[float] | np.ndarray) -> str:
    import numpy as np

    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def search_text(message: Message) -> str:
    """The words worth finding in a message: what the human said, the agent's thoughts and replies,
    system events. Function results are stored but not indexed: they echo what a function found (a
    search's results would match that search ever after), as MemGPT's recall search skipped them."""
    if message.kind == "user_message":
        return message.user_text() or ""
    if message.role == "tool":
        return ""
    parts = [message.content or ""]
    parts += [_argument_text(call.arguments) for call in message.tool_calls if call.name == "send_message"]
    return "\n".join(part for part in parts if part)


def _argument_text(arguments: str) -> str:
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return arguments
    return "\n".join(_strings(parsed))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def message_row(message: Message, seq: int) -> Row:
    calls = [call.model_dump() for call in message.tool_calls]
    return {
        "id": message.id,
        "seq": seq,
        "origin": seq,
        "role": message.role,
        "kind": message.kind,
        "content": message.content,
        "tool_calls": json.dumps(calls, ensure_ascii=False) if calls else None,
        "tool_call_id": message.tool_call_id,
        "name": message.name,
        "created_at": micros(message.created_at),
        "step": message.step,
        "text": search_text(message),
    }


def message_from_row(row: Row) -> Message:
    calls = json.loads(row["tool_calls"]) if row.get("tool_calls") else []
    return Message(
        id=row["id"],
        role=row["role"],
        kind=row["kind"],
        content=row["content"],
        tool_calls=tuple(ToolCall(**call) for call in calls),
        tool_call_id=row["tool_call_id"],
        name=row["name"],
        created_at=row["created_at"],
        step=row["step"],
    )


def passage_row(
    passage_id: str,
    seq: int,
    text: str,
    vector: Sequence[float] | np.ndarray,
    metadata: dict[str, Any] | None,
    created_at: datetime,
    source: str | None = None,
    source_key: str | None = None,
) -> Row:
    return {
        "id": passage_id,
        "seq": seq,
        "origin": seq,
        "text": text,
        "vector": encode_vector(vector),
        "metadata": json.dumps(metadata or {}, ensure_ascii=False, default=str),
        "source": source,
        "source_key": source_key,
        "created_at": micros(created_at),
    }


def passage_from_row(row: Row, score: float | None = None) -> Passage:
    return Passage(
        id=row["id"],
        text=row["text"],
        created_at=row["created_at"],
        metadata=json.loads(row["metadata"] or "{}"),
        score=score,
    )


def checkpoint_from_row(row: Row) -> CheckpointInfo:
    return CheckpointInfo(
        id=row["id"],
        step=row["step"],
        time=row["time"],
        label=row["label"],
        summary=row["summary"],
        messages=row["messages"],
        archival=row["archival"],
        in_context=row["in_context"],
    )


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(sql_str(v) for v in values)})"
