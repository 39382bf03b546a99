"""``memgpt-tui doctor``: what is damaged in an agent on this disk, and the repairs that need nothing
but what is intact: a file in the way moved aside, the journal replayed, an unusable index rebuilt, a
table brought back to its newest readable version, an unreadable preview set aside (the next close
writes a new one). Whatever a repair replaces goes into a dated folder inside the agent's directory;
nothing is deleted. The doctor holds the agent's lock throughout, like any writer.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from ..model.errors import StoreError
from . import paths
from .journal import decode, read_segment, segments
from .lance import FTS, BTree, Table, lancedb
from .lock import AgentLock
from .meta import read_meta
from .preview import FILE as PREVIEW
from .refusals import brief
from .rows import ALL_TABLES, ARCHIVAL, MESSAGES
from .tables import StoreTables
from .unmade import journal_holds_everything

_INDEXES = {name: ["id"] for name in ALL_TABLES} | {MESSAGES: ["id", "text"], ARCHIVAL: ["id", "text"]}


@dataclass
class Finding:
    """Something damaged; ``repair`` fixes it (None: it cannot be rebuilt from what is intact)."""

    problem: str
    remedy: str
    repair: Callable[[], None] | None = None


@dataclass
class Checkup:
    agent: str
    findings: list[Finding] = field(default_factory=list)
    set_aside: Path | None = None  # the dated folder, once a repair used it

    def healthy(self, repaired: bool) -> bool:
        """Nothing damaged is left (after the repairs, when they were made)."""
        return all(repaired and f.repair is not None for f in self.findings)

    def lines(self, repaired: bool) -> list[str]:
        if not self.findings:
            return [f"Agent {self.agent!r}: nothing damaged."]
        out = [f"Agent {self.agent!r}: {len(self.findings)} problem(s)."]
        for finding in self.findings:
            done = repaired and finding.repair is not None
            out.append(f"- {finding.problem}")
            label = "repaired" if done else "--repair" if finding.repair else "no repair"
            out.append(f"  {label}: {finding.remedy}")
        if self.set_aside is not None:
            out.append(f"What the repairs replaced is in {self.set_aside} (nothing was deleted).")
        elif not repaired and any(f.repair for f in self.findings):
            out.append(f"Run `memgpt-tui doctor {self.agent} --repair` to make the repairs.")
        if any(f.repair is None for f in self.findings):
            out.append("What cannot be repaired here: import the agent again from an export.")
        return out


def examine(root: str, name: str, repair: bool = False) -> Checkup:
    """Check (and with ``repair``, fix) agent ``name``; refuses one open elsewhere (AgentLocked)."""
    uri = paths.store_uri(root, name)
    if not paths.is_local(uri):
        raise StoreError(f"The doctor checks agents on this disk; {name!r} is in an object store.")
    folder = paths.local_path(uri)
    if not folder.is_dir():
        raise StoreError(f"No agent named {name!r} in {root}.")
    meta = read_meta(uri, name)
    dim = meta.embedding.dim
    doctor = _Doctor(name, folder, repair)
    lock = folder / "lock"
    if lock.exists() and not lock.is_file():
        doctor.in_the_way(lock, "its lock file")
    # Nobody can hold a lock that is not a file: then the agent is looked at without one.
    with AgentLock(lock, name) if lock.is_file() or not lock.exists() else contextlib.nullcontext():
        doctor.journal()
        doctor.preview()
        doctor.tables(dim, journal_holds_everything(folder / "journal", meta))
    return doctor.checkup


class _Doctor:
    def __init__(self, name: str, folder: Path, repair: bool) -> None:
        self.name, self.folder, self.repair = name, folder, repair
        self.checkup = Checkup(name)
        self.stamp = datetime.now().strftime("%Y%m%d-%H%M%S")

    def found(self, problem: str, remedy: str, repair: Callable[[], None] | None = None) -> None:
        self.checkup.findings.append(Finding(problem, remedy, repair))
        if self.repair and repair is not None:
            repair()

    def aside(self) -> Path:
        """The dated folder for what repairs replace, made on first use."""
        if self.checkup.set_aside is None:
            for n in itertools.count(1):  # a repair earlier in the same second has the plain name
                folder = self.folder / f"doctor-{self.stamp}{f'-{n}' if n > 1 else ''}"
                with contextlib.suppress(FileExistsError):
                    folder.mkdir(mode=0o700)
                    break
            self.checkup.set_aside = folder
        return self.checkup.set_aside

    def move_aside(self, path: Path) -> None:
        path.rename(self.aside() / path.name)

    def in_the_way(self, path: Path, what: str) -> None:
        kind = "a directory" if path.is_dir() else "a file"
        self.found(
            f"{path.name} is {kind} where memgpt-tui keeps {what}.",
            "moves it into the dated folder.",
            lambda: self.move_aside(path),
        )

    # ---------------------------------------------------------------- the local files

    def journal(self) -> None:
        directory = self.folder / "journal"
        if directory.exists() and not directory.is_dir():
            self.in_the_way(directory, "its journal directory")

    def preview(self) -> None:
        file = self.folder / PREVIEW
        if not file.exists():
            return
        try:
            json.loads(file.read_bytes())
        except (OSError, ValueError) as exc:
            self.found(
                f"{PREVIEW} cannot be read ({brief(exc)}).",
                "moves it into the dated folder; the agent opens from its store, and writes a new "
                "one when it closes.",
                lambda: self.move_aside(file),
            )

    # ---------------------------------------------------------------- the Lance tables

    def tables(self, dim: int, unmade: bool) -> None:
        """``unmade``: a new agent's, whose next open makes the tables it lacks from its journal."""
        db = lancedb.connect(str(self.folder))
        readable = True
        for name in ALL_TABLES:
            if unmade and not (self.folder / f"{name}.lance").exists():
                continue
            try:
                table = db.open_table(name)
            except Exception as exc:
                self.found(f"table {name} cannot be opened ({brief(exc)}).", "it cannot be rebuilt here.")
                readable = False
                continue
            if not self.rows_readable(name, table):
                readable = False
                continue
            self.indexes(name, table)
        if readable:
            self.replay(dim, unmade)

    def rows_readable(self, name: str, table: Table) -> bool:
        try:
            table.to_arrow()
            return True
        except Exception as exc:
            problem = f"table {name} cannot be read ({brief(exc)})."
        version = _newest_readable_version(table)
        if version is None:
            self.found(problem, "no earlier version of it can be read either: it cannot be rebuilt here.")
            return False

        def bring_back() -> None:
            shutil.copytree(self.folder / f"{name}.lance", self.aside() / f"{name}.lance")
            table.checkout(version)
            table.restore()

        self.found(
            problem,
            f"brings it back to version {version}, its newest readable one (a copy of the table as "
            "it was goes into the dated folder); what was written after that version is lost.",
            bring_back,
        )
        return self.repair

    def indexes(self, name: str, table: Table) -> None:
        have = {tuple(index.columns) for index in table.list_indices()}
        for column in _INDEXES[name]:
            problem = None
            if (column,) not in have:
                problem = f"table {name} has no index on {column}."
            else:
                try:
                    _use_index(table, column)
                except Exception as exc:
                    problem = f"the {column} index of table {name} cannot be used ({brief(exc)})."
            if problem is not None:
                self.found(
                    problem,
                    "rebuilds it from the table's rows (the old index files go into the dated folder).",
                    partial(self.rebuild, name, table, column),
                )

    def rebuild(self, name: str, table: Table, column: str) -> None:
        indices = self.folder / f"{name}.lance" / "_indices"
        if indices.is_dir():
            shutil.copytree(indices, self.aside() / f"{name}.lance-indices", dirs_exist_ok=True)
        table.create_index(column, config=FTS() if column == "text" else BTree(), replace=True)

    def replay(self, dim: int, unmade: bool) -> None:
        """What the journal holds that the tables do not yet: applied by a repair, as an open would
        (for an ``unmade`` agent that is no damage: its next open does it)."""
        directory = self.folder / "journal"
        logs = segments(directory) if directory.is_dir() else []
        waiting = sum(len(read_segment(s)) for s in logs)
        torn = [f"{s.name} ({n} bytes)" for s in logs if (n := _unreadable_bytes(s))]
        if torn:
            self.found(
                f"the end of journal segment(s) {', '.join(torn)} cannot be read: a write cut short "
                "by a crash, or damage.",
                "applies the readable records before it; the segments go into the dated folder.",
                lambda: self.apply(dim, logs, unmade),
            )
        elif waiting and not unmade:
            self.found(
                f"the journal holds {waiting} records not yet in the tables (the app was stopped "
                "before it could write them).",
                "applies them to the tables, as opening the agent would; the segments go into the "
                "dated folder.",
                lambda: self.apply(dim, logs, unmade),
            )

    def apply(self, dim: int, logs: list[Path], unmade: bool) -> None:
        tables = StoreTables(str(self.folder), dim, create=unmade)
        for segment in logs:
            tables.apply(read_segment(segment), replay=True)
            self.move_aside(segment)


def _unreadable_bytes(segment: Path) -> int:
    data = segment.read_bytes()
    good = 0
    for line in data.splitlines(keepends=True):
        if decode(line) is None:
            break
        good += len(line)
    return len(data) - good


def _newest_readable_version(table: Table) -> int | None:
    try:
        versions = sorted((v["version"] for v in table.list_versions()), reverse=True)
    except Exception:
        return None
    try:
        for version in versions[1:]:
            try:
                table.checkout(version)
                table.to_arrow()
                return version
            except Exception:
                continue
        return None
    finally:
        table.checkout_latest()


def _use_index(table: Table, column: str) -> None:
    if column == "text":
        table.search("probe", query_type="fts", fts_columns="text").limit(1).to_arrow()
    else:
        table.search().where("id = 'probe'").limit(1).to_arrow()
