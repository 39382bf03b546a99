"""Build the LLM backend an agent's configuration asks for."""

from __future__ import annotations

import os

from memgpt_tui.config import ConfigError, Settings
from memgpt_tui.llm import wrappers
from memgpt_tui.llm.api_client import PLACEHOLDER_KEY
from memgpt_tui.llm.base import LLMBackend
from memgpt_tui.llm.completion import CompletionBackend
from memgpt_tui.llm.embedded import DEFAULT_WRAPPER, EmbeddedBackend
from memgpt_tui.llm.openai_backend import OpenAIBackend
from memgpt_tui.llm.servers import SERVERS, root
from memgpt_tui.llm.tokenizers import ServerTokenizer, TiktokenTokenizer
from memgpt_tui.llm.wrappers.closeness import TextEmbedder

from ..model.state import BACKEND_DEFAULTS, AgentConfig


def build_backend(
    config: AgentConfig, settings: Settings, embedder: TextEmbedder | None = None
) -> LLMBackend:
    """The backend for ``config``. The API key comes from the settings, else from where the official
    client looks for it (``OPENAI_API_KEY``); agent configurations never hold one. ``embedder``: what a
    wrapper that ranks what it shows (``notes``) ranks with."""
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    wrapper = settings.wrapper or config.wrapper
    if wrapper not in (None, "none") and wrapper not in wrappers.known():
        raise ConfigError(
            f"No wrapper named {wrapper!r}. Known: {', '.join(wrappers.WRAPPERS)}, MemGPT's names "
            "(chatml-grammar, zephyr-7B, airoboros-l2-70b-2.1...), or none."
        )
    if config.backend in SERVERS or config.backend == "lmstudio-legacy":
        return _memgpt_backend(config, settings, api_key, wrapper, embedder)
    if config.backend == "embedded":
        return EmbeddedBackend(
            model=config.model,
            context_window=config.context_window,
            timeout=settings.request_timeout,
            max_retries=settings.max_retries,
            wrapper=wrapper or DEFAULT_WRAPPER,
            embedder=embedder,
        )
    if config.backend == "openai":
        if wrapper not in (None, "none"):
            raise ConfigError(
                "The openai backend calls functions natively; --wrapper is for servers with a completions "
                "endpoint (--backend openai-compatible)."
            )
        if api_key is None and not os.environ.get("OPENAI_API_KEY"):
            raise ConfigError(
                "The openai backend needs an API key: set OPENAI_API_KEY, or api_key in the config "
                "(memgpt-tui configure)."
            )
        return OpenAIBackend(
            name="openai",
            model=config.model,
            base_url=config.base_url,  # None: OPENAI_BASE_URL or api.openai.com, as the client decides
            api_key=api_key,
            function_calling="native",
            context_window=config.context_window,
            timeout=settings.request_timeout,
            max_retries=settings.max_retries,
            tokenizer=TiktokenTokenizer(config.model),
        )
    base_url = config.base_url or settings.base_url
    if not base_url:
        raise ConfigError(
            "The openai-compatible backend needs a server URL: pass --base-url or set base_url in the config."
        )
    # Exact counts where the server has a tokenize endpoint; it falls back to estimates (marked
    # inexact) on the first 404.
    tokenizer = ServerTokenizer(base_url, api_key=api_key or os.environ.get("OPENAI_API_KEY"))
    if wrapper not in (None, "none"):
        return CompletionBackend(
            name="openai-compatible",
            model=config.model,
            base_url=base_url,
            api_key=api_key,
            wrapper=wrappers.get(wrapper, embedder),
            tokenizer=tokenizer,
            context_window=config.context_window,
            timeout=settings.request_timeout,
            max_retries=settings.max_retries,
        )
    return OpenAIBackend(
        name="openai-compatible",
        model=config.model,
        base_url=base_url,
        api_key=api_key,
        function_calling=config.function_calling,
        context_window=config.context_window,
        timeout=settings.request_timeout,
        max_retries=settings.max_retries,
        tokenizer=tokenizer,
        json_response_format="json_schema",
    )


def _memgpt_backend(
    config: AgentConfig,
    settings: Settings,
    api_key: str | None,
    wrapper: str | None,
    embedder: TextEmbedder | None,
) -> LLMBackend:
    """One of MemGPT's local backend types: its server's completion endpoint, with the wrapper's
    prompt (ChatML when none is named, as in MemGPT)."""
    url = root(config.base_url or settings.base_url or BACKEND_DEFAULTS[config.backend].base_url or "")
    if config.backend == "lmstudio-legacy":
        # LM Studio's chat endpoint applies the model's own template: JSON mode, under its JSON schema.
        return OpenAIBackend(
            name=config.backend,
            model=config.model,
            base_url=f"{url}/v1",
            api_key=api_key or PLACEHOLDER_KEY,
            function_calling="json",
            context_window=config.context_window,
            timeout=settings.request_timeout,
            max_retries=settings.max_retries,
            tokenizer=ServerTokenizer(url, api_key=api_key),
            json_response_format="json_schema",
        )
    server = SERVERS[config.backend]
    return CompletionBackend(
        name=config.backend,
        model=config.model,
        base_url=url,
        api_key=api_key,
        wrapper=wrappers.get(wrapper if wrapper not in (None, "none") else "chatml", embedder),
        tokenizer=ServerTokenizer(url, api_key=api_key),
        context_window=config.context_window,
        timeout=settings.request_timeout,
        max_retries=settings.max_retries,
        server=server,
    )
