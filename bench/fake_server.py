"""The OpenAI-compatible fake in a process of its own, as a real server would be.

``python -m bench.fake_server [MARKER]`` prints its base URL, answers every chat request with a streamed
send_message call, and exits when its standard input closes. With a marker, a user message holding it is
answered with a core-memory edit first (``core_memory_append`` asking for a heartbeat). In the
benchmark's own process the fake's handler threads would take the GIL from the code being measured.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.fakes.openai_server import FakeOpenAIServer, Reply

from .common import REPO

REPLY = Reply.tool_call("send_message", {"message": "Here is my reply."}, content="Answer briefly.")


class _EditingServer(FakeOpenAIServer):
    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        last = (body.get("messages") or [{}])[-1]
        if last.get("role") == "user" and self.marker in str(last.get("content")):
            return Reply.tool_call(
                "core_memory_append",
                {_block_key(body): "human", "content": "Likes numbers.", "request_heartbeat": True},
                content="Worth keeping.",
            )
        return REPLY


def _block_key(body: dict[str, Any]) -> str:
    """The name core_memory_append gives its block argument in the request's tools: ``label`` here,
    ``name`` in the original MemGPT 0.3."""
    schemas = [t.get("function", t) for t in body.get("tools") or body.get("functions") or []]
    for schema in schemas:
        if schema.get("name") == "core_memory_append":
            return "name" if "name" in schema.get("parameters", {}).get("properties", {}) else "label"
    return "label"


@contextmanager
def separate_fake_server(memory_marker: str | None = None) -> Iterator[str]:
    """The base URL of a fake running in a child process, for the duration."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_server", *([memory_marker] if memory_marker else [])],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)


def main() -> None:
    server = _EditingServer(sys.argv[1]) if len(sys.argv) > 1 else FakeOpenAIServer()
    server.default = REPLY
    server.record = False
    with server:
        print(server.base_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
