"""A dependency-free progress bar for command-line work (``memgpt-tui load``)."""

from __future__ import annotations

import time
from typing import TextIO


class Bar:
    def __init__(self, title: str, out: TextIO, width: int = 30) -> None:
        self.title = title
        self.out = out
        self.width = width
        self.start = time.monotonic()
        self._last = 0.0

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.1:  # redraw at most 10 times a second
            return
        self._last = now
        frac = done / total if total else 1.0
        filled = int(frac * self.width)
        rate = done / max(now - self.start, 1e-9)
        line = f"\r{self.title} [{'█' * filled}{'·' * (self.width - filled)}] {done}/{total} ({rate:.0f}/s)"
        if self.out.isatty():
            self.out.write(line)
        elif done >= total:
            self.out.write(line.lstrip("\r"))
        self.out.flush()

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.out.write("\n")
        self.out.flush()
