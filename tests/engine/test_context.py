"""The context gauge counts the prompt as the backend sends it, message by message."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from memgpt_tui.engine.context import ContextBuilder
from memgpt_tui.engine.functions import TOOL_SCHEMAS
from memgpt_tui.engine.prompts import boot_sequence, heartbeat
from memgpt_tui.llm import json_mode
from memgpt_tui.llm.embedded import gemma_prompt
from memgpt_tui.llm.layout import TURN_ESTIMATE, JsonModeLayout, NativeLayout
from memgpt_tui.model.messages import Message, ToolCall, user_message
from memgpt_tui.model.state import AgentConfig, AgentState, Block
from tests.fakes.scripted_llm import PieceTokenizer, WordTokenizer


def chatml(turns: Sequence[dict[str, str]]) -> str:
    """A template that keeps system turns, unlike gemma's."""
    return (
        "".join(f"<|im_start|>{t['role']}\n{t['content']}<|im_end|>\n" for t in turns)
        + "<|im_start|>assistant\n"
    )


def state(summary: str | None = None) -> AgentState:
    blocks = [Block(label="persona", value="I am Sam."), Block(label="human", value="Chad surfs.")]
    return AgentState(
        name="a", config=AgentConfig(), system_prompt="You are Sam.", blocks=blocks, summary=summary
    )


def conversation() -> list[Message]:
    call = ToolCall(id="c2", name="core_memory_append", arguments='{"label": "human", "content": "Lisbon"}')
    return [
        *boot_sequence(),
        user_message("Hi! I moved to Lisbon.", 1),
        Message(role="assistant", kind="assistant", content="Note it.", tool_calls=(call,), step=1),
        Message(
            role="tool", kind="tool_result", name=call.name, tool_call_id=call.id, content='{"status": "OK"}'
        ),
        heartbeat(1, "[This is an automated system message hidden from the user] Function called."),
        Message(role="assistant", kind="assistant", content="Just thinking.", step=2),
    ]


@pytest.mark.parametrize(("template", "fold_system"), [(gemma_prompt, True), (chatml, False)])
@pytest.mark.parametrize("summary", [None, "Chad likes the sea."])
async def test_json_mode_counts_match_the_whole_prompt(template, fold_system, summary) -> None:
    tokenizer = PieceTokenizer()
    layout = JsonModeLayout(tokenizer, fold_system=fold_system, template=template)
    builder = ContextBuilder(tokenizer, TOOL_SCHEMAS, layout)
    buffer = conversation()

    assembled = await builder.build(state(summary), buffer, 8, 0, 2 if summary else 0)

    turns = json_mode.to_text_turns(assembled.messages, TOOL_SCHEMAS, fold_system=fold_system)
    [whole] = await tokenizer.count([template(turns)])
    assert assembled.breakdown.total == whole
    assert (assembled.breakdown.summary > 0) == bool(summary)
    assert sum(assembled.per_message) == assembled.breakdown.messages
    assert len(assembled.per_message) == len(buffer)


async def test_an_upper_bound_goes_out_before_the_count() -> None:
    tokenizer = PieceTokenizer()
    builder = ContextBuilder(
        tokenizer, TOOL_SCHEMAS, JsonModeLayout(tokenizer, fold_system=True, template=gemma_prompt)
    )
    buffer = conversation()

    bound = await builder.build(state(), buffer, 8, 0, 0, bounded=True)
    counted = await builder.build(state(), buffer, 8, 0, 0)

    assert bound.bounded and not counted.bounded
    assert bound.breakdown.messages > counted.breakdown.messages


async def test_native_counts_role_text_and_calls_with_an_estimate_per_message() -> None:
    builder = ContextBuilder(WordTokenizer(), TOOL_SCHEMAS, NativeLayout())
    buffer = conversation()

    assembled = await builder.build(state(), buffer, 8, 0, 0)

    texts = [NativeLayout().turn(m.to_openai())[1] for m in buffer]
    assert assembled.breakdown.messages == sum(len(t.split()) + TURN_ESTIMATE for t in texts)
