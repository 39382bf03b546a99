"""End to end on the real bundled model: the llama.cpp server child process, a new agent, two messages,
then a new process that resumes the same agent with its memory intact; and the context gauge against
the server's own count of the prompt; a greeting and grammar-constrained turns in completion mode."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import openai
import pytest

from memgpt_tui import runtime
from memgpt_tui.config import Settings
from memgpt_tui.engine.functions import TOOL_SCHEMAS
from memgpt_tui.llm.embedded import DEFAULT_WRAPPER, MODEL_NAME
from memgpt_tui.llm.wrappers import get
from memgpt_tui.llm.wrappers.notes import _CHAT, _GLUE
from memgpt_tui.model import events as ev

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bundled-model")]
PASTE = (
    "Trip plan, keep it for me: flight TP 1331 from Manchester to Lisbon departs 07:45 on Friday; "
    "hotel Casa do Rio, Rua das Flores 21, check-in from 15:00; train to Sintra at 09:20 on Sunday; "
    "return flight departs Lisbon 18:30 on Monday."
)
LATE_FACT = "My sister Ana works nights at the hospital now."  # into a full human block: it cannot fit


def plain(home, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEMGPT_TUI_HOME": str(home)}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "memgpt_tui", "run", "--plain", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def test_embedded_agent_chats_and_resumes(tmp_path):
    home = tmp_path / "home"
    first = plain(
        home,
        "--agent",
        "ada",
        "--first",
        "--human",
        "basic",
        stdin="Hi! My name is Ada and I love sailing.\nWhat do you remember about me?\n",
    )
    assert first.returncode == 0, first.stderr
    replies = [line for line in first.stdout.splitlines() if line.startswith("ada: ")]
    assert len(replies) >= 2, first.stdout  # send_message replies reached the user
    assert "💭 " in first.stdout

    # The server child process is gone with its parent.
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(home) not in ps

    second = plain(home, "--agent", "ada", stdin="/memory\n/dump\n/exit\n")
    assert second.returncode == 0, second.stderr
    assert "[persona]" in second.stdout and "[human]" in second.stdout
    assert "Recall memory:" in second.stdout
    recall = int(second.stdout.split("Recall memory: ")[1].split()[0])
    assert recall >= 8  # boot sequence, login, both messages and the agent's replies
    assert "My name is Ada and I love sailing." in second.stdout  # /dump shows the earlier conversation


async def test_the_context_gauge_counts_the_prompt_the_server_evaluates(tmp_path, monkeypatch):
    """On a wrapper that shows the model the whole context (the notes wrapper shows it less)."""
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = Settings.load(backend="embedded", wrapper="transcript", no_verify=True)
    agent = await runtime.create_agent(settings, "ada")
    try:
        await agent.send("Hi! My name is Ada and I love sailing.")
        assembled = await agent.window.assemble()
        prompt = agent.llm.prompt(assembled.messages, TOOL_SCHEMAS)
        url = agent.llm.server.base_url
        async with openai.AsyncOpenAI(base_url=url, api_key="x") as client:
            reply = await client.completions.create(model=MODEL_NAME, prompt=prompt, max_tokens=1)
    finally:
        await agent.close()
    assert reply.usage is not None
    # Text joined across a turn's label may tokenize a token or two differently than counted apart.
    assert abs(assembled.breakdown.total - reply.usage.prompt_tokens) <= reply.usage.prompt_tokens // 100


async def test_completion_mode_on_the_bundled_model_is_one_grammar_constrained_call(tmp_path, monkeypatch):
    """Five scripted turns, a fact, a long paste, a question, a fact that does not fit the full human
    block and a question naming a day: the default wrapper's prompts with their grammars (the kind,
    where a question's answer is, what to do with a fact that did not fit, then the reply) go to the
    real server, which accepts them, and every reply reads back as one of the functions offered, with
    inner thoughts; a fact sorted as one lands in core memory (in place of a note, if it replaced
    one), a paste archived lands in archival memory. First the login: the greeting says none of the
    example records' facts (it once said "You are Noor."), only plain words."""
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    agent = await runtime.create_agent(Settings.load(backend="embedded", no_verify=True), "ada", greet=True)
    events: list[ev.Event] = []
    agent.subscribe(events.append)
    replies = []
    complete = agent.llm.complete

    async def noted(*args, **kwargs):
        replies.append(await complete(*args, **kwargs))
        return replies[-1]

    agent.session.llm.complete = noted
    try:
        assert agent.needs_greeting
        await agent.login()
        await agent.send("My sister Ana is a nurse.")
        await agent.send(PASTE)
        asked = len(replies)
        await agent.send("What does my sister do?")
        answers = [
            json.loads(r.tool_calls[0].arguments)["message"]
            for r in replies[asked:]
            if r.tool_calls[0].name == "send_message" and (r.content or "").startswith("The user asks:")
        ]
        shown = " ".join([agent.session.state.block("human").value, PASTE, "What does my sister do?", *_GLUE])
        full = agent.session.state.block("human")
        await agent.update_block("human", full.value + "\n" + "x" * (full.limit - len(full.value) - 20))
        await agent.send(LATE_FACT)
        await agent.send("What did we talk about today?")
        client = agent.llm._client
        human = agent.session.state.block("human").value
        archival = " ".join(p.text for p in (await agent.list_archival()).items)
    finally:
        await agent.close()
    offered = {tool["function"]["name"] for tool in get(DEFAULT_WRAPPER).offered(TOOL_SCHEMAS)}
    assert client.constraint == "grammar"  # the server took the grammar: nothing fell back
    assert replies and all(r.parse_error is None for r in replies), [r.raw for r in replies]
    for reply in replies:
        [call] = reply.tool_calls
        assert call.name in offered
        assert reply.content and reply.raw.startswith('{"inner_thoughts": ')
    saves = [
        json.loads(r.tool_calls[0].arguments) for r in replies if r.tool_calls[0].name == "core_memory_append"
    ]
    assert all(save["content"] in human for save in saves if save["content"] != LATE_FACT)
    replaced = [
        json.loads(r.tool_calls[0].arguments)
        for r in replies
        if r.tool_calls[0].name == "core_memory_replace"
    ]
    assert all(edit["new_content"] in human and edit["old_content"] not in human for edit in replaced)
    archived = [r for r in replies if r.tool_calls[0].name == "archival_memory_insert"]
    assert not archived or "Casa do Rio" in archival
    # An answer to a question says back what it was shown (the server kept to the grammar of those
    # words); the question sorted as chat would get a free reply.
    known = {word.lower() for word in re.findall(r"[\w':]+", shown)}
    assert all(word.lower() in known for answer in answers for word in re.findall(r"[\w':]+", answer)), (
        answers
    )
    thoughts = [e.text for e in events if isinstance(e, ev.InnerThought)]
    greeting = next(e.text for e in events if isinstance(e, ev.AssistantMessage))
    assert thoughts[0] == "The user has just arrived. I greet them warmly:"
    plain = {word.lower() for word in (*_GLUE, *_CHAT)}
    assert greeting and all(word.lower() in plain for word in re.findall(r"[\w']+", greeting)), greeting
