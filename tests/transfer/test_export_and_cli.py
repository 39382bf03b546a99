"""Markdown export, the import/export subcommands, and an imported agent that goes on talking."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from memgpt_tui import cli, runtime
from memgpt_tui.client import Client
from memgpt_tui.config import Settings
from memgpt_tui.model.state import AgentConfig
from memgpt_tui.transfer.formats import export_agent, import_path
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.store.helpers import HashEmbedder
from tests.transfer.conftest import CANARY, LETTA, left_behind
from tests.transfer.homes import set_llm


def test_markdown_of_a_conversation_with_tool_calls(
    memgpt_home: Path, root: str, embedder: HashEmbedder, base: AgentConfig, tmp_path: Path
) -> None:
    import_path(root, memgpt_home, None, ["ada_companion"], base, embedder)
    text = export_agent(root, "ada_companion", tmp_path / "ada.md").read_text()

    assert text.startswith("# Conversation with ada_companion\n")
    turn = text.index("Hi! I'm Ada, I write compilers for a living.")
    assert text.rfind("### You · ", 0, turn) > 0  # who spoke, and when
    reply = text.index("Nice to meet you, Ada! Compilers, what a craft.", turn)
    between = text[turn:reply]
    assert "<details><summary>Inner thoughts</summary>\n\nI should use core_memory_replace." in between
    call = between.index("<details><summary>Function call: core_memory_replace</summary>")
    assert '"old_content": "First name: Chad"' in between[call:]
    assert '"status": "OK"' in between[call:]  # the result, folded with its call
    assert between.count("<details>") == between.count("</details>")
    assert "<details><summary>Heartbeat · " in between
    assert not re.search(r"^#{1,3} ada_companion.*\n+```", text, re.M)  # replies are not code blocks
    assert "\n\n\n" not in text


def test_markdown_keeps_angle_brackets_as_text(
    root: str, embedder: HashEmbedder, base: AgentConfig, tmp_path: Path
) -> None:
    af = json.loads(LETTA.joinpath("memgpt_agent_with_convo.v1.af").read_text())
    user = next(m for m in af["messages"] if '"user_message"' in m["content"][0]["text"])
    envelope = json.loads(user["content"][0]["text"])
    envelope["message"] = "Is </details> <b>bold</b>?"
    user["content"][0]["text"] = json.dumps(envelope)
    path = tmp_path / "brackets.af"
    path.write_text(json.dumps(af))
    import_path(root, path, "brackets", [], base, embedder)
    text = export_agent(root, "brackets", tmp_path / "b.md").read_text()

    assert "Is &lt;/details&gt; &lt;b&gt;bold&lt;/b&gt;?" in text
    assert text.count("<details>") == text.count("</details>")


def test_cli_import_says_what_it_found_and_what_it_left(
    memgpt_home: Path, root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["import", str(memgpt_home), "--agent", "Quiet Helper", "--name", "quiet"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Found a MemGPT 0.3.25 home."
    assert "Imported 'quiet' (was 'Quiet Helper'): 3 in context, 0 more in recall, 1 archival passages" in out
    assert "Not carried over: the API keys in credentials (openai.key)" in out and CANARY not in out
    assert "Chat with: memgpt-tui --agent quiet" in out
    # model flags before the subcommand: the agent uses them instead of the home's settings
    assert cli.main(["--backend", "embedded", "import", str(memgpt_home), "--agent", "ada_companion"]) == 0
    assert "; model" not in capsys.readouterr().out
    assert {i.name: i.backend for i in runtime.agent_infos(Settings.load())} == {
        "quiet": "openai-compatible",
        "ada_companion": "embedded",
    }


@pytest.mark.parametrize("fmt", ["md", "af"])
def test_cli_export_formats(
    fmt: str, memgpt_home: Path, root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["import", str(memgpt_home), "--agent", "ada_companion"]) == 0
    out = tmp_path / "ada.txt"
    assert cli.main(["export", "ada_companion", str(out), "--format", fmt]) == 0
    text = out.read_text()
    if fmt == "af":
        assert json.loads(text)["agents"][0]["agent_type"] == "memgpt_agent"
    else:
        assert text.startswith("# Conversation with ada_companion")
    assert CANARY not in text and not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("missing", "No such file or directory"),
        ("empty-dir", "not a MemGPT home"),
        ("notes.txt", "neither a memgpt-tui export, a Letta Agent File nor a MemGPT home"),
    ],
)
def test_cli_bad_input_is_one_line_on_stderr(
    path: str, said: str, tmp_path: Path, root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    assert cli.main(["import", str(tmp_path / path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err and err.startswith("memgpt-tui: ")
    assert left_behind(root) == []


def _point_home_at(home: Path, endpoint: str) -> None:
    """The home's agents talk to ``endpoint`` (the fixture's own server is gone), with a window their
    93 messages fit in without a summary first."""
    set_llm(home, model_endpoint=endpoint, context_window=32768)


def test_an_imported_agent_talks_with_its_memory(memgpt_home: Path, root: str) -> None:
    """Through the Client: import a MemGPT agent, then chat; the model sees its blocks and its window."""
    with FakeOpenAIServer(model="gpt-4") as server:
        _point_home_at(memgpt_home, server.base_url)
        # 93 messages overflow an 8k window here: the first calls summarise, then the agent answers
        server.default = Reply.tool_call(
            "send_message", {"message": "Pixel says hi!"}, content="About Pixel."
        )
        with Client() as client:
            report = client.import_agent(memgpt_home, "ada", agents=["ada_companion"])
            assert [a["name"] for a in report["agents"]] == ["ada"] and report["kind"] == "MemGPT 0.3.25 home"
            assert report["agents"][0]["model"]["base_url"] == server.base_url
            replies = client.user_message("ada", "How is my cat?")
        assert replies[-1] == {"assistant_message": "Pixel says hi!"}
        request = server.chat_requests[-1]
        assert request["model"] == "gpt-4" and len(server.chat_requests) == 1
        prompt = request["messages"]
        assert "First name: Ada (call her Ada Lovelace)" in prompt[0]["content"]
        assert "Lives in Lisbon; cat named Pixel" in prompt[0]["content"]
        assert "Good night, Ada." in json.dumps(prompt[1:])  # the imported window
        assert "How is my cat?" in json.dumps(prompt[-1])
        assert CANARY not in json.dumps(server.chat_requests)


def test_our_own_export_comes_back_whole(
    memgpt_home: Path, root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["import", str(memgpt_home), "--agent", "ada_companion"]) == 0
    assert cli.main(["export", "ada_companion", str(tmp_path / "ada.agent")]) == 0
    capsys.readouterr()
    assert cli.main(["import", str(tmp_path / "ada.agent"), "--name", "ada2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [
        "Found a memgpt-tui export.",
        "Imported 'ada2': 93 messages, 5 archival passages and its checkpoints.",
    ]
