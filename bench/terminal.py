"""Run a command in a pseudo-terminal and time what appears on its screen."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Sequence
from pathlib import Path

# CSI, OSC and DCS sequences, then any other two-byte escape
_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1bP[^\x1b]*\x1b\\|\x1b.")


def visible(raw: bytes) -> str:
    """The text a terminal would draw, in the order it was written (escape sequences removed)."""
    return _ESCAPES.sub(b"", raw).decode("utf-8", errors="replace")


class Terminal:
    """A command in a pty of ``cols`` x ``rows``; a reader thread keeps every output chunk with the
    monotonic time it arrived, so callers can ask when a string first appeared after a moment."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cols: int = 120, rows: int = 40) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self._chunks: list[tuple[float, bytes]] = []
        self._cond = threading.Condition()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)},
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self._reader = threading.Thread(target=self._read, name="pty-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                data = b""
            with self._cond:
                if not data:
                    self._chunks.append((time.monotonic(), b""))
                    self._cond.notify_all()
                    return
                self._chunks.append((time.monotonic(), data))
                self._cond.notify_all()

    def mark(self) -> int:
        """A position in the output: ``wait_for`` searches only what arrives after it."""
        with self._cond:
            return len(self._chunks)

    def wait_for(self, text: str, since: int = 0, timeout: float = 30.0) -> float:
        """The monotonic time at which ``text`` first became visible in the output after ``since``."""
        deadline = time.monotonic() + timeout
        seen = since
        with self._cond:
            while True:
                for end in range(seen + 1, len(self._chunks) + 1):
                    stamp, data = self._chunks[end - 1]
                    if not data:
                        raise EOFError(
                            f"exited before showing {text!r}; output:\n{self.screen_text()[-3000:]}"
                        )
                    if text in visible(b"".join(d for _, d in self._chunks[since:end])):
                        return stamp
                seen = len(self._chunks)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{text!r} never appeared; output so far:\n{self.screen_text()[-2000:]}"
                    )
                self._cond.wait(left)

    def screen_text(self) -> str:
        with self._cond:
            return visible(b"".join(d for _, d in self._chunks))

    def write(self, data: str | bytes) -> float:
        """Send keys; returns the monotonic time just before they were written."""
        payload = data.encode() if isinstance(data, str) else data
        stamp = time.monotonic()
        os.write(self.master, payload)
        return stamp

    def rss_bytes(self) -> int:
        """Resident memory of the program's own process (children excluded)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for process {self.pid}")

    def close(self, keys: bytes = b"\x11", timeout: float = 20.0) -> None:
        """Quit with ``keys`` (ctrl+q), then make sure the process is gone."""
        if self.process.poll() is None:
            try:
                os.write(self.master, keys)
                self.process.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        os.close(self.master)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
