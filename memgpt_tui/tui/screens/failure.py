"""Opening an agent failed: what happened and the way forward, never a traceback."""

from __future__ import annotations

from typing import Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

Choice = Literal["retry", "back", "quit"]


def describe(exc: BaseException) -> tuple[str, str]:
    """A title and a message with the way forward; the errors users can meet already say what to do."""
    from ...config import ConfigError, home_dir
    from ...model.errors import AgentError, AgentLocked, EmbeddingMismatch, LLMError, ServerError, StoreError

    if isinstance(exc, AgentLocked):
        return "Agent in use", str(exc)
    if isinstance(exc, EmbeddingMismatch):
        return "Embedding model mismatch", str(exc)
    if isinstance(exc, StoreError):
        return "Cannot open the agent's memory", str(exc)
    if isinstance(exc, ConfigError):
        return "Configuration needs a fix", str(exc)
    if isinstance(exc, LLMError):
        return "The model backend failed", f"{exc}\n{exc.hint}".strip()
    if isinstance(exc, ServerError):
        return ("The server refused" if exc.status else "Cannot reach the server"), str(exc)
    if isinstance(exc, AgentError):
        return "Cannot load the agent", str(exc)
    if isinstance(exc, OSError):
        from ...failures import line

        return "Cannot use a file", line(exc)
    log = home_dir() / "logs" / "memgpt-tui.log"
    return "Unexpected error", f"{type(exc).__name__}: {exc}\nDetails are in {log}."


def can_choose_another(exc: BaseException) -> bool:
    """Whether the list of agents can be offered: not when the server is out of reach (or speaks another
    version of the API) or refuses the token, where listing its agents would fail the same way."""
    from ...model.errors import ServerError

    return not isinstance(exc, ServerError) or exc.status not in (0, 401)


class FailureScreen(ModalScreen[Choice]):
    CSS_PATH = "failure.tcss"
    BINDINGS = [Binding("escape,q", "choose('quit')", "Quit", id="failure.quit")]

    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.title_text, self.message = describe(exc)
        self.can_go_back = can_choose_another(exc)

    def compose(self) -> ComposeResult:
        with Vertical(id="failure") as box:
            box.border_title = self.title_text
            yield Static(Content(self.message), id="failure-message")
            with Horizontal(id="failure-buttons"):
                yield Button("Try again", id="retry", variant="primary")
                if self.can_go_back:
                    yield Button("Choose another agent", id="back")
                yield Button("Quit", id="quit", variant="error")

    def on_mount(self) -> None:
        self.query_one("#retry", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_choose(event.button.id or "quit")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)  # type: ignore[arg-type]
