"""What the chat and the completions backends share on the wire: the official openai client, made on
first use; the retry loop around a request; and the server's events, bounded and validated.

Importing openai costs about half a second, which creating or opening an agent need not pay: the
backends keep a ``LazyClient`` and the import happens with the first request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from memgpt_tui.llm import wire
from memgpt_tui.model.errors import AuthError

if TYPE_CHECKING:
    import openai

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Local servers accept any key, but the client refuses to start without one.
PLACEHOLDER_KEY = "sk-no-key-required"
# The text of one reply (content and arguments), a few times more than the longest output any model
# writes in one go; and what the server may send for it, envelopes included.
MAX_REPLY_CHARS = 1 << 20
MAX_SENT_CHARS = 16 * MAX_REPLY_CHARS
DRAIN_SECONDS = 0.25  # the longest wait for the end of a streamed body after its [DONE]
# The openai client's switch for handing back the response unread, so any path's stream can be read.
_UNREAD = {"X-Stainless-Raw-Response": "stream"}


class LazyClient:
    """The address and key are settled (and a missing key refused) at once; the client itself waits."""

    def __init__(self, base_url: str | None, api_key: str | None, timeout: float) -> None:
        # As the client would decide: arguments first, then the environment, then OpenAI itself.
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise AuthError("No API key for the OpenAI API.", "Set OPENAI_API_KEY, or api_key in the config.")
        self.api_key = key
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL).rstrip("/")
        self._timeout = timeout
        self._client: openai.AsyncOpenAI | None = None

    def get(self) -> openai.AsyncOpenAI:
        if self._client is None:
            import openai

            from memgpt_tui.llm.openai_errors import to_llm_error

            try:
                # max_retries=0: the backends' own retries are the only ones, so they can be counted.
                self._client = openai.AsyncOpenAI(
                    base_url=self.base_url, api_key=self.api_key, timeout=self._timeout, max_retries=0
                )
            except openai.OpenAIError as exc:
                raise to_llm_error(exc, self.base_url) from exc
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


@contextlib.asynccontextmanager
async def posted(api: LazyClient, path: str, body: dict[str, Any]) -> AsyncIterator[Any]:
    """``body`` posted to ``path`` as it is and the response unread, closed on the way out. The client's
    typed methods walk every message through their TypedDict transforms and build a typed object per
    streamed event, which costs more than the rest of the engine's step; the body is plain JSON already,
    and replies are read as plain JSON and validated against the few fields the app reads (wire.py).
    The client still sends the request and turns error statuses into its exceptions."""
    sent = await api.get().post(path, cast_to=object, body=body, options={"headers": _UNREAD})
    response = cast("openai.AsyncAPIResponse[object]", sent)
    try:
        yield response
    finally:
        await response.close()


class Reply:
    """What every reply being read keeps: whether any of it was shown, and its size, bounded."""

    remedy = wire.Chunk.remedy  # the hint when the reply is refused for its size

    def __init__(self) -> None:
        self.emitted = False
        self._sent = self._size = 0

    def bound(self, size: int) -> None:
        """Count what the server sent; past ``MAX_SENT_CHARS`` the reply is refused."""
        self._sent += size
        if self._sent > MAX_SENT_CHARS:
            raise wire.MalformedReply(
                f"the server sent more than {MAX_SENT_CHARS:,} characters for one reply", self.remedy
            )

    def grow(self, text: str) -> None:
        """Count the reply's own text; past ``MAX_REPLY_CHARS`` it is refused."""
        self._size += len(text)
        if self._size > MAX_REPLY_CHARS:
            raise wire.MalformedReply(
                f"it passed {MAX_REPLY_CHARS:,} characters, more than any reply the app can use", self.remedy
            )


S = TypeVar("S", bound=wire.Envelope)
Request = TypeVar("Request")
R = TypeVar("R", bound=Reply)


async def events(response: Any, shape: type[S], reply: Reply) -> AsyncIterator[S]:
    """The events of a streamed response (server-sent ``data:`` lines up to ``[DONE]``), each one
    counted against the reply's bound and validated as ``shape``."""
    lines = response.iter_lines()
    async for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            await _drain(lines, reply)
            break
        if not data:
            continue
        reply.bound(len(data))
        yield wire.parsed(shape, data) or _checked(shape, wire.decode(data, shape.remedy), response)


async def _drain(lines: AsyncIterator[str], reply: Reply) -> None:
    """Read what follows ``[DONE]`` (normally only the end of the body), so that the connection goes
    back to the pool for the next request instead of being closed: a new connection per step costs
    more than the step's own work on a local server. A server that keeps the stream open is left."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for line in lines:
                reply.bound(len(line))


async def whole(response: Any, shape: type[S], reply: Reply) -> S:
    """A response that is not streamed, read within the reply's bound and validated as ``shape``."""
    body = bytearray()
    async for piece in response.iter_bytes():
        reply.bound(len(piece))
        body += piece
    return wire.parsed(shape, bytes(body)) or _checked(
        shape, wire.decode(bytes(body), shape.remedy), response
    )


def _checked(shape: type[S], event: Any, response: Any) -> S:
    """``event`` validated; an error object inside a 200 raises the client's error, as a status would."""
    if isinstance(event, dict) and event.get("error"):
        import openai

        error = event["error"]
        message = error.get("message") if isinstance(error, dict) else None
        text = message if isinstance(message, str) else json.dumps(error, ensure_ascii=False)[:500]
        raise openai.APIError(text, response.http_request, body=error if isinstance(error, dict) else None)
    return wire.validate(shape, event)


class RetryPolicy(Protocol):
    """Read at each retry, so a backend's settings can change between requests."""

    base_url: str
    max_retries: int
    retry_base_delay: float
    retry_max_delay: float


async def retried(
    policy: RetryPolicy,
    prepare: Callable[[], tuple[Request, R]],
    send: Callable[[Request, R], Awaitable[None]],
    rejected: Callable[[openai.APIStatusError, Request], bool],
) -> R:
    """The reply to a request sent until it succeeds: sent again at once when ``rejected`` turned off
    an optional feature the server refused, after a backoff when the failure is transient and none of
    the reply was shown yet; otherwise the failure as an ``LLMError``. ``prepare`` makes each attempt's
    request and reply, from the backend's settings of the moment."""
    import openai

    from memgpt_tui.llm.openai_errors import is_transient, is_transport_error, to_llm_error

    failures = 0
    while True:
        request, reply = prepare()
        try:
            await send(request, reply)
        except Exception as exc:
            if not isinstance(exc, openai.OpenAIError) and not is_transport_error(exc):
                raise
            if isinstance(exc, openai.APIStatusError) and rejected(exc, request):
                continue
            failures += 1
            # Tokens already shown cannot be taken back, so a reply cut mid-stream is not re-asked.
            if is_transient(exc) and failures <= policy.max_retries and not reply.emitted:
                await asyncio.sleep(_backoff(policy, failures, exc))
                continue
            raise to_llm_error(exc, policy.base_url, failures) from exc
        return reply


def _backoff(policy: RetryPolicy, failures: int, exc: BaseException) -> float:
    delay = policy.retry_base_delay * 2 ** (failures - 1)
    delay = max(delay, _retry_after(exc) or 0.0)
    return min(policy.retry_max_delay, delay) * random.uniform(1.0, 1.25)


def _retry_after(exc: BaseException) -> float | None:
    """The server's own Retry-After, in seconds, when it sent one."""
    import openai

    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(headers[name]) * scale
        except (KeyError, ValueError):
            continue
    return None
