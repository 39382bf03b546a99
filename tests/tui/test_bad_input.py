"""What the TUI does with input it cannot use: a paste over the limit, an unexpected failure."""

from __future__ import annotations

from memgpt_tui.tui.widgets.rows import ErrorRow
from tests.tui.conftest import app_for, idle, ready, texts, type_and_send


async def test_a_paste_over_the_limit_is_refused_before_it_is_shown(make_agent, llm) -> None:
    agent = await make_agent()
    before = agent.recall_count
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        rows = len(texts(main, "UserRow"))
        await main.send("x" * (agent.limits.message_chars + 1))
        await idle(pilot)
        error = str(main.conversation.query(ErrorRow).last().render())
        assert "over the limit of 100,000 characters" in error and "Nothing was sent" in error
        assert len(texts(main, "UserRow")) == rows
    assert agent.recall_count == before and not llm.requests


async def test_an_unexpected_failure_is_a_redacted_error_row_and_keeps_the_message(make_agent, llm) -> None:
    agent = await make_agent()
    llm.queue(RuntimeError("the parser fell over at sk-abcdefghijklmnop123"))
    async with app_for(agent).run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await type_and_send(pilot, "hello?")
        await idle(pilot)
        error = str(main.conversation.query(ErrorRow).last().render())
        assert "Unexpected error: RuntimeError" in error and "/retry" in error
        assert "abcdefghijklmnop" not in error
    assert agent.unanswered() == "hello?"
