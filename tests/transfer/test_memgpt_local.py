"""A MemGPT home set up for a local LLM, as seed 002 describes, imported and talking on that backend."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from memgpt_tui import cli
from memgpt_tui.client import Client
from memgpt_tui.llm.grammar import PRIMER
from memgpt_tui.model.state import AgentConfig
from memgpt_tui.transfer.formats import import_path
from tests.fakes.local_servers import FakeLocalServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.store.helpers import HashEmbedder

LLM = {"model": None, "model_endpoint_type": "webui", "model_wrapper": "chatml", "context_window": 32768}


def _set_llm(home: Path, llm: dict[str, object]) -> None:
    with closing(sqlite3.connect(home / "sqlite.db")) as con:
        con.execute("UPDATE agents SET llm_config = ?", (json.dumps(llm),))
        con.commit()


def test_an_agent_on_webui_with_chatml_comes_over_and_answers_there(
    memgpt_home: Path, root: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeLocalServer("webui") as server, FakeOpenAIServer() as embeddings:
        for name, value in [
            ("BACKEND", "openai-compatible"),
            ("BASE_URL", embeddings.base_url),
            ("MODEL", "e"),
        ]:
            monkeypatch.setenv(f"MEMGPT_TUI_EMBEDDING_{name}", value)  # quicker than loading the local model
        _set_llm(memgpt_home, {**LLM, "model_endpoint": server.root_url + "/"})
        assert cli.main(["import", str(memgpt_home), "--agent", "ada_companion", "--name", "ada"]) == 0
        out = capsys.readouterr().out
        assert "; model webui:local." in out  # a config with no model still comes over
        assert "Not carried over: ada_companion: the embedding endpoint (openai at http://127.0.0.1:" in out
        assert "archival was embedded with e instead (the config names an embedder)." in out
        server.default = '...", "function": "send_message", "params": {"message": "Pixel says hi!"}, "request_heartbeat": false}'
        with Client() as client:
            replies = client.user_message("ada", "How is my cat?")
    assert replies[-1] == {"assistant_message": "Pixel says hi!"}
    [(path, body)] = [(p, b) for p, b in server.requests if p == "/v1/completions"]
    assert "grammar_string" in body
    assert body["prompt"].endswith(f"<|im_start|>assistant\n{PRIMER}")  # the chatml wrapper
    assert "Lives in Lisbon; cat named Pixel" in body["prompt"] and "How is my cat?" in body["prompt"]


def test_what_a_local_setup_cannot_bring_is_named(
    memgpt_home: Path, root: str, embedder: HashEmbedder, base: AgentConfig
) -> None:
    _set_llm(memgpt_home, {**LLM, "model_endpoint_type": "groq", "model": "llama3-70b"})
    report = import_path(root, memgpt_home, "q", ["Quiet Helper"], base, embedder)
    assert "Quiet Helper: its model settings, which map onto no backend here (it uses embedded:" in (
        "\n".join(report.skipped)
    )
    _set_llm(memgpt_home, {**LLM, "model_wrapper": "experimental-wrapper-neural-chat-grammar-noforce"})
    report = import_path(root, memgpt_home, "q2", ["Quiet Helper"], base, embedder)
    assert report.agents[0].model["backend"] == "webui" and report.agents[0].model["wrapper"] is None
    assert "model_wrapper experimental-wrapper-neural-chat-grammar-noforce: no wrapper" in "\n".join(
        report.skipped
    )
