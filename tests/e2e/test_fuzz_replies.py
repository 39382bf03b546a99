"""Malformed model replies through the whole stack: runtime -> agent -> real openai client -> a loopback
server sending what ``tests.fakes.hostile`` generates, streamed and whole, native tools and JSON mode.

Every case is one user message, bounded in time. Counted over the run, and required to be zero:
crashes (an exception out of ``Agent.send``), hangs (no end within the bound), lost user messages (not
in recall afterwards), silent turns (nothing the user can see: no reply, notice, error or function
result) and leaked keys (the configured key, or the key a server echoed, in any event).

``MEMGPT_TUI_FUZZ_CASES`` sets the number of cases (500 by default). The suite draws the same cases
every run, so a red result is reproducible; ``MEMGPT_TUI_FUZZ_RANDOM=1`` draws new ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import traceback
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from memgpt_tui import runtime
from memgpt_tui.config import Settings
from memgpt_tui.engine.agent import Agent
from memgpt_tui.model import events as ev
from tests.fakes.hostile import ECHOED_KEY, Case, replies, user_texts
from tests.fakes.openai_server import FakeOpenAIServer

CASES = int(os.environ.get("MEMGPT_TUI_FUZZ_CASES", "500"))
RANDOM = bool(os.environ.get("MEMGPT_TUI_FUZZ_RANDOM"))
CASE_SECONDS = 20.0
FRESH_AGENT_EVERY = 300  # cases per agent, so the context window stays a realistic size
CONFIGURED_KEY = "sk-configuredKEY0123456789abcdefXYZ"
MODES = [(stream, json_mode) for stream in (True, False) for json_mode in (False, True)]
VISIBLE = (ev.AssistantMessage, ev.Error, ev.Notice, ev.FunctionReturned)


def _visible(text: str) -> str:
    """Text as a user can see it: what sanitising may remove is left out of the comparison."""
    return "".join(
        c for c in text if unicodedata.category(c) not in ("Cs", "Cc", "Cf") and c != "\ufffd"
    ).strip()


@dataclass
class Tally:
    cases: int = 0
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    silent: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"{self.cases} cases in {self.seconds:.0f} s: {len(self.crashes)} crashes, {len(self.hangs)} hangs, "
            f"{len(self.lost)} lost user messages, {len(self.silent)} silent turns, {len(self.leaks)} leaked keys"
        )


class Harness:
    def __init__(self, server: FakeOpenAIServer, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self.agents: dict[tuple[bool, bool], tuple[Agent, int]] = {}
        self.made = 0
        self.tally = Tally()

    def _settings(self, stream: bool, json_mode: bool) -> Settings:
        return Settings.load(
            backend="openai-compatible",
            base_url=self.server.base_url,
            model="fake-model",
            api_key=CONFIGURED_KEY,
            function_calling="json" if json_mode else "native",
            no_verify=True,
            max_retries=0,
            request_timeout=CASE_SECONDS / 2,
        )

    async def agent(self, mode: tuple[bool, bool]) -> Agent:
        agent, used = self.agents.get(mode, (None, 0))
        if agent is None or used >= FRESH_AGENT_EVERY:
            if agent is not None:
                await self.retire(mode)
            self.made += 1
            agent = await runtime.create_agent(self._settings(*mode), f"fuzz{self.made}")
            agent.llm.stream = mode[0]  # type: ignore[attr-defined]
            used = 0
        self.agents[mode] = (agent, used + 1)
        return agent

    async def retire(self, mode: tuple[bool, bool]) -> None:
        agent, _ = self.agents.pop(mode)
        with contextlib.suppress(Exception):  # a broken agent is left behind; the next case gets a fresh one
            await asyncio.wait_for(agent.close(), CASE_SECONDS)

    async def run(self, case: Case, text: str) -> None:
        tally, mode = self.tally, (case.stream, case.json_mode)
        tally.cases += 1
        tally.kinds[case.kind] += 1
        agent = await self.agent(mode)
        self.server.unscript()
        self.server.script(case.reply)
        seen: list[ev.Event] = []
        unsubscribe = agent.subscribe(seen.append)
        label = f"{case!r} user={text[:40]!r}"
        try:
            await asyncio.wait_for(agent.send(text), CASE_SECONDS)
        except TimeoutError:
            tally.hangs.append(label)
            await self.retire(mode)
            return
        except Exception:
            tally.crashes.append(f"{label}\n{traceback.format_exc(limit=-4)}")
            await self.retire(mode)
            return
        finally:
            unsubscribe()
        unexpected = [e for e in seen if isinstance(e, ev.Error) and e.text.startswith("Unexpected error")]
        if unexpected:  # the engine's last resort caught it: a crash all the same
            tally.crashes.append(f"{label}\n{unexpected[0].text}")
        refused = any(isinstance(e, ev.Error) for e in seen) and not any(
            isinstance(e, ev.StepStarted) for e in seen
        )
        if not refused:
            recent = await agent.older_messages(None, 60)
            wanted = _visible(text)
            if not any(m.kind == "user_message" and _visible(m.user_text() or "") == wanted for m in recent):
                tally.lost.append(label)
        if not any(isinstance(e, VISIBLE) for e in seen):
            tally.silent.append(label)
        shown = repr(seen)
        if CONFIGURED_KEY in shown or ECHOED_KEY in shown:
            tally.leaks.append(label)

    async def close(self) -> None:
        for mode in list(self.agents):
            await self.retire(mode)


@pytest.fixture
def harness(tmp_path, monkeypatch) -> Iterator[Harness]:
    monkeypatch.setenv("MEMGPT_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    loop = asyncio.new_event_loop()
    with FakeOpenAIServer() as server:
        made = Harness(server, loop)
        yield made
        loop.run_until_complete(made.close())
    loop.close()


def test_malformed_replies_never_crash_hang_lose_or_go_silent(harness: Harness) -> None:
    modes = st.sampled_from(MODES)

    @settings(
        max_examples=CASES,
        derandomize=not RANDOM,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data(), text=user_texts())
    def case(data: st.DataObject, text: str) -> None:
        stream, json_mode = data.draw(modes)
        harness.loop.run_until_complete(
            harness.run(data.draw(replies(stream=stream, json_mode=json_mode)), text)
        )

    started = time.monotonic()
    case()
    tally = harness.tally
    tally.seconds = time.monotonic() - started
    print("\nfuzz:", tally.line(), dict(tally.kinds))
    for name in ("crashes", "hangs", "lost", "silent", "leaks"):
        for example in getattr(tally, name)[:3]:
            print(f"{name}: {example}")
    assert tally.cases >= CASES
    assert not (tally.crashes or tally.hangs or tally.lost or tally.silent or tally.leaks), tally.line()
