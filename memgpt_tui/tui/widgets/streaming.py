"""A reply rendered as Markdown while it streams in: only its last block is rendered again as it grows.

Text streams in at the end, so every block before the last one is finished: it renders the same whatever
follows. Those lines are kept (per width and style) and only the last block is parsed and wrapped
again, so a token costs what the paragraph being written costs, not what the whole reply does.
"""

from __future__ import annotations

import re
from collections.abc import Hashable

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.segment import Segment
from rich.text import Text
from textual.css.styles import RulesMap
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual
from textual.widget import Widget

FENCE = re.compile(r" {0,3}(```|~~~)")
RULE = re.compile(r" {0,3}([-*_])[ \t]*(?:\1[ \t]*){2,}$")  # Rich puts no blank line after one
# An indented line or a list item after a blank line may still belong to the block above it.
CONTINUES = re.compile(r"[ \t]|[-*+](?:[ \t]|$)|\d{1,9}[.)](?:[ \t]|$)")
PLACEHOLDER = "…"
PRIMER = "x\n\n"  # a one-line paragraph
# A streaming reply grows this many lines at a time: each time it grows, the conversation is laid out
# and scrolled, and all of it is repainted.
GROWTH = 4


def finished_length(text: str) -> int:
    """How much of ``text`` is finished blocks: up to a blank line outside code fences whose next line
    is complete and starts a block of its own. 0 when the whole text is one block still being written."""
    cut = offset = 0
    fenced = after_blank = False
    last = ""  # the last line with text in it
    for line in text.split("\n")[:-1]:  # the last line is not complete yet
        if not line.strip():
            after_blank = not fenced
        else:
            if after_blank and not CONTINUES.match(line) and not RULE.match(last):
                cut = offset
            after_blank = False
            if FENCE.match(line):
                fenced = not fenced
            last = line
        offset += len(line) + 1
    return cut


class StreamingMarkdown(Visual):
    """The speaker's name over Markdown ``text``. With ``streaming`` set, the finished blocks and the
    last one are rendered apart and each kept until it changes; without, the text is rendered whole."""

    def __init__(self, widget: Widget, speaker: str, text: str = "") -> None:
        self._widget = widget
        self.speaker = speaker
        self.text = text
        self.streaming = False
        self._parts: dict[str, tuple[Hashable, list[Strip]]] = {}

    def render_strips(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        return self.lines(width, style)

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return container_width

    def get_height(self, rules: RulesMap, width: int) -> int:
        return len(self.lines(width, self._widget.visual_style))

    def lines(self, width: int, style: Style) -> list[Strip]:
        """The rendered lines; while streaming, blank ones below them make up a multiple of ``GROWTH``."""
        text = self.text or PLACEHOLDER
        if not self.streaming:
            return [*self._render("head", "", width, style), *self._render("tail", text, width, style)]
        cut = finished_length(text)
        head = self._render("head", text[:cut], width, style)
        if cut:
            # Rich's spacing between blocks depends on both sides: the block being written is rendered
            # under a one-line paragraph whose line is then dropped (finished blocks never end in a rule).
            tail = self._render("tail", PRIMER + text[cut:], width, style)[1:]
        else:
            tail = self._render("tail", text, width, style)
        room = -(len(head) + len(tail)) % GROWTH
        return [*head, *tail, *[Strip([])] * room]

    def _render(self, part: str, markdown: str, width: int, style: Style) -> list[Strip]:
        """The lines of one part, kept until it changes. The head carries the speaker's name."""
        app = self._widget.app
        theme = app.current_theme
        key = (markdown, width, style, theme.name)
        cached = self._parts.get(part)
        if cached is not None and cached[0] == key:
            return cached[1]
        renderable: RenderableType = Markdown(markdown, code_theme="monokai" if theme.dark else "default")
        if part == "head":
            speaker = Text(self.speaker, style=f"bold {theme.success or 'green'}")
            renderable = Group(speaker, renderable) if markdown else speaker
        # What Textual's RichVisual does on every frame
        segments = app.console.render(
            self._widget.post_render(renderable, style.rich_style),
            app.console_options.update(highlight=False, width=width),
        )
        lines = Segment.split_and_crop_lines(segments, width, include_new_lines=False, pad=False)
        strips = [Strip(line) for line in lines]
        self._parts[part] = (key, strips)
        return strips
