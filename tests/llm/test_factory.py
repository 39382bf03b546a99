from pathlib import Path

import pytest

from memgpt_tui.config import ConfigError, Settings
from memgpt_tui.llm.base import LLMBackend
from memgpt_tui.llm.embedded import EmbeddedBackend
from memgpt_tui.llm.factory import build_backend
from memgpt_tui.llm.openai_backend import OpenAIBackend
from memgpt_tui.llm.tokenizers import ServerTokenizer, TiktokenTokenizer
from memgpt_tui.model.state import AgentConfig
from tests.fakes.openai_server import FakeOpenAIServer, Reply


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(tmp_path))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_embedded_is_built_without_starting_its_server(tmp_path: Path) -> None:
    llm = build_backend(AgentConfig(context_window=4096), Settings(request_timeout=30))

    assert isinstance(llm, EmbeddedBackend)
    assert (llm.name, llm.model, llm.context_window) == ("embedded", "gemma-3-270m", 4096)
    assert llm.server.n_ctx == 4096
    assert not llm.server.running and llm.server.base_url is None
    assert llm.server.log_path == tmp_path / "logs" / "embedded.log"


async def key_sent(llm: LLMBackend, server: FakeOpenAIServer) -> str:
    """The key the backend sends with a request, as the server received it."""
    server.script(Reply.text("hi"))
    try:
        await llm.complete([{"role": "user", "content": "hi"}], [], require_tool=False)
    finally:
        await llm.aclose()
    return server.requests[-1].headers["authorization"]


def test_openai_uses_native_tools_tiktoken_and_api_openai_com() -> None:
    llm = build_backend(AgentConfig(backend="openai", model="gpt-4o-mini"), Settings(api_key="sk-test"))

    assert isinstance(llm, OpenAIBackend)
    assert (llm.name, llm.function_calling) == ("openai", "native")
    assert isinstance(llm.tokenizer, TiktokenTokenizer)
    assert llm.base_url == "https://api.openai.com/v1"


async def test_openai_sends_the_configured_key(openai_fake: FakeOpenAIServer) -> None:
    config = AgentConfig(backend="openai", model="gpt-4o-mini", base_url=openai_fake.base_url)

    llm = build_backend(config, Settings(api_key="sk-test"))

    assert await key_sent(llm, openai_fake) == "Bearer sk-test"


async def test_openai_honours_the_clients_environment(
    openai_fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_fake.base_url)

    llm = build_backend(AgentConfig(backend="openai", model="gpt-4o-mini"), Settings())

    assert llm.base_url == openai_fake.base_url
    assert await key_sent(llm, openai_fake) == "Bearer sk-env"


def test_openai_without_any_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_backend(AgentConfig(backend="openai", model="gpt-4o-mini"), Settings())


def test_openai_compatible_follows_the_agents_function_calling() -> None:
    config = AgentConfig(
        backend="openai-compatible",
        model="llama3.1",
        base_url="http://localhost:11434/v1",
        function_calling="json",
    )
    llm = build_backend(config, Settings())

    assert isinstance(llm, OpenAIBackend)
    assert (llm.name, llm.model, llm.function_calling) == ("openai-compatible", "llama3.1", "json")
    assert llm.base_url == "http://localhost:11434/v1"
    assert isinstance(llm.tokenizer, ServerTokenizer)
    assert llm.tokenizer.base_url == "http://localhost:11434"


def test_openai_compatible_falls_back_to_the_settings_url() -> None:
    config = AgentConfig(backend="openai-compatible", model="m")
    llm = build_backend(config, Settings(base_url="http://127.0.0.1:8080/v1"))

    assert isinstance(llm, OpenAIBackend)
    assert llm.base_url == "http://127.0.0.1:8080/v1"


def test_openai_compatible_without_a_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--base-url"):
        build_backend(AgentConfig(backend="openai-compatible", model="m"), Settings())
