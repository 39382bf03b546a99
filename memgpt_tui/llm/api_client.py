"""What the chat and the completions backends share on the wire: one aiohttp session per backend,
made on first use; the retry loop around a request; and the server's events, bounded and validated.

A request is a JSON body posted as it is and its response read as plain lines or bytes: aiohttp's round
trip on loopback costs a fraction of the openai client's (which would also walk every message through
its typed transforms and build a typed object per streamed event), and it is already loaded for the
tokenize endpoints. Failures are still the openai client's own exceptions, made by the openai package
(imported then, and only then) from what the server sent, so ``openai_errors`` words them as before.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import importlib
import json
import os
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import aiohttp

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
# Headers the openai client takes from the environment, as it does.
_LINE_ENDS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # where str.splitlines ends a line
_BODY_FRAMING = {b"content-encoding", b"content-length", b"transfer-encoding"}
_ENVIRONMENT_HEADERS = {"OPENAI_ORG_ID": "OpenAI-Organization", "OPENAI_PROJECT_ID": "OpenAI-Project"}


class LazyClient:
    """The address and key are settled (and a missing key refused) at once; the session waits for the
    first request, inside the event loop that makes it."""

    def __init__(self, base_url: str | None, api_key: str | None, timeout: float) -> None:
        # As the openai client would decide: arguments first, then the environment, then OpenAI itself.
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise AuthError("No API key for the OpenAI API.", "Set OPENAI_API_KEY, or api_key in the config.")
        self.api_key = key
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL).rstrip("/")
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self.proxy: str | None = None  # the environment's, read with the session
        self._errors: openai.AsyncOpenAI | None = None  # made on the first failure, to word it

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            }
            headers |= {
                name: os.environ[var] for var, name in _ENVIRONMENT_HEADERS.items() if os.environ.get(var)
            }
            # As httpx times the openai client's requests: connecting, and each wait for the server.
            timeout = aiohttp.ClientTimeout(total=None, connect=self._timeout, sock_read=self._timeout)
            connector = aiohttp.TCPConnector(
                ssl=_ssl_context() if self.base_url.startswith("https:") else True
            )
            self._session = aiohttp.ClientSession(headers=headers, timeout=timeout, connector=connector)
            self.proxy = _environment_proxy(self.base_url)
        return self._session

    def status_error(self, response: Any) -> openai.APIStatusError:
        """The openai client's own exception for an error status (``response`` in its HTTP library)."""
        if self._errors is None:
            import openai

            self._errors = openai.AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0)
        return self._errors._make_status_error_from_response(response)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            # RuntimeError: made in an event loop that is gone (the app's, when its terminal went away)
            with contextlib.suppress(RuntimeError):
                await session.close()
        if self._errors is not None:
            await self._errors.close()


def _environment_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``...), read
    once, as httpx reads it when the openai client is made: aiohttp's own ``trust_env`` would read it
    (and ``~/.netrc``) again in a thread for every request."""
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    if not proxies or urllib.request.proxy_bypass(parts.hostname or ""):  # the environment's NO_PROXY
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


def _ssl_context() -> ssl.SSLContext | bool:
    """The system's trust store, as the openai client verifies servers (``truststore``), else certifi's
    bundle where installed, else OpenSSL's defaults."""
    with contextlib.suppress(ImportError):
        import truststore

        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with contextlib.suppress(ImportError):
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    return True


def _http_library() -> ModuleType:
    """The HTTP library the installed openai client is built on (httpx, or its successor), whose
    requests and responses its exceptions hold."""
    import openai

    client = next(c for c in openai.DefaultAsyncHttpxClient.__mro__[1:] if c.__name__ == "AsyncClient")
    return importlib.import_module(client.__module__.split(".")[0])


def _http_request(url: str) -> Any:
    return _http_library().Request("POST", url)


class Response:
    """A response being read: its body as lines or as bytes, and (on a failure) the request it answers."""

    def __init__(self, response: aiohttp.ClientResponse, url: str) -> None:
        self._response = response
        self._url = url

    @property
    def http_request(self) -> Any:
        return _http_request(self._url)

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        async for piece in self._response.content.iter_any():
            yield piece

    async def iter_lines(self) -> AsyncIterator[str]:
        """The body's text line by line, split as httpx's ``LineDecoder`` splits it."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        buffer, trailing_cr = "", False
        async for piece in self._response.content.iter_any():
            text = decoder.decode(piece)
            if trailing_cr:
                text, trailing_cr = "\r" + text, False
            if text.endswith("\r"):  # its \n may open the next piece
                text, trailing_cr = text[:-1], True
            if not text:
                continue
            ended = text[-1] in _LINE_ENDS
            lines = text.splitlines()
            if len(lines) == 1 and not ended:
                buffer += lines[0]
                continue
            if buffer:
                lines[0], buffer = buffer + lines[0], ""
            if not ended:
                buffer = lines.pop()
            for line in lines:
                yield line
        buffer += decoder.decode(b"", final=True)
        if buffer or trailing_cr:
            yield buffer


@contextlib.asynccontextmanager
async def posted(api: LazyClient, path: str, body: dict[str, Any]) -> AsyncIterator[Response]:
    """``body`` posted to ``path`` as it is and the response unread, closed on the way out; an error
    status, a timeout or a connection that fails raise what the openai client would raise."""
    url = api.base_url + path
    try:
        session = api.session()
        response = await session.post(url, data=json.dumps(body).encode(), proxy=api.proxy)
    except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors too
        import openai

        raise openai.APITimeoutError(request=_http_request(url)) from exc
    except aiohttp.ClientError as exc:
        import openai

        raise openai.APIConnectionError(request=_http_request(url)) from exc
    try:
        if response.status >= 400:
            raise api.status_error(await _as_http_response(response, url))
        yield Response(response, url)
    finally:
        response.release()  # back to the pool when read to the end, else closed


async def _as_http_response(response: aiohttp.ClientResponse, url: str) -> Any:
    """An error response, read whole, as the openai client's HTTP library holds it."""
    http = _http_library()
    content = await response.read()
    # the body is decoded already: the headers that would have httpx decode it again go
    headers = [(k, v) for k, v in response.raw_headers if k.lower() not in _BODY_FRAMING]
    return http.Response(response.status, headers=headers, content=content, request=http.Request("POST", url))


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
    failures = 0
    while True:
        request, reply = prepare()
        try:
            await send(request, reply)
        except Exception as exc:
            import openai

            from memgpt_tui.llm.openai_errors import is_transient, is_transport_error, to_llm_error

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
