"""Ids and time: one clock for messages, checkpoints and the store."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime


def new_id() -> str:
    """Time-ordered unique id: sorts by creation, no coordination needed."""
    return f"{time.time_ns():016x}{os.urandom(4).hex()}"


def now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """MemGPT's timestamp style, in local time: '2024-03-01 04:05:06 PM UTC+0000'."""
    return moment.astimezone().strftime("%Y-%m-%d %I:%M:%S %p %Z%z")
