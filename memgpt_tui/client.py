"""The Python API: a synchronous facade over the async engine.

The engine runs on a private event loop in a daemon thread, so the Client works from plain scripts,
notebooks and threads alike.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from . import failures, wire
from .config import ConfigError, Settings
from .model import events as ev
from .model.errors import AgentError, LLMError, StoreError
from .model.handle import AgentHandle
from .model.text import redact

if TYPE_CHECKING:
    from .remote.connection import Connection

T = TypeVar("T")
P = ParamSpec("P")
C = TypeVar("C")
log = logging.getLogger(__name__)


class ClientError(Exception):
    """Every failure leaving the Client, worded as line mode words it (the message includes the hint).
    The original exception, if any, is its ``__cause__``."""


def _plainly(method: Callable[P, T]) -> Callable[P, T]:
    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except ClientError:
            raise
        except Exception as exc:
            if not isinstance(exc, ConfigError | AgentError | LLMError | StoreError | OSError):
                log.exception("Client.%s failed", method.__name__)
            raise ClientError(failures.line(exc)) from exc

    return call


def _speaking_plainly(cls: type[C]) -> type[C]:
    """Every public method (and the constructor) raises only ClientError."""
    for name, member in list(vars(cls).items()):
        if callable(member) and (name == "__init__" or not name.startswith("_")):
            setattr(cls, name, _plainly(member))
    return cls


@_speaking_plainly
class Client:
    def __init__(
        self,
        home: str | Path | None = None,
        server: str | None = None,
        token: str | None = None,
        **settings: Any,
    ) -> None:
        """``server``: the agents a ``memgpt-tui serve`` runs at that URL (``token``: yours there), the
        same calls as on the agents here, creating, importing and deleting included."""
        if home is not None:
            os.environ["MEMGPT_TUI_HOME"] = str(Path(home).expanduser())
        self.settings = Settings.load(**settings)
        self.server = server
        self._token = token
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="memgpt-client", daemon=True)
        self._thread.start()
        self._agents: dict[str, AgentHandle] = {}

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _agent(self, agent: str | AgentHandle) -> AgentHandle:
        name = agent if isinstance(agent, str) else agent.name
        if name not in self._agents:
            self._agents[name] = self._call(self._open(name))
        return self._agents[name]

    async def _open(self, name: str) -> AgentHandle:
        if self.server is not None:
            from .remote import home

            connection = await home.connect(self.server, self._token)
            try:
                return await home.open_agent(connection, name)
            except BaseException:
                await connection.aclose()
                raise
        from . import runtime

        return await runtime.open_agent(self.settings, name, create=False)

    async def _on_server(self, work: Callable[[Connection], Coroutine[Any, Any, T]]) -> T:
        from .remote import home

        connection = await home.connect(self.server or "", self._token)
        try:
            return await work(connection)
        finally:
            await connection.aclose()

    # --------------------------------------------------------------- agents

    def create_agent(
        self,
        name: str,
        persona: str = "sam_pov",
        human: str = "basic",
        backend: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        no_verify: bool = False,
        context_window: int | None = None,
        function_calling: str | None = None,
    ) -> str:
        """Create an agent (None means the config default; on a server, the server's) and return its
        name."""
        if self.server is not None:
            from .config import read_text
            from .remote import home

            blocks = {"persona": read_text("personas", persona), "human": read_text("humans", human)}
            chosen: dict[str, Any] = {"context_window_limit": context_window}
            if backend or model:
                chosen["model"] = f"{backend or self.settings.backend}/{model or self.settings.model}"
            given = {k: v for k, v in chosen.items() if v is not None}
            self._call(self._on_server(lambda c: home.create(c, name, blocks, **given)))
            return name
        from . import runtime

        overrides = {
            "persona": persona,
            "human": human,
            "backend": backend,
            "model": model,
            "base_url": base_url,
            "no_verify": no_verify or None,
            "context_window": context_window,
            "function_calling": function_calling,
        }
        settings = self.settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        agent = self._call(runtime.create_agent(settings, name))
        self._agents[name] = agent
        return name

    def list_agents(self) -> list[dict[str, Any]]:
        if self.server is not None:
            from .remote import home

            return self._call(self._on_server(home.agents))
        from . import runtime

        return [info.model_dump() for info in runtime.agent_infos(self.settings)]

    def import_agent(
        self, path: str | Path, name: str | None = None, agents: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Import a memgpt-tui export, a Letta Agent File or a MemGPT CLI home (only ``agents`` of it,
        if given). Returns what was found (``kind``), the agents created (``agents``, with counts),
        ``notes`` and what could not be carried over (``skipped``); raises ClientError on bad input.
        On a server: one file (our export or an Agent File), uploaded; ``agents`` holds its name."""
        if self.server is not None:
            from .remote import home

            if agents:
                raise ClientError("agents= picks agents of a MemGPT home, which is imported on the server.")
            made = self._call(self._on_server(lambda c: home.import_file(c, Path(path), name)))
            return {"kind": "upload", "agents": [{"name": made}], "notes": [], "skipped": []}
        from . import runtime

        return asdict(runtime.import_agent(self.settings, path, name, agents))

    def export_agent(self, agent: str, file: str | Path, fmt: str | None = None) -> Path:
        """Write an agent to ``file``: our own format, ``af`` (Letta Agent File) or ``md`` (Markdown);
        by default as the file's suffix says."""
        from . import commands, runtime

        if self.server is not None or agent in self._agents:  # an open store is locked by this client
            return self._call(commands.write_export(self._agent(agent), Path(file), fmt))
        return runtime.export_agent(self.settings, agent, str(file), fmt)

    def delete_agent(self, agent: str) -> None:
        opened = self._agents.pop(agent, None)
        if opened:
            self._call(opened.close())
        if self.server is not None:
            from .remote import home

            self._call(self._on_server(lambda c: home.delete(c, agent)))
            return
        from . import runtime

        runtime.delete_agent(self.settings, agent)

    # ------------------------------------------------------------ messages

    def user_message(self, agent: str | AgentHandle, text: str) -> list[dict[str, Any]]:
        """Send ``text``; returns what happened, in order, as MemGPT-style dicts."""
        target = self._agent(agent)
        events: list[ev.Event] = []
        unsubscribe = target.subscribe(events.append)
        try:
            self._call(target.send(text))
        except Exception as exc:  # the last resort: the message is in recall, ready for a retry
            raise ClientError(
                redact(f"Unexpected error: {type(exc).__name__}: {exc}. Your message is kept in recall.")
            ) from exc
        finally:
            unsubscribe()
        errors = [e for e in events if isinstance(e, ev.Error)]
        if errors:
            raise ClientError(f"{errors[0].text} {errors[0].hint}".strip())
        return [d for e in events if (d := _as_dict(e))]

    # -------------------------------------------------------------- memory

    def get_core_memory(self, agent: str | AgentHandle) -> dict[str, str]:
        return self._agent(agent).snapshot().memory()

    def update_block(self, agent: str | AgentHandle, label: str, value: str) -> None:
        self._call(self._agent(agent).update_block(label, value))

    def search_recall(self, agent: str | AgentHandle, query: str, page: int = 0) -> dict[str, Any]:
        result = self._call(self._agent(agent).search_recall(query, page))
        return result.model_dump(mode="json")

    def search_archival(self, agent: str | AgentHandle, query: str, page: int = 0) -> dict[str, Any]:
        result = self._call(self._agent(agent).search_archival(query, page))
        return result.model_dump(mode="json")

    def insert_archival(self, agent: str | AgentHandle, text: str) -> str:
        return self._call(self._agent(agent).insert_archival(text))

    # --------------------------------------------------------- checkpoints

    def checkpoints(self, agent: str | AgentHandle) -> list[dict[str, Any]]:
        return [c.model_dump() for c in self._call(self._agent(agent).checkpoints())]

    def restore(self, agent: str | AgentHandle, checkpoint_id: str) -> dict[str, Any]:
        return self._call(self._agent(agent).restore(checkpoint_id)).model_dump()

    def save(self, agent: str | AgentHandle, label: str | None = None) -> dict[str, Any]:
        return self._call(self._agent(agent).save(label)).model_dump()

    # ------------------------------------------------------------ lifetime

    def close(self) -> None:
        for agent in self._agents.values():
            self._call(agent.close())
        self._agents.clear()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_NOTICES = (ev.Notice, ev.AttemptDiscarded, ev.StepCancelled)  # returned as {"notice": their text}


def _as_dict(event: ev.Event) -> dict[str, Any] | None:
    """The Client's documented dicts, from the shared wire records (made only for the kinds of event
    that give one: a turn's tokens and checkpoints are many, and copied whole into a record)."""
    if isinstance(event, _NOTICES):
        return {"notice": event.text}
    if not isinstance(event, wire.LETTA_EVENTS):
        return None
    item = wire.record(event)
    match item["message_type"]:
        case _ if not wire.shown(item):
            return None
        case "reasoning_message":
            return {"internal_monologue": item["reasoning"]}
        case "tool_call_message":
            call = item["tool_call"]
            return {"function_call": call["name"], "arguments": json.loads(call["arguments"])}
        case "tool_return_message":
            status = "OK" if item["status"] == "success" else "Failed"
            return {"function_return": item["tool_return"], "function": item["name"], "status": status}
        case "assistant_message":
            return {"assistant_message": item["content"]}
    return None
