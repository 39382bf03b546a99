"""The notes wrapper driving a whole agent (real store, loopback completions server): a long paste
archived, a question answered from an archival or a recall search, a save into a full human block,
and thoughts that say what each function returned."""

from __future__ import annotations

from datetime import date

import pytest

from memgpt_tui.model import events as ev
from tests.fakes.completion_server import FakeCompletionServer
from tests.llm.test_completion import backend

WINDOW = 32_000  # the notes wrapper's examples alone would fill a small window and warn of it
END = '"}, "request_heartbeat": false}'
ITINERARY = (
    "Trip itinerary\n"
    + "Hotel: Casa do Rio, Rua das Flores 21, check-in from 15:00, booking reference QX7731.\n"
    + "Fri 12 April: flight TP 1331 from Manchester to Lisbon, departs 07:45, gate closes 07:15.\n"
    + "Sun 14 April: train to Sintra at 09:20 from Rossio station.\n" * 3
)


@pytest.fixture
def server():
    server = FakeCompletionServer().start()
    yield server
    server.stop()


@pytest.fixture
def llm(server):
    return backend(server, "notes")


def calls(recorder) -> list[tuple[str, dict]]:
    return [(e.name, e.arguments) for e in recorder.of(ev.FunctionCalled)]


def thoughts(recorder) -> list[str]:
    return [e.text for e in recorder.of(ev.InnerThought)]


async def test_a_long_paste_is_archived_in_chunks_then_acknowledged(make_agent, server):
    agent, recorder = await make_agent(WINDOW)
    server.script(" paste", "Got it, I keep your trip plan." + END)
    await agent.send(ITINERARY)
    assert server.requests[0]["grammar"] == 'root ::= " paste" | " chat"\n'  # it asks nothing
    assert calls(recorder)[0] == ("archival_memory_insert", {"content": ITINERARY, "request_heartbeat": True})
    passages = (await agent.list_archival()).items
    assert "Casa do Rio" in " ".join(p.text for p in passages)
    assert thoughts(recorder)[-1].startswith("I archived: Trip itinerary Hotel: Casa do Rio")
    assert [e.text for e in recorder.of(ev.AssistantMessage)] == ["Got it, I keep your trip plan."]


async def test_a_question_no_note_answers_is_searched_in_archival_then_answered(make_agent, server):
    agent, recorder = await make_agent(WINDOW)
    await agent.insert_archival(ITINERARY)
    server.script(" question", " archive", "Your flight leaves at 07:45." + END)
    await agent.send("What time does my flight leave?")
    assert calls(recorder) == [
        ("archival_memory_search", {"query": "What time does my flight leave?", "request_heartbeat": True}),
        ("send_message", {"message": "Your flight leaves at 07:45."}),
    ]
    answer = server.requests[-1]["prompt"]
    # What the search found, the line closest to the question first, then the model's reply.
    assert "\nFound:\n- Fri 12 April: flight TP 1331 from Manchester to Lisbon, departs 07:45" in answer
    # The thoughts name the line found closest to the question, right before the reply.
    assert answer.endswith('"The user asks: What time does my flight leave? I found: Fri 12 April: flight TP '
                           '1331 from Manchester to Lisbon, departs 07:45, gate closes 07:15.", "function": '
                           '"send_message", "params": {"message": "')  # fmt: skip


async def test_a_question_about_the_past_searches_recall(make_agent, server):
    agent, recorder = await make_agent(WINDOW)
    server.script(" chat", "Oh no, what a mess." + END)
    await agent.send("Ugh, the printer at work jammed again and ate my report.")
    server.script(" question", "The printer at work jammed." + END)  # what was said: no choice
    await agent.send("Earlier I told you about a problem at work, what was it?")
    question = "Earlier I told you about a problem at work, what was it?"
    assert ("conversation_search", {"query": question, "request_heartbeat": True}) in calls(recorder)
    answer = server.requests[-1]["prompt"]
    assert "\nFound:\n- Ugh, the printer at work jammed again and ate my report.\n" in answer
    assert f"- {question}" not in answer  # the question itself is not an answer
    assert recorder.of(ev.AssistantMessage)[-1].text == "The printer at work jammed."


async def test_when_the_archive_finds_nothing_the_model_may_search_recall_next(make_agent, server):
    agent, recorder = await make_agent(WINDOW)
    server.script(" chat", "What a film!" + END)
    await agent.send("Last night I watched a film about octopuses, so clever!")
    server.script(" question", " archive", " history", "You watched a film about octopuses." + END)
    await agent.send("Which film did I watch last night?")
    question = "Which film did I watch last night?"
    assert calls(recorder)[-3:] == [
        ("archival_memory_search", {"query": question, "request_heartbeat": True}),
        ("conversation_search", {"query": question, "request_heartbeat": True}),
        ("send_message", {"message": "You watched a film about octopuses."}),
    ]
    choice = server.requests[-2]
    assert choice["grammar"] == 'root ::= " history" | " reply"\n'
    assert choice["prompt"].endswith("\nFound: nothing\nThen:")
    answer = server.requests[-1]["prompt"]
    assert "Then: history\nReply: " in answer
    assert answer.count("\nFound:\n- Last night I watched a film about octopuses, so clever!\n") == 1


async def test_a_search_that_finds_nothing_is_said_in_the_thoughts(make_agent, server):
    agent, recorder = await make_agent(WINDOW)
    server.script(" question", " archive", " reply", "I don't know that yet." + END)
    await agent.send("What is my passport number?")
    assert "\nFound: nothing\nThen: reply\n" in server.requests[-1]["prompt"]
    assert thoughts(recorder)[-1] == "The user asks: What is my passport number? I found nothing."


@pytest.mark.parametrize(
    ("then", "thought", "archived"),
    [
        (" archive", "I archived: My favourite colour is green. Now I reply:", True),
        (" reply", "I could not save: My favourite colour is green. Now I reply:", False),
    ],
)
async def test_a_fact_that_no_longer_fits_the_human_block(make_agent, server, then, thought, archived):
    agent, recorder = await make_agent(WINDOW)
    await agent.update_block("human", "The user is Chad.\n" + "x" * 1975)
    server.script(" fact", then, "Noted." + END)
    await agent.send("My favourite colour is green.")
    returned = recorder.of(ev.FunctionReturned)
    assert (returned[0].name, returned[0].ok) == ("core_memory_append", False)  # over the block's limit
    choice = server.requests[1]
    assert choice["grammar"] == 'root ::= " archive" | " reply"\n'
    assert choice["prompt"].endswith("Then:") and '"status": "Failed"' in choice["prompt"]
    moved = ["archival_memory_insert"] if archived else []
    assert [name for name, _ in calls(recorder)] == ["core_memory_append", *moved, "send_message"]
    assert thoughts(recorder)[-1] == thought  # the thoughts say what the function returned
    texts = [p.text for p in (await agent.list_archival()).items]
    assert texts == (["My favourite colour is green."] if archived else [])
    assert "green" not in agent.memory()["human"]


async def test_a_question_naming_a_day_may_search_that_day(make_agent, server):
    agent, recorder = await make_agent(WINDOW)
    server.script(" chat", "How lovely!" + END)
    await agent.send("I planted tulips in the garden this morning.")
    server.script(" question", " date", "You planted tulips." + END)
    await agent.send("What did I do today?")
    choice = server.requests[-2]
    assert choice["grammar"] == 'root ::= " notes" | " archive" | " date" | " history"\n'
    today = date.today().isoformat()  # the day the message was sent, in local time as recall keeps it
    search = {"start_date": today, "end_date": today, "request_heartbeat": True}
    assert calls(recorder)[-2:] == [
        ("conversation_search_date", search),
        ("send_message", {"message": "You planted tulips."}),
    ]
    answer = server.requests[-1]["prompt"]
    assert "\nFound:\n- I planted tulips in the garden this morning.\n" in answer
    # The line said that day, not the login recall also holds for it.
    assert thoughts(recorder)[-1] == (
        "The user asks: What did I do today? I found: I planted tulips in the garden this morning."
    )


async def test_a_full_human_block_may_take_the_fact_in_place_of_the_note_closest_to_it(make_agent, server):
    agent, recorder = await make_agent(WINDOW)
    await agent.update_block("human", "The user is Chad.\nMy favourite colour is blue.\n" + "x" * 1950)
    server.script(" fact", " replace", "Noted." + END)
    await agent.send("My favourite colour is green.")
    choice = server.requests[1]
    assert choice["grammar"] == 'root ::= " replace" | " archive" | " reply"\n'
    assert "Kind: fact\nNotes:\n- My favourite colour is blue.\nReply: " in choice["prompt"]
    replace = {
        "label": "human",
        "old_content": "My favourite colour is blue.",
        "new_content": "My favourite colour is green.",
        "request_heartbeat": True,
    }
    assert calls(recorder) == [
        ("core_memory_append", {"label": "human", "content": "My favourite colour is green.", "request_heartbeat": True}),
        ("core_memory_replace", replace),
        ("send_message", {"message": "Noted."}),
    ]  # fmt: skip
    assert [e.ok for e in recorder.of(ev.FunctionReturned)][:2] == [False, True]
    human = agent.memory()["human"]
    assert "My favourite colour is green." in human and "blue" not in human
    assert thoughts(recorder)[-1] == "I replaced: My favourite colour is green. Now I reply:"
