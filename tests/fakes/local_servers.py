"""Loopback servers speaking the completion endpoints of MemGPT's local backend types, written from
each server's documented API, and checking a request as the real server would before it answers.

- ``llamacpp``: llama.cpp's ``POST /completion`` (``n_predict``, ``grammar``, ``json_schema``), SSE
  events ``{"content", "stop"}``, the last with ``stop_type`` and token counts; also ``/tokenize``.
- ``koboldcpp``: the KoboldAI API's ``POST /api/v1/generate`` (``max_length``, ``grammar``), one
  ``{"results": [{"text"}]}``.
- ``ollama``: ``POST /api/generate`` (``model`` must be one it has, ``raw``, ``options``, ``format``
  a JSON schema), one ``{"response", "done"}`` when ``stream`` is false.
- ``webui``, ``lmstudio``, ``vllm``: the OpenAI-style ``POST /v1/completions``, streamed; webui reads a
  grammar from ``grammar_string``, vLLM a JSON schema from ``structured_outputs.json`` and answers only
  for the model it serves.

A request the server would refuse (wrong path, a field of the wrong type, an unknown model) gets the
server's error status; every request is recorded as ``(path, body)``.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATHS = {
    "llamacpp": "/completion",
    "koboldcpp": "/api/v1/generate",
    "ollama": "/api/generate",
    "webui": "/v1/completions",
    "lmstudio": "/v1/completions",
    "vllm": "/v1/completions",
}
# The field a request's grammar goes in, per server; None: the server takes no grammar.
GRAMMAR_FIELDS = {"llamacpp": "grammar", "koboldcpp": "grammar", "webui": "grammar_string"}
MODEL = "served-model"


class FakeLocalServer:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._replies: deque[str] = deque()
        self.default = ""  # what the model writes when nothing is scripted
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeLocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeLocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *texts: str) -> None:
        """What the model writes for the next requests: the text after the prompt."""
        self._replies.extend(texts)

    def next_reply(self) -> str:
        return self._replies.popleft() if self._replies else self.default

    def problem(self, path: str, body: dict[str, Any]) -> tuple[int, str] | None:
        """The status and message the real server would answer this request with, if it refuses it."""
        if path != PATHS[self.kind]:
            return 404, f"{path} not found"
        if not isinstance(body.get("prompt"), str):
            return 400, "prompt must be a string"
        grammar = GRAMMAR_FIELDS.get(self.kind)
        if grammar and grammar in body and not isinstance(body[grammar], str):
            return 400, f"{grammar} must be a GBNF string"
        checks = {
            "llamacpp": lambda: isinstance(body.get("n_predict", -1), int),
            "koboldcpp": lambda: (
                isinstance(body.get("max_length", 100), int)
                and isinstance(body.get("stop_sequence", []), list)
            ),
            # stream must be false for one JSON reply: otherwise Ollama streams lines of JSON
            "ollama": lambda: (
                body.get("model") == MODEL
                and body.get("stream") is False
                and isinstance(body.get("options", {}), dict)
            ),
            "vllm": lambda: body.get("model") == MODEL,
        }
        if not checks.get(self.kind, lambda: True)():
            if self.kind in ("ollama", "vllm") and body.get("model") != MODEL:
                return 404, f"model '{body.get('model')}' not found"
            return 422, "invalid request fields"
        return None


def _events(kind: str, text: str, prompt: str) -> bytes:
    pieces = [text[i : i + 9] for i in range(0, len(text), 9)]
    if kind == "llamacpp":
        events: list[dict[str, Any]] = [{"content": p, "stop": False} for p in pieces]
        events.append(
            {
                "content": "",
                "stop": True,
                "stop_type": "eos",
                "tokens_predicted": len(pieces),
                "tokens_evaluated": len(prompt.split()),  # the fake's tokens: words
            }
        )
        return "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode()
    events = [{"choices": [{"index": 0, "text": p, "finish_reason": None}]} for p in pieces]
    events.append({"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
    return ("".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n").encode()


def _whole(kind: str, text: str) -> dict[str, Any]:
    if kind == "koboldcpp":
        return {"results": [{"text": text, "finish_reason": "stop"}]}
    return {
        "model": MODEL,
        "response": text,
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 40,
        "eval_count": 12,
    }


def _handler(fake: FakeLocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._json(400, {"error": "body is not JSON"})
                return
            path = self.path.split("?")[0]
            if path == "/tokenize" and fake.kind == "llamacpp":
                self._json(200, {"tokens": list(range(len(str(body.get("content", "")).split())))})
                return
            fake.requests.append((path, body))
            if problem := fake.problem(path, body):
                status, message = problem
                self._json(status, {"error": {"message": message, "code": status}})
                return
            text = fake.next_reply()
            if fake.kind in ("koboldcpp", "ollama"):
                self._json(200, _whole(fake.kind, text))
            else:
                self._send(200, "text/event-stream", _events(fake.kind, text, body["prompt"]))

        def _json(self, status: int, payload: Any) -> None:
            self._send(status, "application/json", json.dumps(payload).encode())

        def _send(self, status: int, kind: str, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
