"""kill -9 at random moments while the agent talks, restores and undoes restores (``kill_child``).

After each kill: every user message the app acknowledged is in recall (unless the kill fell between a
restore and its undo, which leaves the restore in effect, as asked), and restoring random checkpoints
then undoing each brings exactly that checkpoint's state and then exactly the state before it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from memgpt_tui.store import registry
from memgpt_tui.store.agent_store import LanceAgentStore
from tests.e2e.test_wire_agent import home  # noqa: F401  (fixture)
from tests.fakes.openai_server import Reply

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def recall(store: LanceAgentStore) -> list[tuple[str, str | None]]:
    return [(m.id, m.content) for m in store.recent_messages(None, 100_000)]


def user_texts(store: LanceAgentStore) -> set[str]:
    return {m.user_text() or "" for m in store.recent_messages(None, 100_000) if m.kind == "user_message"}


def archival(store: LanceAgentStore) -> dict[str, str]:
    return {p.id: p.text for p in store.archival_list(0, 100_000).items}


def run_until_killed(
    base_url: str, env: dict[str, str], seconds: float, *flags: str, acks: int = 0
) -> list[str]:
    """The child's lines; killed ``seconds`` after it acknowledged ``acks`` user messages, however late."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.kill_child", base_url, *flags],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    ready = child.stdout.readline().strip()
    assert ready == "ready", child.stderr.read() if child.stderr else ready
    lines: list[str] = []
    while sum(line.startswith("ack ") for line in lines) < acks and (line := child.stdout.readline()):
        lines.append(line.rstrip("\n"))
    time.sleep(seconds)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    return lines + child.stdout.read().splitlines()


def check_restores_undo_exactly(store: LanceAgentStore, rng: random.Random) -> None:
    older = store.checkpoints()[:-1]
    for target in rng.sample(older, min(2, len(older))):
        before = (recall(store), archival(store), store.head())
        state, _ = store.restore(target.id)
        assert (store.count_messages(), store.archival_count()) == (target.messages, target.archival)
        assert state == store.checkpoint_state(target.id)
        assert len(store.get_messages(state.in_context_ids)) == len(state.in_context_ids)
        store.restore(store.checkpoints()[-2].id)  # undo
        after = (recall(store), archival(store), store.head())
        lost = set(before[0]) - set(after[0])
        extra = set(after[0]) - set(before[0])
        assert after[0] == before[0], (
            f"undo changed recall: lost {sorted(lost)[:3]}, extra {sorted(extra)[:3]}"
        )
        assert after[1] == before[1], "undo changed archival memory"
        assert after[2] == before[2], "undo changed the state"


def test_kills_during_steps_restores_and_undos_lose_nothing(home, openai_fake):  # noqa: F811
    openai_fake.default = Reply.tool_call(
        "archival_memory_insert", {"content": "a fact", "request_heartbeat": False}, content="Noting it."
    )
    env = {**os.environ, "MEMGPT_TUI_HOME": str(home)}
    root, rng = str(home / "agents"), random.Random(13)
    expected: set[str] = set()
    for round_ in range(2):
        if round_:  # first replies that write archival memory, then plain replies
            openai_fake.default = Reply.tool_call("send_message", {"message": "ok"}, content="Reply.")
        lines = run_until_killed(openai_fake.base_url, env, rng.uniform(0.5, 2.0), acks=3)
        expected |= {line.split(" ", 1)[1] for line in lines if line.startswith("ack ")}
        markers = [line for line in lines if line in ("restoring", "undone")]
        store = registry.open_store(root, "victim", None)
        try:
            live = user_texts(store)
            if markers and markers[-1] == "restoring":  # killed between a restore and its undo
                expected = live
            assert expected <= live, f"acknowledged but lost: {sorted(expected - live)[:3]}"
            check_restores_undo_exactly(store, rng)
        finally:
            store.close()
    assert len(expected) > 5
