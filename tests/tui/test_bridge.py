"""The bridge: engine events become Textual messages; token floods are merged per frame, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.message import Message

from memgpt_tui.model import events as ev
from memgpt_tui.tui.bridge import Bridge, merge_tokens
from memgpt_tui.tui.messages import EngineMessage, message_for


class FakeAgent:
    def __init__(self) -> None:
        self.listeners: list[Callable[[ev.Event], None]] = []

    def subscribe(self, listener: Callable[[ev.Event], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def emit(self, event: ev.Event) -> None:
        for listener in list(self.listeners):
            listener(event)


class Target:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def post_message(self, message: Message) -> bool:
        assert isinstance(message, EngineMessage)
        assert type(message) is message_for(type(message.event)) and not message.bubble
        self.events.append(message.event)
        return True


def test_merge_tokens_keeps_channel_order() -> None:
    tokens = [
        ev.Token("thought", "a"),
        ev.Token("thought", "b"),
        ev.Token("message", "c"),
        ev.Token("thought", "d"),
    ]
    assert merge_tokens(tokens) == [
        ev.Token("thought", "ab"),
        ev.Token("message", "c"),
        ev.Token("thought", "d"),
    ]


async def test_a_token_flood_becomes_one_message_per_frame() -> None:
    agent, target = FakeAgent(), Target()
    Bridge(agent, [target], frame=0.01)  # type: ignore[arg-type]
    for i in range(500):
        agent.emit(ev.Token("thought", f"{i} "))
    assert target.events == []  # nothing posted synchronously per token
    await asyncio.sleep(0.05)
    assert len(target.events) == 1
    assert target.events[0] == ev.Token("thought", "".join(f"{i} " for i in range(500)))


async def test_other_events_flush_pending_tokens_first() -> None:
    agent, target = FakeAgent(), Target()
    Bridge(agent, [target], frame=10)  # type: ignore[arg-type]
    agent.emit(ev.Token("thought", "think"))
    agent.emit(ev.Token("message", "hel"))
    agent.emit(ev.Token("message", "lo"))
    agent.emit(ev.AssistantMessage("hello"))
    assert target.events == [
        ev.Token("thought", "think"),
        ev.Token("message", "hello"),
        ev.AssistantMessage("hello"),
    ]


async def test_events_from_other_threads_arrive_on_the_loop() -> None:
    agent, target = FakeAgent(), Target()
    Bridge(agent, [target], frame=0.01)  # type: ignore[arg-type]
    await asyncio.to_thread(agent.emit, ev.Notice("info", "from a thread"))
    await asyncio.sleep(0.02)
    assert target.events == [ev.Notice("info", "from a thread")]


async def test_close_unsubscribes() -> None:
    agent, target = FakeAgent(), Target()
    bridge = Bridge(agent, [target])  # type: ignore[arg-type]
    bridge.close()
    agent.emit(ev.Notice("info", "late"))
    assert agent.listeners == [] and target.events == []


async def test_every_subscriber_gets_every_event_in_order() -> None:
    agent, first, second = FakeAgent(), Target(), Target()
    Bridge(agent, [first, second], frame=10)  # type: ignore[list-item]
    agent.emit(ev.Token("message", "hi"))
    agent.emit(ev.AssistantMessage("hi"))
    assert first.events == second.events == [ev.Token("message", "hi"), ev.AssistantMessage("hi")]
