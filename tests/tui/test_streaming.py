"""A streamed reply: rendered by parts while it grows, exactly as the whole text renders."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets import Static

from memgpt_tui.tui.widgets.loading import LoadingDots
from memgpt_tui.tui.widgets.rows import ReplyRow
from memgpt_tui.tui.widgets.streaming import GROWTH, StreamingMarkdown, finished_length
from tests.tui.hosting import SIZE, HostApp, wait_until

REPLY = """# Notes for **Chad**

You asked about *tea*. Here is what I remember, in order:

1. Green tea, at 80°C.

2. Black tea, boiling.
   A second line of the same item.

- loose list item

  with a continued paragraph

A paragraph after the lists, long enough to wrap at least once at the widths these tests use.

```python
def brew(minutes: int) -> str:

    return "ready"
```

> A quote.

---

Setext heading
==============

| kind | minutes |
|------|---------|
| green | 2 |

Last words, with a [link](https://example.com) and `code`."""


def segments(strips: list[Strip]) -> list[list[Any]]:
    return [list(strip) for strip in strips]


@pytest.mark.parametrize(
    ("text", "tail"),
    [
        ("one paragraph still being written", "one paragraph still being written"),
        ("done.\n\nnext one\n", "next one\n"),
        ("done.\n\nnext one", "done.\n\nnext one"),  # the next line may still become a list item
        ("1. item\n\n2. item\n", "1. item\n\n2. item\n"),  # one loose list
        ("- item\n\n  more of it\n", "- item\n\n  more of it\n"),
        ("```\ncode\n\nstill code\n", "```\ncode\n\nstill code\n"),
        ("```\ncode\n```\n\nafter\n", "after\n"),
        ("above\n\n***\n\nbelow\n", "***\n\nbelow\n"),  # Rich puts no blank line after a rule
    ],
)
def test_finished_length(text: str, tail: str) -> None:
    assert text[finished_length(text) :] == tail


async def test_streamed_rendering_equals_whole_rendering() -> None:
    async with HostApp().run_test(size=SIZE) as pilot:
        row = ReplyRow("Sam")
        await pilot.app.screen.mount(row)
        style = row.visual_style
        streamed, whole = StreamingMarkdown(row, "Sam"), StreamingMarkdown(row, "Sam")
        streamed.streaming = True
        for end in range(len(REPLY) + 1):
            streamed.text = whole.text = REPLY[:end]
            for width in (30, 70):
                lines, expected = streamed.lines(width, style), whole.lines(width, style)
                assert segments(lines[: len(expected)]) == segments(expected), (
                    f"at {end} characters, width {width}"
                )
                assert len(lines) % GROWTH == 0 and not any(lines[len(expected) :]), (
                    "blank lines to grow into"
                )
        assert finished_length(REPLY) > REPLY.index("Setext"), "the finished blocks were rendered apart"


async def test_streamed_row_ends_with_whole_text_and_grows_layout_only_by_lines() -> None:
    async with HostApp().run_test(size=SIZE) as pilot:
        row = ReplyRow("Sam")
        await pilot.app.screen.mount(row)
        await pilot.pause()
        assert [strip.text.strip() for strip in row.render_lines(row.region.reset_offset)] == ["Sam", "…"]
        layouts: list[bool] = []
        repainted: list[Region] = []
        refresh = row.refresh

        def spy(*regions: Region, layout: bool = False, **kw: Any) -> Any:
            layouts.append(layout)
            repainted.extend(regions)
            return refresh(*regions, layout=layout, **kw)

        row.refresh = spy  # type: ignore[method-assign]
        for start in range(0, len(REPLY), 4):
            row.add(REPLY[start : start + 4])
            await pilot.pause()
        assert row.text == REPLY
        assert layouts.count(False) > layouts.count(True), "most tokens do not change the row's height"
        one_line = [region for region in repainted if region.height == 1]
        assert len(one_line) > 0.9 * len(repainted), "mostly, only the line being written is repainted"
        row.finish(REPLY)
        await pilot.pause()
        whole = ReplyRow("Sam", REPLY)
        await pilot.app.screen.mount(whole)
        await pilot.pause()
        assert row.size == whole.size
        assert segments(row.render_lines(row.region.reset_offset)) == segments(
            whole.render_lines(whole.region.reset_offset)
        )


class Covering(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Static("main")


class Loading(App[None]):
    def compose(self) -> ComposeResult:
        yield LoadingDots()


async def test_loading_dots_rest_under_another_screen() -> None:
    app = Loading()
    async with app.run_test() as pilot:
        dots = app.query_one(LoadingDots)
        refreshes = 0
        refresh = dots.refresh

        def count(*args: Any, **kw: Any) -> Any:
            nonlocal refreshes
            refreshes += 1
            return refresh(*args, **kw)

        dots.refresh = count  # type: ignore[method-assign]
        await pilot.pause(0.2)
        assert refreshes > 0
        await app.push_screen(Covering())
        await pilot.pause()
        refreshes = 0
        await asyncio.sleep(0.3)
        assert refreshes == 0, "a covered indicator would repaint the screen over it"
        app.pop_screen()
        await wait_until(pilot, lambda: refreshes > 0)
