"""Agents on an S3-compatible object store (moto's server on loopback): the whole lifecycle through the
Client, a second machine (another home) on the same bucket, the lease between machines, and what a
kill -9 leaves in the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memgpt_tui.client import Client
from memgpt_tui.model.errors import AgentLocked, StoreError
from memgpt_tui.store import location, paths, registry
from memgpt_tui.store.agent_store import LanceAgentStore, StoreTuning
from memgpt_tui.store.lock import LEASE_FILE
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.fakes.s3_server import LoopbackS3
from tests.store.helpers import FAST, HashEmbedder, make_state, turn

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def s3() -> Iterator[LoopbackS3]:
    with LoopbackS3() as server:
        yield server


@pytest.fixture
def bucket(s3: LoopbackS3, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket's agents root, with the environment pointing at the loopback server."""
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    return s3.bucket_uri()


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Switch to another machine: its own memgpt-tui home (local state: preview, journal segments)."""

    def on(name: str) -> Path:
        home = tmp_path / name
        monkeypatch.setenv("MEMGPT_TUI_HOME", str(home))
        return home

    on("first")
    return on


@pytest.fixture
def llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        server.default = Reply.tool_call("send_message", {"message": "Noted."}, content="Answer briefly.")
        yield server


def recall_text(store: LanceAgentStore) -> str:
    return "\n".join(m.content or "" for m in store.recent_messages(None, 50))


def client(home: Path, bucket: str, llm: FakeOpenAIServer) -> Client:
    return Client(
        home=home,
        store_uri=bucket,
        backend="openai-compatible",
        base_url=llm.base_url,
        model="fake-model",
        no_verify=True,
        context_window=8192,
    )


def test_lifecycle_across_two_machines(
    bucket: str, machine: Callable[[str], Path], llm: FakeOpenAIServer, tmp_path: Path
) -> None:
    first = client(machine("first"), bucket, llm)
    first.create_agent("ada")
    first.user_message("ada", "My name is Ada.")
    saved = first.save("ada", "named")
    llm.script(
        Reply.tool_call(
            "core_memory_append", {"label": "human", "content": "Likes tea.", "request_heartbeat": True}
        )
    )
    first.user_message("ada", "I like tea.")
    assert "Likes tea." in first.get_core_memory("ada")["human"]
    first.restore("ada", saved["id"])
    assert "Likes tea." not in first.get_core_memory("ada")["human"]
    first.user_message("ada", "Still there?")
    made_here = [c["id"] for c in first.checkpoints("ada")]
    first.close()

    exported = registry.export_agent(bucket, "ada", tmp_path / "ada.zip")
    local_root = str(tmp_path / "local-agents")
    registry.import_agent(local_root, exported)
    copy = registry.open_store(local_root, "ada", None)
    try:
        assert [c.id for c in copy.checkpoints()] == made_here
    finally:
        copy.close()

    second = client(machine("second"), bucket, llm)
    assert [a["name"] for a in second.list_agents()] == ["ada"]
    assert [c["id"] for c in second.checkpoints("ada")] == made_here
    assert second.search_recall("ada", "Ada")["total"] >= 1
    second.user_message("ada", "Hello from another machine.")
    liked = next(c for c in second.checkpoints("ada") if c["step"] == 2)  # the step that added the tea
    second.restore("ada", liked["id"])
    assert "Likes tea." in second.get_core_memory("ada")["human"]
    second.close()
    assert not (machine("second") / "agents").exists()  # nothing of the agent lives on the machine


def test_a_second_machine_is_refused_while_the_first_holds_the_agent(
    bucket: str, machine: Callable[[str], Path]
) -> None:
    holder = registry.create_store(bucket, "ada", HashEmbedder(), FAST)
    try:
        machine("second")
        with pytest.raises(AgentLocked, match=f"is open in another memgpt-tui \\(pid {os.getpid()} on "):
            registry.open_store(bucket, "ada", HashEmbedder())
        with pytest.raises(AgentLocked):
            registry.delete(bucket, "ada")
    finally:
        holder.close()
    registry.open_store(bucket, "ada", HashEmbedder()).close()  # released on close: no wait
    registry.delete(bucket, "ada")
    assert registry.list_agents(bucket) == []
    assert not location.exists(paths.store_uri(bucket, "ada"))


def test_a_killed_holder_blocks_only_until_its_lease_runs_out_and_loses_only_the_step_in_flight(
    bucket: str, machine: Callable[[str], Path]
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.store.s3_child", bucket],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        committed = holder.stdout.readline().split()[-1]
        assert holder.stdout.readline().strip() == "ready"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()

    machine("second")
    with pytest.raises(AgentLocked, match=f"pid {holder.pid} .*its lease on the store runs out at"):
        registry.open_store(bucket, "ada", HashEmbedder())
    deadline = time.monotonic() + 20
    while True:
        try:
            store = registry.open_store(bucket, "ada", HashEmbedder(), FAST)
            break
        except AgentLocked:
            assert time.monotonic() < deadline, "the lease of a killed holder never ran out"
            time.sleep(0.25)
    try:
        # the holder's writer never applied anything: the step came back from the shared journal
        assert [c.id for c in store.checkpoints()][-1] == committed
        assert "the committed question" in recall_text(store)
        assert "the question in flight" not in recall_text(store)
        state = store.head()
        assert state is not None
        turn(store, state, "asked on the second machine", "answered there")
        restored, _ = store.restore(committed)
        assert restored.step == 1
        assert "asked on the second machine" not in recall_text(store)
    finally:
        store.close()
    assert location.list_files(paths.join(paths.store_uri(bucket, "ada"), "journal")) == []


def test_a_holder_whose_lease_was_taken_over_stops_writing(bucket: str) -> None:
    store = registry.create_store(bucket, "ada", HashEmbedder(), StoreTuning(lease_seconds=0.6))
    state = make_state("ada")
    turn(store, state, "before", "fine")
    lease = paths.join(paths.store_uri(bucket, "ada"), LEASE_FILE)
    location.write_bytes(lease, b'{"holder": "pid 1 on elsewhere", "expires": 1e12}')  # taken over
    time.sleep(0.6)  # a renewal round
    with pytest.raises(AgentLocked, match="lost its lease"):
        turn(store, state, "after", "refused")
    with pytest.raises(AgentLocked, match="lost its lease"):
        store.close()


def test_of_two_machines_creating_one_name_only_one_gets_it(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = paths.store_uri(bucket, "ada")
    assert location.create_new(paths.join(uri, "agent.json"), b"{}") is not None  # the other machine won
    monkeypatch.setattr(location, "exists", lambda _uri: False)  # after this one looked for the name
    with pytest.raises(StoreError, match="already exists"):
        registry.create_store(bucket, "ada", HashEmbedder())
    assert location.read_bytes(paths.join(uri, "agent.json")) == b"{}"  # the loser removed nothing
