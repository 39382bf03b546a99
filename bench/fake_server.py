"""The OpenAI-compatible fake in a process of its own, as a real server would be.

``python -m bench.fake_server`` prints its base URL, answers every chat request with a streamed
send_message call, and exits when its standard input closes. In the benchmark's own process the fake's
handler threads would take the GIL from the code being measured.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.fakes.openai_server import FakeOpenAIServer, Reply

from .common import REPO


@contextmanager
def separate_fake_server() -> Iterator[str]:
    """The base URL of a fake running in a child process, for the duration."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_server"],
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
    with FakeOpenAIServer() as server:
        server.default = Reply.tool_call(
            "send_message", {"message": "Here is my reply."}, content="Answer briefly."
        )
        print(server.base_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
