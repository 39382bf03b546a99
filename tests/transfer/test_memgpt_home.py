"""Importing a MemGPT CLI 0.3.x home made by the real pymemgpt 0.3.25 (tests/fixtures)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from memgpt_tui.model.errors import StoreError
from memgpt_tui.model.state import AgentConfig
from memgpt_tui.store import registry
from memgpt_tui.transfer.formats import import_path
from tests.store.helpers import HashEmbedder
from tests.transfer.conftest import CANARY, left_behind, unpack


def _rows(db: Path, sql: str, *args: Any) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(db)) as con:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(sql, args)]


def _source(home: Path, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The agent row (state parsed) and its in-context recall rows, read straight from MemGPT's sqlite."""
    agent = _rows(home / "sqlite.db", "SELECT * FROM agents WHERE name = ?", name)[0]
    agent["state"] = json.loads(agent["state"])
    by_id = {
        r["id"]: r
        for r in _rows(
            home / "sqlite.db", "SELECT * FROM memgpt_recall_memory_agent WHERE agent_id = ?", agent["id"]
        )
    }
    window = [by_id[i] for i in agent["state"]["messages"] if by_id[i]["role"] != "system"]
    return agent, window


def _opened(root: str, name: str, embedder: HashEmbedder):  # type: ignore[no-untyped-def]
    store = registry.open_store(root, name, embedder)
    state = store.head()
    assert state is not None
    return store, state


def test_every_agent_comes_over_with_blocks_window_and_archival(
    memgpt_home: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:
    report = import_path(root, memgpt_home, None, [], base, embedder)

    assert report.kind == "MemGPT 0.3.25 home"
    assert [a.name for a in report.agents] == ["ada_companion", "Quiet_Helper"]  # a space is not allowed here
    source, window = _source(memgpt_home, "ada_companion")
    store, state = _opened(root, "ada_companion", embedder)
    try:
        memory = source["state"]["memory"]
        assert [(b.label, b.value, b.limit) for b in state.blocks] == [
            (label, memory[label]["value"], memory[label]["limit"]) for label in ("persona", "human")
        ]
        assert "First name: Ada (call her Ada Lovelace)" in state.block("human").value  # edits made by MemGPT
        assert state.system_prompt == source["system"]
        in_context = store.get_messages(state.in_context_ids)
        assert [(m.role, m.content) for m in in_context] == [(r["role"], r["text"]) for r in window]
        calls = [c.name for m in in_context for c in m.tool_calls]
        assert {"core_memory_replace", "core_memory_append", "archival_memory_insert"} <= set(calls)
        results = {m.tool_call_id: m.name for m in in_context if m.role == "tool"}
        assert all(results[c.id] == c.name for m in in_context for c in m.tool_calls)  # every call answered
        assert [m.kind for m in in_context[:3]] == ["assistant", "tool_result", "login"]
        passages = store.archival_list(0, 50).items
        assert sorted(p.text for p in passages) == sorted(
            [
                "Ada's first message came on a rainy Tuesday.",
                "Ada's favourite register allocator is linear scan.",
                "Ada is training for a half marathon in May.",
                "Ada's team ships Tern, a Rust-to-WASM compiler.",
                "Ada's sister Inês visits next week.",
            ]
        )
        assert all(p.metadata["created_at"].startswith("20") for p in passages)  # MemGPT's time kept
        assert state.config.model == "gpt-4" and state.config.context_window == 8192
        assert state.config.backend == "openai-compatible"  # its endpoint was not api.openai.com
    finally:
        store.close()
    store, state = _opened(root, "Quiet_Helper", embedder)
    try:
        assert [p.text for p in store.archival_list(0, 50).items] == ["The quiet helper keeps to itself."]
    finally:
        store.close()


def test_the_credentials_key_never_reaches_the_agent(
    memgpt_home: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:
    assert CANARY in (memgpt_home / "credentials").read_text()
    report = import_path(root, memgpt_home, None, [], base, embedder)

    assert any("openai.key" in s and "never copies keys" in s for s in report.skipped)
    assert CANARY not in repr(report)
    written = [p for p in Path(root).rglob("*") if p.is_file()]
    assert written and not any(CANARY.encode() in p.read_bytes() for p in written)


def test_paths_written_for_another_machine_fall_back_to_the_directory_given(
    memgpt_home: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:
    config = (memgpt_home / "config").read_text()
    assert str(memgpt_home) not in config  # the fixture was made in a directory that is gone
    report = import_path(root, memgpt_home, None, ["ada_companion"], base, embedder)

    assert sum("is not here: read" in n for n in report.notes) == 3  # recall, metadata, archival
    assert report.agents[0].archival == 5


@pytest.mark.parametrize(
    ("version", "keys"),
    [
        ("0.3.10", ["persona", "human", "system", "functions", "messages"]),  # 0.3.0-0.3.17
        ("0.3.18", ["system", "persona", "human", "messages"]),
        ("0.3.25", ["system", "memory", "messages"]),  # 0.3.19-0.3.25
    ],
)
def test_each_agent_state_shape(
    version: str, keys: list[str], tmp_path: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:
    """Homes written by three real pymemgpt releases, one per shape of agents.state."""
    home = unpack(f"memgpt-{version}-home.tar.xz", tmp_path)
    source, window = _source(home, "ada_companion")
    assert list(source["state"]) == keys
    report = import_path(root, home, None, [], base, embedder)

    assert report.kind == f"MemGPT {version} home" and not any("tools" in s for s in report.skipped)
    store, state = _opened(root, "ada_companion", embedder)
    try:
        memory = source["state"].get("memory") or {
            k: {"value": source["state"][k]} for k in ("persona", "human")
        }
        assert {b.label: b.value for b in state.blocks} == {
            k: memory[k]["value"] for k in ("persona", "human")
        }
        assert "Lives in Lisbon; cat named Pixel" in state.block("human").value
        assert all(b.limit == 2000 for b in state.blocks)
        assert [m.content for m in store.get_messages(state.in_context_ids)] == [r["text"] for r in window]
        assert store.archival_count() == 5
    finally:
        store.close()


def test_evicted_history_becomes_recall(
    memgpt_home: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:
    """Messages MemGPT moved out of the window (its state lists fewer ids) stay searchable in recall."""
    db = memgpt_home / "sqlite.db"
    with closing(sqlite3.connect(db)) as con:
        raw = con.execute("SELECT state FROM agents WHERE name = 'ada_companion'").fetchone()[0]
        state = json.loads(raw)
        state["messages"] = [state["messages"][0], *state["messages"][-10:]]  # system + the last 10
        con.execute("UPDATE agents SET state = ? WHERE name = 'ada_companion'", (json.dumps(state),))
        con.commit()
    report = import_path(root, memgpt_home, None, ["ada_companion"], base, embedder)

    assert report.agents[0].in_context <= 10 and report.agents[0].recall >= 83
    store, agent_state = _opened(root, "ada_companion", embedder)
    try:
        hits = store.search_messages("Lisbon Pixel", 0, 10)
        assert hits.total >= 1 and all(h.id not in agent_state.in_context_ids for h in hits.items)
        assert store.recent_messages(None, 1)[0].id == agent_state.in_context_ids[-1]  # order by time kept
    finally:
        store.close()


def test_archival_is_re_embedded_with_the_configured_embedder(
    memgpt_home: Path, root: str, nano: Any
) -> None:
    """MemGPT's vectors (another model's, padded to 4096) are not copied: passages are embedded again."""
    config = AgentConfig(embedding_model=nano.model, embedding_dim=nano.dim)
    import_path(root, memgpt_home, None, ["ada_companion"], config, nano)

    store = registry.open_store(root, "ada_companion", nano)
    try:
        hits = store.archival_search("who is coming to visit?", 0, 1).items
        assert hits[0].text == "Ada's sister Inês visits next week."
        assert store.meta().embedding.dim == nano.dim == 384
    finally:
        store.close()


# ------------------------------------------------------------------ bad input


def _fails(
    path: Path, root: str, embedder: HashEmbedder, base: AgentConfig, wanted: list[str] | None = None
) -> str:
    with pytest.raises(StoreError) as caught:
        import_path(root, path, None, wanted or [], base, embedder)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert left_behind(root) == []
    return message


def test_a_directory_that_is_not_a_memgpt_home(
    tmp_path: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:
    (tmp_path / "photos").mkdir()
    assert "not a MemGPT home" in _fails(tmp_path / "photos", root, embedder, base)


def test_a_truncated_sqlite_db(
    memgpt_home: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:
    db = memgpt_home / "sqlite.db"
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])
    message = _fails(memgpt_home, root, embedder, base)
    assert "sqlite.db cannot be read" in message and "nothing was imported" in message


def test_older_and_newer_layouts_get_a_clear_message(
    memgpt_home: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:
    config = memgpt_home / "config"
    text = config.read_text()
    config.write_text(text.replace("memgpt_version = 0.3.25", "memgpt_version = 0.5.1"))
    assert "Agent File (.af)" in _fails(memgpt_home, root, embedder, base)
    config.write_text(text.replace("memgpt_version = 0.3.25", "memgpt_version = 0.2.12"))
    assert "MemGPT 0.2 home" in _fails(memgpt_home, root, embedder, base)
    config.write_text(text.replace("type = sqlite", "type = postgres", 1))
    assert "reads MemGPT homes on SQLite only" in _fails(memgpt_home, root, embedder, base)
    config.unlink()  # a Letta home: sqlite.db, no INI config
    assert "is a Letta home" in _fails(memgpt_home, root, embedder, base)


def test_a_state_of_the_wrong_shape(
    memgpt_home: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:
    with closing(sqlite3.connect(memgpt_home / "sqlite.db")) as con:
        state = json.loads(con.execute("SELECT state FROM agents WHERE name = 'Quiet Helper'").fetchone()[0])
        state["memory"]["human"]["limit"] = "lots"
        con.execute("UPDATE agents SET state = ? WHERE name = 'Quiet Helper'", (json.dumps(state),))
        con.commit()
    assert "Agent 'Quiet Helper'" in _fails(memgpt_home, root, embedder, base)


def test_an_agent_name_the_home_does_not_hold(
    memgpt_home: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:
    message = _fails(memgpt_home, root, embedder, base, ["nobody"])
    assert "'nobody'" in message and "ada_companion" in message


class _FailsOn(HashEmbedder):
    """Embeds until it meets ``text``, then fails as a server that went away would."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        if self.text in texts:
            raise StoreError("the embedding server went away")
        return super().embed_passages(texts)


def test_a_failure_half_way_leaves_no_agent_behind(memgpt_home: Path, root: str, base: AgentConfig) -> None:
    """The second agent fails while its archival is embedded: the first one, complete, goes too."""
    _fails(memgpt_home, root, _FailsOn("The quiet helper keeps to itself."), base)


def test_a_home_grown_by_the_benchmark(
    tmp_path: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:
    """bench/import_home.py grows the fixture's recall; the import keeps its window and the rest as recall."""
    from bench.import_home import WINDOW, scale

    home = unpack("memgpt-0.3.25-home.tar.xz", tmp_path)
    assert scale(home, 600) == 600
    summary = import_path(root, home, None, ["ada_companion"], base, embedder).agents[0]

    assert summary.in_context <= WINDOW and summary.in_context + summary.recall == 600 - 7  # 7 system copies
