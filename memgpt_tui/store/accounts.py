"""Users, their API tokens and who owns which agent: one SQLAlchemy Core code path for SQLite (the
default, ``accounts.db`` in the home, WAL) and PostgreSQL (a ``postgresql://`` URL, psycopg 3).

Where agents live. The home's local owner (agents made by the TUI, line mode and the Client) keeps its
agents where they always were, ``<agents root>/<name>``: every directory there is that owner's agent,
with or without a row (rows are added as agents are first listed, so existing homes open unchanged),
and its id is derived from the directory, so a row dropped and made again keeps it. A user's agents
live in a root of their own, ``<home>/users/<user id>/`` (``<store_uri>/.users/<user id>/`` on object
storage), each in a directory named by its random id: a rename moves nothing, and no name is probed.

Tokens are ``sk-memgpt-<selector><secret>``: the selector finds the user, then the SHA-256 of the
secret is compared in constant time with the stored one. The token itself is never stored.

A token that authenticated is remembered (by its hash) with the agent it asked for until the database
changes. On SQLite any commit, by this process or another, changes ``PRAGMA data_version``, read on a
connection of its own in microseconds, so a rotated or removed token stops at once. On PostgreSQL every
writing transaction sends a notice naming its process; each process listens on a connection of its own
and forgets what it remembered when another's notice arrives (its own writes at once), within a
fraction of a second. While that connection is down nothing is remembered: the database is asked.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, Row, make_url

from ..config import ensure_private_dir
from ..model.clock import now
from ..model.errors import AccountError, NameTaken, StoreError
from . import location, paths
from .lock import lock_for

if TYPE_CHECKING:
    import psycopg

__all__ = ["LOCAL_OWNER", "AccountError", "Accounts", "AgentRecord", "NameTaken", "User"]

# Letta's id for the user of a server without users: the home's own owner here.
LOCAL_OWNER = "user-00000000-0000-4000-8000-000000000000"
SCHEMA_VERSION = 2  # 2: agents have a created time, the order Letta lists them in
DB_FILE = "accounts.db"

_TOKEN_PREFIX = "sk-memgpt-"  # "sk-": redacted from logs and screens like any key
_SELECTOR = 16  # hex characters
_NO_USER_HASH = hashlib.sha256(b"").hexdigest()  # compared against when the selector finds no one
_DISPLAY_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,100}")
_LOCAL_IDS = uuid.UUID("5d1e1c42-8f0b-4a59-9a8e-4ad0c3f1b2a7")  # namespace of the local owner's ids
_IMMEDIATE = "memgpt_immediate"  # execution option: an SQLite transaction that writes
_CONNECT_SECONDS = 10
_CHANNEL = "memgpt_tui_accounts"  # PostgreSQL: where every writing transaction says so
_WAKE_SECONDS = 0.25  # how often at least the listener wakes to see whether it is to stop

log = logging.getLogger(__name__)

_tables = sa.MetaData()
_schema = sa.Table("schema_version", _tables, sa.Column("version", sa.Integer, nullable=False))
_users = sa.Table(
    "users",
    _tables,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("token_selector", sa.String(32), nullable=False, unique=True),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
)
_agents = sa.Table(
    "agents",
    _tables,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("root", sa.String(1000), nullable=False),
    sa.Column("dir", sa.String(64), nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False, default=now),
    # the local owner has one namespace per agents root (the store URI may change); a user has one
    sa.UniqueConstraint("owner", "root", "name"),
    sa.UniqueConstraint("root", "dir"),
)


@dataclass(frozen=True)
class User:
    id: str
    name: str
    created: datetime


@dataclass(frozen=True)
class AgentRecord:
    id: str  # opaque, Letta-like "agent-<uuid>", stable while the agent has one owner
    owner: str  # a user id, or LOCAL_OWNER
    name: str  # display name, unique per owner
    root: str  # the agents root URI holding its store directory
    dir: str  # the store directory under root (the name registry functions take)


class Accounts:
    """Thread-safe: every call runs in a transaction of its own on a pooled connection."""

    def __init__(self, url: str | None, home: Path, local_root: str) -> None:
        self.local_root = local_root
        local = paths.is_local(local_root)
        self._users_root = str(home / "users") if local else paths.join(local_root, ".users")
        self._engine, self._where = _engine(url, home)
        self._changes = _versions(self._engine)
        self._known = _Known()
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._changes.close()
        self._engine.dispose()

    def __enter__(self) -> Accounts:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ users and tokens

    def add_user(self, name: str) -> tuple[User, str]:
        """A new user and their token (shown once: only its hash is kept)."""
        _check(name, "user")
        user = User(id=f"user-{uuid.uuid4()}", name=name, created=now())
        token, selector, digest = _new_token()
        with self._tx(write=True) as conn:
            if self._user_row(conn, name) is not None:
                raise NameTaken(f"A user named {name!r} already exists.")
            conn.execute(
                _users.insert().values(
                    id=user.id, name=name, token_selector=selector, token_hash=digest, created=user.created
                )
            )
        return user, token

    def users(self) -> list[User]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(_users).order_by(_users.c.name)).all()
        return [_user(row) for row in rows]

    def user(self, name: str) -> User | None:
        with self._tx() as conn:
            row = self._user_row(conn, name)
        return _user(row) if row is not None else None

    def has_users(self) -> bool:
        version = self._version()
        with self._tx() as conn:
            found = conn.execute(sa.select(_users.c.id).limit(1)).first() is not None
        if not found:
            self._known.keep(version, _NO_USERS, (None, None))
        return found

    def remembered_no_users(self) -> bool:
        """Whether ``has_users`` found none since the database last changed (a user added changes
        it): then the local owner is who asks without a token, known without a query."""
        return self._known.get(self._version(), _NO_USERS) is not None

    def new_token(self, name: str) -> str:
        """A new token for ``name``; the old one stops working at once."""
        token, selector, digest = _new_token()
        with self._tx(write=True) as conn:
            changed = conn.execute(
                _users.update()
                .where(_users.c.name == name)
                .values(token_selector=selector, token_hash=digest)
            )
            if changed.rowcount == 0:
                raise _no_user(name)
        return token

    def authenticate(self, token: str | None) -> User | None:
        """The token's user; None for a missing, malformed, wrong, rotated or removed token alike."""
        return self.token_agent(token, None)[0]

    def token_agent(self, token: str | None, agent_id: str | None) -> tuple[User | None, AgentRecord | None]:
        """``authenticate``, and that user's agent ``agent_id`` (None when it is not theirs) read in the
        same transaction: a request's two lookups in one."""
        selector, secret = _split(token)
        if selector is None or token is None:
            return _verified(None, secret), None
        version = self._version()
        with self._tx() as conn:
            user = _verified(
                conn.execute(sa.select(_users).where(_users.c.token_selector == selector)).first(), secret
            )
            found = None
            if user is not None and agent_id is not None:
                row = conn.execute(_owned(user.id).where(_agents.c.id == agent_id)).first()
                found = _record(row) if row is not None else None
        if user is not None:
            self._known.keep(version, _key(token, agent_id), (user, found))
        return user, found

    def remembered(self, token: str | None, agent_id: str | None) -> tuple[User, AgentRecord | None] | None:
        """``token_agent``'s answer for a token that authenticated before, without a query, while the
        database has not changed since; None when the database must be asked."""
        if not token:
            return None
        known = self._known.get(self._version(), _key(token, agent_id))
        return (known[0], known[1]) if known is not None and known[0] is not None else None

    def local_agent(self, agent_id: str) -> tuple[bool, AgentRecord | None]:
        """Whether the home has no users yet (so the local owner is who asks without a token), and
        then the local owner's agent ``agent_id`` (None when there is no such agent)."""
        version = self._version()
        if self.has_users():
            return False, None
        found = self.agent(LOCAL_OWNER, agent_id)
        if found is not None:
            self._known.keep(version, _key("", agent_id), (None, found))  # no token is ever ""
        return True, found

    def remembered_local(self, agent_id: str) -> AgentRecord | None:
        """``local_agent``'s agent as found before, without a query, while the database has not changed
        since (a user added changes it) and its store on local disk is still there (the TUI may delete
        it); None when the database must be asked."""
        known = self._known.get(self._version(), _key("", agent_id))
        found = known[1] if known is not None else None
        if found is None or "://" in _uri(found) or not location.exists(_uri(found)):
            return None
        return found

    def remove_user(
        self, name: str, *, delete_agents: bool = False, hand_to: str | None = None
    ) -> list[AgentRecord]:
        """Remove a user. One who owns agents is refused unless ``delete_agents`` (their records go; the
        stores are the caller's to delete) or ``hand_to`` another user (the stores stay where they are).
        Returns the user's agents as they are now."""
        if delete_agents and hand_to is not None:
            raise AccountError("Either delete the user's agents or hand them to another user, not both.")
        with self._tx(write=True) as conn:
            user = self._user_row(conn, name)
            if user is None:
                raise _no_user(name)
            owned = [_record(r) for r in conn.execute(_owned(user.id)).all()]
            if owned and not delete_agents and hand_to is None:
                raise AccountError(
                    f"User {name!r} owns {len(owned)} agent(s) ({', '.join(a.name for a in owned)}). "
                    "Delete them (--delete-agents) or hand them to another user (--to OTHER)."
                )
            if hand_to is not None:
                owned = self._hand_over(conn, name, owned, hand_to)
            elif owned:
                conn.execute(_agents.delete().where(_agents.c.owner == user.id))
            conn.execute(_users.delete().where(_users.c.id == user.id))
        return owned

    def _hand_over(
        self, conn: Connection, name: str, owned: list[AgentRecord], hand_to: str
    ) -> list[AgentRecord]:
        target = self._user_row(conn, hand_to)
        if target is None:
            raise _no_user(hand_to)
        if target.name == name:
            raise AccountError(f"Hand {name!r}'s agents to another user than {name!r}.")
        clash = sorted(
            conn.execute(
                sa.select(_agents.c.name).where(
                    _agents.c.owner == target.id, _agents.c.name.in_([a.name for a in owned])
                )
            ).scalars()
        )
        if clash:
            raise NameTaken(f"{hand_to!r} already has agents named {', '.join(clash)}; rename them first.")
        conn.execute(_agents.update().where(_agents.c.id.in_([a.id for a in owned])).values(owner=target.id))
        return [_replace(a, owner=target.id) for a in owned]

    # ------------------------------------------------------------------ agents

    def root_for(self, owner: str) -> str:
        """The agents root of ``owner``'s new agents."""
        return self.local_root if owner == LOCAL_OWNER else paths.join(self._users_root, owner)

    def agents(self, owner: str) -> list[AgentRecord]:
        if owner == LOCAL_OWNER:
            self._sync_local()
        with self._tx() as conn:
            query = _owned(owner, self.local_root).order_by(_agents.c.created, _agents.c.name)
            rows = conn.execute(query).all()
        return [_record(r) for r in rows]

    def existing_user(self, name: str) -> User:
        """The user named ``name``; AccountError when there is none."""
        user = self.user(name)
        if user is None:
            raise _no_user(name)
        return user

    def named_agent(self, user_name: str, agent_name: str) -> AgentRecord:
        """User ``user_name``'s agent ``agent_name``; AccountError when either is missing."""
        user = self.existing_user(user_name)
        found = next((a for a in self.agents(user.id) if a.name == agent_name), None)
        if found is None:
            raise AccountError(f"User {user_name!r} has no agent named {agent_name!r}.")
        return found

    def agent(self, owner: str, agent_id: str) -> AgentRecord | None:
        """The agent with that id if ``owner`` owns it: None for another owner's agent, as for no agent."""
        found = self._find(owner, agent_id)
        if owner == LOCAL_OWNER and (found is None or not location.exists(_uri(found))):
            self._sync_local()  # made or deleted by the TUI since
            found = self._find(owner, agent_id)
        return found

    def add_agent(self, owner: str, name: str) -> AgentRecord:
        """Reserve an id and a store directory for a new agent; NameTaken if the owner has the name."""
        if owner == LOCAL_OWNER:
            _check(name, "agent")  # it names the directory too, as the TUI knows it
            self._sync_local()
            if location.exists(paths.store_uri(self.local_root, name)):
                raise _taken(name)
            record = AgentRecord(_local_id(self.local_root, name), owner, name, self.local_root, name)
        else:
            agent_id = f"agent-{uuid.uuid4()}"
            record = AgentRecord(agent_id, owner, _display(name), self.root_for(owner), agent_id)
        with self._tx(write=True) as conn:
            if owner != LOCAL_OWNER and not conn.execute(_user_by_id(owner)).first():
                raise AccountError("That user no longer exists.")
            if self._name_row(conn, owner, record.name) is not None:
                raise _taken(record.name)
            conn.execute(_agents.insert().values(**_columns(record)))
        return record

    def rename_agent(self, owner: str, agent_id: str, name: str) -> AgentRecord:
        """A new display name; the store stays where it is."""
        record = self.agent(owner, agent_id)
        if record is None:
            raise _no_agent(agent_id)
        name = _display(name)
        with self._tx(write=True) as conn:
            clash = self._name_row(conn, owner, name)
            if clash is not None and clash.id != agent_id:
                raise _taken(name)
            conn.execute(
                _agents.update().where(_agents.c.id == agent_id, _agents.c.owner == owner).values(name=name)
            )
        return _replace(record, name=name)

    def remove_agent(self, owner: str, agent_id: str) -> None:
        """Forget the agent (nothing happens for one the owner does not have); deleting its store is
        the caller's."""
        with self._tx(write=True) as conn:
            conn.execute(_agents.delete().where(_agents.c.id == agent_id, _agents.c.owner == owner))

    def adopt(self, user_name: str, agent_name: str) -> AgentRecord:
        """Hand one of the local owner's agents to a user, under a new id: its store moves into the
        user's root; refused while the agent is open, and on object storage, where the store cannot
        be moved (it would stay in the home's own list, open to the TUI). The row changes before the
        store moves: a crash in between leaves the agent with the local owner."""
        user = self.user(user_name)
        if user is None:
            raise _no_user(user_name)
        if not paths.is_local(self.local_root):
            raise AccountError(
                f"The home's agents are on object storage ({self.local_root}), where adopting cannot move "
                f"{agent_name!r} out of the home's own list, so the TUI could still open it. Instead export "
                f"it (memgpt-tui export {agent_name} {agent_name}.af --format af), import the file with "
                f"{user_name}'s token (POST /v1/agents/import), then delete the home's copy."
            )
        local = next((a for a in self.agents(LOCAL_OWNER) if a.name == agent_name), None)
        if local is None:
            raise AccountError(f"The home has no agent named {agent_name!r} (see: memgpt-tui list agents).")
        agent_id = f"agent-{uuid.uuid4()}"
        adopted = AgentRecord(agent_id, user.id, local.name, self.root_for(user.id), agent_id)
        with lock_for(_uri(local), local.dir):
            self._change_owner(local, adopted)
            try:
                _move(_uri(local), _uri(adopted))
            except BaseException:
                self._change_owner(adopted, local)
                raise
        return adopted

    def _change_owner(self, before: AgentRecord, after: AgentRecord) -> None:
        with self._tx(write=True) as conn:
            if self._name_row(conn, after.owner, after.name) is not None:
                raise NameTaken(f"That user already has an agent named {after.name!r}.")
            changed = conn.execute(
                _agents.update()
                .where(_agents.c.id == before.id, _agents.c.owner == before.owner)
                .values(**_columns(after))
            )
            if changed.rowcount == 0:
                raise AccountError(f"Agent {before.name!r} changed hands meanwhile; try again.")

    # ------------------------------------------------------------------ internals

    def _version(self) -> int | None:
        """The database's version as this process knows it, read before a lookup's query: what the
        lookup found holds while the version does. None while it cannot be known: nothing is kept."""
        return self._changes.version()

    def _find(self, owner: str, agent_id: str) -> AgentRecord | None:
        with self._tx() as conn:
            row = conn.execute(_owned(owner, self.local_root).where(_agents.c.id == agent_id)).first()
        return _record(row) if row is not None else None

    def _sync_local(self) -> None:
        """Rows for the local owner's directories made since (by the TUI, line mode, the Client), and
        none for those deleted since."""
        dirs = {d for d in location.list_dirs(self.local_root) if paths.valid_name(d)}
        here = sa.select(_agents).where(_agents.c.root == self.local_root)
        with self._tx() as conn:
            if _differences(conn.execute(here).all(), dirs) == ([], []):
                return
        with self._tx(write=True) as conn:
            _one_at_a_time(conn)
            rows = conn.execute(here).all()
            gone, new = _differences(rows, dirs)
            if gone:
                conn.execute(_agents.delete().where(_agents.c.id.in_(gone)))
            names = {r.name for r in rows if r.owner == LOCAL_OWNER and r.id not in gone}
            for directory in new:
                name = next(n for n in _names_for(directory) if n not in names)
                names.add(name)
                record = AgentRecord(
                    _local_id(self.local_root, directory), LOCAL_OWNER, name, self.local_root, directory
                )
                conn.execute(_agents.insert().values(**_columns(record)))

    @staticmethod
    def _user_row(conn: Connection, name: str) -> Row[Any] | None:
        return conn.execute(sa.select(_users).where(_users.c.name == name)).first()

    def _name_row(self, conn: Connection, owner: str, name: str) -> Row[Any] | None:
        return conn.execute(_owned(owner, self.local_root).where(_agents.c.name == name)).first()

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[Connection]:
        """One transaction; on SQLite a writing one takes the write lock at its start (BEGIN IMMEDIATE),
        so two writers queue on the busy timeout instead of failing half way."""
        try:
            with self._engine.connect() as conn:
                if write:
                    conn.execution_options(**{_IMMEDIATE: True})
                try:
                    with conn.begin():
                        yield conn
                        if write:
                            self._changes.announce(conn)
                finally:
                    if write:  # after the commit: a lookup that reads the new version sees the change
                        self._changes.wrote()
        except sa.exc.IntegrityError as exc:  # a concurrent request took the name first
            raise NameTaken("That name was taken a moment ago by another request; pick another.") from exc
        except sa.exc.DBAPIError as exc:
            raise AccountError(
                f"The accounts database {self._where} did not answer as expected ({_first_line(exc.orig)})."
            ) from exc

    def _migrate(self) -> None:
        """Create the tables, or check their version; one process at a time."""
        with self._tx(write=True) as conn:
            _one_at_a_time(conn)
            _tables.create_all(conn)
            version = conn.execute(sa.select(_schema.c.version)).scalar()
            if version is None:
                conn.execute(_schema.insert().values(version=SCHEMA_VERSION))
            elif version == 1:  # the agents there so far count as made now, in the order of their names
                created = sa.DateTime(timezone=True).compile(dialect=conn.dialect)
                conn.execute(sa.text(f"ALTER TABLE agents ADD COLUMN created {created}"))
                conn.execute(_agents.update().values(created=now()))
                conn.execute(_schema.update().values(version=SCHEMA_VERSION))
            elif version > SCHEMA_VERSION:
                raise AccountError(
                    f"The accounts database {self._where} was written by a newer memgpt-tui "
                    f"(schema {version}, this one knows {SCHEMA_VERSION}): upgrade memgpt-tui."
                )


# ---------------------------------------------------------------------- the database


def _engine(url: str | None, home: Path) -> tuple[Engine, str]:
    """The engine and how to name the database in a message (never its password)."""
    if url is None:
        path = ensure_private_dir(home) / DB_FILE
        path.touch(mode=0o600, exist_ok=True)  # SQLite gives its WAL files the same mode
        parsed = URL.create("sqlite", database=str(path))
    else:
        parsed = _parse(url)
    where = parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = sa.create_engine(
            parsed, pool_pre_ping=True, connect_args={"connect_timeout": _CONNECT_SECONDS}
        )
    return engine, where


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        parsed = None
    backend = parsed.get_backend_name() if parsed is not None else ""
    in_memory = backend == "sqlite" and parsed is not None and parsed.database in (None, "", ":memory:")
    if parsed is None or backend not in ("sqlite", "postgresql", "postgres") or in_memory:
        raise AccountError(
            "The accounts database must be a postgresql://USER:PASSWORD@HOST:PORT/DATABASE or a "
            "sqlite:///FILE URL."
        )
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def _one_at_a_time(conn: Connection) -> None:
    """Serialise this transaction with the others that call this: on SQLite every writing transaction
    already is (BEGIN IMMEDIATE); on PostgreSQL a lock held until the transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(7366120)"))


def _sqlite_connect(dbapi_connection: Any, _: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun by _sqlite_begin
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # in WAL mode a kill -9 loses no committed transaction
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_IMMEDIATE) else "BEGIN")


def _first_line(error: BaseException | None) -> str:
    text = str(error or "").strip()
    return text.splitlines()[0] if text else type(error).__name__


class _Versions(Protocol):
    """The database's version as this process knows it: it changes whenever the database may have."""

    def version(self) -> int | None: ...

    def announce(self, conn: Connection) -> None:
        """In a writing transaction, before its commit."""

    def wrote(self) -> None:
        """After a writing transaction, committed or not."""

    def close(self) -> None: ...


def _versions(engine: Engine) -> _Versions:
    if engine.dialect.name == "sqlite":
        return _DataVersion(str(engine.url.database))
    return _Notified(engine)


class _DataVersion:
    """SQLite's count of the commits made by other connections (every other process's, and this
    one's through the engine's pool), read on a connection that only reads it: it sees every write
    by itself."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()

    def version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def announce(self, conn: Connection) -> None:
        pass  # the version counts every commit by itself

    def wrote(self) -> None:
        pass

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _Notified:
    """PostgreSQL's: a count raised by this process's own writes and by the notices of other
    processes' writes, heard on a connection of its own that a thread serves from the first lookup
    on. None while that connection is not up (not yet, or lost): a notice may have gone unheard."""

    def __init__(self, engine: Engine) -> None:
        _, params = engine.dialect.create_connect_args(engine.url)
        self._params = {
            **params,
            "connect_timeout": _CONNECT_SECONDS,
            "autocommit": True,
            "application_name": "memgpt-tui accounts notices",
            # a peer gone silently (a cut network) breaks the connection within about 15 s
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 5,
        }
        self._me = secrets.token_hex(8)  # names this process's notices, which are no news to it
        self._lock = threading.Lock()
        self._count = 0
        self._listening = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def version(self) -> int | None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._listen, name="accounts-notices", daemon=True)
                self._thread.start()
            return self._count if self._listening else None

    def announce(self, conn: Connection) -> None:
        conn.execute(sa.select(sa.func.pg_notify(_CHANNEL, self._me)))

    def wrote(self) -> None:
        self._changed()

    def close(self) -> None:
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _changed(self) -> None:
        with self._lock:
            self._count += 1

    def _set_listening(self, listening: bool) -> None:
        """Up or down, a new version: notices may have gone unheard in between."""
        with self._lock:
            self._count += 1
            self._listening = listening

    def _listen(self) -> None:
        """Listen until closed, connecting again whenever the connection fails."""
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(**self._params) as conn:
                    conn.execute(f"LISTEN {_CHANNEL}")
                    self._set_listening(True)
                    self._hear(conn)
            except psycopg.Error as exc:
                if self._listening:
                    log.warning(
                        "accounts notices lost (%s); asking the database every time", _first_line(exc)
                    )
            finally:
                self._set_listening(False)
            self._stop.wait(_WAKE_SECONDS)

    def _hear(self, conn: psycopg.Connection[Any]) -> None:
        while not self._stop.is_set():
            for notice in conn.notifies(timeout=_WAKE_SECONDS):
                if notice.payload != self._me:
                    self._changed()


_KNOWN_LIMIT = 10_000  # (token, agent) answers remembered; past it they are forgotten and asked again


class _Known:
    """Lookups that succeeded, valid for one database version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._answers: dict[bytes, tuple[User | None, AgentRecord | None]] = {}

    def get(self, version: int | None, key: bytes) -> tuple[User | None, AgentRecord | None] | None:
        if version is None:
            return None
        with self._lock:
            if version != self._version:
                self._version, self._answers = version, {}
            return self._answers.get(key)

    def keep(self, version: int | None, key: bytes, answer: tuple[User | None, AgentRecord | None]) -> None:
        """``answer`` as read at ``version`` (read before the query): a change committed meanwhile
        has a later version, and empties what is kept here at the next ``get``."""
        if version is None:
            return
        with self._lock:
            if version != self._version or len(self._answers) >= _KNOWN_LIMIT:
                self._version, self._answers = version, {}
            self._answers[key] = answer


_NO_USERS = b"no users"  # has_users' answer, kept beside the lookups (whose keys are 32-byte hashes)


def _key(token: str, agent_id: str | None) -> bytes:
    """What a lookup is remembered by: the token's hash (never the token), and the agent asked for."""
    return hashlib.sha256(f"{token}\0{agent_id or ''}".encode("utf-8", "replace")).digest()


# ---------------------------------------------------------------------- tokens


def _new_token() -> tuple[str, str, str]:
    """A token, its selector, and the hash of its secret."""
    selector, secret = secrets.token_hex(_SELECTOR // 2), secrets.token_urlsafe(32)
    return f"{_TOKEN_PREFIX}{selector}{secret}", selector, _digest(secret)


def _split(token: str | None) -> tuple[str | None, str]:
    """(selector, secret) of a well-formed token; (None, "") otherwise."""
    if not token or not token.startswith(_TOKEN_PREFIX):
        return None, ""
    body = token[len(_TOKEN_PREFIX) :]
    selector, secret = body[:_SELECTOR], body[_SELECTOR:]
    if not secret or not re.fullmatch(r"[0-9a-f]+", selector) or len(selector) != _SELECTOR:
        return None, ""
    return selector, secret


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


# ---------------------------------------------------------------------- rows and records


def _differences(rows: Sequence[Row[Any]], dirs: set[str]) -> tuple[list[str], list[str]]:
    """The ids of the local owner's rows whose directory is gone, and the directories without a row."""
    gone = [r.id for r in rows if r.owner == LOCAL_OWNER and r.dir not in dirs]
    return gone, sorted(dirs - {r.dir for r in rows})


def _owned(owner: str, root: str | None = None) -> sa.Select[Any]:
    """The owner's agent rows; the local owner's only under the current agents root."""
    query = sa.select(_agents).where(_agents.c.owner == owner)
    if owner == LOCAL_OWNER and root is not None:
        query = query.where(_agents.c.root == root)
    return query


def _user_by_id(user_id: str) -> sa.Select[Any]:
    return sa.select(_users.c.id).where(_users.c.id == user_id)


def _verified(row: Row[Any] | None, secret: str) -> User | None:
    """The row's user if ``secret`` is its token's, compared in constant time; a missing row is compared
    too, so that an unknown selector takes as long as a wrong secret."""
    stored = row.token_hash if row is not None else _NO_USER_HASH
    if hmac.compare_digest(stored, _digest(secret)) and row is not None:
        return _user(row)
    return None


def _user(row: Row[Any]) -> User:
    created = row.created if row.created.tzinfo else row.created.replace(tzinfo=UTC)  # SQLite drops it
    return User(id=row.id, name=row.name, created=created)


def _record(row: Row[Any]) -> AgentRecord:
    return AgentRecord(id=row.id, owner=row.owner, name=row.name, root=row.root, dir=row.dir)


def _columns(record: AgentRecord) -> dict[str, str]:
    return {
        "id": record.id,
        "owner": record.owner,
        "name": record.name,
        "root": record.root,
        "dir": record.dir,
    }


def _replace(record: AgentRecord, **changes: str) -> AgentRecord:
    return AgentRecord(**{**_columns(record), **changes})


def _uri(record: AgentRecord) -> str:
    return paths.store_uri(record.root, record.dir)


def _local_id(root: str, directory: str) -> str:
    return f"agent-{uuid.uuid5(_LOCAL_IDS, paths.join(root, directory))}"


def _names_for(directory: str) -> Iterator[str]:
    """The directory's name, then name-2, name-3... when a renamed agent holds it."""
    yield directory
    n = 2
    while True:
        yield f"{directory}-{n}"
        n += 1


def _move(source: str, target: str) -> None:
    """Move a local store (its lock held by the caller); a rename within one filesystem."""
    destination = paths.local_path(target)
    ensure_private_dir(destination.parent)
    shutil.move(paths.local_path(source), destination)


def _check(name: str, what: str) -> None:
    try:
        paths.check_name(name, what)
    except StoreError as exc:
        raise AccountError(str(exc)) from None


def _display(name: str) -> str:
    if not _DISPLAY_NAME.fullmatch(name) or name != name.strip():
        raise AccountError(
            "An agent name is 1-100 characters, without control characters or spaces at either end."
        )
    return name


def _taken(name: str) -> NameTaken:
    return NameTaken(f"You already have an agent named {name!r}.")


def _no_user(name: str) -> AccountError:
    return AccountError(f"No user named {name!r} (see: memgpt-tui users list).")


def _no_agent(agent_id: str) -> AccountError:
    return AccountError(f"No agent with id {agent_id!r}.")
