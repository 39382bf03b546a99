"""Prompt layouts: each message's text as sent, and the chat template's costs measured once."""

from __future__ import annotations

import json

from memgpt_tui.llm import json_mode
from memgpt_tui.llm.base import TemplateCost
from memgpt_tui.llm.embedded import gemma_prompt
from memgpt_tui.llm.layout import TURN_ESTIMATE, JsonModeLayout, NativeLayout
from tests.fakes.scripted_llm import PieceTokenizer

CALL = {
    "id": "c1",
    "type": "function",
    "function": {"name": "send_message", "arguments": '{"message": "hi"}'},
}
ASSISTANT = {"role": "assistant", "content": "Greet them.", "tool_calls": [CALL]}
RESULT = {"role": "tool", "tool_call_id": "c1", "name": "send_message", "content": '{"status": "OK"}'}
USER = {"role": "user", "content": '{"type": "user_message", "message": "hello"}'}


async def test_json_mode_turns_are_the_text_turns_the_backend_sends() -> None:
    layout = JsonModeLayout(PieceTokenizer(), fold_system=True)
    system = {"role": "system", "content": "Be kind."}
    sent = json_mode.to_text_turns([system, ASSISTANT, RESULT, USER], [], fold_system=True)

    (assistant, reply), (result_role, result), (user_role, user) = map(layout.turn, (ASSISTANT, RESULT, USER))

    assert sent[1:] == [
        {"role": assistant, "content": reply},
        {"role": "user", "content": result + json_mode.JOIN + user},  # one turn of the same role
    ]
    assert result_role == user_role == "user"
    assert layout.system_role == "user" and layout.merges


async def test_template_costs_are_measured_once_against_the_tokenizers_counts() -> None:
    tokenizer = PieceTokenizer()
    layout = JsonModeLayout(tokenizer, fold_system=True, template=gemma_prompt)

    cost = await layout.cost()
    assert await layout.cost() is cost and tokenizer.calls == 1
    # A turn's markers are 9 pieces and the reply's 5; the start token is in every text's count
    # already, so a turn and a join cost one less, and the prompt pays for it once.
    assert cost == TemplateCost(turn=9 - 1, join=1 - 1, prompt=5 + 1)


async def test_costs_measured_on_estimates_are_measured_again() -> None:
    tokenizer = PieceTokenizer(exact=False)
    layout = JsonModeLayout(tokenizer, fold_system=True, template=gemma_prompt)

    await layout.cost()
    await layout.cost()
    assert tokenizer.calls == 2


async def test_without_a_template_only_the_join_is_measured() -> None:
    cost = await JsonModeLayout(PieceTokenizer(), fold_system=False).cost()
    assert cost == TemplateCost(turn=TURN_ESTIMATE, join=0)


async def test_native_messages_count_role_text_and_calls() -> None:
    layout = NativeLayout()
    assert layout.turn(ASSISTANT) == ("assistant", 'assistant\nGreet them.\nsend_message\n{"message": "hi"}')
    assert layout.turn(RESULT) == ("tool", 'tool\n{"status": "OK"}')
    assert layout.tools_text([CALL]) == json.dumps([CALL], separators=(",", ":"))
    assert layout.tools_text([]) == ""
    assert await layout.cost() == TemplateCost(turn=TURN_ESTIMATE)
