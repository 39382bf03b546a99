"""One writer per agent, on one machine or many.

Local stores: an exclusive ``flock`` held while the store is open. ``flock`` locks belong to the open
file and vanish when the process dies, so a killed app never leaves a stale lock behind; the pid
written into the file only serves the error message.

Object stores: a lease object (``lease.json`` in the agent's prefix) taken with a conditional put, so
of two machines racing for it exactly one wins. The holder renews it every third of its term; a lease
whose term ran out (its holder was killed, or lost the network) may be taken over, again with a
conditional put, so a crashed holder blocks the agent for at most one term. A holder that finds its
lease taken over stops writing (``check``) instead of writing next to the new one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from ..model.errors import AgentLocked, StoreError
from . import location, paths

log = logging.getLogger(__name__)

LEASE_FILE = "lease.json"
LEASE_SECONDS = 30.0


def _refusal(agent: str, holder: str, after: str = "") -> AgentLocked:
    return AgentLocked(
        f"Agent {agent!r} is open in another memgpt-tui ({holder}). "
        f"Close it there (or wait for it to exit) and try again, or open a different agent.{after}"
    )


class AgentLock:
    def __init__(self, path: Path, agent: str) -> None:
        self.path = path
        self.agent = agent
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def check(self) -> None:
        """A flock cannot be lost while the process lives."""

    def acquire(self) -> AgentLock:
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise _refusal(self.agent, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> AgentLock:
        return self.acquire()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.release()


class StoreLease:
    """The lease on an agent in an object store; same interface as ``AgentLock``."""

    def __init__(self, store_uri: str, agent: str, seconds: float = LEASE_SECONDS) -> None:
        self.uri = paths.join(store_uri, LEASE_FILE)
        self.agent = agent
        self.seconds = seconds
        self._token = uuid.uuid4().hex
        self._etag: str | None = None
        self._lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._etag is not None and self._lost is None

    def check(self) -> None:
        """Raise AgentLocked once the lease was taken over: nothing more may be written."""
        if self._lost is not None:
            raise AgentLocked(self._lost)

    def acquire(self) -> StoreLease:
        if self._etag is not None:
            return self
        etag = location.create_new(self.uri, self._body())
        if etag is None:
            etag = self._take_over()
        self._etag = etag
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="store-lease", daemon=True)
        self._renewer.start()
        return self

    def _take_over(self) -> str:
        found = location.read_versioned(self.uri)
        if found is None:  # released between our two requests
            etag = location.create_new(self.uri, self._body())
        else:
            data, etag = found
            current = _parse(data)
            expires = float(current.get("expires", 0))
            if not current.get("released") and expires > time.time():
                until = datetime.fromtimestamp(expires, UTC).astimezone().strftime("%H:%M:%S")
                raise _refusal(
                    self.agent,
                    str(current.get("holder", "unknown")),
                    f" If that memgpt-tui was killed, its lease on the store runs out at {until}.",
                )
            etag = location.replace_if(self.uri, self._body(), etag)
        if etag is None:
            raise _refusal(self.agent, "another machine took it just now")
        return etag

    def _body(self, released: bool = False) -> bytes:
        return json.dumps(
            {
                "token": self._token,
                "holder": f"pid {os.getpid()} on {socket.gethostname()}",
                "expires": 0 if released else time.time() + self.seconds,
                "released": released,
            }
        ).encode()

    def _renew_loop(self) -> None:
        interval = self.seconds / 3
        deadline = time.time() + self.seconds
        while not self._stop.wait(interval):
            try:
                renewed = self._replace(self._body())
            except StoreError as exc:
                if time.time() < deadline:  # the next round may still make it in time
                    log.warning("agent %s: renewing the lease failed: %s", self.agent, exc)
                    continue
                renewed = False
            if not renewed:
                self._lost = (
                    f"Agent {self.agent!r} lost its lease on {self.uri}: its term ran out (the object store "
                    "could not be reached, or this process was paused) and another memgpt-tui may have "
                    "opened it. Nothing more is written from here; close and reopen the agent."
                )
                log.error("agent %s: %s", self.agent, self._lost)
                return
            deadline = time.time() + self.seconds

    def _replace(self, body: bytes) -> bool:
        assert self._etag is not None
        etag = location.replace_if(self.uri, body, self._etag)
        if etag is None:
            return False
        self._etag = etag
        return True

    def release(self) -> None:
        if self._etag is None:
            return
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        try:
            if self._lost is None:
                self._replace(self._body(released=True))
        except StoreError as exc:  # it runs out on its own
            log.warning("agent %s: releasing the lease failed: %s", self.agent, exc)
        self._etag = None

    def __enter__(self) -> StoreLease:
        return self.acquire()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.release()


def _parse(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def lock_for(store_uri: str, agent: str, lease_seconds: float = LEASE_SECONDS) -> AgentLock | StoreLease:
    """The writer's lock for a store: a flock beside a local one, a lease inside an object store."""
    if paths.is_local(store_uri):
        return AgentLock(paths.local_state_dir(store_uri) / "lock", agent)
    return StoreLease(store_uri, agent, lease_seconds)
