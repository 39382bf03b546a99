"""The context gauge: what fills the context window, by category, against the warning line.

Short and narrow screens show its one-line form instead (tokens/limit, a bar, the warning mark): the
stylesheet picks which parts show."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from ...model import events as ev
from ..messages import EngineMessage, message_for

# (field of TokenBreakdown, legend label, colour, bar glyph): glyphs differ so the bar reads without colour.
CATEGORIES = (
    ("system", "system", "$gauge-system", "█"),
    ("tools", "tools", "$gauge-tools", "▓"),
    ("core_memory", "core memory", "$gauge-core", "▒"),
    ("summary", "summary", "$gauge-summary", "▚"),
    ("messages", "messages", "$gauge-messages", "█"),
)
FREE = "$foreground 25%"
LINE_BAR_WIDTH = 12


def segments(breakdown: ev.TokenBreakdown, limit: int, width: int) -> list[int]:
    """Cell widths per category, summing to at most ``width``; non-empty categories get a cell."""
    values = [getattr(breakdown, field) for field, *_ in CATEGORIES]
    if limit <= 0 or width <= 0:
        return [0] * len(values)
    cells = [round(v / limit * width) if v else 0 for v in values]
    cells = [max(c, 1) if v else 0 for c, v in zip(cells, values, strict=True)]
    while sum(cells) > width:
        cells[cells.index(max(cells))] -= 1
    return cells


def stacked_bar(ctx: ev.ContextChanged, width: int) -> Content:
    """One row of ``width`` cells: each category in its colour and glyph, then the free space."""
    cells = segments(ctx.breakdown, ctx.limit, width)
    parts = [
        Content.from_markup(f"[{colour}]$bar[/]", bar=glyph * n)
        for (_, _, colour, glyph), n in zip(CATEGORIES, cells, strict=True)
        if n
    ]
    return Content.assemble(*parts, Content.styled("░" * (width - sum(cells)), FREE))


class GaugeBar(Widget):
    """Two lines: the stacked bar, and a marker under the warning threshold."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.context: ev.ContextChanged | None = None

    def show(self, context: ev.ContextChanged) -> None:
        self.context = context
        self.refresh()

    def render(self) -> Content:
        width = self.size.width
        ctx = self.context
        if ctx is None or width < 4:
            return Content.styled("─" * width, FREE)
        mark = min(int(ctx.warning_fraction * width), width - 1)
        label = f"▲ {ctx.warning_fraction:.0%} warning"
        if mark + len(label) <= width:
            marker = " " * mark + label
        else:  # no room on the right: the label ends at the marker instead
            label = f"warning {ctx.warning_fraction:.0%} ▲"
            marker = " " * max(mark - len(label) + 1, 0) + label
        style = "$error" if ctx.over_warning else "$foreground 60%"
        return Content.assemble(
            stacked_bar(ctx, width), "\n", Content.from_markup(f"[{style}]$marker[/]", marker=marker)
        )


class ContextGauge(Vertical):
    BORDER_TITLE = "Context window"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.context: ev.ContextChanged | None = None
        self._line = Static(Content("Counting tokens…"), classes="gauge-line")
        self._total = Static(Content("Counting tokens…"), classes="gauge-total")
        self._bar = GaugeBar()
        self._legend = Static(classes="gauge-legend")
        self._counts = Static(classes="gauge-counts")
        self._warning = Static(classes="gauge-warning")
        self._history = Sparkline([])
        self._history_box = Vertical(
            Static(Content("prompt tokens per step"), classes="gauge-caption"),
            self._history,
            classes="gauge-history",
        )

    def compose(self) -> ComposeResult:
        yield self._line
        with Vertical(classes="gauge-full"):
            yield from (self._total, self._bar, self._legend, self._counts, self._warning)
            yield self._history_box

    @on(message_for(ev.ContextChanged))
    def _context_changed(self, message: EngineMessage[ev.ContextChanged]) -> None:
        self.show(message.event)

    def show(self, ctx: ev.ContextChanged) -> None:
        self.context = ctx
        approx = "" if ctx.exact else "≈"
        pct = ctx.used / ctx.limit if ctx.limit else 0
        self._total.update(
            Content.from_markup(
                "[b]$used[/] / $limit tokens  [b]$pct[/]",
                used=f"{approx}{ctx.used:,}",
                limit=f"{ctx.limit:,}",
                pct=f"{pct:.0%}",
            )
        )
        self._bar.show(ctx)
        mark = (
            Content.styled(f"⚠ over {ctx.warning_fraction:.0%}", "$error")
            if ctx.over_warning
            else Content.styled(f"▲ {ctx.warning_fraction:.0%}", "$foreground 60%")
        )
        self._line.update(
            Content.from_markup("[b]$used[/]/$limit ", used=f"{approx}{ctx.used:,}", limit=f"{ctx.limit:,}")
            + stacked_bar(ctx, LINE_BAR_WIDTH)
            + Content.from_markup(" [b]$pct[/] ", pct=f"{pct:.0%}")
            + mark
        )
        legend = [
            Content.from_markup(
                f"[{colour}]{glyph}[/] $label $value", label=f"{label:<12}", value=f"{approx}{value:>7,}"
            )
            for (field, label, colour, glyph) in CATEGORIES
            for value in [getattr(ctx.breakdown, field)]
        ]
        self._legend.update(Content("\n").join(legend))
        offered, functions = ctx.functions
        self._counts.update(
            Content(
                f"{ctx.in_context_messages} messages in context\n"
                f"{ctx.recall_messages:,} in recall · {ctx.archival_memories:,} in archival"
                + (f"\n{offered} of {functions} functions offered per step" if offered < functions else "")
                + ("\nthe model sees only the last exchange" if ctx.partial else "")
            )
        )
        self._warning.set_class(ctx.over_warning, "-shown")
        self._warning.update(
            Content(
                f"⚠ Over the {ctx.warning_fraction:.0%} warning line: "
                + ("the model does not see warnings; " if ctx.partial else "the agent is warned, then ")
                + "older messages are summarised into recall."
            )
        )
        self._history.data = list(ctx.prompt_history)
        self._history_box.set_class(len(ctx.prompt_history) > 1, "-shown")
