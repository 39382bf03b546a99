"""A note-keeping log for small base models: each user message is first sorted (a fact about the
user, a question about them, or chat), then answered in the form its kind calls for.

A base model of a few hundred million parameters does not choose a function from instructions, but
it sorts a message well when the prompt ends with a list of sorted examples and the message to sort.
So a user message costs two requests: its kind, one word the grammar limits to the three; then the
reply, which extends the same prompt, so the server evaluates only what is new. A fact is saved with
core_memory_append of the user's own words (the call follows from the kind: no second request), then,
on the heartbeat, acknowledged with send_message; a question is answered with send_message from the
human block, shown as notes; chat gets a short send_message.

The prompt holds the example records, the sorted list, then the current exchange only: the user's
message, its kind, the notes, and the steps taken since. The conversation before it stays in the
context the engine keeps (and counts), not in this prompt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from memgpt_tui.llm import json_mode
from memgpt_tui.llm.grammar import Caps, reply_schema, sentence_rules
from memgpt_tui.model.state import Block

from .base import Decision, Turn, Wrapper, envelope

KINDS = ("fact", "question", "chat")  # "chat" last: the kind when the model writes none
_SAVE, _SEND = "core_memory_append", "send_message"
_SAVING = "A fact about the user: I save it."
_NOTHING = "(nothing yet: the user has just arrived)"  # the message shown before the user speaks
_QUOTED = 200  # how much of a message the thoughts repeat

_LIST_INTRO = (
    "### Kinds\nEach message to the assistant, and its kind: a fact about the user (to remember), a "
    "question about the user, or chat."
)
_OK = '{"status": "OK", "message": "None", "time": "2024-03-01 10:02:11 AM UTC+0000"}'

# (message, kind, notes before it, the reply): one record per kind, with different people.
_RECORDS = [
    ("I just got back from walking my dog Biscuit.", "fact", ["First name: Priya"], "Aww, say hi to Biscuit from me!"),
    ("What is my job?", "question", ["First name: Tom", "I teach maths at a school in Leeds.", "My wife Sara plays the cello."], "You teach maths at a school in Leeds."),
    ("The sunset tonight is lovely.", "chat", ["First name: Aiko"], "It sounds beautiful. Enjoy it!"),
    ("My name is Lars and I am a baker.", "fact", ["First name: (unknown yet)"], "Nice to meet you, Lars!"),
    ("Where does my brother live?", "question", ["First name: Maria", "I'm allergic to shellfish.", "My brother Diego lives in Lima.", "I have a parrot called Kiwi."], "Your brother Diego lives in Lima."),
    ("Can you tell me a joke?", "chat", ["First name: Sam"], "Here is one: a sleeping bull is a bulldozer!"),
    ("What do you call me?", "question", ["First name: (unknown yet)", "Hi, I'm Noor, I sell flowers.", "My flat is in Cairo."], "You are Noor."),
    ("I have two cats, Mochi and Pip.", "fact", ["First name: Omar"], "Two cats! Mochi and Pip sound lovely."),
    ("How are you today?", "chat", ["First name: Lea"], "I'm well, thank you! And you?"),
    ("Do you know where I work?", "question", ["First name: Ken", "I moved to Osaka in 2019.", "I work at a bakery near the station.", "My son Taro is four."], "You work at a bakery near the station."),
]  # fmt: skip


def _call(thoughts: str, name: str, heartbeat: bool, **params: Any) -> str:
    reply = {"inner_thoughts": thoughts, "function": name, "params": params, json_mode.HEARTBEAT: heartbeat}
    return json.dumps(reply, ensure_ascii=False)


def _send_start(thoughts: str) -> str:
    """A send_message reply up to the first character of its message."""
    text = _call(thoughts, _SEND, False, message="")
    return text[: text.index('"message": "') + len('"message": "')]


def _thoughts(kind: str, said: str | None, saved: bool = False) -> str:
    """The thoughts before a message: what the user said, right before the reply, so the model
    answers it rather than copies the example replies."""
    if said is None:
        return "I reply:"
    said = said if len(said) <= _QUOTED else said[:_QUOTED] + "…"
    if kind == "question":
        return f"The user asks: {said} My notes say:"
    return f"I saved: {said} Now I reply:" if saved else f"The user says: {said} I reply:"


def _save(message: str) -> str:
    return _call(_SAVING, _SAVE, True, label="human", content=message)


def _example(message: str, kind: str, notes: list[str], reply: str) -> str:
    head = _record(message, kind, notes)
    answer = f"Reply: {_call(_thoughts(kind, message, saved=kind == 'fact'), _SEND, False, message=reply)}"
    if kind == "fact":
        return f"{head}Reply: {_save(message)}\nReturn: {_OK}\n{answer}"
    return f"{head}{answer}"


def _record(message: str, kind: str, notes: Sequence[str]) -> str:
    """A record up to its first reply: the message, its kind and the notes."""
    return f"Message: {message}\nKind: {kind}\nNotes:\n" + "".join(f"- {note}\n" for note in notes)


# What every prompt starts with, the same whatever the agent holds, so the server's cache keeps it.
_PREFIX = (
    "\n\n".join(_example(*record) for record in _RECORDS)
    + f"\n\n{_LIST_INTRO}\n\n"
    + "".join(f"Message: {message}\nKind: {kind}\n" for message, kind, *_ in _RECORDS)
)


class Notes(Wrapper):
    name = "notes"
    summary = (
        "small base models: each message sorted (fact, question, chat) in a request of its own, then a "
        "fact saved in the user's words, a question answered from the human block; offers 2 of the 8 "
        "functions; the bundled model's default"
    )
    stop = ("\n",)
    offers = frozenset({_SEND, _SAVE})
    caps = Caps(thoughts=60, text=200)
    partial = True

    def tools_text(self, tools: Sequence[dict[str, Any]]) -> str:
        return _PREFIX

    def turn(self, message: dict[str, Any]) -> tuple[str, str]:
        role = message["role"]
        if role == "assistant":
            return role, f"Reply: {json_mode.to_text_turn(message)['content']}"
        content = str(message.get("content") or "")
        if role == "tool":
            return role, f"Return: {content}"
        packed = envelope(content) if role == "user" else None
        if packed is not None and packed["type"] == "user_message":
            return role, f"Message: {packed.get('message', '')}"
        return "system", ""  # events and alerts: the small model does nothing with them

    def frame(self, turns: Sequence[Turn]) -> str:
        return "\n".join(t["content"] for t in turns if t["content"]) + "\nReply: "

    def decision(self, messages: Sequence[dict[str, Any]]) -> Decision | None:
        said, since = _exchange(messages)
        if said is None or since:
            return None  # a kind is chosen once, right after the user speaks
        options = KINDS if len(said) <= self.caps.text else KINDS[1:]  # a long paste is not one fact
        return Decision(f"{_PREFIX}Message: {said}\nKind:", options)

    def render(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], decided: str | None
    ) -> str:
        said, since = _exchange(messages)
        system = str(messages[0].get("content") or "") if messages else ""
        notes = [note for note in (Block.read(system, "human") or "").splitlines() if note.strip()]
        body = _record(_NOTHING if said is None else said, _kind(since, decided), notes)
        body += "".join(f"{text}\n" for _, text in map(self.turn, since) if text)
        return f"{_PREFIX}{body}Reply: "

    def start(self, messages: Sequence[dict[str, Any]], decided: str | None = None) -> str:
        said, since = _exchange(messages)
        if (fact := _fact_to_save(said, since, decided)) is not None:
            return _save(fact)
        kind = _kind(since, decided)
        return _send_start(_thoughts(kind, said, saved=kind == "fact"))

    def grammar(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], decided: str | None = None
    ) -> str | None:
        if _fact_to_save(*_exchange(messages), decided) is not None:
            return None  # the save is the whole reply
        end = json.dumps('"}, ' + json.dumps(json_mode.HEARTBEAT) + ": false}")
        return f"root ::= sentence {end}\n{sentence_rules(self.caps.text)}"

    def schema(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], decided: str | None = None
    ) -> dict[str, Any]:
        # Whenever the model writes a reply, it is a message: a save needs no request.
        return reply_schema([t for t in tools if t.get("function", t)["name"] == _SEND], self.caps)


def _exchange(messages: Sequence[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """The user's last message, and the messages after it."""
    for index in range(len(messages) - 1, 0, -1):
        message = messages[index]
        if message["role"] != "user":
            continue
        packed = envelope(str(message.get("content") or ""))
        if packed is not None and packed["type"] == "user_message":
            return str(packed.get("message", "")), list(messages[index + 1 :])
    return None, list(messages[1:])


def _fact_to_save(said: str | None, since: Sequence[dict[str, Any]], decided: str | None) -> str | None:
    """What the user just said, when the reply is its save: a call that follows from the kind alone."""
    return said if not since and decided == "fact" else None


def _kind(since: Sequence[dict[str, Any]], decided: str | None) -> str:
    """The kind of the exchange: decided by the model, or seen in the calls made since."""
    if decided is not None:
        return decided
    for message in since:
        for call in message.get("tool_calls") or ():
            if call["function"]["name"] == _SAVE:
                return "fact"
    return "chat"


NOTES = Notes()
