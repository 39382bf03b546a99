"""Turn the openai client's exceptions into the app's errors, each with a way forward."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import openai

from ..model.errors import AuthError, BackendUnavailable, ContextOverflowError, LLMError
from ..model.text import redact

# Wordings of "prompt longer than the window" across OpenAI, llama.cpp, llama-cpp-python, vLLM,
# LM Studio, text-generation-webui and friends.
_OVERFLOW = re.compile(
    r"context_length_exceeded|exceed_context_size|maximum context length|context (?:length|window|size)"
    r"|exceeds? (?:the )?(?:available )?context|prompt is too long|too many tokens in (?:the )?prompt",
    re.IGNORECASE,
)
# Names of the HTTP libraries' exceptions that mean nothing answered at the address (httpx's, the
# openai client's own; aiohttp's, the backends' transport).
_UNREACHABLE = {
    "ConnectError",
    "ClientConnectorError",
    "ClientConnectorDNSError",
    "ConnectionRefusedError",
    "gaierror",
}


def detail(exc: openai.APIError) -> str:
    """The server's own words, without the client's "Error code: N -" prefix."""
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("detail")
        return message if isinstance(message, str) else json.dumps(body)
    if isinstance(body, str) and body:
        return body
    return exc.message


def is_context_overflow(exc: openai.APIError) -> bool:
    if isinstance(exc, openai.RateLimitError):  # "tokens per minute" is a quota, not the window
        return False
    return bool(_OVERFLOW.search(f"{exc.code or ''} {detail(exc)}"))


def is_unreachable(exc: BaseException) -> bool:
    """Refused connection or unknown host, anywhere in the exception's causes."""
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ in _UNREACHABLE:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def is_transport_error(exc: BaseException) -> bool:
    """An error raised by an HTTP library itself (a stream cut mid-way is not wrapped by openai)."""
    return type(exc).__module__.split(".")[0] in {"aiohttp", "httpx", "httpx2", "httpcore", "httpcore2"}


def is_transient(exc: BaseException) -> bool:
    """Worth retrying after a pause: rate limits, server errors, timeouts, dropped connections."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    if isinstance(exc, openai.APIConnectionError):
        return not is_unreachable(exc)
    if isinstance(exc, openai.APIError):  # an error event inside a stream
        return not is_context_overflow(exc)
    return is_transport_error(exc)


class _Rule(NamedTuple):
    applies: Callable[[BaseException], bool]
    error: Callable[[str, str], LLMError]  # called with the message and the hint
    message: str  # a template over url, after, detail, status and exc
    hint: str = ""


def _is(*kinds: type[BaseException]) -> Callable[[BaseException], bool]:
    return lambda exc: isinstance(exc, kinds)


def _status(exc: BaseException) -> int:
    return exc.status_code if isinstance(exc, openai.APIStatusError) else 0


_final = partial(LLMError, retryable=False)  # retrying the same request cannot help
_ANSWERED = "{url} answered {status}{after}: {detail}"

# The first rule that applies makes the error, so the order matters: a timeout is also a connection
# error, an overflow also a status error.
_RULES = (
    _Rule(
        _is(openai.APITimeoutError),
        LLMError,
        "No answer from {url} in time{after}.",
        "The server is slow or busy: retry, or raise request_timeout in the config.",
    ),
    _Rule(
        lambda exc: isinstance(exc, openai.APIConnectionError) and is_unreachable(exc),
        BackendUnavailable,
        "Cannot connect to {url}.",
        "Is the server running? Start it, or switch backend with --backend.",
    ),
    _Rule(
        lambda exc: isinstance(exc, openai.APIConnectionError) or is_transport_error(exc),
        LLMError,
        "The connection to {url} failed{after}: {exc}",
        "Retry in a moment.",
    ),
    _Rule(
        _is(openai.AuthenticationError, openai.PermissionDeniedError),
        AuthError,
        "{url} refused the API key ({status}): {detail}",
        "Check OPENAI_API_KEY or api_key in the config.",
    ),
    _Rule(
        lambda exc: isinstance(exc, openai.APIError) and is_context_overflow(exc),
        ContextOverflowError,
        "The prompt is longer than the model's context window: {detail}",
        "Older messages will be summarized; or raise context_window if the model allows more.",
    ),
    _Rule(
        _is(openai.RateLimitError),
        LLMError,
        "Rate limited by {url}{after}: {detail}",
        "Wait a moment, then retry.",
    ),
    _Rule(
        _is(openai.NotFoundError),
        _final,
        "{url} answered 404: {detail}",
        "Check the model name (--model) and the base URL (--base-url).",
    ),
    _Rule(lambda exc: _status(exc) >= 500, LLMError, _ANSWERED, "The server failed: retry in a moment."),
    _Rule(lambda exc: _status(exc) in (408, 409), LLMError, _ANSWERED),
    _Rule(_is(openai.APIStatusError), _final, _ANSWERED),
    _Rule(
        _is(openai.APIError),
        LLMError,
        "The model server reported an error{after}: {detail}",
        "Retry in a moment.",
    ),
    _Rule(
        lambda exc: isinstance(exc, openai.OpenAIError) and "credentials" in str(exc).lower(),
        AuthError,
        "{exc}",
        "Set OPENAI_API_KEY, or api_key in the config.",
    ),
)


def to_llm_error(exc: BaseException, base_url: str, attempts: int = 1) -> LLMError:
    rule = next((rule for rule in _RULES if rule.applies(exc)), None)
    if rule is None:
        return LLMError(redact(str(exc) or type(exc).__name__))
    message = rule.message.format(
        url=base_url,
        after=f" (after {attempts} attempts)" if attempts > 1 else "",
        detail=detail(exc) if isinstance(exc, openai.APIError) else "",
        status=_status(exc),
        exc=exc,
    )
    return rule.error(redact(message), rule.hint)
