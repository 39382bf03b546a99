"""The layers as a running interpreter sees them: import-linter checks the source (``make lint``), this
checks that what a non-TUI entry point really loads at run time stays free of Textual."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_everything_below_the_tui_runs_without_textual():
    code = (
        "import sys, memgpt_tui.model.events, memgpt_tui.engine.agent, memgpt_tui.commands,"
        " memgpt_tui.llm.base, memgpt_tui.store.api, memgpt_tui.runtime, memgpt_tui.plain, memgpt_tui.client;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("wrapper", ["none", "chatml"], ids=["chat", "completion"])
def test_creating_or_opening_an_agent_does_not_import_the_openai_client(tmp_path, wrapper):
    # The import costs about half a second; it waits for the first request. Each step in a fresh
    # process, so nothing imported before (or by other tests) hides it.
    settings = (
        f"home={str(tmp_path)!r}, backend='openai-compatible', base_url='http://127.0.0.1:9/v1',"
        f" model='m', no_verify=True, context_window=8192, wrapper={wrapper!r}"
    )
    for step in ("client.create_agent('a')", "client.get_core_memory('a')"):  # create, then open
        code = (
            "import sys\n"
            "import memgpt_tui.runtime\n"
            "from memgpt_tui.client import Client\n"
            f"client = Client({settings})\n"
            f"{step}\n"
            "client.close()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'openai'))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip().splitlines()[-1] == "[]", step
