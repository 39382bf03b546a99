"""A stateful property test of crashes, restores and undos, on the loopback fake LLM.

Hypothesis drives one agent through send / crash at a random point / reopen / restore / undo / pop /
retry. A crash abandons the agent in the middle of what it was doing, without closing its store (as a
kill would: the writer thread stops, the journal stays as written, the lock goes); a few rules kill a
real process instead (``kill_child``). After every rule, recall holds every user message that was ever
journaled and not deliberately popped or restored away, and an undo brings back exactly the state
before its restore.

``make test`` runs a short derandomized search; ``MEMGPT_TUI_CRASH_EXAMPLES=50`` runs a longer one.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from memgpt_tui import runtime
from memgpt_tui.config import Settings
from memgpt_tui.engine.agent import Agent
from memgpt_tui.model import events as ev
from memgpt_tui.store.agent_store import LanceAgentStore
from tests.e2e.test_kill_restore import run_until_killed
from tests.fakes.openai_server import FakeOpenAIServer, Reply

UNDOS = ["just before", "head seen", "no"]
LONG = int(os.environ.get("MEMGPT_TUI_CRASH_EXAMPLES", "0"))
REPLIES = {
    "message": Reply.tool_call("send_message", {"message": "ok"}, content="Reply."),
    "archival": Reply.tool_call(
        "archival_memory_insert", {"content": "a fact", "request_heartbeat": True}, content="Note it."
    ),
    "core": Reply.tool_call(
        "core_memory_append", {"label": "human", "content": "likes tea", "request_heartbeat": False}
    ),
}


class Killed(BaseException):
    """Raised where the simulated kill falls: nothing of the agent runs past it."""


def abandon(store: LanceAgentStore) -> None:
    """What a kill leaves of a store: its background writer stops after the batch in hand, nothing
    more is written, the lock is gone; nothing is flushed or closed in order."""
    store._stop.set()
    store._wake.set()
    store._writer.join()
    store._closed = True
    store._journal.close()
    store._lock_file.release()


def state_of(agent: Agent) -> tuple[object, ...]:
    store = agent.store
    recall = [(m.id, m.content) for m in store.recent_messages(None, 100_000)]
    archival = sorted(p.text for p in store.archival_list(0, 100_000).items)
    window = [m.id for m in agent.buffer]
    return (agent.memory(), window, agent.state.summary, recall, archival, agent.unanswered())


class CrashMachine(RuleBasedStateMachine):
    server: FakeOpenAIServer
    home: Path

    def __init__(self) -> None:
        super().__init__()
        CrashMachine.runs += 1
        self.name = f"agent{CrashMachine.runs}"
        self.settings = Settings.load(
            backend="openai-compatible",
            base_url=self.server.base_url,
            model="fake-model",
            no_verify=True,
            max_retries=0,
        )
        self.loop = asyncio.new_event_loop()
        self.agent: Agent = self.run(runtime.open_agent(self.settings, self.name))
        self.kept: set[str] = set()  # user messages recall must hold
        self.at_checkpoint: dict[str, set[str]] = {}  # what recall held when each checkpoint was made
        self.failed_here = False  # the model failed to answer a message since the agent was opened
        self.killed = False  # this case killed a real process

    runs = 0

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.agent.close())
        self.loop.close()

    def user_ids(self) -> set[str]:
        return {m.id for m in self.agent.store.recent_messages(None, 100_000) if m.kind == "user_message"}

    def listen(self, crash_at: int | None) -> list[ev.Event]:
        """Record the checkpoints made and the messages journaled; raise Killed at event ``crash_at``."""
        agent, seen = self.agent, []

        def on(event: ev.Event) -> None:
            seen.append(event)
            if isinstance(event, ev.StepStarted) and event.reason == "user":
                self.kept |= {m.id for m in agent.store.pending_user_messages()}
            if isinstance(event, ev.CheckpointCreated):
                self.at_checkpoint[event.id] = set(self.kept)
            if crash_at is not None and len(seen) == crash_at:
                abandon(agent.store)  # type: ignore[arg-type]
                raise Killed

        self._unsubscribe = agent.subscribe(on)
        return seen

    def act(self, coro, crash_at: int | None) -> None:  # type: ignore[no-untyped-def]
        self.listen(crash_at)
        try:
            self.run(coro)
        except Killed:
            self.run(self.agent.llm.aclose())  # only to spare the test's loop a warning
            self.agent = self.run(runtime.open_agent(self.settings, self.name, create=False))
            self.failed_here = False
            return
        self._unsubscribe()

    # ------------------------------------------------------------------ rules

    @initialize(crash_at=st.integers(1, 24), pick=st.integers(0, 1_000), undo=st.sampled_from(UNDOS))
    def talk(self, crash_at: int, pick: int, undo: str) -> None:
        """Two answered turns, so that there are checkpoints to go back to, then one the process dies
        in, and a restore after reopening; and a real process killed (in the short run, only once)."""
        self.server.default = REPLIES["message"]
        for n in range(2):
            self.act(self.agent.send(f"hello {n}"), None)
        self.send("archival", crash_at)
        self.restore(pick, undo)
        if LONG or not CrashMachine.kills:
            self.kill_a_process(0.8)

    @rule(reply=st.sampled_from(sorted(REPLIES)), crash_at=st.integers(1, 24))
    def send(self, reply: str, crash_at: int) -> None:
        """Send a message; the process dies at event ``crash_at`` of the turn, if it has that many."""
        self.server.default = REPLIES[reply]
        self.act(self.agent.send(f"message {len(self.kept)} {reply}"), crash_at)

    @rule()
    def send_while_the_model_is_down(self) -> None:
        """The message is journaled and stays unanswered, in this session."""
        self.server.script(Reply.server_error(503))
        self.act(self.agent.send(f"message {len(self.kept)} unanswered"), None)
        self.server.unscript()
        assert self.agent.unanswered() is not None
        self.failed_here = True

    @rule(crash_at=st.integers(1, 24))
    def retry(self, crash_at: int) -> None:
        if not any(m.kind == "user_message" for m in self.agent.buffer) and self.agent.unanswered() is None:
            return
        self.act(self.agent.retry(), crash_at)

    @rule(count=st.integers(1, 4))
    def pop(self, count: int) -> None:
        if len(self.agent.buffer) <= 2:
            return
        before = self.user_ids()
        self.listen(None)
        self.run(self.agent.pop(count))
        self._unsubscribe()
        self.kept -= before - self.user_ids()

    @rule()
    def close_and_reopen(self) -> None:
        self.run(self.agent.close())
        self.agent = self.run(runtime.open_agent(self.settings, self.name, create=False))
        self.failed_here = False

    @rule(pick=st.integers(0, 1_000), undo=st.sampled_from(UNDOS))
    def restore(self, pick: int, undo: str) -> None:
        """Restore an older checkpoint, then maybe undo that: restore the checkpoint just before it (the
        TUI's undo) or the head seen before restoring (line mode's /load of it), which must bring back
        exactly the state before. (A message the model failed to answer in this session is pinned by
        the restore itself: then only the first is an undo.)"""
        checkpoints = self.run(self.agent.checkpoints())
        older, seen = checkpoints[:-1], checkpoints[-1]
        if not older:
            return
        if undo == "head seen" and self.failed_here:
            undo = "just before"
        target = older[pick % len(older)]
        before, kept_before = state_of(self.agent), set(self.kept)
        self.listen(None)
        info = self.run(self.agent.restore(target.id))
        self._unsubscribe()
        if target.id in self.at_checkpoint:
            self.kept = set(self.at_checkpoint[target.id])
        else:  # a pin, or a checkpoint of a process killed later: what recall holds now
            self.kept &= self.user_ids()
        self.at_checkpoint[info.id] = set(self.kept)
        if undo == "no":
            return
        checkpoints = self.run(self.agent.checkpoints())
        assert checkpoints[-1].id == info.id
        self.listen(None)
        undone = self.run(self.agent.restore(checkpoints[-2].id if undo == "just before" else seen.id))
        self._unsubscribe()
        after = state_of(self.agent)
        labels = ("core memory", "window", "summary", "recall", "archival", "unanswered message")
        for label, old, new in zip(labels, before, after, strict=True):
            assert new == old, f"the undo changed {label}"
        self.kept = kept_before
        self.at_checkpoint[undone.id] = set(kept_before)

    @rule(seconds=st.floats(0.3, 1.2))
    def kill_a_process(self, seconds: float) -> None:
        """The same agent in a real process, killed with SIGKILL while it talks."""
        if self.killed or (CrashMachine.kills and not LONG):  # a few: each costs a process start
            return
        self.killed = True
        CrashMachine.kills += 1
        self.run(self.agent.close())
        env = {**os.environ, "MEMGPT_TUI_HOME": str(self.home), "KILL_CHILD_AGENT": self.name}
        lines = run_until_killed(self.server.base_url, env, seconds, "--no-restores")
        self.agent = self.run(runtime.open_agent(self.settings, self.name, create=False))
        self.failed_here = False
        acked = {line[4:] for line in lines if line.startswith("ack ")}
        recall = {m.user_text(): m.id for m in self.agent.store.recent_messages(None, 100_000)}
        assert acked <= set(recall), f"acknowledged but lost: {sorted(acked - set(recall))}"
        self.kept |= {recall[text] for text in acked}

    kills = 0

    @invariant()
    def recall_keeps_every_journaled_message(self) -> None:
        missing = self.kept - self.user_ids()
        assert not missing, f"user messages lost from recall: {sorted(missing)}"


@pytest.fixture
def machine_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = FakeOpenAIServer().start()
    CrashMachine.server, CrashMachine.home, CrashMachine.kills = server, tmp_path / "home", 0
    yield
    server.stop()


def test_crashes_restores_and_undos_lose_nothing(machine_env):
    run = CrashMachine.TestCase
    run.settings = settings(
        max_examples=LONG or 3,
        stateful_step_count=8 if not LONG else 30,
        derandomize=not LONG,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    run().runTest()
