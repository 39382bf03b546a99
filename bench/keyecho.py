"""Key echo: how long a typed character takes to appear while a long reply streams in.

The real ``memgpt-tui`` runs in a pseudo-terminal against an OpenAI-compatible fake that streams a
send_message reply of ``--tokens`` tokens (4 characters each) at ``--rate`` tokens/s. While it
streams, the benchmark types one character at a time into the input (letters no reply contains),
times each until it is on screen, and deletes it again. The same is measured with the agent idle
first (once it has finished opening), for reference.
"""

from __future__ import annotations

import os
import time

from tests.fakes.openai_server import FakeOpenAIServer, Reply

from .common import Figure, Words, private_home, timing
from .fixtures import build_agent, settings_for
from .report import standalone
from .startup import INPUT_READY, console_script
from .terminal import Terminal

KEYS = "αβγδεζηθικλμνξπρστυφχψω"  # never in the ASCII reply
BACKSPACE = "\x7f"
CHARS_PER_TOKEN = 4
PAUSE = 0.05  # between keystrokes, as a fast typist
SETTLE = 3.0  # seconds for the agent to finish opening behind the first screen: idle means idle


def long_reply(tokens: int) -> tuple[Reply, str, float]:
    """The reply, words on screen once it streams, and how many seconds it streams."""
    words = Words(17)
    text = ""
    while len(text) < tokens * CHARS_PER_TOKEN:
        text += words.sentence(12) + " "
    text = text[: tokens * CHARS_PER_TOKEN]
    reply = Reply.tool_call(
        "send_message", {"message": text}, content="Telling the long story now.", chunk_size=CHARS_PER_TOKEN
    )
    events = len(text) // CHARS_PER_TOKEN + 10
    return reply, " ".join(text.split()[:3]), events


def echo(term: Terminal, count: int, until: float = float("inf")) -> list[float]:
    seconds = []
    for n in range(count):
        if time.monotonic() > until:
            break
        key = KEYS[n % len(KEYS)]
        mark = term.mark()
        sent = term.write(key)
        seconds.append(term.wait_for(key, since=mark, timeout=30) - sent)
        term.write(BACKSPACE)
        time.sleep(PAUSE)
    return seconds


def measure(tokens: int, rate: float) -> list[Figure]:
    with private_home("keyecho") as home, FakeOpenAIServer() as server:
        build_agent(settings_for(server), "bench", messages=300, passages=0)
        reply, shown, events = long_reply(tokens)
        reply.chunk_delay = 1 / rate
        server.default = reply
        env = {**os.environ, "MEMGPT_TUI_HOME": str(home)}
        with Terminal([console_script(), "--agent", "bench"], env) as term:
            term.wait_for(INPUT_READY)
            time.sleep(SETTLE)
            idle = echo(term, 30)
            mark = term.mark()
            term.write("Tell me a long story.\r")
            started = term.wait_for(shown, since=mark)
            streaming = echo(term, 10_000, until=started + events / rate - 0.5)
    note = f"{tokens:,}-token reply at {rate:g} tokens/s; {len(streaming)} keystrokes"
    return [
        timing("key echo while streaming", streaming, 50.0, judge="p95", note=note),
        timing("key echo, idle", idle, note=f"{len(idle)} keystrokes"),
    ]


def run(quick: bool) -> list[Figure]:
    return measure(1000 if quick else 2000, 200)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(__doc__, argv, measure, tokens=2000, rate=200.0)


if __name__ == "__main__":
    main()
