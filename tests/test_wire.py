"""The events that make Letta messages, as the Client and the server pick them before making a record."""

from __future__ import annotations

from memgpt_tui import wire
from memgpt_tui.model import events as ev


def test_the_letta_events_are_those_whose_records_are_letta_messages() -> None:
    events = [
        ev.InnerThought("thinking"),
        ev.FunctionCalled("c1", "send_message", {"message": "hi"}),
        ev.FunctionReturned("c1", "send_message", True, "None"),
        ev.AssistantMessage("hi"),
        ev.Token("message", "h"),
        ev.StepStarted(1, "user"),
        ev.StepFinished(1, None, ("m1",)),
        ev.StepCancelled(1, "taken back"),
        ev.AttemptDiscarded(1, "no call", 1, 3),
        ev.CoreMemoryChanged("human", "", "Likes numbers.", "agent"),
    ]
    for event in events:
        letta = wire.record(event)["message_type"] in wire.LETTA_TYPES
        assert isinstance(event, wire.LETTA_EVENTS) == letta, event
