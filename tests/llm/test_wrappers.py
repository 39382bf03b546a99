"""Each wrapper renders one fixed context to exactly the prompt in its golden file.

To accept a deliberate change of format: ``UPDATE_GOLDEN=1 pytest tests/llm/test_wrappers.py``, then
read the diff of ``tests/llm/golden/``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from memgpt_tui.engine.functions import TOOL_SCHEMAS
from memgpt_tui.llm.wrappers import WRAPPERS, get

GOLDEN = Path(__file__).parent / "golden"
TIME = "2026-03-01 10:00:00 AM UTC+0000"


def _call(call_id: str, name: str, **arguments: object) -> dict[str, object]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def _result(call_id: str, name: str, message: str = "None") -> dict[str, object]:
    content = json.dumps({"status": "OK", "message": message, "time": TIME})
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": content}


def _user(kind: str, **fields: object) -> dict[str, object]:
    return {"role": "user", "content": json.dumps({"type": kind, **fields, "time": TIME})}


CONTEXT = [
    {
        "role": "system",
        "content": "You are MemGPT.\n\n### Memory\n<persona>\nI am Sam.\n</persona>\n<human>\nFirst name: Ada\n</human>",
    },
    {
        "role": "assistant",
        "content": "Boot complete.",
        "tool_calls": [_call("c1", "send_message", message="Hello!")],
    },
    _result("c1", "send_message"),
    _user("login", last_login="never"),
    _user("user_message", message="I moved to Oslo last week."),
    {
        "role": "assistant",
        "content": "A new fact: I save it.",
        "tool_calls": [
            _call("c2", "core_memory_append", label="human", content="Lives in Oslo.", request_heartbeat=True)
        ],
    },
    _result("c2", "core_memory_append"),
    _user("heartbeat", reason="Function called using request_heartbeat=true, returning control."),
]


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_the_wrapper_renders_the_context_to_its_golden_prompt(name):
    prompt = get(name).prompt(CONTEXT, TOOL_SCHEMAS)
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(prompt, encoding="utf-8")
    assert prompt == path.read_text(encoding="utf-8")


def test_the_transcript_offers_the_small_model_fewer_functions_and_says_which():
    transcript = get("transcript")
    offered = [tool["function"]["name"] for tool in transcript.offered(TOOL_SCHEMAS)]
    assert offered and len(offered) < len(TOOL_SCHEMAS)
    assert {"send_message", "core_memory_append"} <= set(offered)
    listed = transcript.tools_text(transcript.offered(TOOL_SCHEMAS))
    assert all(f"- {name}(" in listed for name in offered)
    assert "- archival_memory_insert(" not in listed


def test_chat_formats_offer_every_function():
    for name in ("chatml", "llama3", "gemma"):
        assert get(name).offered(TOOL_SCHEMAS) == TOOL_SCHEMAS


def test_an_unknown_wrapper_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match="No wrapper named 'alpaca'. Known: notes, transcript, chatml"):
        get("alpaca")


def test_the_tui_note_on_the_bundled_model_says_how_many_functions_it_is_offered():
    from memgpt_tui.llm.embedded import DEFAULT_WRAPPER
    from memgpt_tui.tui.screens.main import EMBEDDED_NOTE

    offered = get(DEFAULT_WRAPPER).offered(TOOL_SCHEMAS)
    assert f"offered {len(offered)} of the {len(TOOL_SCHEMAS)} memory functions" in EMBEDDED_NOTE


# pymemgpt 0.3.25, local_llm/utils.py: get_available_wrappers(); the one it marked experimental is not taken.
MEMGPT_WRAPPER_NAMES = [
    "llama3",
    "llama3-grammar",
    "llama3-hints-grammar",
    "chatml",
    "chatml-grammar",
    "chatml-noforce",
    "chatml-noforce-grammar",
    "chatml-noforce-roles",
    "chatml-noforce-roles-grammar",
    "chatml-hints",
    "chatml-hints-grammar",
    "chatml-noforce-hints",
    "chatml-noforce-hints-grammar",
    "airoboros-l2-70b-2.1",
    "airoboros-l2-70b-2.1-grammar",
    "dolphin-2.1-mistral-7b",
    "dolphin-2.1-mistral-7b-grammar",
    "zephyr-7B",
    "zephyr-7B-grammar",
]


def test_every_memgpt_wrapper_name_maps_to_the_wrapper_in_the_golden_table():
    table = "".join(f"{name} -> {get(name).name}\n" for name in MEMGPT_WRAPPER_NAMES)
    path = GOLDEN / "memgpt_wrappers.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(table, encoding="utf-8")
    assert table == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", MEMGPT_WRAPPER_NAMES)
def test_a_memgpt_wrapper_name_renders_its_formats_golden_prompt(name):
    ours = get(name).name
    assert get(name).prompt(CONTEXT, TOOL_SCHEMAS) == (GOLDEN / f"{ours}.txt").read_text(encoding="utf-8")
