"""MemGPT's local backend types on the wire: each against a loopback server speaking its endpoint
(tests/fakes/local_servers.py), from the settings a MemGPT user brings to the reply read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memgpt_tui import cli
from memgpt_tui.cli import build_parser, settings_from
from memgpt_tui.config import ConfigError, Settings
from memgpt_tui.engine.functions import TOOL_SCHEMAS
from memgpt_tui.llm.factory import build_backend
from memgpt_tui.llm.grammar import PRIMER
from memgpt_tui.model.errors import BackendUnavailable, LLMError
from memgpt_tui.model.state import BACKEND_DEFAULTS, AgentConfig
from memgpt_tui.runtime import agent_config
from tests.fakes.local_servers import GRAMMAR_FIELDS, MODEL, PATHS, FakeLocalServer
from tests.fakes.openai_server import FakeOpenAIServer, Reply, unused_port
from tests.llm.test_completion import CONTEXT

CALL = (
    '{"inner_thoughts": "Greet her.", "function": "send_message", '
    '"params": {"message": "Hello Ada!"}, "request_heartbeat": false}'
)
# The turn a wrapper opens the reply with, after the user's turn.
MARKERS = {
    "chatml": ("<|im_start|>user\n", "<|im_start|>assistant\n"),
    "airoboros": ("USER: ", "ASSISTANT: "),
    "zephyr": ("<|user|>\n", "<|assistant|>\n"),
    "llama3": (
        "<|start_header_id|>user<|end_header_id|>\n\n",
        "<|start_header_id|>assistant<|end_header_id|>",
    ),
}


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(tmp_path))
    for name in ("BACKEND_TYPE", "OPENAI_API_BASE", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


async def _ask(kind: str, server: FakeLocalServer, wrapper: str | None, model: str = MODEL):  # type: ignore[no-untyped-def]
    config = AgentConfig(backend=kind, model=model, base_url=server.root_url, wrapper=wrapper)
    llm = build_backend(config, Settings.load(max_retries=0))
    try:
        return await llm.complete(CONTEXT, TOOL_SCHEMAS)
    finally:
        await llm.aclose()


@pytest.mark.parametrize(
    ("kind", "wrapper", "ours"),
    [
        ("webui", "chatml", "chatml"),
        ("webui-legacy", "airoboros-l2-70b-2.1", "airoboros"),
        ("llamacpp", "zephyr-7B-grammar", "zephyr"),
        ("koboldcpp", "dolphin-2.1-mistral-7b", "chatml"),
        ("lmstudio", "llama3-grammar", "llama3"),
        ("vllm", None, "chatml"),
        ("ollama", "chatml-noforce-roles", "chatml"),
    ],
)
async def test_each_backend_type_speaks_its_servers_endpoint(
    kind: str, wrapper: str | None, ours: str
) -> None:
    family = "webui" if kind == "webui-legacy" else kind
    with FakeLocalServer(family) as server:
        grammar_field = GRAMMAR_FIELDS.get(family)
        # The prompt ends with the reply's first words, except under a JSON schema (vLLM, Ollama),
        # which constrains the whole object.
        schema = family in ("vllm", "ollama")
        server.script(CALL if schema else CALL.removeprefix(PRIMER))
        response = await _ask(kind, server, wrapper)

    [(path, body)] = server.requests
    assert path == PATHS[family]
    user, assistant = MARKERS[ours]
    assert user + json.dumps({"type": "user_message", "message": "I live in Oslo."}) in body["prompt"]
    assert assistant in body["prompt"].rsplit(user, 1)[1]
    constraints = {"grammar", "grammar_string", "json_schema", "structured_outputs", "format"} & set(body)
    assert body["prompt"].endswith(PRIMER) != schema
    if family == "llamacpp":  # the last event's counts
        assert response.prompt_tokens == len(body["prompt"].split()) and response.completion_tokens
    if grammar_field:
        assert constraints == {grammar_field} and body[grammar_field].startswith("root ::= ")
    elif family == "vllm":
        assert constraints == {"structured_outputs"} and "anyOf" in body["structured_outputs"]["json"]
    elif family == "ollama":
        assert constraints == {"format"} and "anyOf" in body["format"]
        assert body["raw"] is True and body["options"]["num_ctx"] == 8192
        assert (response.prompt_tokens, response.completion_tokens) == (None, 12)  # eval_count only
    else:
        assert constraints == set()  # LM Studio's completions take neither
    [call] = response.tool_calls
    assert call.name == "send_message" and json.loads(call.arguments)["message"] == "Hello Ada!"
    assert response.content == "Greet her." and response.parse_error is None


async def test_a_model_the_server_does_not_have_is_its_own_404() -> None:
    with FakeLocalServer("ollama") as server, pytest.raises(LLMError, match="404.*not found"):
        await _ask("ollama", server, None, model="llama3")


async def test_lmstudio_legacy_is_json_mode_on_lm_studios_chat_endpoint() -> None:
    with FakeOpenAIServer(model="local") as server:
        server.script(Reply.json_call("send_message", {"message": "Hello Ada!"}, thoughts="Greet her."))
        config = AgentConfig(backend="lmstudio-legacy", model="local", base_url=server.root_url)
        llm = build_backend(config, Settings.load(max_retries=0))
        response = await llm.complete(CONTEXT, TOOL_SCHEMAS)
        await llm.aclose()
    [body] = server.chat_requests
    assert body["response_format"]["type"] == "json_schema" and "tools" not in body
    [call] = response.tool_calls
    assert json.loads(call.arguments)["message"] == "Hello Ada!"


async def test_nothing_answering_at_the_default_endpoint_is_one_clear_line() -> None:
    port = unused_port()
    config = AgentConfig(backend="koboldcpp", model="local", base_url=f"http://127.0.0.1:{port}")
    llm = build_backend(config, Settings.load(max_retries=0))
    with pytest.raises(BackendUnavailable) as caught:
        await llm.complete(CONTEXT, TOOL_SCHEMAS)
    await llm.aclose()
    assert str(caught.value).splitlines()[0] == f"Cannot connect to http://127.0.0.1:{port}."


def test_a_new_agent_on_a_memgpt_type_gets_memgpts_default_local_endpoint() -> None:
    for kind, port in [("webui", 5000), ("llamacpp", 8080), ("koboldcpp", 5001), ("lmstudio", 1234)]:
        config = agent_config(Settings.load(backend=kind))
        assert config.base_url == f"http://localhost:{port}" == BACKEND_DEFAULTS[kind].base_url
    assert agent_config(Settings.load(backend="ollama", model="dolphin2.2-mistral")).base_url.endswith(
        ":11434"
    )
    with pytest.raises(ConfigError, match="--model"):
        agent_config(Settings.load(backend="vllm"))  # vLLM answers only for the model it serves


def _settings(argv: list[str]) -> Settings:
    return settings_from(build_parser().parse_args(argv))


def test_backend_type_and_openai_api_base_select_the_backend_and_lose_to_our_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_BASE", "http://127.0.0.1:5000")
    assert _settings([]).resolved_backend() == "embedded"  # OPENAI_API_BASE alone changes nothing
    monkeypatch.setenv("BACKEND_TYPE", "webui")
    settings = _settings([])
    assert (settings.backend, settings.base_url) == ("webui", "http://127.0.0.1:5000")
    flagged = _settings(["--backend", "llamacpp"])
    assert (flagged.backend, flagged.base_url) == ("llamacpp", None)  # the pair loses as a whole
    assert agent_config(flagged).base_url == "http://localhost:8080"
    assert _settings(["--base-url", "http://127.0.0.1:7000"]).base_url == "http://127.0.0.1:7000"
    monkeypatch.setenv("MEMGPT_TUI_BACKEND", "koboldcpp")
    assert _settings([]).backend == "koboldcpp"
    monkeypatch.setenv("BACKEND_TYPE", "webui2")
    monkeypatch.delenv("MEMGPT_TUI_BACKEND")
    with pytest.raises(ConfigError, match="BACKEND_TYPE=webui2"):
        _settings([])


async def test_the_variables_reach_the_server_on_the_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeLocalServer("webui") as server:
        monkeypatch.setenv("BACKEND_TYPE", "webui")
        monkeypatch.setenv("OPENAI_API_BASE", server.root_url)
        settings = _settings(["--model", "airoboros-l2-70b-2.1"])  # seed 002's command line
        server.script(CALL.removeprefix(PRIMER))
        llm = build_backend(agent_config(settings), settings)
        response = await llm.complete(CONTEXT, TOOL_SCHEMAS)
        await llm.aclose()
    [(path, body)] = server.requests
    assert path == "/v1/completions" and "grammar_string" in body
    assert body["prompt"].endswith("ASSISTANT: " + PRIMER)  # the airoboros wrapper, named by --model
    assert [call.name for call in response.tool_calls] == ["send_message"]


def test_model_names_a_memgpt_wrapper_only_where_memgpt_read_it_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrapped = _settings(["--backend", "koboldcpp", "--model", "zephyr-7B"])
    assert (wrapped.wrapper, wrapped.model) == ("zephyr-7B", None)
    assert "--model zephyr-7B is a MemGPT wrapper name" in capsys.readouterr().err
    assert _settings(["--backend", "ollama", "--model", "zephyr-7B"]).model == "zephyr-7B"  # a model there
    assert _settings(["--backend", "llamacpp", "--model", "llama3"]).model == "llama3"  # also a model name
    explicit = _settings(["--backend", "webui", "--model-wrapper", "chatml-grammar", "--model", "zephyr-7B"])
    assert (explicit.wrapper, explicit.model) == ("chatml-grammar", "zephyr-7B")


def test_configure_offers_the_memgpt_types_with_their_default_endpoints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter(["koboldcpp"])
    monkeypatch.setattr("builtins.input", lambda question: print(question) or next(answers, ""))
    assert cli.main(["configure"]) == 0
    asked = capsys.readouterr().out
    assert "webui, webui-legacy, lmstudio, lmstudio-legacy, llamacpp, koboldcpp, ollama, vllm" in asked
    assert "Server URL [http://localhost:5001]: " in asked and "Prompt wrapper [chatml]: " in asked
    saved = Settings.load()
    assert (saved.backend, saved.base_url, saved.wrapper) == ("koboldcpp", "http://localhost:5001", "chatml")
