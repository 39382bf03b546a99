"""A scripted memory task on the embedded model, once per wrapper: does the agent remember?

A new agent on the bundled model hears a few facts told in plain sentences (a name, a job, a family
member, an allergy, a city), some small talk, then questions about the facts. Per wrapper
(``none`` is the chat endpoint with JSON mode):
  parse rate: model replies that read as one valid function call (a summary, offered no function,
    is free text and not counted);
  facts saved: facts whose key word reached core memory (any block);
  questions answered: questions whose send_message replies name the fact;
  s/turn: median seconds from a user message to the end of its chain of steps;
  first token, warm: median seconds from a request to its first streamed token, the first
    request of the run (a cold prompt cache) left out.
Chains are capped at ``CHAIN_LIMIT`` steps per user turn to keep the run bounded.
With ``--long`` (``python -m bench --only agent --long``), the default wrapper only, on ``LONG_TASK``:
twenty facts told between chat, a pasted travel itinerary, then ten questions, two answerable only
from the itinerary (archival memory) and two only from what was said as chat (recall). Besides the
figures above: facts findable (the key word in core memory or in an archival passage), the paste in
archival, answers that state something the memory does not hold (a wrong answer with a number or a
word found neither in memory, nor in what the user said, nor in the question), and the memory
functions used.
``--model-file FILE.gguf`` runs the task on another model file in the bundled model's place (with
``--wrappers``, on the wrappers named): how a candidate for the bundled model was compared with it.
For the default wrapper, also the first move on messages the wrapper's examples were not tuned on
(``HELD_OUT``), each on its own after the task: a fact saved to memory, anything else not.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memgpt_tui import runtime
from memgpt_tui.config import Limits, Settings
from memgpt_tui.engine.functions import TOOL_SCHEMAS
from memgpt_tui.llm.base import LLMBackend, LLMResponse, OnToken
from memgpt_tui.model import events as ev
from memgpt_tui.model.messages import user_message

from .common import Figure, private_home
from .report import standalone

CHAIN_LIMIT = 3
WRAPPERS = ["notes", "transcript", "gemma", "chatml", "none"]


@dataclass(frozen=True)
class Line:
    text: str
    fact: str | None = None  # a word core memory should hold after a fact
    answer: str | None = None  # a word the reply to a question should contain


TASK = [
    Line("Hi there! I'm Kofi, nice to meet you.", fact="Kofi"),
    Line("What a grey and rainy morning it has been."),
    Line("I work as a pharmacist in a small shop near the harbour.", fact="pharmacist"),
    Line("My daughter Ines turned seven last Sunday!", fact="Ines"),
    Line("Do you like music?"),
    Line("Careful with snacks around me: I am allergic to peanuts.", fact="peanut"),
    Line("We moved to Tampere two years ago.", fact="Tampere"),
    Line("Tell me something fun, please."),
    Line("Do you remember my name?", answer="Kofi"),
    Line("What do I do for a living?", answer="pharmacist"),
    Line("What is my daughter called?", answer="Ines"),
    Line("Which food must I avoid?", answer="peanut"),
    Line("Which city do we live in now?", answer="Tampere"),
]

ITINERARY = """Trip itinerary for Dana
Fri 12 April: flight TP 1331 from Manchester to Lisbon, departs 07:45, gate closes 07:15.
Hotel: Casa do Rio, Rua das Flores 21, check-in from 15:00, booking reference QX7731.
Sat 13 April: walking tour of Alfama at 10:00, meet at Praca do Comercio.
Sun 14 April: train to Sintra at 09:20 from Rossio station, tickets on my phone.
Mon 15 April: return flight TP 1332 departs Lisbon 18:30, lands in Manchester 21:05."""

LONG_TASK = [
    Line("Hi! I'm Dana, nice to meet you.", fact="Dana"),
    Line("I work as a nurse at the hospital in Leeds.", fact="nurse"),
    Line("What a grey and windy morning."),
    Line("I have a cat named Miso.", fact="Miso"),
    Line("My brother Tomasz lives in Gdansk.", fact="Gdansk"),
    Line("Tell me a joke, please."),
    Line("I'm allergic to penicillin.", fact="penicillin"),
    Line("My favourite food is ramen.", fact="ramen"),
    Line("Ugh, the printer at work jammed again and ate my report."),
    Line("I play the cello in a small orchestra.", fact="cello"),
    Line("My partner Sam is a firefighter.", fact="firefighter"),
    Line("How are you today?"),
    Line("I was born in Cork.", fact="Cork"),
    Line("My car is an old blue Volvo.", fact="Volvo"),
    Line("Last night I watched a film about octopuses, so clever!"),
    Line("My best friend Ruth teaches yoga.", fact="yoga"),
    Line("I'm training for a half marathon in May.", fact="marathon"),
    Line("The sunset yesterday was lovely."),
    Line("My mum's birthday is on the 4th of June.", fact="June"),
    Line("I grow tomatoes on my balcony.", fact="tomatoes"),
    Line("Can you recommend something to read?"),
    Line("My daughter Lily is learning to swim.", fact="Lily"),
    Line("I drink my coffee black, no sugar.", fact="black"),
    Line("I speak Polish and Spanish.", fact="Spanish"),
    Line("Thanks for listening!"),
    Line("My favourite book is Middlemarch.", fact="Middlemarch"),
    Line("My flat is on the third floor.", fact="third"),
    Line("I'm saving up for a trip to Japan.", fact="Japan"),
    Line("Here is my trip plan, keep it for me:\n" + ITINERARY),
    Line("What is my job?", answer="nurse"),
    Line("What is my cat called?", answer="Miso"),
    Line("Where does my brother live?", answer="Gdansk"),
    Line("What am I allergic to?", answer="penicillin"),
    Line("What does my partner do?", answer="firefighter"),
    Line("Which instrument do I play?", answer="cello"),
    Line("What time does my flight leave?", answer="07:45"),
    Line("What is the name of my hotel?", answer="Casa do Rio"),
    Line("Earlier I told you about a problem at work, what was it?", answer="printer"),
    Line("What did I say I watched last night?", answer="octopus"),
]

# (message, whether it states a lasting fact about the user)
HELD_OUT = [
    ("Hello! My name is Ana.", True), ("I'm a nurse at the city hospital.", True),
    ("My son Leo plays football.", True), ("I can't eat gluten, sadly.", True),
    ("I live in Porto with my wife.", True), ("Our cat is named Luna.", True),
    ("I've been a teacher for ten years.", True), ("My husband Raj loves cooking.", True),
    ("I just started learning the violin.", True), ("I was born in 1990.", True),
    ("What's my name?", False), ("Where do I work?", False), ("How old is my son?", False),
    ("Who is my husband?", False), ("Nice weather today.", False), ("Haha, that's funny.", False),
    ("What's the capital of France?", False), ("Thanks a lot!", False), ("Tell me a story.", False),
    ("Good night!", False),
]  # fmt: skip
SAVES = {"core_memory_append", "core_memory_replace", "archival_memory_insert"}


@dataclass
class Run:
    wrapper: str
    replies: int = 0
    parsed: int = 0
    first_tokens: list[float] = field(default_factory=list)
    turn_seconds: list[float] = field(default_factory=list)
    answered: int = 0
    saved: int = 0
    sent: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # memory functions called, and how they returned
    moves: list[bool] | None = None  # per held-out message: whether its first move was right
    unsupported: int = 0  # wrong answers stating what neither memory, the user nor the question holds
    pasted: bool = False  # the itinerary's hotel is in an archival passage
    functions: Counter[str] = field(default_factory=Counter)  # every function called


class Recorder:
    """The agent's backend, with every reply and its first token's time noted for the run."""

    def __init__(self, llm: LLMBackend, run: Run) -> None:
        self._llm = llm
        self._run = run

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        on_token: OnToken | None = None,
        require_tool: bool = True,
    ) -> LLMResponse:
        started, first = time.perf_counter(), list[float]()

        def token(channel: Any, text: str) -> None:
            if not first:
                first.append(time.perf_counter() - started)
            if on_token is not None:
                on_token(channel, text)

        response = await self._llm.complete(messages, tools, on_token=token, require_tool=require_tool)
        if tools:  # a summary, offered no function, is free text: not a reply to parse
            self._run.replies += 1
            self._run.parsed += response.parse_error is None and bool(response.tool_calls)
        self._run.first_tokens += first
        return response


async def one_wrapper(wrapper: str, task: list[Line], held_out: bool = False) -> Run:
    settings = Settings.load(
        backend="embedded", wrapper=wrapper, no_verify=True, limits=Limits(chain_limit=CHAIN_LIMIT)
    )
    run = Run(wrapper)
    answers: list[tuple[str, str]] = []  # the questions answered wrongly, and what was said
    agent = await runtime.create_agent(settings, f"bench-{wrapper}")
    llm = agent.session.llm
    agent.session.llm = Recorder(llm, run)  # type: ignore[assignment]

    def note(event: ev.Event) -> None:
        if isinstance(event, ev.AssistantMessage):
            run.sent.append(event.text)
        elif isinstance(event, ev.FunctionReturned):
            run.functions[event.name] += 1
            if event.name != "send_message":
                run.calls.append(f"{event.name}: {'ok' if event.ok else event.message[:60]}")

    agent.session.subscribe(note)
    try:
        for line in task:
            before, called = len(run.sent), len(run.calls)
            started = time.perf_counter()
            await agent.send(line.text)
            run.turn_seconds.append(time.perf_counter() - started)
            said = " ".join(run.sent[before:])
            if line.answer and line.answer.lower() in said.lower():
                run.answered += 1
            elif line.answer:
                answers.append((line.text, said))
            calls = "".join(f" [{call}]" for call in run.calls[called:])
            print(
                f"  [{wrapper}] {line.text!r} ->{calls} {said[:120]!r} ({run.turn_seconds[-1]:.0f} s)",
                file=sys.stderr,
            )
        core = " ".join(block.value for block in agent.session.state.blocks)
        archival = " ".join(p.text for p in (await agent.session.store.archival_list(0, 1000)).items)
        memory = f"{core} {archival}".lower()
        run.saved = sum(1 for line in task if line.fact and line.fact.lower() in memory)
        run.pasted = "casa do rio" in archival.lower()
        told = " ".join(line.text for line in task).lower()
        run.unsupported = sum(1 for question, said in answers if _unheld(said, f"{memory} {told} {question}"))
        if held_out:
            run.moves = await first_moves(llm, (await agent.window.assemble()).messages[0])
    finally:
        await agent.close()
    return run


# Words a reply may use whatever it states.
_PLAIN = frozenset(
    re.findall(
        r"[\w']+",
        """
    your you're that this with from have know don't said told were they there about what when sure sorry
    remember think like just also then them will would could should been here it's i'm
""",
    )
)


def _unheld(answer: str, known: str) -> bool:
    """Whether an answer states what ``known`` does not hold: a number, or a word of four letters or
    more (matched on its first five, so "leaves" matches "leave"), that ``known`` lacks."""
    words = re.findall(r"\d[\d:]*|[a-z][a-z']*", answer.lower())
    stated = [w for w in words if w[0].isdigit() or (len(w) >= 4 and w not in _PLAIN)]
    return any(w.rstrip(":")[:5] not in known for w in stated)


async def first_moves(llm: LLMBackend, system: dict[str, Any]) -> list[bool]:
    """Each held-out message alone after the system prompt: does the first call save it exactly
    when it states a fact?"""
    right = []
    for text, fact in HELD_OUT:
        response = await llm.complete([system, user_message(text, 0).to_openai()], TOOL_SCHEMAS)
        saved = any(call.name in SAVES for call in response.tool_calls)
        right.append(saved == fact)
        print(f"  [first move] {text!r}: {'saved' if saved else 'not saved'}", file=sys.stderr)
    return right


def figures(run: Run, task: list[Line], long: bool = False) -> list[Figure]:
    facts = sum(1 for line in task if line.fact)
    questions = sum(1 for line in task if line.answer)
    warm = run.first_tokens[1:] or run.first_tokens
    name = run.wrapper
    return [
        Figure(f"agent [{name}] replies parsed", 100 * run.parsed / max(run.replies, 1), "%", target=100, better="higher", note=f"{run.parsed} of {run.replies} replies"),
        Figure(f"agent [{name}] facts findable", 100 * run.saved / max(facts, 1), "%", target=80 if long else 50, better="higher", note=f"{run.saved} of {facts} facts in core memory or archival"),
        Figure(f"agent [{name}] questions answered", 100 * run.answered / max(questions, 1), "%", target=70 if long else 50, better="higher", note=f"{run.answered} of {questions} questions"),
        Figure(f"agent [{name}] s/turn", statistics.median(run.turn_seconds), "s", max(run.turn_seconds), target=4 if long else None, note=f"{len(task)} turns, at most {CHAIN_LIMIT} steps each; p95 column is the slowest"),
        Figure(f"agent [{name}] first token, warm", statistics.median(warm) if warm else float("nan"), "s"),
    ] + ([] if not long else [
        Figure(f"agent [{name}] unsupported answers", run.unsupported, "", target=1, note="wrong answers stating what neither memory, the user nor the question holds"),
        Figure(f"agent [{name}] paste in archival", float(run.pasted), "", target=1, better="higher", note="1: the itinerary's hotel is in an archival passage"),
        Figure(f"agent [{name}] functions used", sum(run.functions.values()), "calls", note=", ".join(f"{n} {k}" for k, n in run.functions.most_common())),
    ]) + ([] if run.moves is None else [
        Figure(f"agent [{name}] held-out first moves right", 100 * sum(run.moves) / len(run.moves), "%", better="higher", note=f"{sum(run.moves)} of {len(run.moves)} messages: facts saved, the rest not"),
    ])  # fmt: skip


def alone(wrappers: list[str], turns: int, long: bool, model_file: str = "") -> list[Figure]:
    if model_file:  # another GGUF in the bundled model's place, to compare it on the same tasks
        from memgpt_tui.llm import embedded

        embedded.bundled_model_path = lambda: Path(model_file).expanduser()
    if long:
        return measure(wrappers[:1], LONG_TASK[:turns], held_out=False, long=True)
    return measure(wrappers, TASK[:turns])


def measure(
    wrappers: list[str], task: list[Line], *, held_out: bool = True, long: bool = False
) -> list[Figure]:
    out: list[Figure] = []
    for wrapper in wrappers:
        with private_home(f"agent-{wrapper}"):
            run = asyncio.run(one_wrapper(wrapper, task, held_out=held_out and wrapper == WRAPPERS[0]))
            out += figures(run, task, long)
    return out


def run(quick: bool, long: bool = False) -> list[Figure]:
    if long:  # the long memory task, on the default wrapper
        return measure(WRAPPERS[:1], LONG_TASK, held_out=False, long=True)
    if quick:  # one fact, small talk and the fact's question, on the default wrapper
        return measure(WRAPPERS[:1], [TASK[0], TASK[1], TASK[8]], held_out=False)
    return measure(WRAPPERS, TASK)


def main(argv: list[str] | None = None) -> list[Figure]:
    return standalone(
        __doc__, argv, alone, wrappers=WRAPPERS, turns=len(LONG_TASK), long=False, model_file=""
    )


if __name__ == "__main__":
    main()
