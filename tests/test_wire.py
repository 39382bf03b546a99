"""The wire records' kinds, as the Client reads them before making a record."""

from __future__ import annotations

from memgpt_tui import wire
from memgpt_tui.model import events as ev


def test_the_kind_of_an_event_is_its_records_message_type() -> None:
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
        assert wire.kind(event) == wire.record(event)["message_type"]
