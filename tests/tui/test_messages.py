"""Every engine event is shown somewhere on the main screen, unless it is deliberately left out."""

from __future__ import annotations

from memgpt_tui.tui.messages import event_classes, message_for
from memgpt_tui.tui.screens.main import UNSHOWN, MainScreen
from memgpt_tui.tui.widgets.context_gauge import ContextGauge
from memgpt_tui.tui.widgets.conversation import Conversation
from memgpt_tui.tui.widgets.core_memory import CoreMemoryPane

SUBSCRIBERS = (MainScreen, Conversation, CoreMemoryPane, ContextGauge)  # what the screen's bridge posts to


def test_every_engine_event_has_a_handler_or_is_unshown() -> None:
    # Textual collects each class's @on handlers in _decorated_handlers, keyed by message class.
    handled = {
        message
        for widget in SUBSCRIBERS
        for cls in widget.__mro__
        for message in vars(cls).get("_decorated_handlers", {})
    }
    missing = {event for event in event_classes() if message_for(event) not in handled}
    assert missing == UNSHOWN
