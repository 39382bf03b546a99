"""Faults: a client gone mid-stream, kill -9 then a restart, SIGTERM with turns in flight."""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest

from memgpt_tui.store import registry
from tests.fakes.openai_server import Reply

from .harness import start

SHUTDOWN_DEADLINE = 4  # seconds: the quick turn's 1.5 s fit in it, the slow one's 20 s do not


def said(http, agent_id: str) -> list[str]:
    """What recall holds, oldest first: the user's words and the agent's replies."""
    records = http.get(f"/v1/agents/{agent_id}/messages", params={"order": "asc", "limit": 1000}).json()
    return [r["content"] for r in records if r["message_type"] in ("user_message", "assistant_message")]


def wait_for_model_call(fake) -> None:
    deadline = time.monotonic() + 20
    while fake.pending and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_client_gone_mid_stream_loses_nothing(served, fake):
    with served.http() as http:
        agent_id = http.post("/v1/agents/", json={"name": "leaver"}).json()["id"]
        fake.script(
            Reply.tool_call(
                "send_message", {"message": "A long, slow answer."}, content="Think.", chunk_delay=0.1
            )
        )
        body = {"messages": [{"role": "user", "content": "Tell me slowly."}], "stream_tokens": True}
        with http.stream("POST", f"/v1/agents/{agent_id}/messages/stream", json=body) as stream:
            first = next(stream.iter_lines())
            assert first.startswith("data: ")
        # The connection is closed; the turn goes on to its end and is kept.
        deadline = time.monotonic() + 20
        while "A long, slow answer." not in said(http, agent_id) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert said(http, agent_id)[-2:] == ["Tell me slowly.", "A long, slow answer."]


@pytest.fixture(scope="module")
def restarted(tmp_path_factory, fake):
    """A server that acknowledged a message, was killed with SIGKILL, and was started again on its home."""
    home = tmp_path_factory.mktemp("faults")
    first = start(home, fake)
    with first.http() as http:
        agent_id = http.post("/v1/agents/", json={"name": "survivor"}).json()["id"]
        fake.script(
            Reply.tool_call("send_message", {"message": "Noted: the key is under the mat."}, content="t")
        )
        answer = http.post(f"/v1/agents/{agent_id}/messages", json={"input": "The key is under the mat."})
        assert answer.status_code == 200
    first.stop(signal.SIGKILL)
    again = start(home, fake, MEMGPT_TUI_SERVE__SHUTDOWN_DEADLINE=str(SHUTDOWN_DEADLINE))
    yield again, agent_id
    again.stop()


def test_kill_9_then_restart_loses_no_acknowledged_message(restarted):
    served, agent_id = restarted
    with served.http() as http:
        assert said(http, agent_id)[-2:] == ["The key is under the mat.", "Noted: the key is under the mat."]


def test_sigterm_finishes_a_turn_in_time_cancels_one_that_is_not_and_closes_every_store(restarted, fake):
    served, agent_id = restarted
    with served.http() as http:
        slow_id = http.post("/v1/agents/", json={"name": "slow"}).json()["id"]
    cancelled: list[dict[str, object]] = []

    def stream_slow() -> None:  # acknowledged with its 200, then past the deadline
        body = {"messages": [{"role": "user", "content": "Remember the blue door."}]}
        with (
            served.http() as http,
            http.stream("POST", f"/v1/agents/{slow_id}/messages/stream", json=body) as s,
        ):
            cancelled.extend(json.loads(line[6:]) for line in s.iter_lines() if line.startswith("data: {"))

    answer: dict[str, object] = {}

    def send() -> None:
        with served.http() as http:
            reply = http.post(f"/v1/agents/{agent_id}/messages", json={"input": "Quick, before the stop."})
            answer.update(status=reply.status_code, body=reply.json())

    listened: list[float] = []

    def listen() -> None:  # an event stream left open must not hold the shutdown up
        with served.http() as http, http.stream("GET", f"/v1/x-memgpt/agents/{agent_id}/events") as events:
            for _ in events.iter_lines():
                pass
        listened.append(time.monotonic())

    fake.script(Reply.tool_call("send_message", {"message": "Too late."}, content="t", delay=20))
    threads = [threading.Thread(target=stream_slow)]
    threads[0].start()
    wait_for_model_call(fake)
    fake.script(Reply.tool_call("send_message", {"message": "Finished anyway."}, content="t", delay=1.5))
    threads += [threading.Thread(target=listen), threading.Thread(target=send)]
    for thread in threads[1:]:
        thread.start()
    wait_for_model_call(fake)
    began = time.monotonic()
    out = served.stop(signal.SIGTERM)
    for thread in threads:
        thread.join(timeout=30)
    assert listened[0] - began < SHUTDOWN_DEADLINE / 2  # at once, not when the deadline cuts it
    assert answer["status"] == 200, (answer, out)
    assert answer["body"]["messages"][-1]["content"] == "Finished anyway."  # type: ignore[index]
    assert {"message_type": "stop_reason", "stop_reason": "cancelled"} in cancelled
    assert "every agent was closed" in served.log()
    # Closed cleanly: the stores open at once (their locks are free) and hold the finished turn, and the
    # cancelled one's message, unanswered as after a crash.
    for name, kept in (("survivor", "Finished anyway."), ("slow", "Remember the blue door.")):
        store = registry.open_store(str(served.home / "agents"), name, None)
        try:
            recent = store.recent_messages(None, 5)
            assert any(kept in (m.user_text() or "") + str(m.tool_calls) for m in recent)
        finally:
            store.close()
