"""Command line: the TUI by default, line mode with ``run --plain``, and the management subcommands."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any, get_args

from . import process
from .config import ConfigError, Settings, list_texts
from .model.errors import AccountError, AgentError, StoreError
from .model.state import Backend, FunctionCalling

AGENT_FLAGS = ("agent", "persona", "human", "backend", "model", "base_url", "context_window")


def _agent_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent", help="resume this agent, or create it from the other flags")
    parser.add_argument("--persona", help="persona for a new agent (see `list personas`)")
    parser.add_argument("--human", help="human for a new agent (see `list humans`)")
    parser.add_argument(
        "--backend", choices=get_args(Backend), help="also MemGPT's local types: webui, llamacpp, ollama..."
    )
    parser.add_argument("--model", help="model name for a new agent")
    parser.add_argument(
        "--base-url",
        help="server URL, e.g. http://localhost:11434/v1 (MemGPT's backend types: the server's root, "
        "their default port when left out)",
    )
    parser.add_argument(
        "--function-calling", choices=get_args(FunctionCalling), help="for openai-compatible servers"
    )
    parser.add_argument(
        "--wrapper",
        "--model-wrapper",
        help="completion mode: render the context as one prompt in this format (notes, transcript, chatml, "
        "llama3, gemma, airoboros, zephyr, or a MemGPT wrapper name), constrained by a grammar; `none` for "
        "the chat endpoint",
    )
    parser.add_argument("--context-window", type=int, help="context window in tokens for a new agent")
    parser.add_argument(
        "--no-verify", action="store_true", default=None, help="skip first-message verification"
    )
    parser.add_argument(
        "--first", action="store_true", help="you speak first (otherwise the agent greets you)"
    )
    parser.add_argument(
        "--debug", action="store_true", help="log requests and engine details to the log file"
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        help="attach to the agents a `memgpt-tui serve` runs (also MEMGPT_TUI_SERVER)",
    )
    parser.add_argument("--token", help="your token on that server (also MEMGPT_TUI_TOKEN)")
    parser.add_argument("--local", action="store_true", help="the agents here, even when a server is set")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memgpt-tui", description="Chat with a MemGPT agent and watch its memory."
    )
    _agent_flags(parser)
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="chat (the TUI, or line mode with --plain)")
    _agent_flags(run)
    run.add_argument("--plain", action="store_true", help="line mode: stdin in, replies out; works in pipes")
    listing = sub.add_parser("list", help="list agents, personas, humans or sources")
    listing.add_argument("what", choices=["agents", "personas", "humans", "sources"])
    load = sub.add_parser("load", help="load files into a data source for /attach")
    load.add_argument("--name", required=True, help="source name")
    load.add_argument("paths", nargs="+", help="files or directories")
    export = sub.add_parser("export", help="write an agent to one file (never API keys)")
    export.add_argument("agent")
    export.add_argument("file", help="FILE.md writes Markdown, FILE.af a Letta Agent File")
    export.add_argument(
        "--format",
        choices=["memgpt-tui", "af", "md"],
        help="memgpt-tui: everything, for import here (the default); af: Letta Agent File v2; md: Markdown",
    )
    imp = sub.add_parser(
        "import", help="create agents from a memgpt-tui export, a Letta Agent File or a MemGPT CLI home"
    )
    imp.add_argument("file", metavar="PATH", help="an export, an .af file or a MemGPT home such as ~/.memgpt")
    imp.add_argument("--name", help="import under another name (one agent)")
    imp.add_argument(
        "--agent",
        dest="import_agents",
        action="append",
        default=[],
        metavar="NAME",
        help="import only this agent of the source (repeatable)",
    )
    sub.add_parser("configure", help="set the default backend, model and key")
    _users_parser(sub)
    delete = sub.add_parser("delete", help="delete an agent and all its memories")
    delete.add_argument("agent")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    serve = sub.add_parser("serve", help="serve the home's agents over HTTP (Letta-compatible REST API)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1; [serve] host)")
    serve.add_argument("--port", type=int, help="port (default 8283, Letta's; [serve] port)")
    serve.add_argument(
        "--db", help="users database URL, e.g. postgresql://...; default a SQLite file in the home"
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="allow browser requests from ORIGIN (repeatable)",
    )
    serve.add_argument("--debug", action="store_true", help="log requests and engine details to the log file")
    doctor = sub.add_parser("doctor", help="say what is damaged in an agent, and repair what can be")
    doctor.add_argument("agent")
    doctor.add_argument(
        "--user", metavar="NAME", help="the agent is this server user's (memgpt-tui users list)"
    )
    doctor.add_argument(
        "--repair", action="store_true", help="make the repairs; what they replace is moved, never deleted"
    )
    return parser


def _users_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("users", help="the users of `memgpt-tui serve` and their API tokens")
    commands = users.add_subparsers(dest="users_command", required=True, metavar="COMMAND")
    add = commands.add_parser("add", help="create a user and print their API token (shown once)")
    add.add_argument("name")
    listing = commands.add_parser("list", help="the users and how many agents each owns")
    token = commands.add_parser("token", help="a new API token for a user; the old one stops working")
    token.add_argument("name")
    remove = commands.add_parser("remove", help="remove a user (refused while they own agents, unless told)")
    remove.add_argument("name")
    what = remove.add_mutually_exclusive_group()
    what.add_argument(
        "--delete-agents", action="store_true", help="delete their agents and all their memories"
    )
    what.add_argument("--to", metavar="OTHER", help="hand their agents to another user")
    adopt = commands.add_parser(
        "adopt", help="hand one of the home's agents (made by the TUI, line mode or the Client) to a user"
    )
    adopt.add_argument("name", help="the user")
    adopt.add_argument("agent", help="the agent, as `list agents` names it")
    for command in (add, listing, token, remove, adopt):
        command.add_argument(
            "--db",
            metavar="URL",
            help="the users database: postgresql://USER:PASSWORD@HOST/DB or sqlite:///FILE "
            "(default: [serve] db in the config or MEMGPT_TUI_DB, else accounts.db in the home)",
        )


# MemGPT's backend types that render the prompt with a wrapper and serve whatever model is loaded.
_WRAPPED = ("webui", "webui-legacy", "koboldcpp", "llamacpp", "lmstudio")
_MODEL_NAMES = {"llama3"}  # MemGPT wrapper names that also name models


def settings_from(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        k: getattr(args, k, None) for k in (*AGENT_FLAGS, "function_calling", "wrapper", "no_verify")
    }
    settings = Settings.load(**overrides)
    name = getattr(args, "model", None)
    if name and name not in _MODEL_NAMES and not settings.wrapper and settings.resolved_backend() in _WRAPPED:
        from .llm.wrappers import MEMGPT_NAMES

        if name in MEMGPT_NAMES:
            # As in MemGPT's first local-LLM guide: `--model` named the prompt wrapper.
            print(
                f"memgpt-tui: --model {name} is a MemGPT wrapper name: using it as --wrapper.",
                file=sys.stderr,
            )
            return Settings.load(**{**overrides, "model": None, "wrapper": name})
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    process.prepare()
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
        return _run(args, settings)
    except (ConfigError, StoreError, AgentError, AccountError) as exc:
        print(f"memgpt-tui: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a read-only home, a file where a directory should be
        from .failures import line

        print(f"memgpt-tui: {line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command
    attach = None
    if command in (None, "run"):
        attach = None if args.local else settings.attach_to(args.server, args.token)
    if command in (None, "run") and not getattr(args, "plain", False):
        from .tui.app import run_app  # imports the runtime itself, after the first paint

        if attach is not None:
            from .remote.home import Server

            return run_app(settings, debug=args.debug, source=Server(*attach))
        return run_app(settings, first=args.first, debug=args.debug)
    if command == "run":
        from . import plain

        if attach is not None:
            return asyncio.run(plain.attached(settings, *attach, debug=args.debug))
        return asyncio.run(plain.main(settings, first=args.first, debug=args.debug))
    from . import runtime

    if command == "list":
        return _list(args.what, settings)
    if command == "load":
        return runtime.load_source_cli(settings, args.name, args.paths)
    if command == "export":
        path = runtime.export_agent(settings, args.agent, args.file, args.format)
        print(f"Exported {args.agent!r} to {path}")
        return 0
    if command == "import":
        own_model = any(getattr(args, k, None) for k in ("backend", "model", "base_url"))
        report = runtime.import_agent(
            settings, args.file, args.name, args.import_agents, source_model=not own_model
        )
        print("\n".join(runtime.import_lines(report)))
        print(f"Chat with: memgpt-tui --agent {report.agents[0].name}")
        return 0
    if command == "serve":
        from .server.serve import serve

        updates = {k: v for k in ("host", "port", "db") if (v := getattr(args, k)) is not None}
        if args.cors_origin:
            updates["cors_origins"] = args.cors_origin
        serving = settings.serve.model_copy(update=updates)
        return serve(settings.model_copy(update={"serve": serving}), debug=args.debug)
    if command == "configure":
        return runtime.configure(settings)
    if command == "delete":
        if not args.yes and not _confirm(f"Delete agent {args.agent!r} and all its memories? [y/N] "):
            print("Nothing deleted.")
            return 1
        runtime.delete_agent(settings, args.agent)
        print(f"Deleted {args.agent!r}.")
        return 0
    if command == "users":
        return _users(args, settings)
    if command == "doctor":
        from .store import doctor

        root, folder = runtime.agent_folder(settings, args.user, args.agent)
        checkup = doctor.examine(root, folder, repair=args.repair)
        print("\n".join(checkup.lines(args.repair)))
        return 0 if checkup.healthy(args.repair) else 1
    raise AssertionError(command)


def _users(args: argparse.Namespace, settings: Settings) -> int:
    from . import runtime

    command, db = args.users_command, args.db
    if command == "list":
        rows = runtime.user_rows(settings, db)
        print(
            "\n".join("  ".join(row) for row in rows)
            or "No users yet. Add one with: memgpt-tui users add NAME"
        )
        return 0
    if command == "add":
        lines = runtime.add_user(settings, db, args.name)
    elif command == "token":
        lines = runtime.new_token(settings, db, args.name)
    elif command == "remove":
        lines = runtime.remove_user(
            settings, db, args.name, delete_agents=args.delete_agents, hand_to=args.to
        )
    else:
        lines = runtime.adopt_agent(settings, db, args.name, args.agent)
    print("\n".join(lines))
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        print("Refusing to delete without confirmation; pass --yes.", file=sys.stderr)
        return False
    return input(question).strip().lower() in ("y", "yes")


def _list(what: str, settings: Settings) -> int:
    from . import runtime

    if what in ("personas", "humans"):
        for name, path in list_texts(what).items():
            first = path.read_text(encoding="utf-8").strip().splitlines()
            print(f"{name:<20} {first[0][:70] if first else ''}")
        return 0
    rows = runtime.list_agents(settings) if what == "agents" else runtime.list_sources(settings)
    if not rows:
        print(f"No {what} yet.")
    for row in rows:
        print("  ".join(str(v) for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
