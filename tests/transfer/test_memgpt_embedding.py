"""A MemGPT home's embedding endpoint comes over into each agent imported from it: archival insert and
search go to that endpoint and model from then on, not to the bundled embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from memgpt_tui import cli
from memgpt_tui.client import Client, ClientError
from memgpt_tui.model.state import AgentConfig
from memgpt_tui.store import registry
from memgpt_tui.transfer.formats import import_path
from tests.fakes.openai_server import FakeOpenAIServer, Reply, unused_port
from tests.store.helpers import HashEmbedder
from tests.transfer.conftest import left_behind
from tests.transfer.homes import set_embedding, set_llm

MODEL = "nomic-embed-text"


def _inputs(server: FakeOpenAIServer) -> list[list[str]]:
    """The texts of each embeddings request, after checking they all asked for MODEL."""
    bodies = [r.body for r in server.requests if r.path == "/v1/embeddings"]
    assert {b["model"] for b in bodies} == {MODEL}
    return [b["input"] if isinstance(b["input"], list) else [b["input"]] for b in bodies]


def test_archival_is_embedded_and_searched_at_the_homes_endpoint(
    memgpt_home: Path, root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAIServer(model="gpt-4") as llm, FakeOpenAIServer() as embeddings:
        set_llm(memgpt_home, model_endpoint=llm.base_url, context_window=32768)  # the window fits
        set_embedding(memgpt_home, embedding_endpoint=embeddings.base_url, embedding_model=MODEL)
        assert cli.main(["import", str(memgpt_home), "--agent", "ada_companion", "--name", "ada"]) == 0
        out = capsys.readouterr().out
        assert f"; embeddings {MODEL} at {embeddings.base_url}, as before." in out
        assert "embedding" not in "".join(line for line in out.splitlines() if line.startswith("Not carried"))
        imported = _inputs(embeddings)
        texts = [text for batch in imported for text in batch]
        assert texts[0] == "dimension probe"  # the import checked the endpoint before writing anything
        assert "Ada's sister Inês visits next week." in texts  # the archival, embedded there
        assert registry.embedding(root, "ada").endpoint == embeddings.base_url

        llm.script(
            Reply.tool_call(
                "archival_memory_insert", {"content": "Pixel's vet is Dr. Sousa.", "request_heartbeat": True}
            ),
            Reply.tool_call(
                "archival_memory_search", {"query": "who is the vet?", "request_heartbeat": True}
            ),
            Reply.tool_call("send_message", {"message": "Dr. Sousa."}),
        )
        with Client() as client:
            replies = client.user_message("ada", "Remember Pixel's vet, then tell me who it is.")
            found = client.search_archival("ada", "Pixel's vet is Dr. Sousa.")
    assert replies[-1] == {"assistant_message": "Dr. Sousa."}
    assert _inputs(embeddings)[len(imported) :] == [
        ["Pixel's vet is Dr. Sousa."],
        ["who is the vet?"],
        ["Pixel's vet is Dr. Sousa."],
    ]
    assert found["items"][0]["text"] == "Pixel's vet is Dr. Sousa."
    assert not [r for r in llm.requests if r.path == "/v1/embeddings"]


def test_an_unreachable_endpoint_stops_the_import_in_one_line(
    memgpt_home: Path, root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = f"http://127.0.0.1:{unused_port()}/v1"
    set_embedding(memgpt_home, embedding_endpoint=gone)
    assert cli.main(["import", str(memgpt_home)]) != 0
    err = capsys.readouterr().err.strip()
    assert err == (
        f"memgpt-tui: The embedding endpoint at {gone} (model text-embedding-ada-002) failed: Connection error. "
        'Nothing was imported: start that server, or set embedding_backend = "embedded" in the config to '
        "embed archival here instead."
    )
    assert left_behind(root) == []


def test_when_the_endpoint_goes_away_later_nothing_is_lost(
    memgpt_home: Path, root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeOpenAIServer() as first:
        set_embedding(memgpt_home, embedding_endpoint=first.base_url, embedding_model=MODEL)
        with Client() as client:
            client.import_agent(memgpt_home, "q", agents=["Quiet Helper"])
            before = client.search_archival("q", "quiet")["items"]
    with Client() as client, pytest.raises(ClientError) as failed:
        client.insert_archival("q", "lost?")
    assert str(failed.value).startswith(
        f"Embedding with '{MODEL}' at {first.base_url} failed: Connection error."
    )
    assert "\n" not in str(failed.value)
    # The config moves the agent's endpoint when it names the agent's model.
    with FakeOpenAIServer() as moved:
        for name, value in [("BACKEND", "openai-compatible"), ("BASE_URL", moved.base_url), ("MODEL", MODEL)]:
            monkeypatch.setenv(f"MEMGPT_TUI_EMBEDDING_{name}", value)
        with Client() as client:
            assert client.search_archival("q", "quiet")["items"] == before  # "lost?" was not added
        assert _inputs(moved) == [["dimension probe"], ["quiet"]]


@pytest.mark.parametrize(
    ("config", "carried", "left"),
    [
        ({"embedding_endpoint_type": "hugging-face"}, "{url}", None),
        (
            {"embedding_endpoint_type": "ollama", "embedding_endpoint": "{root}/api/embeddings"},
            "{url}",
            None,
        ),
        (
            {
                "embedding_endpoint_type": "local",
                "embedding_model": "BAAI/bge-small-en-v1.5",
                "embedding_dim": 384,
            },
            None,
            "MemGPT's local embedding model BAAI/bge-small-en-v1.5, which is not bundled here: archival was "
            "embedded with hash-test instead",
        ),
        (
            {"embedding_endpoint_type": "local", "embedding_model": "hash-test", "embedding_dim": 16},
            None,
            None,
        ),
        (
            {"embedding_endpoint_type": "azure", "embedding_endpoint": "https://x.openai.azure.com"},
            None,
            "Azure OpenAI needs a deployment and an API version",
        ),
        (
            {"embedding_endpoint_type": "bedrock"},
            None,
            "not one spoken here: archival was embedded with hash-test",
        ),
    ],
)
def test_each_memgpt_endpoint_type_is_carried_or_named(
    config: dict[str, object],
    carried: str | None,
    left: str | None,
    memgpt_home: Path,
    root: str,
    embedder: HashEmbedder,
    base: AgentConfig,
    embedding_server: FakeOpenAIServer,
) -> None:
    urls = {"url": embedding_server.base_url, "root": embedding_server.root_url}
    filled = {k: v.format(**urls) if isinstance(v, str) else v for k, v in config.items()}
    set_embedding(memgpt_home, **filled)
    report = import_path(root, memgpt_home, "q", ["Quiet Helper"], base, embedder, source_embedding=True)
    [summary] = report.agents
    expected = carried.format(**urls) if carried else None
    assert registry.embedding(root, "q").endpoint == expected
    assert summary.embedding == (f"text-embedding-ada-002 at {expected}" if expected else None)
    notes = "\n".join(n for n in report.skipped if "embedd" in n)
    assert (left in notes) if left else notes == ""
