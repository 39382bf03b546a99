"""Letta Agent Files: v1, v2 (stored as a JSON string), our v2 export and its round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memgpt_tui.model.errors import StoreError
from memgpt_tui.model.state import AgentConfig
from memgpt_tui.store import registry
from memgpt_tui.transfer import agentfile
from memgpt_tui.transfer.formats import export_agent, import_path
from tests.store.helpers import HashEmbedder
from tests.transfer.conftest import FIXTURES, LETTA, left_behind

V1 = LETTA / "memgpt_agent_with_convo.v1.af"
V2 = LETTA / "memgpt_agent.v2.af"
FIELDS = json.loads((FIXTURES / "letta_agentfile_fields.json").read_text())
ENDPOINT_TYPES = {
    "openai",
    "anthropic",
    "ollama",
    "llamacpp",
    "vllm",
    "lmstudio",
    "koboldcpp",
    "hugging-face",
}


def _text(content: Any) -> str | None:
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if p.get("text")) or None
    return content


def _v1_window(data: dict[str, Any]) -> list[tuple[str, str | None, list[str]]]:
    """(role, text, tool call names) of a v1 file's in-context messages, without the system message."""
    window = [data["messages"][i] for i in data["in_context_message_indices"]]
    return [
        (m["role"], _text(m["content"]), [c["function"]["name"] for c in m.get("tool_calls") or []])
        for m in window
        if m["role"] != "system"
    ]


def _store_window(root: str, name: str, embedder: HashEmbedder):  # type: ignore[no-untyped-def]
    store = registry.open_store(root, name, embedder)
    try:
        state = store.head()
        assert state is not None
        window = [
            (m.role, m.content, [c.name for c in m.tool_calls])
            for m in store.get_messages(state.in_context_ids)
        ]
        return state, window, store.count_messages()
    finally:
        store.close()


def test_v1_keeps_blocks_window_and_history(root: str, embedder: HashEmbedder, base: AgentConfig) -> None:
    data = json.loads(V1.read_text())
    report = import_path(root, V1, "chungus", [], base, embedder)

    assert report.kind == "Letta Agent File (v1, Letta 0.6.47)"
    state, window, total = _store_window(root, "chungus", embedder)
    assert [(b.label, b.value, b.limit, b.description, b.read_only) for b in state.blocks] == [
        (b["label"], b["value"], b["limit"], b["description"], b.get("read_only", False))
        for b in data["core_memory"]
    ]
    assert window == _v1_window(data)
    systems = sum(m["role"] == "system" for m in data["messages"])
    assert total == len(data["messages"]) - systems  # the rest of the history is recall
    assert state.system_prompt == data["system"]
    assert (state.config.backend, state.config.model) == ("openai", "gpt-4-0613")
    assert any("tool rules" in s for s in report.skipped)


def test_v2_stored_as_a_json_string(root: str, embedder: HashEmbedder, base: AgentConfig) -> None:
    raw = json.loads(V2.read_text())
    assert isinstance(raw, str)  # the whole file is one JSON string
    data = json.loads(raw)
    report = import_path(root, V2, None, [], base, embedder)

    assert report.kind == "Letta Agent File (v2)"
    state, _, _ = _store_window(root, "memgpt_agent", embedder)
    by_id = {b["id"]: b for b in data["blocks"]}
    expected = [by_id[i] for i in data["agents"][0]["block_ids"]]
    assert [(b.label, b.value, b.limit, b.description) for b in state.blocks] == [
        (b["label"], b["value"], b["limit"], b["description"]) for b in expected
    ]
    skipped = " ".join(report.skipped)
    assert "memory_insert" in skipped and "memory_replace" in skipped  # Letta tools that are not ours
    assert "conversation_search" not in skipped


def _check_fields(obj: dict[str, Any], kind: str, where: str) -> None:
    spec = FIELDS[kind]
    assert not set(obj) - set(spec["fields"]), (
        f"{where}: fields Letta does not know: {set(obj) - set(spec['fields'])}"
    )
    assert not set(spec["required"]) - set(obj), f"{where}: required fields missing"


def validate_v2(data: dict[str, Any]) -> None:
    """Letta's AgentFileSchema field set (its models forbid extra fields), ids and references."""
    _check_fields(data, "file", "file")
    ids = [x["id"] for key in ("agents", "blocks", "tools") for x in data[key]]
    for agent in data["agents"]:
        _check_fields(agent, "agents", agent["id"])
        _check_fields(agent["llm_config"], "llm_config", "llm_config")
        _check_fields(agent["embedding_config"], "embedding_config", "embedding_config")
        assert agent["llm_config"]["model_endpoint_type"] in ENDPOINT_TYPES
        assert agent["embedding_config"]["embedding_endpoint_type"] in ENDPOINT_TYPES
        assert set(agent["block_ids"]) <= {b["id"] for b in data["blocks"]}
        assert set(agent["tool_ids"]) <= {t["id"] for t in data["tools"]}
        messages = {m["id"]: m for m in agent["messages"]}
        assert set(agent["in_context_message_ids"]) <= set(messages)
        ids += list(messages)
        for m in agent["messages"]:
            _check_fields(m, "messages", m["id"])
            assert m["role"] in ("system", "user", "assistant", "tool")
            assert all(p["type"] == "text" and isinstance(p["text"], str) for p in m["content"])
            for call in m["tool_calls"] or []:
                assert call["type"] == "function" and set(call) == {"id", "type", "function"}
                json.loads(call["function"]["arguments"])
            for r in m["tool_returns"] or []:
                _check_fields(r, "tool_returns", m["id"])
                assert r["status"] in ("success", "error")
    for b in data["blocks"]:
        _check_fields(b, "blocks", b["id"])
    for t in data["tools"]:
        _check_fields(t, "tools", t["id"])
    assert len(ids) == len(set(ids))


def test_the_validator_accepts_a_file_letta_exported() -> None:
    validate_v2(json.loads(json.loads(V2.read_text())))


def test_round_trip_af_memgpt_tui_af(
    root: str, embedder: HashEmbedder, base: AgentConfig, tmp_path: Path
) -> None:
    source = json.loads(V1.read_text())
    import_path(root, V1, "trip", [], base, embedder)
    out = export_agent(root, "trip", tmp_path / "trip.af")
    exported = json.loads(out.read_text())

    validate_v2(exported)
    agent = exported["agents"][0]
    assert agent["agent_type"] == "memgpt_agent"
    window = [
        agent_msg
        for i in agent["in_context_message_ids"]
        for agent_msg in agent["messages"]
        if agent_msg["id"] == i
    ]
    assert window[0]["role"] == "system" and "<persona" in window[0]["content"][0]["text"]
    assert [
        (m["role"], _text(m["content"]), [c["function"]["name"] for c in m["tool_calls"] or []])
        for m in window[1:]
    ] == _v1_window(source)
    assert any(
        c["function"]["name"] == "send_message"
        for m in window
        if m["role"] == "assistant"
        for c in m["tool_calls"] or []
    )
    by_id = {b["id"]: b for b in exported["blocks"]}
    assert [(by_id[i]["label"], by_id[i]["value"], by_id[i]["limit"]) for i in agent["block_ids"]] == [
        (b["label"], b["value"], b["limit"]) for b in source["core_memory"]
    ]
    assert sorted(t["name"] for t in exported["tools"]) == sorted(t["name"] for t in agentfile.OUR_TOOLS)
    assert "api_key" not in out.read_text() and out.stat().st_mode & 0o077 == 0

    import_path(root, out, "trip2", [], base, embedder)  # and back in: the same blocks and window
    first, second = _store_window(root, "trip", embedder), _store_window(root, "trip2", embedder)
    assert second[1] == first[1]
    assert [b.model_dump() for b in second[0].blocks] == [b.model_dump() for b in first[0].blocks]


# ------------------------------------------------------------------ bad input


def _v2_variant(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = json.loads(json.loads(V2.read_text()))
    change(data)
    path = tmp_path / "variant.af"
    path.write_text(json.dumps(data))
    return path


def _fails(path: Path, root: str, embedder: HashEmbedder, base: AgentConfig) -> str:
    with pytest.raises(StoreError) as caught:
        import_path(root, path, None, [], base, embedder)
    message = str(caught.value)
    assert "\n" not in message and left_behind(root) == []
    return message


def test_duplicate_ids(tmp_path: Path, root: str, embedder: HashEmbedder, base: AgentConfig) -> None:
    def duplicate(data: dict[str, Any]) -> None:
        data["blocks"][1]["id"] = data["blocks"][0]["id"]

    assert "'block-0' is used twice" in _fails(_v2_variant(tmp_path, duplicate), root, embedder, base)

    def relabel(data: dict[str, Any]) -> None:
        data["blocks"][1]["label"] = data["blocks"][0]["label"]

    assert "two blocks labelled 'human'" in _fails(_v2_variant(tmp_path, relabel), root, embedder, base)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda d: d["agents"][0]["block_ids"].append("block-9"), "'block-9'"),
        (lambda d: d["agents"][0]["tool_ids"].append("tool-7"), "'tool-7'"),
        (lambda d: d["agents"][0]["in_context_message_ids"].append("message-99"), "'message-99'"),
    ],
)
def test_dangling_ids(
    change, said: str, tmp_path: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:  # type: ignore[no-untyped-def]
    message = _fails(_v2_variant(tmp_path, change), root, embedder, base)
    assert said in message and "does not hold" in message


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda d: d["blocks"][0].pop("label"), "missing 'label'"),
        (lambda d: d["agents"][0]["messages"].append("hello"), "not a well-formed Agent File"),
        (lambda d: d["blocks"][0].update(limit="lots"), "not a well-formed Agent File"),
    ],
)
def test_malformed_entries(
    change, said: str, tmp_path: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:  # type: ignore[no-untyped-def]
    assert said in _fails(_v2_variant(tmp_path, change), root, embedder, base)


def test_v1_index_past_the_end(tmp_path: Path, root: str, embedder: HashEmbedder, base: AgentConfig) -> None:
    data = json.loads(V1.read_text())
    data["in_context_message_indices"].append(len(data["messages"]))
    path = tmp_path / "bad.af"
    path.write_text(json.dumps(data))
    assert "points at no message" in _fails(path, root, embedder, base)


def test_a_50_mb_agent_file(tmp_path: Path, root: str, embedder: HashEmbedder, base: AgentConfig) -> None:
    data = json.loads(json.loads(V2.read_text()))
    data["blocks"][0]["value"] = "x" * 50_000_000
    path = tmp_path / "huge.af"
    path.write_text(json.dumps(data))
    assert "50 MB" in _fails(path, root, embedder, base)


def test_json_that_is_not_an_agent_file(
    tmp_path: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:
    path = tmp_path / "package.af"
    path.write_text('{"name": "left-pad"}')
    assert "not a Letta Agent File" in _fails(path, root, embedder, base)
    path.write_text('{"agents": [')
    assert "not valid JSON" in _fails(path, root, embedder, base)


def test_the_export_holds_no_password_from_a_server_url(
    root: str, embedder: HashEmbedder, base: AgentConfig, tmp_path: Path
) -> None:
    config = base.model_copy(
        update={
            "backend": "openai-compatible",
            "model": "llama3.1",
            "base_url": "http://bob:hunter2@gpu:8080/v1",
        }
    )
    import_path(root, V1, "private", [], config, embedder, source_model=False)
    text = export_agent(root, "private", tmp_path / "private.af").read_text()

    assert "hunter2" not in text
    assert json.loads(text)["agents"][0]["llm_config"]["model_endpoint"] == "http://gpu:8080/v1"


def test_plain_text_replies_of_newer_letta_agents_become_send_message(
    tmp_path: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:
    """A letta_v1_agent answers in plain text with its reasoning beside it; here it answers as MemGPT."""

    def converse(data: dict[str, Any]) -> None:
        agent = data["agents"][0]
        agent["messages"] += [
            {"id": "message-1", "role": "user", "content": [{"type": "text", "text": "Hi, I'm Sarah."}]},
            {
                "id": "message-2",
                "role": "assistant",
                "content": [
                    {"type": "reasoning", "reasoning": "A new user, Sarah."},
                    {"type": "text", "text": "Hello Sarah!"},
                ],
            },
        ]
        agent["in_context_message_ids"] += ["message-1", "message-2"]

    path = _v2_variant(tmp_path, converse)
    import_path(root, path, "sarah", [], base, embedder)

    store = registry.open_store(root, "sarah", embedder)
    try:
        state = store.head()
        assert state is not None
        user, thought, result = store.get_messages(state.in_context_ids)
    finally:
        store.close()
    assert user.user_text() == "Hi, I'm Sarah."
    assert thought.content == "A new user, Sarah."
    assert [(c.name, json.loads(c.arguments)) for c in thought.tool_calls] == [
        ("send_message", {"message": "Hello Sarah!"})
    ]
    assert result.tool_call_id == thought.tool_calls[0].id and json.loads(result.content)["status"] == "OK"
    markdown = export_agent(root, "sarah", tmp_path / "sarah.md").read_text()
    assert "\nHello Sarah!\n" in markdown and "A new user, Sarah." in markdown
