"""The completion endpoints of the servers MemGPT named as backend types: where each takes a
prompt, the request fields it reads, where a grammar or a JSON schema goes, and the reply it sends.

Written from each server's documented API: llama.cpp's server (``/completion``), koboldcpp's KoboldAI
API (``/api/v1/generate``), Ollama (``/api/generate``), and the OpenAI-style ``/v1/completions`` of
text-generation-webui, LM Studio and vLLM. text-generation-webui no longer serves the
``/api/v1/generate`` that MemGPT's webui-legacy used, so both webui types take ``/v1/completions``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from memgpt_tui.llm import wire


@dataclass(frozen=True, slots=True)
class Request:
    """What a completion request says, whatever the server calls it."""

    model: str
    prompt: str
    max_tokens: int
    stop: tuple[str, ...]
    context_window: int
    temperature: float | None = None


@dataclass(frozen=True, slots=True)
class Server:
    """One server family's completion endpoint."""

    path: str  # under the backend's base URL (a MemGPT type's: the server's root)
    fields: Callable[[Request], dict[str, Any]]  # the request body without a constraint
    reply: type[wire.TextReply]  # the reply, or one event of it
    streams: bool  # server-sent events; otherwise one JSON document
    grammar: str | None = None  # the field a GBNF grammar goes in; None: the server takes none
    schema: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # fields carrying a JSON schema


def _sampling(request: Request) -> dict[str, Any]:
    return {} if request.temperature is None else {"temperature": request.temperature}


def _openai(request: Request, *, cache: bool = False) -> dict[str, Any]:
    # cache_prompt: llama.cpp's server family evaluates only what follows the prefix it already holds.
    cached = {"cache_prompt": True} if cache else {}
    limits = {"max_tokens": request.max_tokens, "stop": list(request.stop)}
    return {
        "model": request.model,
        "prompt": request.prompt,
        **limits,
        "stream": True,
        **cached,
        **_sampling(request),
    }


def _llamacpp(request: Request) -> dict[str, Any]:
    limits = {"n_predict": request.max_tokens, "stop": list(request.stop)}
    return {"prompt": request.prompt, **limits, "stream": True, "cache_prompt": True, **_sampling(request)}


def _koboldcpp(request: Request) -> dict[str, Any]:
    limits = {"max_length": request.max_tokens, "max_context_length": request.context_window}
    return {"prompt": request.prompt, **limits, "stop_sequence": list(request.stop), **_sampling(request)}


def _ollama(request: Request) -> dict[str, Any]:
    limits = {"num_ctx": request.context_window, "num_predict": request.max_tokens}
    options = {**limits, "stop": list(request.stop), **_sampling(request)}
    # raw: the prompt is already in the model's format; Ollama must not apply its template too.
    return {
        "model": request.model,
        "prompt": request.prompt,
        "raw": True,
        "stream": False,
        "options": options,
    }


OPENAI_COMPLETIONS = Server(
    "/completions",
    lambda r: _openai(r, cache=True),
    wire.CompletionChunk,
    streams=True,
    grammar="grammar",
    schema=lambda s: {"json_schema": s},
)

# Backend type -> its server's endpoint.
SERVERS: dict[str, Server] = {
    "webui": Server("/v1/completions", _openai, wire.CompletionChunk, streams=True, grammar="grammar_string"),
    "lmstudio": Server("/v1/completions", _openai, wire.CompletionChunk, streams=True),
    "vllm": Server(
        "/v1/completions",
        _openai,
        wire.CompletionChunk,
        streams=True,
        schema=lambda s: {"structured_outputs": {"json": s}},
    ),
    "llamacpp": Server(
        "/completion",
        _llamacpp,
        wire.LlamaCppChunk,
        streams=True,
        grammar="grammar",
        schema=lambda s: {"json_schema": s},
    ),
    "koboldcpp": Server(
        "/api/v1/generate", _koboldcpp, wire.KoboldGeneration, streams=False, grammar="grammar"
    ),
    "ollama": Server(
        "/api/generate", _ollama, wire.OllamaGeneration, streams=False, schema=lambda s: {"format": s}
    ),
}
SERVERS["webui-legacy"] = SERVERS["webui"]


def root(url: str) -> str:
    """A MemGPT endpoint is the server's root; one given with ``/v1`` means the same server."""
    return url.rstrip("/").removesuffix("/v1")
