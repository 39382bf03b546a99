"""One Textual message class per engine event class, so widgets handle events with ``@on``.

The classes are made from the event classes in ``model/events.py`` when this module is imported: a new
engine event gets its message without an edit here. A handler names it as ``@on(message_for(ev.StepStarted))``.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from textual.message import Message

from ..model import events as ev

E = TypeVar("E", bound=ev.Event)


class EngineMessage(Message, Generic[E], bubble=False):
    """An engine event delivered to one widget. Never bubbles: the bridge posts to each subscriber."""

    def __init__(self, event: E) -> None:
        super().__init__()
        self.event = event


def event_classes() -> list[type[ev.Event]]:
    # From the module, not ``Event.__subclasses__()``: that also lists the classes ``slots=True`` replaced.
    return [
        c for c in vars(ev).values() if isinstance(c, type) and issubclass(c, ev.Event) and c is not ev.Event
    ]


# Named like the event: Textual derives the handler name from it (``on_step_started``). ``bubble`` is
# given again: Textual sets it on every subclass, to True unless told.
MESSAGES: dict[type[ev.Event], type[EngineMessage[Any]]] = {
    cls: type(cls.__name__, (EngineMessage,), {"__module__": __name__}, bubble=False)
    for cls in event_classes()
}


def message_for(event_class: type[E]) -> type[EngineMessage[E]]:
    return MESSAGES[event_class]
