"""A real OpenAI-compatible HTTP server on loopback, scripted by tests.

Chat replies come from a queue of ``Reply`` objects (streamed as SSE when the request asks for it),
failures are injected as replies with an error status or a delay, and every request is recorded so
tests can assert the wire format. Also serves ``/v1/models``, ``/v1/embeddings`` (deterministic
vectors) and the tokenize endpoints of llama-cpp-python (``/extras/tokenize[/count]``) and llama.cpp
(``/tokenize``). HTTP/1.1 keep-alive and no artificial latency unless a reply asks for a delay or a
streaming pace (``chunk_delay``), so benchmarks can use it too.

    server = FakeOpenAIServer().start()
    server.script(Reply.tool_call("send_message", {"message": "hi"}, content="thinking"))
    ... point a client at server.base_url ...
    server.chat_requests[-1]["tools"]
    server.stop()
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import random
import re
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"
OVERFLOW_MESSAGE = (
    "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. "
    "Please reduce the length of the messages."
)


@dataclass
class Reply:
    """One scripted answer to a chat completion request."""

    content: str | None = None
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON text)
    status: int = 200
    error: dict[str, Any] | None = None  # the "error" object of a failure body
    delay: float = 0.0  # seconds to wait before answering
    prompt_tokens: int | None = None  # None: estimated from the request
    completion_tokens: int = 7
    finish_reason: str | None = None  # None: "tool_calls" or "stop"
    chunk_size: int = 4  # characters per streamed delta
    chunk_delay: float = 0.0  # streamed: seconds between events, to stream at a model's pace
    cut_after: int | None = None  # streamed: drop the connection after this many events
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as the 200 body as it is (SSE or JSON), whatever it holds

    @classmethod
    def tool_call(
        cls, name: str, arguments: dict[str, Any] | str, content: str | None = None, **kw: Any
    ) -> Reply:
        args = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return cls(content=content, tool_calls=[(name, args)], **kw)

    @classmethod
    def text(cls, content: str, **kw: Any) -> Reply:
        return cls(content=content, **kw)

    @classmethod
    def json_call(
        cls,
        function: str,
        params: dict[str, Any],
        thoughts: str = "thinking",
        heartbeat: bool = False,
        **kw: Any,
    ) -> Reply:
        """A JSON-mode reply, as a model constrained to the wrapper's schema writes it."""
        body = {
            "inner_thoughts": thoughts,
            "function": function,
            "params": params,
            "request_heartbeat": heartbeat,
        }
        return cls(content=json.dumps(body), **kw)

    @classmethod
    def failure(
        cls, status: int, message: str, code: str | None = None, kind: str = "server_error", **kw: Any
    ) -> Reply:
        return cls(status=status, error={"message": message, "type": kind, "param": None, "code": code}, **kw)

    @classmethod
    def rate_limited(cls, **kw: Any) -> Reply:
        return cls.failure(429, "Rate limit reached for requests", "rate_limit_exceeded", "requests", **kw)

    @classmethod
    def server_error(cls, status: int = 500, **kw: Any) -> Reply:
        return cls.failure(status, "The server had an error while processing your request.", **kw)

    @classmethod
    def overflow(cls, **kw: Any) -> Reply:
        return cls.failure(400, OVERFLOW_MESSAGE, "context_length_exceeded", "invalid_request_error", **kw)

    @classmethod
    def unauthorized(cls, **kw: Any) -> Reply:
        return cls.failure(
            401, "Incorrect API key provided.", "invalid_api_key", "invalid_request_error", **kw
        )


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any
    client_port: int = 0  # the connection it came on


# Request features the server can be told to refuse with a 400, as some compatible servers do.
_REJECTIONS = {
    "tool_choice": ("tool_choice", "tool_choice 'required' is not supported by this server"),
    "stream_options": ("stream_options", "Unrecognized request argument supplied: stream_options"),
    "response_format": ("response_format", "response_format of type json_schema is not supported"),
}


class FakeOpenAIServer:
    def __init__(self, model: str = "fake-model", embedding_dim: int = 384) -> None:
        self.model = model
        self.embedding_dim = embedding_dim
        self.default: Reply | None = None  # answer when the queue is empty (None: a send_message call)
        self.reject: set[str] = set()  # any of "tool_choice", "stream_options", "response_format"
        self.disabled: set[str] = set()  # paths answered with 404
        self.require_key: str | None = None  # when set, other bearer tokens get a 401
        self.requests: list[Recorded] = []
        self.record = True  # False: keep no requests (a long benchmark would hold every body)
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._serve, name="fake-openai", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def _serve(self) -> None:
        self._httpd.serve_forever(poll_interval=0.01)  # a short poll makes stop() quick

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next chat completion requests, in order."""
        with self._lock:
            self._queue.extend(replies)

    def unscript(self) -> None:
        """Forget the replies no request took."""
        with self._lock:
            self._queue.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the chat completion requests received, oldest first."""
        with self._lock:
            return [r.body for r in self.requests if r.path == CHAT_PATH]

    def _record(self, recorded: Recorded) -> None:
        if not self.record:
            return
        with self._lock:
            self.requests.append(recorded)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.default is not None:
            return self.default
        if body.get("tools"):
            return Reply.tool_call("send_message", {"message": "ok"}, content="thinking")
        return Reply.json_call("send_message", {"message": "ok"})

    def _rejection(self, body: dict[str, Any]) -> tuple[str, str] | None:
        for feature in self.reject:
            value = body.get(feature)
            if value is not None and (feature != "tool_choice" or value == "required"):
                return _REJECTIONS[feature]
        return None


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up is no news
            super().handle_error(request, client_address)


def _handler_for(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        fake = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._route({})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        self._route(body)

    def _route(self, body: Any) -> None:
        fake, path = self.fake, self.path.split("?")[0]
        headers = {name.lower(): value for name, value in self.headers.items()}
        fake._record(Recorded(self.command, path, headers, body, self.client_address[1]))
        if path in fake.disabled:
            self._json(404, {"error": {"message": f"{path} not found", "type": "not_found"}})
            return
        if fake.require_key and self.headers.get("Authorization") != f"Bearer {fake.require_key}":
            self._json(401, {"error": Reply.unauthorized().error})
            return
        routes = {
            ("GET", "/v1/models"): self._models,
            ("POST", CHAT_PATH): self._chat,
            ("POST", "/v1/embeddings"): self._embeddings,
            ("POST", "/extras/tokenize/count"): lambda b: self._json(
                200, {"count": _tokens(b.get("input", ""))}
            ),
            ("POST", "/extras/tokenize"): lambda b: self._json(
                200, {"tokens": _token_ids(b.get("input", ""))}
            ),
            ("POST", "/tokenize"): lambda b: self._json(200, {"tokens": _token_ids(b.get("content", ""))}),
        }
        handler = routes.get((self.command, path))
        if handler is None:
            self._json(404, {"error": {"message": f"{self.command} {path} not found", "type": "not_found"}})
        else:
            handler(body)

    def _models(self, _body: Any) -> None:
        model = {"id": self.fake.model, "object": "model", "created": 0, "owned_by": "fake"}
        self._json(200, {"object": "list", "data": [model]})

    def _chat(self, body: dict[str, Any]) -> None:
        if rejection := self.fake._rejection(body):
            param, message = rejection
            error = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
            self._json(400, {"error": error})
            return
        reply = self.fake._next_reply(body)
        if reply.delay and self.fake._stopping.wait(reply.delay):
            return
        if reply.status != 200:
            self._json(reply.status, {"error": reply.error}, reply.headers)
            return
        if reply.raw is not None:
            kind = "text/event-stream" if body.get("stream") else "application/json"
            self._send(200, kind, reply.raw, reply.headers)
            return
        usage = _usage(reply, body)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = _stream_events(reply, self.fake.model, usage if include_usage else None)
            data = "".join(events).encode()
            if reply.cut_after is not None:
                self._send(
                    200, "text/event-stream", data, reply.headers, "".join(events[: reply.cut_after]).encode()
                )
                self.close_connection = True
            elif reply.chunk_delay:
                self._send_paced(events, reply.chunk_delay, reply.headers)
            else:
                self._send(200, "text/event-stream", data, reply.headers)
        else:
            self._json(200, _completion(reply, self.fake.model, usage), reply.headers)

    def _embeddings(self, body: dict[str, Any]) -> None:
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else texts
        dim = int(body.get("dimensions") or self.fake.embedding_dim)
        data = []
        for index, text in enumerate(texts):
            vector = embedding(str(text), dim)
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        used = sum(_tokens(str(t)) for t in texts)
        usage = {"prompt_tokens": used, "total_tokens": used}
        self._json(200, {"object": "list", "data": data, "model": body.get("model", ""), "usage": usage})

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, "application/json", json.dumps(payload).encode(), headers or {})

    def _send(
        self,
        status: int,
        content_type: str,
        data: bytes,
        headers: dict[str, str],
        partial: bytes | None = None,
    ) -> None:
        """Answer with ``data``; with ``partial``, announce ``data``'s length but write only ``partial``."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data if partial is None else partial)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            self.close_connection = True

    def _send_paced(self, events: list[str], delay: float, headers: dict[str, str]) -> None:
        """Stream ``events`` one at a time, ``delay`` seconds apart (on a fixed schedule, so the pace
        holds however long each write takes)."""
        encoded = [event.encode() for event in events]
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(sum(map(len, encoded))))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            start = time.monotonic()
            for n, event in enumerate(encoded):
                if self.fake._stopping.wait(max(0.0, start + n * delay - time.monotonic())):
                    self.close_connection = True
                    return
                self.wfile.write(event)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a cancelled step)
            self.close_connection = True


_TOKEN = re.compile(r"\w+|[^\w\s]")


def _tokens(text: str) -> int:
    """The fake's tokenizer: words and punctuation marks."""
    return len(_TOKEN.findall(text))


def _list_tokens(items: list[Any]) -> int:
    """``_tokens(json.dumps(items))``, counted item by item so that the messages a conversation resends
    are counted once: brackets and commas, plus each item's remembered count."""
    return 2 + max(len(items) - 1, 0) + sum(_json_tokens(json.dumps(item)) for item in items)


@functools.lru_cache(maxsize=8192)
def _json_tokens(text: str) -> int:
    return _tokens(text)


def _token_ids(text: str) -> list[int]:
    return [int(hashlib.md5(t.encode()).hexdigest()[:6], 16) for t in _TOKEN.findall(text)]


def unused_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def embedding(text: str, dim: int) -> list[float]:
    """A unit vector determined by the text alone."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    vector = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


def _usage(reply: Reply, body: dict[str, Any]) -> dict[str, int]:
    prompt = reply.prompt_tokens
    if prompt is None:
        prompt = _list_tokens(body.get("messages", [])) + _list_tokens(body.get("tools", []))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": prompt + reply.completion_tokens,
    }


def _finish(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _completion(reply: Reply, model: str, usage: dict[str, int]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": f"call_fake{i}", "type": "function", "function": {"name": name, "arguments": args}}
            for i, (name, args) in enumerate(reply.tool_calls)
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(reply)}],
        "usage": usage,
    }


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), max(size, 1))]


def _stream_events(reply: Reply, model: str, usage: dict[str, int] | None) -> list[str]:
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": piece} for piece in _pieces(reply.content or "", reply.chunk_size)]
    for i, (name, args) in enumerate(reply.tool_calls):
        start = {
            "index": i,
            "id": f"call_fake{i}",
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        deltas.append({"tool_calls": [start]})
        deltas += [
            {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}
            for piece in _pieces(args, reply.chunk_size)
        ]
    head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model}
    chunks = [{**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": _finish(reply)}]})
    if usage is not None:
        chunks.append({**head, "choices": [], "usage": usage})
    return [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks] + ["data: [DONE]\n\n"]
