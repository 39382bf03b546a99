from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from memgpt_tui.model.errors import EmbeddingMismatch, StoreError
from memgpt_tui.store import sources
from memgpt_tui.store.agent_store import LanceAgentStore
from memgpt_tui.store.chunking import chunk_text
from tests.store.helpers import HashEmbedder


def words(n: int, word: str = "word") -> str:
    return " ".join(f"{word}{i}" for i in range(n))


def sentences(n: int, tag: str) -> str:
    return " ".join(f"This is sentence {i} of {tag}, with several filler words." for i in range(n))


# ---------------------------------------------------------------- chunking


def test_paragraphs_are_packed_and_never_split_when_they_fit() -> None:
    paragraphs = [words(80, f"p{i}x") for i in range(7)]
    chunks = chunk_text("\n\n".join(paragraphs), "text", max_words=300, overlap_words=0)
    assert chunks == ["\n\n".join(paragraphs[0:3]), "\n\n".join(paragraphs[3:6]), paragraphs[6]]


def test_markdown_headings_start_chunks_and_stay_with_their_text() -> None:
    doc = f"# Intro\n\n{words(120, 'a')}\n\n## Install\n\n{words(120, 'b')}\n\n## Use\n\n{words(30, 'c')}"
    chunks = chunk_text(doc, "markdown", max_words=300, overlap_words=50)
    assert chunks == [
        f"# Intro\n\n{words(120, 'a')}",
        f"## Install\n\n{words(120, 'b')}",
        f"## Use\n\n{words(30, 'c')}",
    ]
    # a section too small to stand alone shares a chunk with the next one
    small = f"# Title\n\n{words(20, 'x')}\n\n## Part\n\n{words(100, 'y')}"
    assert chunk_text(small, "markdown", max_words=300) == [small]


def test_long_prose_is_cut_at_sentences_with_overlap() -> None:
    text = sentences(120, "the story")  # ~1,200 words, one paragraph
    chunks = chunk_text(text, "text", max_words=300, overlap_words=50)
    assert len(chunks) >= 4
    assert all(len(c.split()) <= 300 for c in chunks)
    for before, after in zip(chunks, chunks[1:], strict=False):
        first_sentence = after.split(". ")[0]
        assert first_sentence in before  # the next chunk starts with the previous one's tail
        assert after.startswith("This is sentence")
    covered = {s for c in chunks for s in c.split(". ")}
    assert all(
        f"This is sentence {i} of the story, with several filler words" in " ".join(covered)
        for i in range(120)
    )


def test_code_keeps_whole_lines_and_fenced_blocks() -> None:
    code = "\n".join(f"    total += compute(value_{i}, other_{i})  # step {i}" for i in range(200))
    chunks = chunk_text(code, "code", max_words=300, overlap_words=20)
    lines = set(code.split("\n"))
    assert len(chunks) > 1 and all(set(c.split("\n")) <= lines for c in chunks)
    fenced = f"Intro text.\n\n```python\ndef f():\n\n    return 1\n```\n\n{words(10)}"
    assert "```python\ndef f():\n\n    return 1\n```" in chunk_text(fenced, "markdown")[0]


def test_tiny_and_empty_documents() -> None:
    assert chunk_text("", "text") == []
    assert chunk_text("\n\n   \n", "markdown") == []
    assert chunk_text("just one line", "text") == ["just one line"]


# ---------------------------------------------------------------- loading and attaching


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "guide").mkdir(parents=True)
    (root / "guide" / "install.md").write_text(f"# Install\n\n{sentences(60, 'installing')}\n")
    (root / "notes.txt").write_text("Remember the blue door.\n\nThe key is under the mat.\n")
    (root / "tool.py").write_text("def main():\n    return 42\n")
    (root / "image.png").write_bytes(b"\x89PNG\x00\x00binary")
    (root / ".git").mkdir()
    (root / ".git" / "config.txt").write_text("hidden")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "lib.js").write_text("skipped")
    return root


def test_load_walks_text_files_and_is_incremental(home: Path, docs: Path, embedder: HashEmbedder) -> None:
    root = str(home / "sources")
    progress: list[tuple[int, int]] = []
    report = sources.load(root, "docs", [docs], embedder, lambda done, total: progress.append((done, total)))
    assert (report.added_files, report.changed_files, report.skipped_files) == (3, 0, 0)
    assert progress[0] == (0, report.chunks) and progress[-1] == (report.chunks, report.chunks)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    [info] = sources.list_sources(root)
    assert (info.name, info.files, info.chunks, info.embedding_model) == (
        "docs",
        3,
        report.chunks,
        "hash-test",
    )

    calls = embedder.calls
    again = sources.load(root, "docs", [docs], embedder)
    assert (again.skipped_files, again.chunks, embedder.calls) == (3, 0, calls)

    (docs / "notes.txt").write_text("The door is now green.\n")
    (docs / "new.md").write_text("A new page.\n")
    changed = sources.load(root, "docs", [docs], embedder)
    assert (changed.added_files, changed.changed_files, changed.skipped_files) == (1, 1, 2)
    [info] = sources.list_sources(root)
    assert info.files == 4 and info.chunks == report.chunks + 1

    with pytest.raises(EmbeddingMismatch):
        sources.load(root, "docs", [docs], HashEmbedder(model="other"))
    with pytest.raises(StoreError, match="No text files"):
        sources.load(root, "empty", [docs / "image.png"], embedder)


def test_attach_copies_vectors_and_follows_changes(
    home: Path,
    docs: Path,
    embedder: HashEmbedder,
    store: LanceAgentStore,
    open_store: Callable[..., LanceAgentStore],
) -> None:
    root = str(home / "sources")
    report = sources.load(root, "docs", [docs], embedder)
    calls = embedder.calls
    assert sources.attach(root, "docs", store) == report.chunks
    assert embedder.calls == calls  # vectors were copied, not recomputed
    assert store.archival_count() == report.chunks
    hit = store.archival_search("blue door", 0, 5).items[0]
    assert hit.text.startswith("Remember the blue door") and hit.metadata["path"].endswith("notes.txt")
    assert [s.name for s in store.attached_sources()] == ["docs"]

    assert sources.attach(root, "docs", store) == 0  # nothing new
    (docs / "notes.txt").write_text("The door is now green.\n")
    sources.load(root, "docs", [docs], embedder)
    assert sources.attach(root, "docs", store) == 1
    assert store.archival_count() == report.chunks
    assert "blue door" not in {p.text for p in store.archival_list(0, 100).items}

    with pytest.raises(StoreError, match="No data source"):
        sources.attach(root, "nope", store)
    other = open_store("other", embedder=HashEmbedder(model="other"))
    with pytest.raises(EmbeddingMismatch):
        sources.attach(root, "docs", other)
