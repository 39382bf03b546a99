"""MemGPT's step loop: one model call, its functions run, the result persisted and checkpointed, then
the next input chosen (memory-pressure warning, failure heartbeat, requested heartbeat) until the chain
ends."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

from ..llm.base import LLMResponse, LLMToolCall
from ..model import events as ev
from ..model.clock import new_id, now
from ..model.errors import ContextFull, ContextOverflowError, LLMError
from ..model.messages import Message, ToolCall
from ..model.records import Page, Passage
from ..model.text import clean, clean_json, redact, size
from ..store.chunking import chunk_text
from .context import Assembled
from .functions import SEARCHES, TOOL_SCHEMAS, FunctionRunner, Outcome, package_result
from .prompts import failed_heartbeat, memory_warning, requested_heartbeat
from .session import Session
from .turns import Turns
from .window import ContextWindow

log = logging.getLogger(__name__)

PROMPT_HISTORY = 200
MAX_NAME = 200  # characters of a function name kept from a reply


class StepLoop:
    def __init__(self, session: Session, window: ContextWindow, turns: Turns) -> None:
        self.s = session
        self.window = window
        self.turns = turns
        self.unanswered: Message | None = None  # a user message whose step never completed
        self.take_back = True  # a cancel takes a fresh user message back out of recall
        # Why the chain has shown the user nothing so far ("" once it has shown something).
        self._silence: str | None = None

    async def chain(
        self,
        first: Message,
        reason: ev.StepReason,
        persisted: bool = False,
        fresh: bool = False,
        max_steps: int | None = None,
    ) -> None:
        """Run steps until the agent stops asking for more or the chain limit (or ``max_steps``, when
        lower) is hit. ``fresh``: the first input was persisted by this call, so a cancel takes it back
        out of recall (the UI keeps the text)."""
        next_input: Message | None = first
        steps = 0
        limit, why = self.s.limits.chain_limit, "chain limit"
        if max_steps is not None and max_steps < limit:
            limit, why = max_steps, "the request's max_steps"
        self._silence = None
        while next_input is not None:
            if steps == limit:
                self.s.emit(ev.Notice("warning", f"Stopped after {steps} steps in a row ({why})."))
                return
            current = next_input
            if current.kind == "user_message":
                self.unanswered = current
            try:
                next_input, reason = await self._step(current, reason, persisted)
            except asyncio.CancelledError:
                self.s.emit(ev.StepCancelled(self.s.state.step + 1, self._take_back(current, fresh)))
                raise
            except LLMError as exc:
                hint = redact(exc.hint) or "Use /retry to try again."
                self.s.emit(ev.Error(redact(str(exc)), hint, retryable=exc.retryable))
                return
            except ContextFull as exc:
                self.s.emit(ev.Error(str(exc), "Shorten core memory or the last message, then /retry."))
                return
            except Exception as exc:  # the last resort: whatever went wrong, the chain ends cleanly
                log.exception("step %s failed", self.s.state.step + 1)
                self.s.emit(
                    ev.Error(
                        redact(f"Unexpected error: {type(exc).__name__}: {exc}"),
                        "Details are in the log file. Your message is kept: /retry sends it again.",
                    )
                )
                return
            persisted = fresh = False
            steps += 1
        if self._silence:
            self.s.emit(ev.Notice("warning", f"{self._silence}; /retry asks again."))

    def _take_back(self, current: Message, fresh: bool) -> str | None:
        """A cancelled step's user message leaves recall when this chain persisted it; its text is returned."""
        if self.unanswered is not current or not fresh or not self.take_back:
            return None
        self.unanswered = None
        self.s.store.delete_messages([current.id])
        self.window.recall_count -= 1
        return current.user_text()

    async def _step(
        self, incoming: Message, reason: ev.StepReason, persisted: bool
    ) -> tuple[Message | None, ev.StepReason]:
        number = self.s.state.step + 1
        self.s.emit(ev.StepStarted(number, reason))
        await self.window.fit(incoming)
        response, assembled = await self._call_verified(incoming, number)
        if not (response.content or response.tool_calls or response.parse_error):
            # Nothing to keep: the input stays unanswered (a user message waits for /retry).
            if self._silence != "":
                self._silence = _silence(response)
            self.s.emit(ev.StepFinished(number, None, ()))
            return None, reason
        if self.unanswered is incoming:
            self.unanswered = None  # from here on the step completes even if cancelled
        return await self.turns.commit(self._commit(number, incoming, persisted, response, assembled))

    async def _call_verified(self, incoming: Message, number: int) -> tuple[LLMResponse, Assembled]:
        """Call the model; the first reply of a new agent must use send_message or a search and carry an
        inner monologue (MemGPT's first-message verification), so bad first habits don't stick. A model
        shown only the last exchange (a partial layout) never sees its first reply again: nothing to check."""
        state = self.s.state
        check = not state.verified and not state.config.no_verify and not self.window.builder.layout.partial
        tries = self.s.limits.verify_retries if check else 1
        for attempt in range(1, tries + 1):
            response, assembled = await self._call(incoming)
            problem = _verification_problem(response) if check else None
            if problem is None:
                state.verified = True
                return response, assembled
            self.s.emit(ev.AttemptDiscarded(number, problem, attempt, tries))
        self.s.emit(
            ev.Notice("warning", "Accepting the first reply unverified; use --no-verify to skip this check.")
        )
        state.verified = True
        return response, assembled

    async def _call(self, incoming: Message) -> tuple[LLMResponse, Assembled]:
        window, builder = self.window, self.window.builder
        for attempt in (1, 2):
            messages = [*window.messages, incoming]
            assembled = await window.assemble(messages, bounded=True)
            # New messages are counted exactly while the model works on the request.
            counting = asyncio.ensure_future(builder.count_new(messages)) if assembled.bounded else None
            try:
                response = await self.s.llm.complete(
                    assembled.messages,
                    TOOL_SCHEMAS,
                    on_token=lambda ch, t: self.s.emit(ev.Token(ch, clean(t))),
                )
                response = _cleaned(response, self.s.limits.function_argument_chars)
                if counting is not None:
                    await counting
                    assembled = await window.assemble(messages)
                return response, assembled
            except ContextOverflowError:
                if attempt == 2:
                    raise
            finally:
                if counting is not None:
                    counting.cancel()  # a no-op once it finished
            self.s.emit(
                ev.Notice("warning", "The model reported a context overflow; summarising and retrying.")
            )
            await window.evict(incoming, window.summarize_target())
        raise AssertionError("unreachable")

    async def _commit(
        self,
        number: int,
        incoming: Message,
        persisted: bool,
        response: LLMResponse,
        assembled: Assembled,
    ) -> tuple[Message | None, ev.StepReason]:
        s, window, state = self.s, self.window, self.s.state
        limit = s.limits.function_argument_chars
        calls = tuple(
            ToolCall(
                id=c.id or f"call_{new_id()}", name=c.name, arguments=_kept_arguments(c.arguments, limit)
            )
            for c in response.tool_calls
        )
        if not calls and self._silence is None and not response.parse_error:
            self._silence = "The model returned only its thoughts and sent no message"
        elif calls:
            self._silence = ""  # something was shown: the chain is not silent
        content = response.content
        if response.parse_error:  # the model sees what it wrote, cut to the size of a function result
            content = _truncated(response.raw or response.content or "", s.limits.function_result_chars)
        assistant = Message(
            role="assistant", kind="assistant", content=content, tool_calls=calls, step=number
        )
        if response.content and not response.parse_error:
            s.emit(ev.InnerThought(response.content))
        runner = FunctionRunner(state, _Recall(s), s.limits)
        results: list[Message] = []
        failure = (
            response.parse_error and f"Could not read your reply as a function call: {response.parse_error}"
        )
        wants_heartbeat = edited = False
        for call, sent in zip(calls, response.tool_calls, strict=True):
            s.emit(ev.FunctionCalled(call.id, call.name, loose_json(call.arguments)))
            outcome = await runner.run(call.name, sent.arguments)
            results.append(
                Message(
                    role="tool",
                    kind="tool_result",
                    name=call.name,
                    tool_call_id=call.id,
                    content=package_result(outcome, s.limits.function_result_chars),
                    step=number,
                )
            )
            self._report(call, outcome)
            if not outcome.ok:
                failure = failure or outcome.message
            wants_heartbeat |= outcome.request_heartbeat
            edited |= bool(outcome.memory_edits)

        new = [assistant, *results] if persisted else [incoming, assistant, *results]
        s.store.append_messages(new)
        window.recall_count += len(new)
        window.show([*window.messages, incoming, assistant, *results])
        if edited:
            window.rebuild_header()
        state.step = number

        served = None if window.builder.layout.partial else response.prompt_tokens
        prompt_tokens = served or assembled.breakdown.total
        window.builder.reconcile(assembled.breakdown, served)
        state.prompt_history = [*state.prompt_history, prompt_tokens][-PROMPT_HISTORY:]
        next_input, next_reason = self._next_input(number, prompt_tokens, failure, wants_heartbeat)
        s.checkpoint(None, _describe(calls, failure))
        await window.refresh()
        ids = tuple(m.id for m in (incoming, assistant, *results))
        completion = response.completion_tokens or 0
        s.emit(ev.StepFinished(number, next_reason if next_input else None, ids, prompt_tokens, completion))
        return next_input, next_reason

    def _report(self, call: ToolCall, outcome: Outcome) -> None:
        emit = self.s.emit
        emit(ev.FunctionReturned(call.id, call.name, outcome.ok, outcome.message))
        if outcome.sent is not None:
            emit(ev.AssistantMessage(outcome.sent))
        for label, old, new in outcome.memory_edits:
            emit(ev.CoreMemoryChanged(label, old, new, "agent"))
        if outcome.archival_changed:
            self.window.archival_count += 1

    def _next_input(
        self, number: int, prompt_tokens: int, failure: str | None | bool, wants_heartbeat: bool
    ) -> tuple[Message | None, ev.StepReason]:
        """MemGPT's order: memory-pressure warning, then failure heartbeat, then requested heartbeat.
        A model shown only part of the context (a partial layout) never sees the warning: it gets no
        step, which would only repeat its last reply, and the user is told."""
        state, limits = self.s.state, self.s.limits
        paused = state.heartbeats_paused_until is not None and now() < state.heartbeats_paused_until
        if not state.warned and not paused and prompt_tokens >= self.window.limit * limits.warning_fraction:
            state.warned = True
            seen = self.window.model_sees_warnings
            told = "the agent was warned" if seen else "this model does not see warnings"
            self.s.emit(ev.Notice("warning", f"Memory pressure: the context window is filling up; {told}."))
            if seen:
                return memory_warning(number + 1), "warning"
        if failure:
            return failed_heartbeat(number + 1, str(failure)), "failure"
        if wants_heartbeat and not paused:
            return requested_heartbeat(number + 1), "heartbeat"
        return None, "heartbeat"


class _Recall:
    """The memory tiers as the functions see them, with MemGPT's page size."""

    def __init__(self, session: Session) -> None:
        self.store = session.store
        self.page_size = session.limits.page_size

    async def search_messages(self, query: str, page: int) -> Page[Message]:
        return await self.store.search_messages(query, page, self.page_size)

    async def search_messages_by_date(self, start: date, end: date, page: int) -> Page[Message]:
        return await self.store.search_messages_by_date(start, end, page, self.page_size)

    async def archival_insert(self, text: str) -> None:
        await self.store.archival_insert(chunk_text(text))  # a long passage in chunks, as ``load`` cuts files

    async def archival_search(self, query: str, page: int) -> Page[Passage]:
        return await self.store.archival_search(query, page, self.page_size)


def _cleaned(response: LLMResponse, limit: int) -> LLMResponse:
    """A reply as the rest of the app may see it: no control characters or lone surrogates anywhere,
    the inner monologue no longer than a function's arguments may be."""
    if response.content:
        response.content = _truncated(clean(response.content), limit)
    if response.raw:
        response.raw = _truncated(clean(response.raw), limit)
    if response.parse_error:
        response.parse_error = _truncated(clean(response.parse_error), limit)
    response.tool_calls = [
        LLMToolCall(
            id=clean(c.id)[:MAX_NAME], name=clean(c.name)[:MAX_NAME], arguments=clean_json(c.arguments)
        )
        for c in response.tool_calls
    ]
    return response


def _truncated(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [truncated, {len(text) - limit:,} more characters]"


def _kept_arguments(arguments: str, limit: int) -> str:
    """What recall keeps of a call's arguments: oversized ones (which the call refuses) are left out,
    so the call cannot crowd the window for good, and so is JSON nested too deeply to read back."""
    if len(arguments) > limit:
        return json.dumps({"_omitted": f"{size(len(arguments))} of arguments, over the limit of {limit:,}"})
    try:
        json.loads(arguments)
    except RecursionError:
        return json.dumps({"_omitted": "arguments nested too deeply to read"})
    except ValueError:
        pass  # kept as written: the call reports what is wrong with them
    return arguments


def _silence(response: LLMResponse) -> str:
    why = {
        "content_filter": " (the provider's content filter stopped it)",
        "length": " (it was cut off at the output token limit)",
    }.get(response.finish_reason or "", "")
    return f"The model returned no reply{why}"


def _verification_problem(response: LLMResponse) -> str | None:
    if response.parse_error:
        return "unreadable reply"
    names = {c.name for c in response.tool_calls}
    if not names & ({"send_message"} | SEARCHES):
        return "no send_message or search call"
    if not (response.content or "").strip():
        return "empty inner monologue"
    return None


def loose_json(text: str) -> dict[str, Any]:
    """Function arguments as a dict, whatever the model wrote (unreadable text under ``_raw``)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_raw": text}


def _describe(calls: Sequence[ToolCall], failure: str | None | bool) -> str:
    names = ", ".join(c.name for c in calls) or "no function"
    return f"{names}{' (failed)' if failure else ''}"
