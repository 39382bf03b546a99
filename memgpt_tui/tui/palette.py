"""Command palette (ctrl+p): every slash command plus the screens and actions of the main screen.
Textual's own system commands (Theme, Keys, Screenshot, Quit) stay in the palette beside these."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

if TYPE_CHECKING:
    from .screens.main import MainScreen

Entry = tuple[str, str, Callable[[], Any]]


class AgentCommands(Provider):
    def _entries(self) -> list[Entry]:
        from ..commands import COMMANDS
        from .screens.main import MainScreen

        main = self.screen
        if not isinstance(main, MainScreen):
            return []
        entries: list[Entry] = []
        for command in COMMANDS:
            usage = f"{command.name} {command.args}".strip()
            if command.args and not command.runs_bare:
                action: Callable[[], Any] = partial(main.prefill, command.name + " ")
            else:
                action = partial(self._run, main, command.name)
            entries.append((usage, command.help, action))
        entries += [
            ("Search memory", "Recall and archival memory browser (ctrl+b)", main.action_memory_browser),
            ("Checkpoints", "Browse, preview and restore checkpoints (ctrl+r)", main.action_checkpoints),
            ("Edit core memory", "Focus the core memory pane (F2)", main.action_edit_memory),
            ("Help", "Keys and commands (F1)", main.action_help),
        ]
        return entries

    @staticmethod
    async def _run(main: MainScreen, line: str) -> None:
        await main.run_command(line)

    async def discover(self) -> Hits:
        for title, help_text, action in self._entries():
            yield DiscoveryHit(Content(title), action, text=title, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, action in self._entries():
            score = matcher.match(f"{title} {help_text}")
            if score > 0:
                yield Hit(score, matcher.highlight(title), action, text=title, help=help_text)
