"""Two processes: the lock between them, and kill -9 at random instants."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from memgpt_tui.model.errors import AgentLocked
from memgpt_tui.store import registry
from memgpt_tui.store.agent_store import LanceAgentStore
from tests.store.helpers import HashEmbedder

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def child(mode: str, root: str) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.store.child", mode, root],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        process.kill()
        process.wait()


def test_second_opener_is_refused_and_a_killed_holder_does_not_block(
    root: str, embedder: HashEmbedder
) -> None:
    registry.create_store(root, "crash", embedder).close()
    with child("hold", root) as holder:
        with pytest.raises(AgentLocked, match=f"pid {holder.pid}"):
            registry.open_store(root, "crash", embedder)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    registry.open_store(root, "crash", embedder).close()


def test_second_opener_in_the_same_process_is_refused(
    store: LanceAgentStore, root: str, embedder: HashEmbedder
) -> None:
    with pytest.raises(AgentLocked, match=f"is open in another memgpt-tui \\(pid {os.getpid()}"):
        registry.open_store(root, "sam", embedder)


def check_consistent(store: LanceAgentStore, completed: str | None) -> None:
    """The store agrees with its head checkpoint; only the human's unanswered words may be extra."""
    checkpoints = store.checkpoints()
    ids = [c.id for c in checkpoints]
    if completed is not None:
        assert completed in ids, "a checkpoint that completed was lost"
    head = store.head()
    if head is None:
        assert completed is None
        assert all(m.kind == "user_message" for m in store.recent_messages(None, 10_000))
        return
    info = checkpoints[-1]
    assert head.blocks[0].value in (f"persona after step {head.step}", "I am Sam.")
    pending = store.pending_user_messages()
    assert all(m.kind == "user_message" for m in pending)
    pinned = info.summary.startswith("reopened after an unfinished step")  # the pin counts them already
    assert store.count_messages() == info.messages + (0 if pinned else len(pending))
    assert store.archival_count() == info.archival
    assert len(store.get_messages(head.in_context_ids)) == len(head.in_context_ids)
    pending_ids = {m.id for m in pending}
    for message in store.recent_messages(None, 10_000):
        assert message.step <= head.step or message.id in pending_ids, message
    for passage in store.archival_list(0, 10_000).items:
        assert passage.metadata["step"] <= head.step


def killed(mode: str, root: str, steps: int, pause: float) -> list[str]:
    """The checkpoints a child in ``mode`` completed: ``steps`` of them, then ``pause`` s, then kill -9."""
    with child(mode, root) as worker:
        assert worker.stdout is not None
        lines = [worker.stdout.readline() for _ in range(steps)]
        time.sleep(pause)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        lines += worker.stdout.read().splitlines()
    return [line.split()[1] for line in lines if line.startswith("checkpoint")]


def test_kill_at_random_instants_leaves_a_consistent_store(root: str) -> None:
    rng = random.Random(1234)
    completed: str | None = None
    for _ in range(4):
        # six checkpoints, however late on a busy machine, so history grows; then a random instant
        printed = killed("work", root, 6, rng.uniform(0.0, 0.8))
        completed = printed[-1] if printed else completed
        store = registry.open_store(root, "crash", HashEmbedder())
        try:
            check_consistent(store, completed)
        finally:
            store.close()
    store = registry.open_store(root, "crash", HashEmbedder())
    try:
        checkpoints = store.checkpoints()
        assert len(checkpoints) > 20
        for target in rng.sample(checkpoints[:-1], 3):  # history survived the kills, too
            store.restore(target.id)
            assert (store.count_messages(), store.archival_count()) == (target.messages, target.archival)
    finally:
        store.close()


def test_a_new_agent_killed_before_it_made_its_tables_keeps_every_completed_step(root: str) -> None:
    printed = killed("talk", root, 5, random.uniform(0.0, 0.3))
    agent = Path(root) / "crash"
    assert not list(agent.glob("*.lance")) and list((agent / "journal").glob("*.log"))  # all in the journal
    store = registry.open_store(root, "crash", HashEmbedder())
    try:
        check_consistent(store, printed[-1])
        assert len(store.checkpoints()) >= len(printed)
        assert len(list(agent.glob("*.lance"))) == 5  # the open made the tables and replayed the journal
    finally:
        store.close()
