"""The layers as a running interpreter sees them: import-linter checks the source (``make lint``), this
checks that what a non-TUI entry point really loads at run time stays free of Textual."""

from __future__ import annotations

import subprocess
import sys


def test_everything_below_the_tui_runs_without_textual():
    code = (
        "import sys, memgpt_tui.model.events, memgpt_tui.engine.agent, memgpt_tui.commands,"
        " memgpt_tui.llm.base, memgpt_tui.store.api, memgpt_tui.runtime, memgpt_tui.plain, memgpt_tui.client;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
