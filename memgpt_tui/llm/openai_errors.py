"""Turn the openai client's exceptions into the app's errors, each with a way forward."""

from __future__ import annotations

import json
import re

import openai

from ..model.errors import AuthError, BackendUnavailable, ContextOverflowError, LLMError

# Wordings of "prompt longer than the window" across OpenAI, llama.cpp, llama-cpp-python, vLLM,
# LM Studio, text-generation-webui and friends.
_OVERFLOW = re.compile(
    r"context_length_exceeded|exceed_context_size|maximum context length|context (?:length|window|size)"
    r"|exceeds? (?:the )?(?:available )?context|prompt is too long|too many tokens in (?:the )?prompt",
    re.IGNORECASE,
)
# Names of the HTTP library's exceptions that mean nothing answered at the address.
_UNREACHABLE = {"ConnectError", "ConnectionRefusedError", "gaierror"}


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
    """An error raised by the HTTP library itself (a stream cut mid-way is not wrapped by openai)."""
    return type(exc).__module__.split(".")[0] in {"httpx", "httpx2", "httpcore", "httpcore2"}


def is_transient(exc: BaseException) -> bool:
    """Worth retrying after a pause: rate limits, server errors, timeouts, dropped connections."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    if isinstance(exc, openai.APIConnectionError):
        return not is_unreachable(exc)
    if isinstance(exc, openai.APIError):  # an error event inside a stream
        return not is_context_overflow(exc)
    return is_transport_error(exc)


def to_llm_error(exc: BaseException, base_url: str, attempts: int = 1) -> LLMError:
    after = f" (after {attempts} attempts)" if attempts > 1 else ""
    if isinstance(exc, openai.APITimeoutError):
        return LLMError(
            f"No answer from {base_url} in time{after}.",
            hint="The server is slow or busy: retry, or raise request_timeout in the config.",
        )
    if isinstance(exc, openai.APIConnectionError) and is_unreachable(exc):
        return BackendUnavailable(
            f"Cannot connect to {base_url}.",
            hint="Is the server running? Start it, or switch backend with --backend.",
        )
    if isinstance(exc, openai.APIConnectionError) or is_transport_error(exc):
        return LLMError(f"The connection to {base_url} failed{after}: {exc}", hint="Retry in a moment.")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return AuthError(
            f"{base_url} refused the API key ({exc.status_code}): {detail(exc)}",
            hint="Check OPENAI_API_KEY or api_key in the config.",
        )
    if isinstance(exc, openai.APIError) and is_context_overflow(exc):
        return ContextOverflowError(
            f"The prompt is longer than the model's context window: {detail(exc)}",
            hint="Older messages will be summarized; or raise context_window if the model allows more.",
        )
    if isinstance(exc, openai.RateLimitError):
        return LLMError(
            f"Rate limited by {base_url}{after}: {detail(exc)}", hint="Wait a moment, then retry."
        )
    if isinstance(exc, openai.NotFoundError):
        return LLMError(
            f"{base_url} answered 404: {detail(exc)}",
            hint="Check the model name (--model) and the base URL (--base-url).",
            retryable=False,
        )
    if isinstance(exc, openai.APIStatusError):
        server_side = exc.status_code >= 500
        return LLMError(
            f"{base_url} answered {exc.status_code}{after}: {detail(exc)}",
            hint="The server failed: retry in a moment." if server_side else "",
            retryable=server_side or exc.status_code in (408, 409),
        )
    if isinstance(exc, openai.APIError):
        return LLMError(
            f"The model server reported an error{after}: {detail(exc)}", hint="Retry in a moment."
        )
    if isinstance(exc, openai.OpenAIError) and "credentials" in str(exc).lower():
        return AuthError(str(exc), hint="Set OPENAI_API_KEY, or api_key in the config.")
    return LLMError(str(exc) or type(exc).__name__)
