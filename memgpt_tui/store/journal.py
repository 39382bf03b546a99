"""An append-only journal that makes each store operation durable in microseconds.

Records go to numbered segment files, one line each: ``<crc32 hex> <json>\\n``. A line is written
with a single ``write(2)``, so a killed process leaves whole lines plus at most one torn tail, which the
checksum rejects. There is no fsync: surviving the process dying is the goal; surviving the machine
losing power is left to the OS. A segment is deleted once its records are in the Lance tables.

An agent in an object store also keeps a ``SharedJournal`` there: each committed step's records as one
object, deleted once the writer has applied them. The local segments of such an agent only batch the
writer's work: another machine may have opened the agent since, so they are never replayed.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import location, paths

Record = dict[str, Any]


def encode(record: Record) -> bytes:
    body = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(body), body)


def decode(line: bytes) -> Record | None:
    """The record on a complete line, or None for a torn or corrupt one."""
    if len(line) < 10 or not line.endswith(b"\n") or line[8:9] != b" ":
        return None
    body = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(body):
            return None
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _valid_prefix(lines: Iterable[bytes]) -> list[Record]:
    """Every valid record up to the first torn or corrupt line."""
    records = []
    for line in lines:
        record = decode(line)
        if record is None:
            break
        records.append(record)
    return records


def segments(directory: Path) -> list[Path]:
    """The segment files of a journal directory, oldest first (names are zero-padded counters)."""
    return sorted(directory.glob("*.log"))


def read_segment(path: Path) -> list[Record]:
    with path.open("rb") as handle:
        return _valid_prefix(handle)


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None
        self._path: Path | None = None
        self._written = False  # anything in the open segment yet
        existing = self.segments()
        self._next = int(existing[-1].stem) + 1 if existing else 1

    def segments(self) -> list[Path]:
        return segments(self.directory)

    def append(self, record: Record) -> None:
        if self._fd is None:
            self._open_next()
        assert self._fd is not None
        data = memoryview(encode(record))
        while data:
            written = os.write(self._fd, data)
            data = data[written:]
        self._written = True

    def rotate(self) -> Path | None:
        """Close the current segment and return it (None when nothing was written to it). The next one
        is opened here, by the writer: creating a file can take most of a millisecond, which the next
        append, on the engine's path, should not pay."""
        if not self._written:
            return None
        path = self._path
        assert self._fd is not None
        os.close(self._fd)
        self._open_next()
        return path

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            if not self._written and self._path is not None:
                self._path.unlink(missing_ok=True)
        self._fd, self._path, self._written = None, None, False

    def _open_next(self) -> None:
        self._path = self.directory / f"{self._next:012d}.log"
        self._next += 1
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._written = False


class SharedJournal:
    """Records in the object store, one object per committed step, named by their first ``seq``."""

    def __init__(self, store_uri: str) -> None:
        self.uri = paths.join(store_uri, "journal")

    def put(self, records: Sequence[Record]) -> str:
        name = f"{records[0]['seq']:012d}-{records[-1]['seq']:012d}.log"
        location.write_bytes(paths.join(self.uri, name), b"".join(encode(r) for r in records))
        return name

    def pending(self) -> list[tuple[str, list[Record]]]:
        """The objects left unapplied (by a holder that was killed), oldest first, with their records."""
        found = []
        for name in location.list_files(self.uri):
            data = location.read_bytes(paths.join(self.uri, name))
            if data is not None:
                found.append((name, _valid_prefix(data.splitlines(keepends=True))))
        return found

    def remove(self, names: Sequence[str]) -> None:
        location.delete_files(self.uri, list(names))
