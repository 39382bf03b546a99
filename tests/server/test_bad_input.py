"""Bad input gets a status and a sentence, never a 500 or a traceback; one turn at a time per agent."""

from __future__ import annotations

import threading
import time

import pytest

from memgpt_tui.config import Limits
from tests.fakes.openai_server import Reply

from .harness import BODY_LIMIT


@pytest.fixture(scope="module")
def agent_id(served) -> str:
    with served.http() as http:
        answer = http.post("/v1/agents/", json={"name": "patient"})
        assert answer.status_code == 200, answer.text
        return answer.json()["id"]


def detail(answer) -> str:
    text = answer.json()["detail"]
    assert isinstance(text, str) and text.endswith(".") and "Traceback" not in text
    return text


def test_malformed_json_and_wrong_types_are_422_with_a_sentence(served, agent_id):
    with served.http() as http:
        broken = http.post(
            f"/v1/agents/{agent_id}/messages",
            content=b'{"messages": [',
            headers={"Content-Type": "application/json"},
        )
        assert broken.status_code == 422 and detail(broken) == "The request body is not valid JSON."
        wrong = http.post(f"/v1/agents/{agent_id}/messages", json={"messages": "hello"})
        assert wrong.status_code == 422 and "messages" in detail(wrong)
        empty = http.post(f"/v1/agents/{agent_id}/messages", json={})
        assert empty.status_code == 422 and "no text" in detail(empty)
        limit = http.get(f"/v1/agents/{agent_id}/messages", params={"limit": "many"})
        assert limit.status_code == 422 and "limit" in detail(limit)
        block = http.patch(f"/v1/agents/{agent_id}/core-memory/blocks/human", json={"value": "x" * 5000})
        assert block.status_code == 422 and "limit" in detail(block)
        missing = http.get(f"/v1/agents/{agent_id}/core-memory/blocks/nope")
        assert missing.status_code == 404 and "nope" in detail(missing)


def test_an_oversized_body_is_413_whether_or_not_it_says_its_length(served, agent_id):
    big = b'{"text": "' + b"x" * (BODY_LIMIT + 10) + b'"}'
    with served.http() as http:
        declared = http.post(
            f"/v1/agents/{agent_id}/archival-memory",
            content=big,
            headers={"Content-Type": "application/json"},
        )
        assert declared.status_code == 413 and "limit" in detail(declared)
        streamed = http.post(
            f"/v1/agents/{agent_id}/archival-memory",
            content=iter([big[:100_000], big[100_000:]]),
            headers={"Content-Type": "application/json"},
        )
        assert streamed.status_code == 413 and "limit" in detail(streamed)
        assert http.get(f"/v1/agents/{agent_id}/archival-memory").json() == []


def test_unknown_paths_are_501_with_a_sentence(served, agent_id):
    with served.http() as http:
        for method, path in [
            ("GET", "/v1/tools/"),
            ("POST", f"/v1/agents/{agent_id}/tools/attach/tool-1"),
            ("PUT", f"/v1/agents/{agent_id}"),
            ("GET", "/nothing/here"),
        ]:
            answer = http.request(method, path)
            assert answer.status_code == 501, (method, path)
            assert "not something this server does" in detail(answer)


def test_a_second_message_during_a_turn_is_409_with_retry_after(served, fake, agent_id):
    fake.script(Reply.tool_call("send_message", {"message": "Slowly."}, content="Take time.", delay=1.5))
    first: dict[str, int] = {}

    def send_first() -> None:
        with served.http() as http:
            first["status"] = http.post(
                f"/v1/agents/{agent_id}/messages", json={"input": "first"}
            ).status_code

    thread = threading.Thread(target=send_first)
    thread.start()
    deadline = time.monotonic() + 20
    while fake.pending and time.monotonic() < deadline:  # until the first turn asks the model
        time.sleep(0.02)
    with served.http() as http:
        second = http.post(f"/v1/agents/{agent_id}/messages", json={"input": "second"})
        assert second.status_code == 409, second.text
        assert second.headers["Retry-After"].isdigit() and "another message" in detail(second)
        edit = http.patch(f"/v1/agents/{agent_id}/core-memory/blocks/human", json={"value": "changed"})
        assert edit.status_code == 409
    thread.join(timeout=30)
    assert first["status"] == 200
    assert "Traceback" not in served.log()


def test_a_model_that_fails_is_a_502_with_its_reason_and_the_message_is_kept(served, fake, agent_id):
    fake.script(Reply.unauthorized())
    with served.http() as http:
        answer = http.post(f"/v1/agents/{agent_id}/messages", json={"input": "Are you there?"})
        assert answer.status_code == 502 and "Incorrect API key" in detail(answer)
        listed = http.get(f"/v1/agents/{agent_id}/messages", params={"limit": 1}).json()
        assert listed[0]["message_type"] == "user_message" and listed[0]["content"] == "Are you there?"


def test_cancel_stops_the_turn_in_progress(served, fake, agent_id):
    fake.script(Reply.tool_call("send_message", {"message": "Too late."}, content="Slow.", delay=3))
    first: dict[str, object] = {}

    def send_first() -> None:
        with served.http() as http:
            first.update(http.post(f"/v1/agents/{agent_id}/messages", json={"input": "Wait for it."}).json())

    thread = threading.Thread(target=send_first)
    thread.start()
    deadline = time.monotonic() + 20
    while fake.pending and time.monotonic() < deadline:
        time.sleep(0.02)
    with served.http() as http:
        assert http.post(f"/v1/agents/{agent_id}/messages/cancel", json={}).json() == {"cancelled": True}
        thread.join(timeout=30)
        assert first["stop_reason"] == {"message_type": "stop_reason", "stop_reason": "cancelled"}
        assert http.post(f"/v1/agents/{agent_id}/messages/cancel", json={}).json() == {"cancelled": False}


def test_a_message_over_the_size_limit_is_422_and_nothing_is_kept(served, agent_id):
    with served.http() as http:
        before = http.get(f"/v1/agents/{agent_id}/messages").json()
        huge = {"input": "x" * (Limits().message_chars + 1)}
        for path in ("messages", "messages/stream"):
            answer = http.post(f"/v1/agents/{agent_id}/{path}", json=huge)
            assert answer.status_code == 422 and "limit" in detail(answer)
        assert http.get(f"/v1/agents/{agent_id}/messages").json() == before


def test_a_message_that_could_never_fit_the_window_is_422_and_nothing_is_kept(served):
    with served.http() as http:
        made = http.post("/v1/agents/", json={"name": "narrow", "context_window_limit": 4096})
        assert made.status_code == 200, made.text
        agent_id = made.json()["id"]
        before = http.get(f"/v1/agents/{agent_id}/messages").json()
        answer = http.post(f"/v1/agents/{agent_id}/messages", json={"input": "word " * 5000})
        assert answer.status_code == 422 and "more than the context window of 4,096" in detail(answer)
        assert http.get(f"/v1/agents/{agent_id}/messages").json() == before
        assert http.delete(f"/v1/agents/{agent_id}").status_code == 200
