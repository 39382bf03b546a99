from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from memgpt_tui.model.errors import AgentLocked, EmbeddingMismatch, StoreError
from memgpt_tui.store import registry
from memgpt_tui.store.agent_store import LanceAgentStore
from tests.store.helpers import HashEmbedder, make_state, turn


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_create_list_and_refuse_taken_or_bad_names(root: str, embedder: HashEmbedder) -> None:
    store = registry.create_store(root, "sam", embedder)
    turn(store, make_state(), "hello", "hi")
    store.archival_insert(["a fact"])
    with pytest.raises(StoreError, match="already exists"):
        registry.create_store(root, "sam", embedder)
    store.close()
    for bad in ("", "../evil", ".hidden", "a/b", "x" * 65):
        with pytest.raises(StoreError, match="not a valid agent name"):
            registry.create_store(root, bad, embedder)
    [info] = registry.list_agents(root)
    assert info["name"] == "sam" and info["problem"] is None
    assert (info["backend"], info["model"], info["messages"], info["archival"]) == (
        "embedded",
        "gemma-3-270m",
        3,
        1,
    )
    assert info["last_used"] is not None


def test_foreign_and_corrupt_directories_are_refused_untouched(root: str, embedder: HashEmbedder) -> None:
    photos = Path(root) / "photos"
    photos.mkdir(parents=True)
    (photos / "cat.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    broken = Path(root) / "broken"
    registry.create_store(root, "broken", embedder).close()
    (broken / "agent.json").write_text("{ this is not json")
    damaged = Path(root) / "damaged"
    with registry.create_store(root, "damaged", embedder) as store:
        store.sync()  # a new agent makes its tables on first need
    for table in (damaged / "checkpoints.lance").rglob("*.manifest"):
        table.write_bytes(b"garbage")
    before = {d: snapshot(Path(root) / d) for d in ("photos", "broken", "damaged")}

    for name, problem in (
        ("photos", "not a memgpt-tui agent store"),
        ("broken", "unreadable"),
        ("damaged", "damaged"),
    ):
        with pytest.raises(StoreError, match=problem):
            registry.open_store(root, name, embedder)
        with pytest.raises(StoreError):
            registry.create_store(root, name, embedder)
    for name in ("photos", "broken"):
        with pytest.raises(StoreError):
            registry.delete(root, name)
    assert {d: snapshot(Path(root) / d) for d in before} == before
    problems = {row["name"]: row["problem"] for row in registry.list_agents(root)}
    assert problems["photos"] and problems["broken"] and problems["damaged"] is None
    registry.delete(root, "damaged")  # its own agent.json is intact, so it may go
    assert not registry.exists(root, "damaged")


def test_embedding_mismatch_is_refused(root: str, embedder: HashEmbedder) -> None:
    registry.create_store(root, "sam", embedder).close()
    for other in (HashEmbedder(model="another-model"), HashEmbedder(dim=32)):
        with pytest.raises(EmbeddingMismatch, match="hash-test"):
            registry.open_store(root, "sam", other)
    registry.open_store(root, "sam", embedder).close()


def test_delete(root: str, embedder: HashEmbedder) -> None:
    store = registry.create_store(root, "sam", embedder)
    with pytest.raises(AgentLocked):
        registry.delete(root, "sam")
    store.close()
    registry.delete(root, "sam")
    assert registry.list_agents(root) == [] and not registry.exists(root, "sam")
    with pytest.raises(StoreError, match="No agent"):
        registry.delete(root, "sam")


def test_export_import_round_trip(
    root: str,
    embedder: HashEmbedder,
    open_store: Callable[..., LanceAgentStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-key")
    monkeypatch.setenv("MEMGPT_TUI_API_KEY", "sk-very-secret-key")
    store = open_store()
    state = make_state()
    turn(store, state, "remember the blue door", "I will")
    store.archival_insert(["the door is blue", "the key is under the mat"], {"kind": "fact"})
    first = store.checkpoints()[-1]
    turn(store, state, "and the red car", "noted", label="saved")
    store.restore(first.id)
    expected = (
        store.head(),
        store.checkpoints(),
        store.recent_messages(None, 100),
        store.archival_list(0, 100),
        store.archival_search("door", 0, 5),
    )
    store.close()

    file = registry.export_agent(root, "sam", tmp_path / "sam.agent")
    assert file.stat().st_mode & 0o777 == 0o600  # memories are personal data
    with zipfile.ZipFile(file) as archive:
        assert set(archive.namelist()) >= {
            "agent.json",
            "messages.parquet",
            "archival.parquet",
            "checkpoints.parquet",
        }
        header = json.loads(archive.read("agent.json"))
        tables = [
            pq.read_table(io.BytesIO(archive.read(n))) for n in archive.namelist() if n.endswith(".parquet")
        ]
    assert header["agent"]["embedding"] == {"model": "hash-test", "dim": 16, "endpoint": None}
    assert "sk-very-secret-key" not in json.dumps(header) + "".join(str(t.to_pylist()) for t in tables)

    assert registry.import_agent(root, file, "sam2", embedder) == "sam2"
    copy = open_store("sam2")
    got = (
        copy.head(),
        copy.checkpoints(),
        copy.recent_messages(None, 100),
        copy.archival_list(0, 100),
        copy.archival_search("door", 0, 5),
    )
    assert got == expected
    saved = copy.checkpoints()[1]
    assert saved.label == "saved"
    copy.restore(saved.id)  # history came along: the head before the restore is restorable
    assert copy.search_messages("red car", 0, 5).total == 1

    with pytest.raises(StoreError, match="already exists"):
        registry.import_agent(root, file, None, embedder)
    with pytest.raises(EmbeddingMismatch):
        registry.import_agent(root, file, "sam3", HashEmbedder(model="other"))
    junk = tmp_path / "junk.agent"
    junk.write_bytes(b"not a zip")
    with pytest.raises(StoreError, match="not a readable"):
        registry.import_agent(root, junk, "sam4", embedder)
    assert sorted(r["name"] for r in registry.list_agents(root)) == ["sam", "sam2"]


def test_export_an_open_store(
    store: LanceAgentStore, root: str, embedder: HashEmbedder, tmp_path: Path
) -> None:
    turn(store, make_state(), "exported while open", "ok")  # still in the journal
    with pytest.raises(AgentLocked):
        registry.export_agent(root, "sam", tmp_path / "locked.agent")
    file = registry.export_store(store, tmp_path / "open.agent")
    registry.import_agent(root, file, "copy", embedder)
    copy = registry.open_store(root, "copy", embedder)
    try:
        assert copy.search_messages("exported", 0, 5).total == 1
        assert copy.checkpoints() == store.checkpoints()
    finally:
        copy.close()
