"""The main screen: conversation, core memory, context gauge, input; runs the agent's steps in workers.

The layout follows the terminal's size through the breakpoint classes (``breakpoints.py``, main.tcss):
on a narrow screen core memory and the gauge are a strip of one-line forms under the conversation, and
the whole pane takes the conversation's place while it has the focus (F2 goes there and back)."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Literal

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from ...model import events as ev
from ...model.text import redact
from ..bridge import Bridge
from ..messages import EngineMessage, message_for
from ..transcript import STEPS, SystemKind
from ..widgets.chat_input import ChatInput
from ..widgets.context_gauge import ContextGauge
from ..widgets.conversation import Conversation
from ..widgets.core_memory import BlockView, CoreMemoryPane
from ..widgets.find_bar import FindBar
from ..widgets.status_line import StatusLine

if TYPE_CHECKING:
    from ...model.handle import AgentHandle
    from ...model.records import CheckpointInfo

log = logging.getLogger(__name__)

# Engine events no widget of this screen shows (every other one has an ``@on`` handler here).
UNSHOWN: frozenset[type[ev.Event]] = frozenset({ev.CheckpointCreated})  # Checkpoints lists them

EMBEDDED_NOTE = (
    "Embedded gemma-3-270m: a tiny base model. It saves what you say about yourself, archives pastes and "
    "answers simple questions from its notes or a search, seeing only your last message, offered 7 of the 8 "
    "memory functions per step. For an agent that remembers and reasons: `memgpt-tui configure` (README: "
    "Backends)."
)


class MainScreen(Screen[None]):
    CSS_PATH = [
        "main.tcss",
        "../widgets/conversation.tcss",
        "../widgets/core_memory.tcss",
        "../widgets/context_gauge.tcss",
        "../widgets/chat_input.tcss",
    ]
    BINDINGS = [
        Binding("escape", "cancel_step", "Cancel step", id="main.cancel"),
        # Priority: handled before the focused input sees the next keys, which are the query.
        Binding("ctrl+f", "find", "Find", priority=True, id="main.find"),
        Binding("ctrl+b", "memory_browser", "Search memory", id="main.memory_browser"),
        Binding("ctrl+r", "checkpoints", "Checkpoints", id="main.checkpoints"),
        Binding("f2", "edit_memory", "Core memory", id="main.core_memory"),
        Binding("f3", "toggle_note", "Note", id="main.note"),
        Binding("ctrl+l", "focus_input", "Input", show=False, id="main.input"),
        Binding("f1", "help", "Help", id="main.help"),
        Binding("question_mark", "help", "Help", show=False, id="main.help_key"),
    ]

    def __init__(self, agent: AgentHandle) -> None:
        super().__init__()
        self.agent = agent
        self.bridge: Bridge | None = None
        self._step: Worker[None] | None = None
        # Held, not queried: engine events may still arrive while the screen is torn down.
        self.conversation = Conversation(agent, id="conversation")
        self.memory = CoreMemoryPane(agent, id="core-memory")
        self.gauge = ContextGauge(id="gauge")
        unavailable = ", ".join(agent.unavailable)
        self.status = StatusLine(
            f"Not on this server: {unavailable} (F1)" if unavailable else "", id="status"
        )
        self.suggestions = Static(id="suggestions")
        self.chat = ChatInput(id="input")
        self.find = FindBar(agent, self.conversation, self.chat, id="find")
        self.side = Vertical(self.memory, self.gauge, id="side")
        self.note = Static(Content(EMBEDDED_NOTE), id="embedded-note")

    def compose(self) -> ComposeResult:
        config = self.agent.snapshot().config
        source = getattr(self.app, "source", None)
        yield Static(
            Content.from_markup(
                "[b]memgpt-tui[/]  $name  [dim]$where$model[/]",  # the server first: the model is cut first
                name=self.agent.name,
                model=f"{config.backend}:{config.model}",
                where=f"on {source.where}  " if source is not None else "",
            ),
            id="topbar",
        )
        if config.backend == "embedded":
            yield self.note
        with Horizontal(id="body"):
            yield self.conversation
            yield self.side
        yield self.find
        yield self.status
        yield self.suggestions
        yield self.chat
        yield Footer()

    async def on_mount(self) -> None:
        self.bridge = Bridge(self.agent, [self, self.conversation, self.memory, self.gauge])
        self.suggestions.display = False
        self.chat.focus()
        if self.agent.last_context is not None:
            self.gauge.show(self.agent.last_context)
        else:
            self.run_worker(self.agent.refresh_context(), group="context", exit_on_error=False)
        self.run_worker(self._when_open(), group="open", exit_on_error=False)

    async def _when_open(self) -> None:
        """Once the store and model are open: at once, unless the agent is shown from its preview."""
        if not self.agent.is_open:
            self.status.busy("Opening memory and model…", cancellable=False)
            await self.agent.wait_open()
            if not self.busy:
                self.status.idle()
        # What is loaded by now lives as long as the agent is open: out of the collector's full
        # passes, which otherwise stall the loop ~150 ms every second while a reply streams.
        gc.freeze()
        if (unanswered := self.agent.unanswered()) is not None:
            await self.conversation.add_system(
                "warning", f"Your last message was not answered: “{unanswered}”. /retry sends it again."
            )

    def on_unmount(self) -> None:
        gc.unfreeze()
        if self.bridge is not None:
            self.bridge.close()

    @property
    def busy(self) -> bool:
        return self._step is not None and self._step.is_running

    # ----------------------------------------------------------------- events

    @on(message_for(ev.StepStarted))
    def _step_started(self, message: EngineMessage[ev.StepStarted]) -> None:
        step, reason = message.event.step, message.event.reason
        self._status(f"{self.agent.name} is {STEPS[reason].status}… step {step}")

    @on(message_for(ev.Busy))
    def _busy(self, message: EngineMessage[ev.Busy]) -> None:
        what, total = message.event.what, message.event.total
        self._status(f"{what} {total} messages…" if total else f"{what}…")

    @on(message_for(ev.StepCancelled))
    def _step_cancelled(self, message: EngineMessage[ev.StepCancelled]) -> None:
        if message.event.returned_text is not None:
            self.chat.restore(message.event.returned_text)

    def say(self, kind: SystemKind | Literal["error"], text: str, hint: str = "") -> None:
        """A line in the conversation after every engine event posted so far."""
        self.conversation.post_message(Conversation.Line(kind, text, hint))

    def _status(self, text: str) -> None:
        if self.busy:
            self.status.busy(text)

    # ------------------------------------------------------------------ input

    @on(ChatInput.Submitted)
    async def _submitted(self, message: ChatInput.Submitted) -> None:
        if message.text.lstrip().startswith("/"):
            await self.run_command(message.text.strip())
        else:
            await self.send(message.text)

    async def send(self, text: str) -> None:
        if self.busy:
            self.chat.restore(text)
            self.notify(
                "The agent is still working: wait for it, or press Esc to cancel.", severity="warning"
            )
            return
        if refusal := self.agent.refusal(text):  # a paste too large to send: neither shown nor kept
            from ...model.handle import TOO_LONG_HINT

            self.say("error", refusal, TOO_LONG_HINT)
            return
        await self.conversation.add_user(text)
        self.start_step(self.agent.send(text), "thinking…")

    async def run_command(self, line: str) -> None:
        from ...commands import BY_NAME

        name = line.split(maxsplit=1)[0]
        read_only = name in BY_NAME and BY_NAME[name].read_only
        if self.busy and not read_only:
            self.chat.restore(line)
            self.notify(f"{name} waits until the agent is done, or press Esc to cancel.", severity="warning")
            return
        await self.conversation.add_system("command", line)
        if read_only:
            self.run_worker(self._command(line), group="command", exit_on_error=False)
        else:
            self.start_step(self._command(line), f"{name}…")

    async def _command(self, line: str) -> None:
        from ... import commands

        try:
            result = await commands.run(self.agent, line, _attach)
        except commands.CommandError as exc:
            self.say("error", str(exc))
            return
        if result.exit:
            await self.app.action_quit()
        elif result.opens == "help":
            self.action_help()
        elif result.opens == "checkpoints":
            self.action_checkpoints()
        elif result.text:
            self.say("output", result.text)

    def start_step(self, work: Coroutine[Any, Any, None], status: str) -> None:
        self._step = self.run_worker(work, group="step", exit_on_error=False)
        self.status.busy(status)
        self.refresh_bindings()

    @on(Worker.StateChanged)
    async def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.group in ("step", "command"):
            self._unexpected(worker.error)
        if worker is not self._step or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        self._step = None
        self.status.idle()
        self.refresh_bindings()

    def _unexpected(self, error: BaseException | None) -> None:
        from ...config import ConfigError
        from ...model.errors import AgentError, StoreError

        if isinstance(error, AgentError | StoreError | ConfigError):  # these say what to do
            self.say("error", redact(str(error)))
            return
        log.error("step failed", exc_info=error)
        self.say(
            "error",
            redact(f"Unexpected error: {type(error).__name__}: {error}"),
            "Details are in the log file. Your message is kept: /retry sends it again.",
        )

    # ---------------------------------------------------------------- actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_step":
            return self.busy
        if action == "toggle_note":  # the note is folded to one line only on a short screen
            return self.note.is_attached and self.has_class("-short")
        return True

    def on_resize(self) -> None:
        self.call_later(self._fit_footer)  # Screen sets the breakpoint classes after this handler

    def _fit_footer(self) -> None:
        """The breakpoint classes may have changed what the footer offers, and how much room it has."""
        footer = self.query_one(Footer)
        footer.compact = self.has_class("-narrow")
        footer.show_command_palette = not self.has_class("-narrow")  # ctrl+p still opens it
        self.refresh_bindings()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.set_class(self.side in event.widget.ancestors_with_self, "-memory-open")

    def action_cancel_step(self) -> None:
        """Esc: cancel the step in flight. A message the model has not answered yet goes back to the input."""
        if self._step is None or not self.busy:
            return
        self._step.cancel()

    async def cancel_and_wait(self) -> None:
        worker = self._step
        if worker is not None and worker.is_running:
            self.action_cancel_step()
            with contextlib.suppress(Exception):  # WorkerCancelled: that is what we asked for
                await worker.wait()

    def action_memory_browser(self) -> None:
        from .memory_browser import MemoryBrowser

        self.app.push_screen(MemoryBrowser(self.agent))

    def action_checkpoints(self) -> None:
        from .checkpoints import CheckpointBrowser

        self.app.push_screen(CheckpointBrowser(self.agent), self._restored)

    def _restored(self, info: CheckpointInfo | None) -> None:
        if info is not None:
            self.notify(
                f"Restored {restored_name(info)}. The restore is a checkpoint too: open Checkpoints to undo it."
            )

    def action_edit_memory(self) -> None:
        """F2: to core memory, or back to the input from it."""
        views = list(self.query(BlockView))
        if not views or (self.focused is not None and self.side in self.focused.ancestors_with_self):
            self.chat.focus()
        else:
            views[0].focus()

    def action_toggle_note(self) -> None:
        self.note.toggle_class("-open")

    def action_focus_input(self) -> None:
        self.chat.focus()

    def action_find(self) -> None:
        self.find.open()

    def action_help(self) -> None:
        from .help import HelpScreen

        self.app.push_screen(HelpScreen((type(self), type(self.app)), self.agent.unavailable))

    def greet(self) -> None:
        """A new agent speaks first (MemGPT's login event)."""
        self.start_step(self.agent.login(), "greeting…")

    def prefill(self, text: str) -> None:
        """Put a command in the input for the user to finish (the palette, for commands with arguments)."""
        self.chat.load_text(text)
        self.chat.move_cursor(self.chat.document.end)
        self.chat.focus()

    # ------------------------------------------------------------ suggestions

    @on(ChatInput.CommandTyped)
    def _command_typed(self, message: ChatInput.CommandTyped) -> None:
        from ...commands import COMMANDS

        box = self.suggestions
        word = message.prefix
        matches = [c for c in COMMANDS if word is not None and c.name.startswith(word)]
        if word is not None and not matches:
            box.update(Content(f"No command starts with {word}. /help lists them."))
        else:
            width = max((len(f"{c.name} {c.args}") for c in matches), default=0)
            box.update(
                Content("\n").join(
                    Content.from_markup(
                        "[b]$usage[/]  [dim]$help[/]", usage=f"{c.name} {c.args}".ljust(width), help=c.help
                    )
                    for c in matches
                )
            )
        box.display = word is not None


def restored_name(head: CheckpointInfo) -> str:
    """The checkpoint a restore went back to, from the head it made ("restored <label or step N>")."""
    step = f"step {head.step}"
    label = (head.label or "").removeprefix("restored ")
    return step if label in ("", step) else f"{step} [{label}]"


async def _attach(agent: AgentHandle, source: str) -> int:
    from ... import runtime

    return await runtime.attach(agent, source)
