"""Line mode in a pipe, the management subcommands, and the Python Client, against the loopback fake."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from memgpt_tui import Client
from tests.fakes.openai_server import Reply


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return {**os.environ, "MEMGPT_TUI_HOME": str(tmp_path / "home")}


def cli(env, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memgpt_tui", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def backend_flags(url: str) -> list[str]:
    return ["--backend", "openai-compatible", "--base-url", url, "--model", "fake-model", "--no-verify"]


def test_plain_mode_in_a_pipe_and_resume(env, openai_fake):
    openai_fake.script(
        Reply.tool_call(
            "archival_memory_insert",
            {"content": "Ada sails.", "request_heartbeat": True},
            content="Remember.",
        ),
        Reply.tool_call("send_message", {"message": "Hello Ada!"}, content="Greet."),
    )
    run = cli(
        env,
        "run",
        "--plain",
        "--agent",
        "ada",
        "--first",
        *backend_flags(openai_fake.base_url),
        stdin="Hi, I'm Ada\n/memory\n",
    )
    assert run.returncode == 0, run.stderr
    assert "💭 Remember." in run.stdout
    assert "⚡ archival_memory_insert" in run.stdout
    assert "ada: Hello Ada!" in run.stdout
    assert "Archival memory: 1 passages" in run.stdout
    assert "\x1b[" not in run.stdout  # no colour codes in a pipe
    # End of input saved the agent: it resumes with its memory.
    openai_fake.script(Reply.tool_call("send_message", {"message": "Welcome back."}, content="t"))
    again = cli(
        env,
        "run",
        "--plain",
        "--agent",
        "ada",
        *backend_flags(openai_fake.base_url),
        stdin="/tokens\nback again\n/exit\n",
    )
    assert again.returncode == 0, again.stderr
    assert "ada: Welcome back." in again.stdout and "total" in again.stdout
    listing = cli(env, "list", "agents")
    assert "ada" in listing.stdout and "openai-compatible:fake-model" in listing.stdout


def test_new_agent_greets_first_without_first_flag(env, openai_fake):
    openai_fake.script(Reply.tool_call("send_message", {"message": "Hi! I'm Sam."}, content="Say hello."))
    run = cli(env, "run", "--plain", "--agent", "sam", *backend_flags(openai_fake.base_url), stdin="")
    assert run.returncode == 0, run.stderr
    assert "sam: Hi! I'm Sam." in run.stdout
    login = openai_fake.chat_requests[0]["messages"][-1]["content"]
    assert '"type": "login"' in login


def test_bad_commands_and_errors_are_messages(env, openai_fake):
    run = cli(
        env,
        "run",
        "--plain",
        "--agent",
        "x",
        "--first",
        *backend_flags(openai_fake.base_url),
        stdin="/nope\n/pop lots\n/exit\n",
    )
    assert run.returncode == 0
    assert "Unknown command /nope" in run.stdout and "Expected a number" in run.stdout
    bad = cli(env, "run", "--plain", "--agent", "y", "--backend", "openai-compatible")
    assert bad.returncode == 2 and "needs a server URL" in bad.stderr
    missing = cli(
        env, "run", "--plain", "--agent", "z", "--persona", "nobody", *backend_flags(openai_fake.base_url)
    )
    assert missing.returncode == 2 and "No persona named 'nobody'" in missing.stderr


def test_list_personas_humans_and_export_import(env, openai_fake, tmp_path):
    assert {"sam_pov", "memgpt_starter", "docs_guide"} <= set(cli(env, "list", "personas").stdout.split())
    assert "cs_phd" in cli(env, "list", "humans").stdout
    cli(
        env,
        "run",
        "--plain",
        "--agent",
        "exp",
        "--first",
        *backend_flags(openai_fake.base_url),
        stdin="/save keep\n",
    )
    out = tmp_path / "exp.memgpt"
    assert cli(env, "export", "exp", str(out)).returncode == 0
    imported = cli(env, "import", str(out), "--name", "copy")
    assert imported.returncode == 0, imported.stderr
    assert "copy" in cli(env, "list", "agents").stdout
    assert cli(env, "delete", "copy").returncode == 1  # no confirmation in a pipe: nothing deleted
    assert cli(env, "delete", "copy", "--yes").returncode == 0
    assert "copy" not in cli(env, "list", "agents").stdout


def test_python_client(env, openai_fake, tmp_path):
    with Client(
        home=tmp_path / "home", backend="openai-compatible", base_url=openai_fake.base_url, model="fake-model"
    ) as client:
        name = client.create_agent("pyagent", persona="sam_pov", human="cs_phd", no_verify=True)
        openai_fake.script(
            Reply.tool_call(
                "core_memory_append",
                {"label": "human", "content": "Likes chess.", "request_heartbeat": True},
                content="Note it.",
            ),
            Reply.tool_call("send_message", {"message": "Chess, nice!"}, content="Reply."),
        )
        parts = client.user_message(name, "I like chess")
        assert {"internal_monologue": "Note it."} in parts
        assert {"assistant_message": "Chess, nice!"} in parts
        assert any(p.get("function_call") == "core_memory_append" for p in parts)
        assert any(p.get("function_return") == "None" and p["status"] == "OK" for p in parts)
        assert client.get_core_memory(name)["human"].endswith("Likes chess.")
        client.update_block(name, "human", "Chad, likes chess")
        passage = client.insert_archival(name, "Chad's favourite opening is the Sicilian.")
        assert passage
        assert client.search_archival(name, "chess opening")["total"] == 1
        assert client.search_recall(name, "chess")["total"] >= 1
        history = client.checkpoints(name)
        assert history[0]["label"] == "created" and history[-1]["step"] >= history[0]["step"]
        client.restore(name, history[0]["id"])
        assert "Likes chess." not in client.get_core_memory(name)["human"]
        assert [a["name"] for a in client.list_agents()] == ["pyagent"]
