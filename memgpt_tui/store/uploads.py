"""The shared journal of an agent in an object store: each committed step is uploaded there by a thread
of its own, so a crash loses at most the step in flight, and its object is deleted once the tables
hold its records."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..model.errors import StoreError
from .journal import Record, SharedJournal

log = logging.getLogger(__name__)


class Uploads:
    def __init__(
        self,
        shared: SharedJournal,
        agent: str,
        lease_seconds: float,
        closed: Callable[[], bool],
        stop: threading.Event,
    ) -> None:
        self._shared = shared
        self._agent = agent
        self._lease_seconds = lease_seconds
        self._closed = closed  # once the store is closed, it applies everything to the tables itself
        self._stop = stop
        self._unsent: list[Record] = []  # journaled since the last checkpoint
        self._outbox: list[list[Record]] = []  # committed steps waiting for their upload
        self._uploaded: list[tuple[str, int]] = []  # object name, last seq: to delete once applied
        self._send = threading.Condition()
        self._sent = threading.Event()  # the outbox is empty
        self._sent.set()
        self._applied_seq = 0  # every seq up to this one is in the tables
        self._uploader = threading.Thread(target=self._upload_loop, name="store-upload", daemon=True)
        self._uploader.start()

    def stop(self) -> None:
        """Once closed: let the uploader finish the upload in hand and end."""
        with self._send:
            self._send.notify()
        self._uploader.join()

    def _upload_loop(self) -> None:
        while True:
            with self._send:
                while not self._outbox and not self._closed():
                    self._send.wait()
                if self._closed():
                    return
                batch = self._outbox[0]
            try:
                name = self._shared.put(batch)
            except StoreError:
                log.exception("agent %s: uploading a step to the shared journal failed", self._agent)
                self._stop.wait(1.0)
                continue
            with self._send:
                self._outbox.pop(0)
                self._uploaded.append((name, batch[-1]["seq"]))
                if not self._outbox:
                    self._sent.set()

    def journaled(self, record: Record) -> None:
        """A record of the step in progress; the first of a step waits for the last one's upload."""
        if not self._unsent:
            self.await_upload()
        self._unsent.append(record)

    def drop_unsent(self) -> None:
        """The step's records are in the tables already; a restore must never be replayed over later
        writes."""
        self._unsent = []

    def commit_step(self) -> None:
        """Hand the step's records to the uploader (on the loop: no waiting here)."""
        with self._send:
            if self._unsent:
                self._outbox.append(self._unsent)
                self._unsent = []
                self._sent.clear()
                self._send.notify()

    def await_upload(self) -> None:
        """Before a new step writes, the last one must be in the store: a kill loses at most one step."""
        if not self._sent.wait(self._lease_seconds):
            raise StoreError(
                f"The object store of agent {self._agent!r} has not taken the last step for "
                f"{self._lease_seconds:.0f} s; it is still being retried. Check the network, "
                "and try again."
            )

    def applied(self, seq: int) -> None:
        """Every record up to ``seq`` is in the tables now."""
        self._applied_seq = max(self._applied_seq, seq)

    def forget_applied(self) -> None:
        """Delete the shared journal's objects whose records are all in the tables now."""
        with self._send:
            done = [name for name, last in self._uploaded if last <= self._applied_seq]
            self._uploaded = [(n, last) for n, last in self._uploaded if last > self._applied_seq]
        self._shared.remove(done)
