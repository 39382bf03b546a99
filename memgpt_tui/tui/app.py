"""The Textual application: paints at once, opens the agent in a worker, then shows the main screen.

Startup is a product target (first paint <= 0.35 s), so nothing heavy is imported at module level:
the runtime (LanceDB, openai, the engine) is imported in a thread after the loading view is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Center, Middle
from textual.content import Content
from textual.widgets import Static

from ..config import Settings, setup_logging
from .breakpoints import HEIGHTS, WIDTHS
from .palette import AgentCommands
from .widgets.loading import LoadingDots

if TYPE_CHECKING:
    from types import ModuleType

    from textual.dom import DOMNode

    from ..model.handle import AgentHandle, AgentSource
    from .screens.main import MainScreen

log = logging.getLogger(__name__)


class MemGPTApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "memgpt-tui"
    COMMANDS = App.COMMANDS | {AgentCommands}
    HORIZONTAL_BREAKPOINTS = WIDTHS
    VERTICAL_BREAKPOINTS = HEIGHTS
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit"),
        Binding("ctrl+p", "command_palette", "Command palette", show=False, priority=True, id="app.commands"),
    ]

    def __init__(
        self,
        settings: Settings,
        first: bool = False,
        debug: bool = False,
        agent: AgentHandle | None = None,
        source: AgentSource | None = None,
    ) -> None:
        """``agent``: an already open agent to show (the app then leaves closing it to the caller);
        ``source``: the server whose agents to list and attach to, instead of the agents here."""
        super().__init__()
        self.settings = settings
        self.source = source
        self.first = first
        self.debug_log = debug
        self.agent = agent
        self.owns_agent = agent is None
        self.keymap: dict[str, str] = {}  # the user's rebindings in force, by binding id
        self._clashes: set[tuple[str, str]] = set()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        from .themes import THEME_VARIABLE_DEFAULTS

        return THEME_VARIABLE_DEFAULTS

    def compose(self) -> ComposeResult:
        with Middle(id="loading"), Center():
            yield Static(Content.from_markup("[b]memgpt-tui[/]"), id="loading-title")
            yield LoadingDots()
            yield Static(Content("Starting…"), id="loading-status")

    def on_mount(self) -> None:
        # Themes load after the first frame: reading and applying them costs ~40 ms of first paint.
        self.call_after_refresh(self._start_themes)
        self.call_after_refresh(self._start_keymap)
        self.startup()

    def _start_themes(self) -> None:
        from .themes import ThemeManager

        try:
            ThemeManager(self, self.settings).start()
        except Exception as exc:  # a broken theme file must not keep anyone from their agent
            log.exception("themes")
            self.notify(f"Themes could not be loaded: {exc}", severity="warning")

    def _start_keymap(self) -> None:
        """Apply ``[keymap]`` from the config; a binding that cannot be applied keeps its default."""
        if not self.settings.keymap:
            return
        from .keymap import check, known_ids, taken_keys

        classes = binding_classes()
        self.keymap, problems = check(self.settings.keymap, known_ids(classes))
        self.set_keymap(self.keymap)
        if problems:
            problems.append("These keep their default keys.")
        for lines in (problems, taken_keys(self.keymap, classes)):
            if lines:
                log.warning("keymap: %s", lines)
                self.notify(
                    "\n".join(lines),
                    title="Keymap in config.toml",
                    severity="warning",
                    timeout=15,
                    markup=False,
                )

    def handle_bindings_clash(self, clashed_bindings: set[Binding], node: DOMNode) -> None:
        """A rebinding took a key a built-in widget binding had (ours are checked at start): say so once."""
        for binding in clashed_bindings:
            if (binding.key, binding.action) in self._clashes:
                continue
            self._clashes.add((binding.key, binding.action))
            self.notify(
                f"{binding.key} was also the key for {binding.description or binding.action!r}: "
                "the keymap's binding takes it.",
                title="Keymap in config.toml",
                severity="warning",
                timeout=10,
                markup=False,
            )

    def loading(self, text: str) -> None:
        self.query_one("#loading-status", Static).update(Content(text))

    # ---------------------------------------------------------------- startup

    @work(exclusive=True, group="startup")
    async def startup(self) -> None:
        await asyncio.to_thread(setup_logging, self.debug_log)
        resumable = self.agent is None and self.source is None and self.settings.agent
        if resumable and await self._resume(resumable):
            return
        agent = self.agent or await self._open()
        if agent is None:
            self.exit(return_code=0)
            return
        await self.show_agent(agent)

    async def show_agent(self, agent: AgentHandle) -> MainScreen:
        from .screens.main import MainScreen

        self.agent = agent
        screen = MainScreen(agent)
        await self.push_screen(screen)
        if agent.needs_greeting:
            screen.greet()
        return screen

    async def _resume(self, name: str) -> bool:
        """Show the agent from its preview at once, then open its store and model behind the screen
        (importing LanceDB and the model client takes longer than everything else together). False
        when there is no preview or opening failed: the ordinary path then runs and explains why."""
        from ..resume import from_preview

        agent = await asyncio.to_thread(from_preview, self.settings, name)
        if agent is None:
            return False
        screen = await self.show_agent(agent)  # returns with the first page mounted
        await screen.wait_for_refresh()  # the import below holds the GIL for long stretches: paint first
        try:
            runtime = await asyncio.to_thread(importlib.import_module, "memgpt_tui.runtime")
            await runtime.open_previewed(agent, self.settings)
            return True
        except Exception:
            log.exception("opening agent %s", name)
            self.agent = None
            while self.main_screen is not None:
                await self.pop_screen()
            return False

    async def _open(self) -> AgentHandle | None:
        """``--agent NAME`` opens (or creates) it; else the picker, or setup when there is no agent yet."""
        settings, name = self.settings, self.settings.agent
        runtime: ModuleType | None = None
        while True:
            try:
                if self.source is not None:
                    name = name or await self._choose_attached(self.source)
                    if name is None:
                        return None
                    self.loading(f"Opening {name} on {self.source.where}…")
                    return await self.source.open(name)
                if runtime is None:
                    self.loading("Loading…")
                    runtime = await asyncio.to_thread(importlib.import_module, "memgpt_tui.runtime")
                if name is None:
                    choice = await self._choose(runtime)
                    if choice is None:
                        return None
                    settings, name = choice
                self.loading(f"Opening {name}…")
                agent: AgentHandle = await runtime.open_agent(settings, name, greet=not self.first)
                return agent
            except Exception as exc:  # every failure to open is shown with a way forward
                log.exception("opening agent %s", name)
                from .screens.failure import FailureScreen

                way = await self.push_screen_wait(FailureScreen(exc))
                if way == "quit":
                    return None
                if way == "back":
                    settings, name = self.settings, None

    async def _choose_attached(self, source: AgentSource) -> str | None:
        from .screens.picker import AgentPicker

        self.loading(f"Listing the agents on {source.where}…")
        return await self.push_screen_wait(AgentPicker(await source.infos(), self.settings, source))

    async def _choose(self, runtime: ModuleType) -> tuple[Settings, str] | None:
        while True:
            infos = await asyncio.to_thread(runtime.agent_infos, self.settings)
            if infos:
                from .screens.picker import NEW_AGENT, AgentPicker

                picked = await self.push_screen_wait(AgentPicker(infos, self.settings))
                if picked is None:
                    return None
                if picked != NEW_AGENT:
                    return self.settings, picked
            from .screens.setup import SetupScreen

            configured = await self.push_screen_wait(SetupScreen(self.settings))
            if configured is not None and configured.agent:
                return configured, configured.agent
            if not infos:
                return None

    # ----------------------------------------------------------------- quit

    async def action_quit(self) -> None:
        await self.close_agent()
        self.exit(return_code=0)

    async def close_agent(self) -> None:
        """Cancel a step in flight (the engine keeps nothing half-written), then close what we opened."""
        main = self.main_screen
        if main is not None:
            await main.cancel_and_wait()
        agent, self.agent = self.agent, None
        if agent is not None and self.owns_agent:
            try:
                await agent.close()
            except Exception:
                log.exception("closing agent")

    @property
    def main_screen(self) -> MainScreen | None:
        from .screens.main import MainScreen

        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)


def binding_classes() -> list[type[DOMNode]]:
    """Every class whose bindings a keymap may change."""
    from .screens.checkpoints import CheckpointBrowser
    from .screens.diff import DiffScreen
    from .screens.failure import FailureScreen
    from .screens.help import HelpScreen
    from .screens.main import MainScreen
    from .screens.memory_browser import MemoryBrowser
    from .screens.modals import ConfirmModal, TextEditModal
    from .screens.picker import AgentPicker
    from .screens.setup import SetupScreen
    from .widgets.chat_input import ChatInput
    from .widgets.conversation import Conversation
    from .widgets.core_memory import BlockView
    from .widgets.find_bar import FindInput

    return [
        MemGPTApp,
        MainScreen,
        ChatInput,
        Conversation,
        FindInput,
        BlockView,
        HelpScreen,
        MemoryBrowser,
        CheckpointBrowser,
        AgentPicker,
        SetupScreen,
        ConfirmModal,
        TextEditModal,
        DiffScreen,
        FailureScreen,
    ]


def run_app(
    settings: Settings, first: bool = False, debug: bool = False, source: AgentSource | None = None
) -> int:
    app = MemGPTApp(settings, first=first, debug=debug, source=source)
    app.run()
    if app.agent is not None and app.owns_agent:
        # The terminal went away without a quit: still release the store lock and the model server.
        with contextlib.suppress(Exception):
            asyncio.run(app.agent.close())
    return app.return_code or 0
