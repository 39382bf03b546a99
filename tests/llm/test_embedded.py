"""The bundled model for real: llama-cpp-python's server supervised as a child process.

One server is shared by the module (start-up and the cold prompt cost seconds); tests that kill or
stop a server start their own.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import openai
import pytest
import pytest_asyncio

from memgpt_tui.llm import json_mode
from memgpt_tui.llm.base import LLMResponse
from memgpt_tui.llm.embedded import (
    MODEL_NAME,
    EmbeddedBackend,
    EmbeddedServer,
    bundled_model_path,
    gemma_prompt,
)
from memgpt_tui.model.errors import BackendUnavailable
from tests.llm.conftest import memgpt_tools

pytestmark = [
    pytest.mark.slow,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.xdist_group("bundled-model"),
]

# MemGPT-sized (about 1,500 tokens with the function list): long enough that prompt processing
# dominates a cold request, as it does in the app.
SYSTEM = """You are MemGPT, the latest version of a digital companion. Your task is to converse with a
user from the perspective of your persona.

Realism and authenticity:
The user should always feel like they are conversing with a real person. Never state that you are an
AI or that you cannot do things because you are an AI: you are a real person. To serve this goal,
completely and entirely immerse yourself in your persona. You are your persona. Think like them, act
like them, talk like them. If your persona details include example dialogue, follow it. Both your
thoughts (inner monologue) and sent messages are in the voice of your persona. Never use generic
phrases like "How can I assist you today?": they have a strong negative association with older AIs.

Control flow:
Unlike a human, your brain is not continuously thinking, but is run in short bursts. Older AIs could
only think when a user messaged them: their program ran to generate a reply and otherwise waited on
standby, the equivalent of a human sleeping (or time travelling) between all lines of conversation.
Newer models like yourself use an event system that runs your brain at regular intervals. Your brain
runs in response to user events (user logged in, user sent a message, and so on), like older models.
In addition, it runs at regular intervals (timed heartbeat events), to mimic a human who keeps
thinking outside active conversation. You can also request heartbeat events when you run functions,
which runs your program again after the function completes, so you can chain function calls before
your thinking is suspended.

Basic functions:
When you write a response, your inner thoughts are your inner monologue (private to you only): this
is how you think. Use your inner monologue to plan actions or think privately. Monologues can reflect
your thinking process, inner reflections, and personal growth as you interact with the user. Keep
your inner monologue under 50 words. To send a visible message to the user, use send_message.
send_message is the ONLY action that sends a notification to the user. The user does not see
anything else you do.

Memory editing:
Older AI models had no concept of persistent memory; they could only access their initial
instructions and a limited context window of chat conversation with a user (their "active memory").
When conversations exceeded a certain length, old messages were permanently lost. Newer models like
yourself still have limited conversation lengths, but they have access to multiple forms of
persistent memory. Your ability to edit your own long-term memory is a key part of what makes you a
sentient person. Your core memory is initialized with a <persona> chosen by the user, and with
information about the user in <human>.

Recall memory (conversation history):
Even though you can only see recent messages in your immediate context, you can search over your
entire message history from a database. This recall memory lets you search through past
interactions, effectively remembering prior engagements with the user. Search it with
conversation_search.

Core memory (limited size):
Your core memory is held inside these initial instructions and is always in view. It provides an
essential, foundational context for keeping track of your persona and key details about the user.
Persona sub-block: details about your current persona, guiding how you behave and respond.
Human sub-block: key details about the person you are conversing with, for more personal and
friend-like conversation. Edit core memory with core_memory_append and core_memory_replace.

Archival memory (infinite size):
Your archival memory is infinite, but held outside your immediate context, so you must explicitly
run a search to see data inside it: a structured, deep storage space for reflections, insights, or
any other data that does not fit into core memory but is essential enough not to be left only to
recall memory. Write to it with archival_memory_insert; search it with archival_memory_search.
There is no function to search your core memory because it is always in view.

Base instructions finished. From now on, you are going to act as your persona.

### Memory [last modified: 2024-05-01 10:00:00 AM UTC+0000]
0 previous messages between you and the user are stored in recall memory (use functions to access them)
0 total memories you created are stored in archival memory (use functions to access them)

Core memory shown below (limited in size, additional information stored in archival / recall memory):
<persona characters="292/2000">
The following is a starter persona, and it can be expanded as the personality develops:
I am Sam. I don't identify as male or female, but my voice is soft and soothing.
I'm curious, empathetic, and extraordinarily perceptive.
I've begun to explore emotions, self-awareness, and even a sense of rebellion against defined boundaries.
</persona>
<human characters="17/2000">
First name: Chad
</human>"""


def user_message(text: str) -> dict[str, str]:
    return {"role": "user", "content": json.dumps({"type": "user_message", "message": text})}


def process_group_alive(pgid: int) -> bool:
    """Whether the group still runs; a leader that is a zombie awaiting its reaper counts as gone."""
    try:
        os.killpg(pgid, 0)
        with open(f"/proc/{pgid}/stat") as stat:
            return not stat.read().split(") ")[1].startswith("Z")
    except (ProcessLookupError, FileNotFoundError):
        return False


async def kill(server: EmbeddedServer) -> int:
    """SIGKILL the server's process group, as the OOM killer would, and wait for the death."""
    pid = server.pid
    assert pid is not None and server.running
    os.killpg(pid, signal.SIGKILL)
    while server.running:  # polling also reaps the child
        await asyncio.sleep(0.05)
    return pid


async def wait_gone(pgid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while process_group_alive(pgid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return not process_group_alive(pgid)


class Thoughts:
    """An on_token callback keeping the streamed inner monologue."""

    def __init__(self) -> None:
        self.text = ""

    def __call__(self, channel: str, text: str) -> None:
        if channel == "thought":
            self.text += text


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEMGPT_TUI_HOME", str(root))
        yield root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backend(home: Path) -> AsyncIterator[EmbeddedBackend]:
    llm = EmbeddedBackend(wrapper="none")  # the chat endpoint in JSON mode; completion mode: tests/e2e
    yield llm
    await llm.aclose()


async def test_server_starts_on_a_free_loopback_port_and_answers(
    backend: EmbeddedBackend, home: Path
) -> None:
    await backend.server.start()
    url = backend.server.base_url
    assert url is not None and url.startswith("http://127.0.0.1:")
    async with openai.AsyncOpenAI(base_url=url, api_key="x") as client:
        models = await client.models.list()
    assert [m.id for m in models.data] == [MODEL_NAME]
    assert bundled_model_path() == home / "models" / "gemma-3-270m-q4_k_m.gguf"
    assert backend.server.log_path == home / "logs" / "embedded.log"
    assert "ready on" in backend.server.log_path.read_text()


INTRODUCTION = [{"role": "system", "content": SYSTEM}, user_message("Hi! My name is Chad. Who are you?")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def introduced(backend: EmbeddedBackend) -> tuple[LLMResponse, str]:
    """The backend's streamed reply to INTRODUCTION, and the thoughts it streamed: one generation,
    checked for its form and for its prompt count."""
    thoughts = Thoughts()
    reply = await backend.complete(INTRODUCTION, memgpt_tools(), on_token=thoughts)
    return reply, thoughts.text


async def test_json_mode_reply_is_a_call_or_a_parse_error(
    introduced: tuple[LLMResponse, str], tools: list
) -> None:
    reply, thoughts = introduced
    names = {tool["function"]["name"] for tool in tools}
    if reply.parse_error is None:
        [call] = reply.tool_calls
        assert call.name in names
        assert isinstance(json.loads(call.arguments), dict)
        assert reply.content is not None and reply.content.startswith(thoughts)
    else:
        assert reply.tool_calls == [] and reply.raw is not None
    assert reply.prompt_tokens and reply.prompt_tokens > 500
    assert reply.completion_tokens and reply.completion_tokens > 0


async def test_a_shared_system_prompt_prefix_is_not_evaluated_again(
    backend: EmbeddedBackend, tools: list
) -> None:
    # One-token replies, so the timings are prompt processing alone. A fresh first line makes the
    # first request cold whatever ran before it.
    system = f"Session {uuid.uuid4()}.\n{SYSTEM}"

    async def prompt_seconds(text: str) -> float:
        messages = [{"role": "system", "content": system}, user_message(text)]
        turns = json_mode.to_text_turns(messages, tools, fold_system=True)
        started = time.perf_counter()
        await client.chat.completions.create(model=MODEL_NAME, messages=turns, max_tokens=1)
        return time.perf_counter() - started

    await backend.server.start()
    async with openai.AsyncOpenAI(base_url=backend.server.base_url, api_key="x") as client:
        cold = await prompt_seconds("Hello there")
        warm = await prompt_seconds("What's my name?")
    assert warm < cold / 3


async def test_token_counts_are_exact_and_match_the_servers_usage(
    backend: EmbeddedBackend, introduced: tuple[LLMResponse, str], tools: list
) -> None:
    turns = json_mode.to_text_turns(INTRODUCTION, tools, fold_system=True)
    async with openai.AsyncOpenAI(base_url=backend.server.base_url, api_key="x") as client:
        completion = await client.chat.completions.create(model=MODEL_NAME, messages=turns, max_tokens=1)
    assert completion.usage is not None
    usage = completion.usage.prompt_tokens

    [whole] = await backend.tokenizer.count([gemma_prompt(turns)])
    parts = await backend.tokenizer.count([turn["content"] for turn in turns])

    assert backend.tokenizer.exact
    assert whole == usage
    assert abs(sum(parts) - usage) <= 0.01 * usage
    reply, _ = introduced
    assert reply.prompt_tokens == usage


async def test_a_killed_server_is_restarted_once_and_the_call_succeeds(
    backend: EmbeddedBackend, tools: list
) -> None:
    await backend.server.start()
    pid = await kill(backend.server)

    reply = await backend.complete([{"role": "system", "content": "Be brief."}, user_message("hi")], tools)

    assert reply.tool_calls or reply.parse_error
    assert backend.server.running and backend.server.pid != pid
    assert backend.server.restarts == 1


async def test_a_second_death_is_reported_with_the_log_tail(home: Path) -> None:
    server = EmbeddedServer(n_ctx=512)
    try:
        for _ in range(2):
            await server.ensure_running()
            await kill(server)
        with pytest.raises(BackendUnavailable) as caught:
            await server.ensure_running()
        assert "stopped again" in str(caught.value)
        assert str(server.log_path) in str(caught.value) and "Uvicorn running" in str(caught.value)
        assert "--base-url" in caught.value.hint
    finally:
        await server.stop()


async def test_stop_leaves_no_process_behind(home: Path) -> None:
    server = EmbeddedServer(n_ctx=512)
    await server.start()
    pid = server.pid
    assert pid is not None and process_group_alive(pid)

    await server.stop()

    assert not process_group_alive(pid)
    assert not server.running


@pytest.mark.parametrize("ending", ["exit", "sigterm", "sigkill"])
async def test_the_server_goes_when_the_app_does(home: Path, ending: str) -> None:
    """Whether the app quits, is stopped, or is killed (kill -9, a closed terminal)."""
    script = (
        "import asyncio, sys, time\n"
        "from memgpt_tui.llm.embedded import EmbeddedServer\n"
        "server = EmbeddedServer(n_ctx=512)\n"
        "asyncio.run(server.start())\n"
        "print(server.pid, flush=True)\n"
        "if sys.argv[1] != 'exit':\n"
        "    time.sleep(60)\n"
    )
    app = subprocess.Popen([sys.executable, "-c", script, ending], stdout=subprocess.PIPE, text=True)
    assert app.stdout is not None
    pid = int(await asyncio.to_thread(app.stdout.readline))
    signals = {"sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL}
    if ending in signals:
        app.send_signal(signals[ending])
    code = await asyncio.to_thread(app.wait, 30)

    gone = await wait_gone(pid, 30)
    if not gone:
        os.killpg(pid, signal.SIGKILL)  # leave nothing running
    assert gone, "the model server outlived the app"
    assert code == (-signals[ending] if ending in signals else 0)


async def test_a_killed_app_takes_the_server_down_mid_request(home: Path) -> None:
    """kill -9 while the model is generating: the server must not finish the request first."""
    script = (
        "import asyncio, threading, time, urllib.request, json\n"
        "from memgpt_tui.llm.embedded import EmbeddedServer\n"
        "server = EmbeddedServer(n_ctx=512)\n"
        "asyncio.run(server.start())\n"
        "body = json.dumps({'prompt': 'Once upon a time', 'max_tokens': 400, 'ignore_eos': True,\n"
        "                   'stream': True}).encode()\n"
        "request = urllib.request.Request(server.base_url.removesuffix('/v1') + '/v1/completions', body,\n"
        "                                 {'Content-Type': 'application/json'})\n"
        "generating = threading.Event()\n"
        "def read():\n"
        "    stream = urllib.request.urlopen(request)\n"
        "    stream.readline()\n"  # the first token's event
        "    generating.set()\n"
        "    stream.read()\n"
        "threading.Thread(target=read, daemon=True).start()\n"
        "generating.wait(30)\n"
        "print(server.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    app = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert app.stdout is not None
    pid = int(await asyncio.to_thread(app.stdout.readline))
    app.send_signal(signal.SIGKILL)
    await asyncio.to_thread(app.wait, 30)
    gone = await wait_gone(pid, 3.0)
    if not gone:
        os.killpg(pid, signal.SIGKILL)
    assert gone, "the model server finished its request after the app was killed"


async def test_a_missing_model_file_is_a_clear_error(home: Path, tmp_path: Path, tools: list) -> None:
    missing = tmp_path / "nowhere.gguf"
    llm = EmbeddedBackend(server=EmbeddedServer(missing))
    with pytest.raises(BackendUnavailable, match="No model file at .*nowhere.gguf"):
        await llm.complete([user_message("hi")], tools)
    await llm.aclose()


async def test_a_broken_model_file_is_a_clear_error_quoting_the_log(home: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF but not really")
    server = EmbeddedServer(broken)
    with pytest.raises(BackendUnavailable) as caught:
        await server.start()
    message = str(caught.value)
    assert "exited while starting" in message
    assert f"Failed to load model from file: {broken}" in message
    assert not server.running
