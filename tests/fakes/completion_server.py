"""A real completions server on loopback (``POST /v1/completions``), scripted by tests.

Replies are queued text, streamed as SSE pieces in the OpenAI completions form (or bytes, sent as the
event stream as they are, or a ``Failure``, an error status); every request body is recorded. ``reject`` names request fields (``grammar``, ``json_schema``) the server refuses as
llama-cpp-python does a grammar it cannot parse: an HTTP 500 naming the field.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Failure:
    """An error status answered instead of a reply, with its headers (a Retry-After, say)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)


class FakeCompletionServer:
    def __init__(self, reject: tuple[str, ...] = ()) -> None:
        self.reject = set(reject)
        self.requests: list[dict[str, Any]] = []
        self._replies: deque[str | bytes | Failure] = deque()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> FakeCompletionServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, *texts: str | bytes | Failure) -> None:
        self._replies.extend(texts)

    def next_reply(self) -> str | bytes | Failure:
        return self._replies.popleft() if self._replies else ""


def _handler(fake: FakeCompletionServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            fake.requests.append(body)
            if self.path != "/v1/completions":
                self._send(404, "application/json", b'{"error": {"message": "not found"}}')
                return
            if refused := sorted(field for field in fake.reject if field in body):
                message = f"Failed to parse {refused[0]}: unexpected token at line 1"
                self._send(500, "application/json", json.dumps({"error": {"message": message}}).encode())
                return
            text = fake.next_reply()
            if isinstance(text, Failure):
                error = json.dumps({"error": {"message": f"failed with {text.status}"}}).encode()
                self._send(text.status, "application/json", error, text.headers)
                return
            if isinstance(text, bytes):
                self._send(200, "text/event-stream", text)
                return
            pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
            events = [{"choices": [{"index": 0, "text": p, "finish_reason": None}]} for p in pieces]
            events.append({"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
            data = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
            self._send(200, "text/event-stream", data.encode())

        def _send(self, status: int, kind: str, data: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
