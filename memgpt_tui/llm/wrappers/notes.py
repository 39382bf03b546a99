"""A note-keeping log for small base models: each user message is first sorted (a fact about the
user, a question about them, chat, or a long paste), then handled in the form its kind calls for.

A base model of a few hundred million parameters does not choose a function from instructions, but
it chooses well when the prompt ends with a list of examples and the thing to choose for. So every
choice is one word in a request of its own, limited by a grammar to a few words, each of which names
one function; the reply then extends the same prompt, so the server evaluates only what is new:
- the kind: a fact is saved with core_memory_append of the user's own words (a name given fills in
  the note waiting for it with core_memory_replace, and is welcomed by name), a paste (only a long
  message may be one) with archival_memory_insert of the paste, and both are then acknowledged;
  chat gets a short send_message; a message with no question mark, question word or question opening
  is not offered "question";
- for a question, where the answer is: in the notes (the sentences of the human block's lines closest
  to the question, by the embedder's closeness when the wrapper has one, else by shared words), answered
  with send_message; in the archive or in the conversation so far, searched first with
  archival_memory_search or conversation_search, the question as the query, or, when the question
  names days, on those days with conversation_search_date (a question about what the user said has
  no choice: the conversation, on the days named first); then answered from the lines found
  closest to the question (the thoughts name the closest, and a grammar keeps the answer to the
  words of the question, of the lines shown and of ``_GLUE``, so it cannot copy an example's);
- after a save that failed (a full human block), whether to put the fact in place of the note
  closest to it (core_memory_replace; offered when a note is close), to archive it, or to reply;
- after an archive or date search that found nothing, whether to search the conversation or to reply
  (for what the user said, the conversation is searched).
Calls follow from the words chosen and hold only the user's words (or the days they name); the
model writes the replies. Taking note of a fact or a paste is held by a grammar to the user's words,
``_GLUE`` and the plain words of ``_CHAT``; a greeting or chat is a choice of one or two short plain
sentences (words strung freely made no sense there): neither can say an example's facts.

The prompt holds the example records, the sorted list, then the current exchange only: the user's
message, the words chosen, the notes, and the steps taken since. The conversation before it stays in
the context the engine keeps (and counts), not in this prompt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, NamedTuple

from memgpt_tui.llm import json_mode
from memgpt_tui.llm.grammar import Caps, chosen_rules, reply_schema, worded_rules
from memgpt_tui.model.state import Block

from .base import Decision, Turn, Wrapper, envelope
from .closeness import Closeness, TextEmbedder
from .dates import Range, days_spoken_of

KINDS = ("fact", "question", "chat")  # "chat" last: the kind when the model writes none
LONG_KINDS = ("paste", "question", "chat")  # a long message is not one fact
SOURCES = ("notes", "archive", "history")  # where a question's answer is; "history" searches recall
DATED = ("notes", "archive", "date", "history")  # for a question naming days: "date" searches them
AFTER_FAILURE = ("archive", "reply")  # after a save that failed
REPLACING = ("replace", "archive", "reply")  # the same, with a note close to the fact to replace
AFTER_NOTHING = ("history", "reply")  # after an archive (or date) search that found nothing
_SEND, _SAVE, _ARCHIVE = "send_message", "core_memory_append", "archival_memory_insert"
_REPLACE = "core_memory_replace"
_SEARCHES = {
    "archive": "archival_memory_search",
    "history": "conversation_search",
    "date": "conversation_search_date",
}
_SOURCES = {name: source for source, name in _SEARCHES.items()}  # a search function -> its kind
_WHERE = {
    "archive": "my archive",
    "history": "our past conversation",
    "date": "our conversation on those days",
}
_NOTHING = "(nothing yet: the user has just arrived)"  # the message shown before the user speaks
_QUOTED = 200  # how much of a message the thoughts repeat
_SHOWN = 3  # notes, and lines a search found, shown: the closest to the message first
_ANSWER_WORDS = 30  # an answer's words at most
# The words an answer may use besides those of the question and of the lines its record shows: the
# user's words said back to them ("my" as "your"), and saying what is not known.
_GLUE = tuple(
    re.findall(
        r"[\w']+",
        """
    you your you're yours i i'm me my mine we our is are was were am be been being said say told tell
    know don't do does did yes yet that this these those it it's its the a an and or but so at
    in on of to for with from by about as there here have has had can will would some all any sorry
    """,
    )
)
_REPLY_WORDS = 20  # the words at most of a reply that answers no question
# The words such a reply (a greeting, chat, taking note of a fact) may use besides the user's own and
# ``_GLUE``: plain ones, so that it cannot say an example's facts.
_CHAT = tuple(
    re.findall(
        r"[\w']+",
        """
    hello hi hey welcome glad nice great good fine well lovely wonderful happy fun sure okay thanks
    thank meet sounds sound love like enjoy hope hear noted got keep remember will how what very
    really too much today day here again now all right oh wow see more mind telling question not
    """,
    )
)
# A greeting, and a reply to chat, is one of the first sentences of these, then maybe one of the
# second: plain words, well-formed, and never the same sentence twice. Chat with a question mark gets
# answers, other chat a remark.
_GREETINGS = (
    ("Hello!", "Hi there!", "Welcome!", "Nice to meet you!", "I'm glad you are here."),
    ("How are you today?", "What is on your mind?"),
)
_ANSWERS = (
    ("I'm fine, thanks!", "I'm well, thank you!", "Sure!", "Good question!", "I'm not sure.", "Hello!"),
    ("And you?", "What about you?"),
)
_REMARKS = (  # none that would be wrong for bad news ("That sounds lovely." was, to an awful day)
    (
        "Thanks for telling me.",
        "Oh, I see.",
        "Sorry to hear that.",
        "Glad to hear it.",
        "Hi there!",
        "Nice to meet you!",
    ),
    ("Tell me more!", "How are you?"),
)
# Words that make a message a question, anywhere in it or (``_OPENS_ASKING``) as its first word.
_ASKING = frozenset(re.findall(r"\w+", "what which who whom whose where when why how remind"))
_OPENS_ASKING = frozenset(
    re.findall(r"\w+", "do does did is are am was were can could will would should have has tell")
)
# The user asking what they said: "did I say", "I told you", "we talked about".
_SAYING = re.compile(r"\b(?:i|we)\s+(?:said|say|told|tell|mentioned|mention|talked|talk)\b", re.IGNORECASE)
Rank = Callable[[Sequence[str], str], list[str]]  # the lines shown for a message, the closest first

_LIST_INTRO = (
    "### Kinds\nEach message to the assistant, and its kind: a fact about the user (to remember), a "
    "question about the user, or chat."
)
_TIME = "2024-03-01 10:02:11 AM UTC+0000"
_TODAY = date(2024, 3, 1)  # the day of the example records
_OK = json.dumps({"status": "OK", "message": "None", "time": _TIME})
_FULL = json.dumps(
    {
        "status": "Failed",
        "message": "Edit failed: block 'human' would have 2012 characters, over its limit of 2000.",
        "time": _TIME,
    }
)
_PASTE = (
    "Packing list for the lake:\n- tent, two sleeping bags\n- stove and gas, matches\n"
    "- rain jackets, boots\n- map of the north shore\nBus 14 leaves the square at 06:30 on Saturday, "
    "back on Monday at 17:00."
)


class Record(NamedTuple):
    """One example exchange: the message, the words chosen, the notes, the reply, and what a search
    found."""

    message: str
    chosen: tuple[str, ...]
    notes: tuple[str, ...]
    reply: str
    found: tuple[str, ...] = ()
    listed: bool = True  # in the sorted list too (more of one kind there tilts the sorting to it)


_RECORDS = [
    # Searches, a paste and a full block first: the records the kinds were sorted by come last.
    Record("When does my bus leave?", ("question", "archive"), ("First name: Eva", "I love jazz."), "Your bus leaves at 06:30 on Saturday.", ("Bus 14 leaves the square at 06:30 on Saturday, back on Monday at 17:00.", "Packing list for the lake:"), listed=False),
    Record("What did I tell you about my neighbour earlier?", ("question", "history"), ("First name: Joe", "I work at a garage."), "You said your neighbour plays the drums all night.", ("My neighbour plays the drums all night, I can't sleep.",), listed=False),
    Record("My favourite colour is green.", ("fact", "archive"), ("First name: Ines", "I collect stamps."), "Noted: green is your favourite colour.", listed=False),
    Record("I work at the library now.", ("fact", "replace"), ("First name: Ken", "I work at a bakery near the station.", "My son Taro is four."), "Noted: you work at the library now.", listed=False),
    Record("What is my passport number?", ("question", "archive", "history"), ("First name: Ken", "My son Taro is four."), "I don't know that yet.", (), listed=False),
    Record(_PASTE, ("paste",), ("First name: Eva",), "Got it, I keep your packing list.", listed=False),
    Record("What did we talk about yesterday?", ("question", "date"), ("First name: Ana", "I have a son, Leo."), "You said you planted tulips in the garden.", ("I planted tulips in the garden this morning.",), listed=False),
    Record("What is my gym locker code?", ("question", "archive", "history"), ("First name: Bea", "I live in Porto."), "Your gym locker code is 4417.", ("My locker code at the gym is 4417, don't let me forget it.",), listed=False),
    Record("What did I say about my cousin's wedding?", ("question", "history"), ("First name: Ivo", "I drive a red van."), "You said the wedding was moved to August.", ("Ugh, my cousin's wedding was moved to August.",), listed=False),
    Record("I just got back from walking my dog Biscuit.", ("fact",), ("First name: Priya",), "Aww, say hi to Biscuit from me!"),
    Record("What subject do I teach?", ("question", "notes"), ("First name: Tom", "I teach maths at a school in Bergen.", "My wife Sara plays the cello."), "You teach maths at a school in Bergen."),
    Record("The sunset tonight is lovely.", ("chat",), ("First name: Aiko",), "It sounds beautiful. Enjoy it!"),
    Record("My name is Lars.", ("fact",), ("First name: (unknown yet)",), "Nice to meet you, Lars!"),
    Record("Where does my aunt live?", ("question", "notes"), ("First name: Maria", "I'm allergic to shellfish.", "My aunt Rosa lives in Quito.", "I have a parrot called Kiwi."), "Your aunt Rosa lives in Quito."),
    Record("Can you tell me a joke?", ("chat",), ("First name: Sam",), "Here is one: a sleeping bull is a bulldozer!"),
    Record("What is my name?", ("question", "notes"), ("First name: Noor", "I sell flowers.", "My flat is in Cairo."), "You are Noor."),
    Record("I have two cats, Mochi and Pip.", ("fact",), ("First name: Omar",), "Two cats! Mochi and Pip sound lovely."),
    Record("How are you today?", ("chat",), ("First name: Lea",), "I'm well, thank you! And you?"),
    Record("Do you know where I grew up?", ("question", "notes"), ("First name: Ken", "I moved to Osaka in 2019.", "I grew up on a farm near Lyon.", "My son Taro is four."), "You grew up on a farm near Lyon."),
]  # fmt: skip


def _call(thoughts: str, name: str, heartbeat: bool, **params: Any) -> str:
    reply = {"inner_thoughts": thoughts, "function": name, "params": params, json_mode.HEARTBEAT: heartbeat}
    return json.dumps(reply, ensure_ascii=False)


def _send_start(thoughts: str) -> str:
    """A send_message reply up to the first character of its message."""
    text = _call(thoughts, _SEND, False, message="")
    return text[: text.index('"message": "') + len('"message": "')]


def _quoted(said: str) -> str:
    said = _flat(said)
    return said if len(said) <= _QUOTED else said[:_QUOTED] + "…"


def _thoughts(said: str | None, chosen: Sequence[str], returned: str | None, top: str | None = None) -> str:
    """The thoughts before a message: what the user said and what the last function returned (for a
    question, ``top``: the line shown closest to it, a note or what the last search found), right
    before the reply, so the model answers from it rather than copies the example replies."""
    if said is None:
        return "The user has just arrived. I greet them warmly:"
    quoted = _quoted(said)
    kind = chosen[0] if chosen else "chat"
    if kind == "question":
        if top is None:
            return f"The user asks: {quoted} {'I have no note of it.' if returned is None else 'I found nothing.'}"
        return f"The user asks: {quoted} {'My notes say:' if returned is None else 'I found:'} {_quoted(top)}"
    if kind == "chat" or returned is None:
        return f"The user says: {quoted} I reply:"
    verb = "archive" if kind == "paste" or chosen[1:] == ("archive",) else "save"
    verb = "replace" if chosen[1:] == ("replace",) else verb
    if _status(returned) != "OK":
        return f"I could not {verb}: {quoted} Now I reply:"
    return f"I {verb}d: {quoted} Now I reply:"


def _first_call(
    said: str,
    chosen: Sequence[str],
    days: Range | None = None,
    closest: str | None = None,
    naming: tuple[str, str] | None = None,
) -> str | None:
    """The call that follows from the words chosen, before any reply: None when the model replies.
    ``days``: the range the message names, which a date search searches; ``closest``: the note
    closest to a fact, which "replace" replaces with it; ``naming``: the note waiting for the user's
    name and that note filled in, when the fact gives the name."""
    if chosen == ("fact",) and naming is not None:
        waiting, filled = naming
        return _call(
            "A fact about the user: I save it.", _REPLACE, True, label="human", old_content=waiting,
            new_content=filled,
        )  # fmt: skip
    if chosen == ("fact",):
        return _call("A fact about the user: I save it.", _SAVE, True, label="human", content=said)
    if chosen == ("paste",):
        return _call("A paste from the user: I archive it.", _ARCHIVE, True, content=said)
    if chosen == ("fact", "archive"):
        return _call("The save failed: I archive the fact instead.", _ARCHIVE, True, content=said)
    if chosen == ("fact", "replace") and closest is not None:
        thoughts = "The save failed: the fact takes the place of the note closest to it."
        return _call(thoughts, _REPLACE, True, label="human", old_content=closest, new_content=said)
    if chosen[:1] == ("question",) and chosen[-1] in _SEARCHES:
        source = chosen[-1]
        thoughts = f"The user asks: {_quoted(said)} I search {_WHERE[source]}."
        if source != "date":
            return _call(thoughts, _SEARCHES[source], True, query=said)
        if days is not None:
            start, end = (day.isoformat() for day in days)
            return _call(thoughts, _SEARCHES[source], True, start_date=start, end_date=end)
    return None


def _example(record: Record) -> str:
    """An example record, in the form ``render`` gives a live one."""
    message, chosen, notes, reply, found, _ = record
    shown = _ranked(notes, message) if chosen[0] == "question" or chosen[1:] else []
    text = _record(message, chosen, shown)
    returned = None
    if chosen[0] == "fact":
        returned = _FULL if chosen[1:] else _OK
        text += (
            f"Reply: {_first_call(message, chosen[:1], naming=_naming(notes, message))}\nReturn: {returned}\n"
        )
        if chosen[1:]:
            returned = _OK
            call = _first_call(message, chosen, closest=shown[0] if shown else None)
            text += f"Then: {chosen[1]}\nReply: {call}\nReturn: {returned}\n"
    elif chosen[0] == "paste":
        returned = _OK
        text += f"Reply: {_first_call(message, chosen)}\nReturn: {returned}\n"
    elif chosen[0] == "question" and chosen[1] in _SEARCHES:
        days = days_spoken_of(message, _TODAY)
        if chosen[2:]:  # the archive found nothing; then the history, or the reply
            text += f"Reply: {_first_call(message, chosen[:2], days)}\n"
            text += _returned(_results((), "archive"), message, _ranked, "archive")
            text += f"Then: {chosen[2]}\n"
        returned = _results(found, chosen[-1])
        if chosen[-1] in _SEARCHES:
            text += f"Reply: {_first_call(message, chosen, days)}\n{_returned(returned, message, _ranked, chosen[-1])}"
    lines = shown if returned is None else _shown(returned, message, _ranked, chosen[-1])
    thoughts = _thoughts(message, chosen, returned, lines[0] if lines else None)
    return f"{text}Reply: {_call(thoughts, _SEND, False, message=reply)}"


def _results(found: Sequence[str], source: str) -> str:
    """A search's return, as the functions package it, for an example."""
    if not found:
        return json.dumps({"status": "OK", "message": "No results found.", "time": _TIME})
    if source == "archive":
        items: list[Any] = [{"timestamp": _TIME, "content": "\n".join(found)}]
    else:
        items = [f"timestamp: {_TIME}, user - {line}" for line in found]
    shown = f"Showing {len(items)} of {len(items)} results (page 0/0): {json.dumps(items)}"
    return json.dumps({"status": "OK", "message": shown, "time": _TIME})


def _record(message: str, chosen: Sequence[str], notes: Sequence[str]) -> str:
    """A record up to its first reply: the message, its kind, the notes shown with it and, for a
    question, where its answer is."""
    kind = chosen[0] if chosen else "chat"
    listed = "".join(f"- {note}\n" for note in notes)
    text = f"Message: {_flat(message)}\nKind: {kind}\n" + (f"Notes:\n{listed}" if notes else "Notes: none\n")
    return text + (f"Source: {chosen[1]}\n" if len(chosen) > 1 and kind == "question" else "")


def _flat(message: str) -> str:
    """A message on one line, as the records show it (a paste's lines would read as notes)."""
    return " ".join(message.split())


class Notes(Wrapper):
    name = "notes"
    summary = (
        "small base models: each message sorted (fact, question, chat, paste) in a request of its own, "
        "then a fact saved in the user's words, a paste archived, a question answered from the notes "
        "closest to it or from a search of the archive, the conversation or the days it names; offers 7 "
        "of the 8 functions; the bundled model's default"
    )
    stop = ("\n",)
    offers = frozenset({_SEND, _SAVE, _REPLACE, _ARCHIVE, *_SEARCHES.values()})
    caps = Caps(thoughts=60, text=200)
    partial = True

    def __init__(self, closeness: Closeness | None = None) -> None:
        self._closeness = closeness

    def using(self, embedder: TextEmbedder) -> Notes:
        return Notes(Closeness(embedder))

    async def prepare(self, messages: Sequence[dict[str, Any]]) -> None:
        said, since = _exchange(messages)
        # A long message (most likely a paste) is not embedded: its notes, if asked for, go by words.
        if self._closeness is not None and said is not None and len(said) <= self.caps.text:
            found = [
                line
                for m in since
                if m["role"] == "tool"
                for line in _found(str(m.get("content") or ""), said)
            ]
            notes = _human(messages)
            await self._closeness.learn(said, [*notes, *_sentences(notes), *found])

    def _call_to_make(
        self,
        messages: Sequence[dict[str, Any]],
        said: str | None,
        since: Sequence[dict[str, Any]],
        chosen: Sequence[str],
    ) -> str | None:
        """The call the words chosen make next, when they make one: the model writes nothing."""
        calls = _calls(since)
        if (
            said is None
            or len(calls) > 1
            or (calls and _then(chosen) not in ("archive", "history", "replace"))
        ):
            return None
        closest = _notes(messages, said, self._rank)[:1] if chosen == ("fact", "replace") else []
        naming = _naming(_human(messages), said) if chosen == ("fact",) else None
        return _first_call(said, chosen, _days(messages, said), closest[0] if closest else None, naming)

    def _rank(self, lines: Sequence[str], text: str) -> list[str]:
        """At most ``_SHOWN`` lines close to ``text``, the closest first: by the embedder's closeness
        where the vectors were learned, else by shared words."""
        scores = self._closeness.scores(lines, text) if self._closeness is not None else None
        if scores is None:
            return _ranked(lines, text)
        order = sorted((i for i in range(len(lines)) if scores[i] > 0), key=lambda i: -scores[i])
        return [lines[i] for i in order[:_SHOWN]]

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

    def decision(self, messages: Sequence[dict[str, Any]], decided: Sequence[str] = ()) -> Decision | None:
        said, since = _exchange(messages)
        chosen = _seen(since) + tuple(decided)
        if said is None or (since and not chosen):
            return None
        if not chosen:
            kinds: tuple[str, ...] = KINDS if len(said) <= self.caps.text else LONG_KINDS
            if not _may_ask(said):
                kinds = tuple(kind for kind in kinds if kind != "question")
            return Decision(f"{_PREFIX}Message: {_flat(said)}\nKind:", kinds)
        if chosen == ("question",):
            notes = _told(messages, said, self._rank)
            return Decision(f"{_PREFIX}{_record(said, chosen, notes)}Source:", _sources(messages, said))
        if chosen == ("fact",) and since and _status(_last_return(since)) == "Failed":
            options = REPLACING if _notes(messages, said, self._rank) else AFTER_FAILURE
            return Decision(f"{_PREFIX}{_body(messages, said, since, chosen, self._rank)}Then:", options)
        searched = chosen in (("question", "archive"), ("question", "date"))
        if searched and since and not _shown(_last_return(since), said, self._rank, chosen[-1]):
            then = ("history",) if _recalls(said) else AFTER_NOTHING
            return Decision(f"{_PREFIX}{_body(messages, said, since, chosen, self._rank)}Then:", then)
        return None

    def render(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], decided: Sequence[str] = ()
    ) -> str:
        said, since = _exchange(messages)
        if said is None:
            return f"{_PREFIX}{_record(_NOTHING, ('chat',), ())}Reply: "
        return f"{_PREFIX}{_body(messages, said, since, _seen(since) + tuple(decided), self._rank)}Reply: "

    def start(self, messages: Sequence[dict[str, Any]], decided: Sequence[str] = ()) -> str:
        said, since = _exchange(messages)
        chosen = _seen(since) + tuple(decided)
        if (call := self._call_to_make(messages, said, since, chosen)) is not None:
            return call
        returned = _last_return(since) if since else None
        lines: list[str] = []
        if said is not None and chosen[:1] == ("question",):
            lines = (
                _told(messages, said, self._rank)
                if returned is None
                else _shown(returned, said, self._rank, chosen[-1])
            )
        return _send_start(_thoughts(said, chosen, returned, lines[0] if lines else None))

    def grammar(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], decided: Sequence[str] = ()
    ) -> str | None:
        said, since = _exchange(messages)
        if self._call_to_make(messages, said, since, _seen(since) + tuple(decided)) is not None:
            return None  # the call is the whole reply
        end = json.dumps('"}, ' + json.dumps(json_mode.HEARTBEAT) + ": false}")
        chosen = _seen(since) + tuple(decided)
        if said is not None and chosen[:1] == ("question",):
            # An answer says back what its record shows: it cannot bring in an example's words.
            shown = _lines_shown(messages, said, since, self._rank)
            words = [*_GLUE, *_spoken(said), *(word for line in shown for word in _spoken(line))]
            return f"root ::= sentence {end}\n{worded_rules(words, _ANSWER_WORDS)}"
        if said is None or chosen[:1] in ((), ("chat",)):
            # A greeting or chat: a choice of well-formed plain replies.
            return f"root ::= sentence {end}\n{chosen_rules(*_chatting(said))}"
        if chosen == ("fact",) and _calls(since)[:1] == [_REPLACE] and (named := _introduction(said)):
            return f"root ::= sentence {end}\n{chosen_rules(_welcomes(named.group(1)), _GREETINGS[1])}"
        # Taking note of a fact or a paste says the user's words back, or plain ones: the same guard.
        words = [*_GLUE, *_CHAT, *_spoken(said)]
        return f"root ::= sentence {end}\n{worded_rules(words, _REPLY_WORDS)}"

    def schema(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], decided: Sequence[str] = ()
    ) -> dict[str, Any]:
        # Whenever the model writes a reply, it is a message: every other call needs no request.
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


def _may_ask(message: str) -> bool:
    """Whether a message may be a question: it has a question mark or a question word, or opens as a
    question does ("Do you ...", "Is my ..."). A statement ("My flat is on the third floor.") is not."""
    words = [word.split("'")[0] for word in re.findall(r"[\w']+", message.lower())]
    if "?" in message or not _ASKING.isdisjoint(words):
        return True
    return bool(words) and words[0] in _OPENS_ASKING


def _chatting(said: str | None) -> tuple[Sequence[str], Sequence[str]]:
    """The replies offered to chat (``said``), or to the user's arrival (None)."""
    if said is None:
        return _GREETINGS
    return _ANSWERS if "?" in said else _REMARKS


def _recalls(question: str) -> bool:
    """Whether a question asks what the user said ("What did I say ...", "I told you ..."): its
    answer is in the conversation, whatever the notes or the archive hold."""
    return _SAYING.search(question) is not None


def _sources(messages: Sequence[dict[str, Any]], said: str) -> tuple[str, ...]:
    """Where a question's answer may be: for what the user said, the conversation (on the days the
    question names first, if any); else the notes, the archive, the days named or the conversation."""
    days = _days(messages, said)
    if _recalls(said):
        return ("date",) if days else ("history",)
    return DATED if days else SOURCES


def _calls(since: Sequence[dict[str, Any]]) -> list[str]:
    return [call["function"]["name"] for m in since for call in m.get("tool_calls") or ()]


def _seen(since: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The words chosen earlier in this exchange, as the calls made since the message show them."""
    calls = _calls(since)
    if not calls:
        return ()
    if calls[0] in (_SAVE, _REPLACE):  # a fact is saved, or fills in the note waiting for it
        then = calls[1:]
        return (
            ("fact", "archive")
            if _ARCHIVE in then
            else ("fact", "replace")
            if _REPLACE in then
            else ("fact",)
        )
    if calls[0] == _ARCHIVE:
        return ("paste",)
    return (
        ("question", *(_SOURCES[call] for call in calls if call in _SOURCES)) if calls[0] in _SOURCES else ()
    )


def _body(
    messages: Sequence[dict[str, Any]],
    said: str,
    since: Sequence[dict[str, Any]],
    chosen: Sequence[str],
    rank: Rank,
) -> str:
    """The live record up to where the next reply (or choice) is written: a choice made after the
    first call follows its return."""
    # A fact's notes are shown once its save failed: the note closest to it is one it may replace.
    failed = chosen[:1] == ("fact",) and _status(_last_return(since[:2])) == "Failed"
    if chosen[:1] == ("question",):
        notes = _told(messages, said, rank)
    else:
        notes = _notes(messages, said, rank) if failed else []
    body = _record(said, chosen, notes)
    then = _then(chosen)
    returns = 0
    for message in since:
        if source := _search_of(message):
            body += _returned(str(message.get("content") or ""), said, rank, source)
        elif text := NOTES.turn(message)[1]:
            body += f"{text}\n"
        returns += message["role"] == "tool"
        if returns == 1 and message["role"] == "tool" and then:
            body += f"Then: {then}\n"
    return body


def _lines_shown(
    messages: Sequence[dict[str, Any]], said: str, since: Sequence[dict[str, Any]], rank: Rank
) -> list[str]:
    """The lines a question's record shows: its notes, then what each search found."""
    shown = _told(messages, said, rank)
    for message in since:
        if source := _search_of(message):
            shown += _shown(str(message.get("content") or ""), said, rank, source)
    return shown


def _search_of(message: dict[str, Any]) -> str | None:
    """The kind of search (archive, history, date) whose result ``message`` is; None if it is none."""
    return _SOURCES.get(str(message.get("name"))) if message["role"] == "tool" else None


def _spoken(text: str) -> list[str]:
    """A text's words as written, without the punctuation around them."""
    return [word for word in (w.strip(".,;:!?()[]{}'\"-") for w in text.split()) if word]


def _then(chosen: Sequence[str]) -> str | None:
    """The word chosen after the first call returned (a failed save, a search that found nothing)."""
    rest = chosen[2:] if chosen[:1] == ("question",) else chosen[1:]
    return rest[0] if rest else None


def _days(messages: Sequence[dict[str, Any]], said: str | None) -> Range | None:
    """The days the user's last message names, read from its words and the day it was sent."""
    if said is None:
        return None
    for message in reversed(messages):
        packed = envelope(str(message.get("content") or "")) if message["role"] == "user" else None
        if packed is not None and packed["type"] == "user_message":
            try:
                sent = date.fromisoformat(str(packed.get("time") or "")[:10])
            except ValueError:
                return None
            return days_spoken_of(said, sent)
    return None


def _last_return(since: Sequence[dict[str, Any]]) -> str:
    returns = [str(m.get("content") or "") for m in since if m["role"] == "tool"]
    return returns[-1] if returns else ""


def _status(returned: str) -> str | None:
    try:
        value = json.loads(returned)
    except ValueError:
        return None
    return value.get("status") if isinstance(value, dict) else None


def _found(returned: str, said: str) -> list[str]:
    """The lines a search returned, but the question itself: passages split into lines; from the
    conversation, what the user said."""
    try:
        message = str(json.loads(returned).get("message") or "")
        items = json.loads(message[message.index("[") :]) if "[" in message else []
    except (ValueError, AttributeError):
        return []
    lines = []
    for item in items:
        if isinstance(item, dict):
            lines += str(item.get("content") or "").splitlines()
        elif " user - " in str(item):
            line = str(item).split(" user - ", 1)[1]
            if envelope(line) is None:  # not a login, a heartbeat or an alert: what the user said
                lines.append(line)
    lines = [line.strip(" -") for line in lines]
    return [line for line in lines if line and line != said]


def _shown(returned: str, said: str, rank: Rank, source: str) -> list[str]:
    """What a search found that the record shows: the lines closest to the question; from a search
    of some days (``source`` "date") where none is closer, the first lines said on them."""
    found = _found(returned, said)
    return rank(found, said) or (found[:_SHOWN] if source == "date" else [])


def _returned(returned: str, said: str, rank: Rank, source: str) -> str:
    """A search's return as the record shows it."""
    lines = _shown(returned, said, rank, source)
    if not lines:
        return "Found: nothing\n"
    return "Found:\n" + "".join(f"- {line}\n" for line in lines)


def _human(messages: Sequence[dict[str, Any]]) -> list[str]:
    """The lines of the human block."""
    system = str(messages[0].get("content") or "") if messages else ""
    return [note for note in (Block.read(system, "human") or "").splitlines() if note.strip()]


def _notes(messages: Sequence[dict[str, Any]], said: str, rank: Rank) -> list[str]:
    """The notes shown with a fact: those closest to it, as saved (one of them it may replace)."""
    return rank([note for note in _human(messages) if note != said], said)


def _told(messages: Sequence[dict[str, Any]], said: str, rank: Rank) -> list[str]:
    """The notes shown with a question: the sentences of the notes closest to it, as a fact told at
    once often holds several ("Hi, I'm Maya. I work as a vet.") and only one of them answers. A note
    still waiting for its fact ("First name: (unknown yet)") answers nothing, however close it is."""
    told = [line for line in _sentences(_human(messages)) if line != said and not _UNKNOWN.search(line)]
    asked = [line for line in told if _asks_for(said, line)]
    return list(dict.fromkeys([*asked, *rank(told, said)]))[:_SHOWN]


_UNKNOWN = re.compile(r"\(unknown\b[^)]*\)", re.IGNORECASE)
_FIELD = re.compile(r"^([A-Za-z][\w ]{0,30}):\s*\S")  # a note that is a field: "First name: Kofi"


def _asks_for(question: str, note: str) -> bool:
    """Whether a question asks for the field a note is: "my" and the field ("Do you remember my
    name?", "What is my first name?" for "First name: Kofi"; not "the name of my hotel"). An embedder
    ranks so short a note low for some wordings."""
    field = _FIELD.match(note)
    words = field.group(1).lower().split() if field else []
    if not 0 < len(words) <= 3:
        return False
    named = "|".join(map(re.escape, dict.fromkeys([" ".join(words), words[-1]])))
    return re.search(rf"\bmy\s+(?:{named})\b", question, re.IGNORECASE) is not None


_NAME = r"([A-Z][\w'’-]*)"
# "My name is Lars", "call me Lars"; "I'm Kofi" only after a greeting, as "I'm British." is no name.
_NAMED = (
    re.compile(rf"(?i:\bmy name(?:['’]s| is)|\bcall me)\s+{_NAME}"),
    re.compile(
        rf"^\W*(?i:hi|hello|hey|hiya|good (?:morning|afternoon|evening))\b.*?(?i:\bi['’]m|\bi am)\s+{_NAME}"
    ),
)
_WAITING_NAME = re.compile(r"^([^:\n]*\bname):\s*\(unknown\b[^)]*\)\s*$", re.IGNORECASE)


def _introduction(said: str) -> re.Match[str] | None:
    """Where ``said`` gives the user's name (the name is its group 1), if it does."""
    return next((found for pattern in _NAMED if (found := pattern.search(said))), None)


def _welcomes(name: str) -> tuple[str, ...]:
    """The replies offered once the user's name filled in its note."""
    return (
        f"Nice to meet you, {name}!",
        f"Hello, {name}!",
        f"Welcome, {name}!",
        f"Hi {name}, glad you are here.",
    )


def _naming(notes: Sequence[str], said: str) -> tuple[str, str] | None:
    """When ``said`` gives the user's name and a note waits for it ("First name: (unknown yet)"):
    that note, and what takes its place: the field filled in, then what else ``said`` tells, without
    the introduction ("My name is Lars and I am a baker." gives "First name: Lars" and "I am a baker.";
    "Hi! I'm Kofi, nice to meet you." only the first)."""
    found = _introduction(said)
    waiting = next((match for note in notes if (match := _WAITING_NAME.match(note))), None)
    if found is None or waiting is None:
        return None
    before = said[: found.start()].strip()
    after = re.sub(r"^[\s,.;:!?-]*(?:(?:and|but|so)\b\s*)?", "", said[found.end() :])
    told = [part for part in (before, after[:1].upper() + after[1:]) if _words(part) - _PLEASANTRIES]
    return waiting.group(0), "\n".join([f"{waiting.group(1)}: {found.group(1)}", *told])


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[^a-z\s])")


def _sentences(lines: Sequence[str]) -> list[str]:
    """The sentences of ``lines``, each once."""
    return list(dict.fromkeys(part for line in lines for part in _SENTENCE_END.split(line.strip()) if part))


_STOP = frozenset(
    re.findall(
        r"[\w']+",
        """
    a an the i i'm me my you your is am are was were be do does did what which who whom where when how
    to of in on at for and or it its that this with about have has had so can could please tell
""",
    )
)


def _words(text: str) -> set[str]:
    """A text's words, lower case, without common words or their endings."""
    out = set()
    for word in re.findall(r"[\w']+", text.lower()):
        if word in _STOP:
            continue
        word = word.removesuffix("'s")
        for ending in ("ing", "ed", "es", "s", "e"):
            if word.endswith(ending) and len(word) - len(ending) >= 3:
                word = word[: -len(ending)]
                break
        out.add(word)
    return out


# What a greeting is made of, besides common words (as ``_words`` gives them): it tells nothing to keep.
_PLEASANTRIES = frozenset(
    _words("hi hello hey hiya there good morning afternoon evening nice meet glad pleased great everyone")
)


def _ranked(lines: Sequence[str], text: str) -> list[str]:
    """At most ``_SHOWN`` lines sharing a word with ``text``, the most first (ties keep their order)."""
    wanted = _words(text)
    shared = [len(wanted & _words(line)) for line in lines]
    order = sorted((i for i in range(len(lines)) if shared[i]), key=lambda i: -shared[i])
    return [lines[i] for i in order[:_SHOWN]]


# What every prompt starts with, the same whatever the agent holds, so the server's cache keeps it.
_PREFIX = (
    "\n\n".join(map(_example, _RECORDS))
    + f"\n\n{_LIST_INTRO}\n\n"
    + "".join(
        f"Message: {_flat(r.message)}\nKind: {r.chosen[0]}\n"
        for r in _RECORDS
        if r.listed or r.message == _PASTE
    )
)

NOTES = Notes()
