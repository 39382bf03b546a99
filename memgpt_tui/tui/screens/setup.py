"""First-run setup: which model the agent talks to, and who it is. Saves the choices as defaults."""

from __future__ import annotations

import asyncio
import importlib
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from pydantic import SecretStr
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Footer, Input, Label, Select, Static
from textual.worker import Worker

from ...config import Settings, list_texts
from ...model.state import BACKEND_DEFAULTS, free_agent_name
from ..watch import TextsChanged, watch_texts

AGENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
BACKENDS = [
    ("Embedded (gemma-3-270m, offline)", "embedded"),
    ("OpenAI", "openai"),
    ("OpenAI-compatible server", "openai-compatible"),
]
# MemGPT's local backend types: each its server's own endpoint, at its default address when left empty.
MEMGPT_TYPES = [name for name, d in BACKEND_DEFAULTS.items() if d.base_url]
BACKENDS += [(f"MemGPT type: {name}", name) for name in MEMGPT_TYPES]
BACKEND_HINTS = {
    "embedded": "Runs offline, but a 270M model is weak: for a capable agent use OpenAI or a local "
    "server such as Ollama (http://localhost:11434/v1).",
    "openai": "Uses your OpenAI key (or OPENAI_API_KEY) and OPENAI_BASE_URL when set.",
    "openai-compatible": "Any server speaking the OpenAI API: Ollama, vLLM, LM Studio, llama.cpp... "
    "Use 'json' function calling if the model has no native tool support.",
}
BACKEND_HINTS |= {
    name: f"MemGPT's {name} backend type; the server's root URL, {BACKEND_DEFAULTS[name].base_url} when empty."
    for name in MEMGPT_TYPES
}
REMOTE = ("openai", "openai-compatible", *MEMGPT_TYPES)
FIELDS = ("model", "base-url", "api-key", "function-calling", "name", "context-window", "persona", "human")


@dataclass(frozen=True)
class SetupForm:
    backend: str
    model: str
    base_url: str
    api_key: str
    function_calling: str
    name: str
    context_window: str
    persona: str
    human: str

    def errors(self, taken: set[str], env_key: bool) -> dict[str, str]:
        """Problems by field id; empty when the form can be saved."""
        found: dict[str, str] = {}
        if not self.name:
            found["name"] = "Give the agent a name."
        elif not AGENT_NAME.match(self.name):
            found["name"] = "Use letters, digits, '_', '-' or '.', starting with a letter or digit (max 64)."
        elif self.name in taken:
            found["name"] = f"An agent named {self.name!r} already exists."
        if self.backend == "openai-compatible" and not self.base_url:
            found["base-url"] = "The server URL is required, e.g. http://localhost:11434/v1"
        if self.backend in REMOTE and not self.model and not BACKEND_DEFAULTS[self.backend].model:
            found["model"] = "Name the model the server runs (Test connection lists them)."
        if self.base_url and self.backend in REMOTE:
            url = urlparse(self.base_url)
            if url.scheme not in ("http", "https") or not url.netloc:
                found["base-url"] = "Not a URL: expected http(s)://host[:port]/path"
        if self.backend == "openai" and not self.api_key and not env_key:
            found["api-key"] = "An API key is required (or set OPENAI_API_KEY)."
        if self.context_window and not (self.context_window.isdigit() and int(self.context_window) > 0):
            found["context-window"] = "A positive number of tokens."
        if not self.persona:
            found["persona"] = "Pick a persona."
        if not self.human:
            found["human"] = "Pick a human."
        return found

    def updates(self) -> dict[str, Any]:
        """The settings this form sets; ``None`` clears values that do not apply to the backend."""
        remote = self.backend in REMOTE
        return {
            "backend": self.backend,
            "model": (self.model or None) if remote else None,
            "base_url": (self.base_url or None) if remote else None,
            "api_key": (self.api_key or None) if remote else None,
            "function_calling": self.function_calling if self.backend == "openai-compatible" else None,
            "context_window": int(self.context_window) if self.context_window else None,
            "persona": self.persona,
            "human": self.human,
        }


def _field(label: str, field_id: str, *widgets: Any) -> Vertical:
    return Vertical(
        Label(label, classes="field-label"),
        *widgets,
        Static("", id=f"{field_id}-error", classes="field-error", markup=False),
        id=f"{field_id}-field",
        classes="field",
    )


class SetupScreen(Screen["Settings | None"]):
    """Dismisses with the new Settings (``agent`` = the chosen name), or None when cancelled."""

    CSS_PATH = "setup.tcss"
    BINDINGS = [
        Binding("ctrl+s", "submit", "Create agent", priority=True, id="setup.create"),
        Binding("escape", "cancel", "Cancel", id="setup.cancel"),
    ]
    CONNECTION_TIMEOUT = 10.0

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self._taken: set[str] = set()
        self._defaults_ready = False  # the name and the placeholders get their defaults together
        self._defaults_worker: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        s = self.settings
        backend = s.resolved_backend()
        personas, humans = list_texts("personas"), list_texts("humans")
        yield Static("New agent", id="setup-title")
        with Horizontal(id="setup-columns"):
            with VerticalScroll(id="model-column"):
                yield Label("Model", classes="section")
                yield _field(
                    "Backend", "backend", Select(BACKENDS, value=backend, allow_blank=False, id="backend")
                )
                yield Static(BACKEND_HINTS[backend], id="backend-hint")
                yield _field("Model", "model", Input(s.model or "", id="model"))
                yield _field("Base URL", "base-url", Input(s.base_url or "", id="base-url"))
                key = s.api_key.get_secret_value() if s.api_key else ""
                yield _field("API key", "api-key", Input(key, password=True, id="api-key"))
                yield _field(
                    "Function calling",
                    "function-calling",
                    Select(
                        [
                            ("native: the API's tools parameter", "native"),
                            ("json: schemas in the prompt", "json"),
                        ],
                        value=s.function_calling or BACKEND_DEFAULTS["openai-compatible"].function_calling,
                        allow_blank=False,
                        id="function-calling",
                    ),
                )
                with Horizontal(id="connection-row"):
                    yield Button("Test connection", id="test-connection")
                    yield Static("", id="connection-status", markup=False)
                yield _field(
                    "Context window (tokens)",
                    "context-window",
                    Input(str(s.context_window or ""), type="integer", id="context-window"),
                )
            with VerticalScroll(id="agent-column"):
                yield Label("Agent", classes="section")
                yield _field("Name", "name", Input(s.agent or "", id="name"))
                yield _field("Persona", "persona", self._text_select("persona", personas, s.persona))
                yield Static("", id="persona-preview", classes="preview", markup=False)
                yield _field("Human", "human", self._text_select("human", humans, s.human))
                yield Static("", id="human-preview", classes="preview", markup=False)
        with Horizontal(id="setup-buttons"):
            yield Button("Create agent", variant="primary", id="submit")
            yield Button("Cancel", id="cancel")
        yield Footer()

    @staticmethod
    def _text_select(field_id: str, files: dict[str, Any], current: str) -> Select[str]:
        options = [(name, name) for name in files]
        return Select(options, value=current if current in files else Select.NULL, id=field_id)

    def on_mount(self) -> None:
        self._show_backend(self.query_one("#backend", Select).value)  # type: ignore[arg-type]
        self._preview("persona")
        self._preview("human")
        self._defaults_worker = self._load_defaults()
        self.run_worker(watch_texts(self), name="texts-watcher", group="texts-watcher", exclusive=True)

    # ------------------------------------------------------------ form state

    @work(thread=True, exclusive=True, group="defaults")
    def _load_defaults(self) -> None:
        """Existing agent names, for the name's default: importing the runtime is slow, so off the loop."""
        try:
            from ... import runtime

            taken = {info.name for info in runtime.agent_infos(self.settings)}
        except Exception as exc:  # the form still works; the name check happens again on creation
            self.app.call_from_thread(
                self.notify, f"Could not list existing agents: {exc}", severity="warning"
            )
            return
        self.app.call_from_thread(self._defaults_loaded, taken)

    def _defaults_loaded(self, taken: set[str]) -> None:
        if not self.is_attached:  # dismissed while the runtime was loading
            return
        self._taken = taken
        if not taken:
            self.query_one("#setup-title", Static).update("Welcome! Set up your first agent")
        self._defaults_ready = True
        name = self.query_one("#name", Input)
        if not name.value:
            name.value = free_agent_name(taken)
        self._update_placeholders(self.query_one("#backend", Select).value)  # type: ignore[arg-type]

    def _update_placeholders(self, backend: str) -> None:
        if not self._defaults_ready:
            return
        defaults = BACKEND_DEFAULTS[backend]
        model = self.query_one("#model", Input)
        model.placeholder = f"default: {defaults.model}" if defaults.model else "e.g. llama3.1"
        self.query_one("#context-window", Input).placeholder = f"default: {defaults.context_window}"

    @on(Select.Changed, "#backend")
    def _backend_changed(self, event: Select.Changed) -> None:
        self._show_backend(str(event.value))

    def _show_backend(self, backend: str) -> None:
        remote = backend in REMOTE
        self.query_one("#backend-hint", Static).update(BACKEND_HINTS[backend])
        for field_id in ("base-url", "api-key"):
            self.query_one(f"#{field_id}-field").display = remote
        self.query_one("#model-field").display = backend != "embedded"
        self.query_one("#function-calling-field").display = backend == "openai-compatible"
        self.query_one("#connection-row").display = remote
        self.query_one("#base-url", Input).placeholder = (
            "http://localhost:11434/v1"
            if backend == "openai-compatible"
            else f"default: {BACKEND_DEFAULTS[backend].base_url}"
            if backend in MEMGPT_TYPES
            else "optional: OPENAI_BASE_URL or api.openai.com"
        )
        self.query_one("#api-key", Input).placeholder = (
            "sk-... (or set OPENAI_API_KEY)" if backend == "openai" else "optional for most local servers"
        )
        self._update_placeholders(backend)

    @on(Select.Changed, "#persona")
    @on(Select.Changed, "#human")
    def _text_changed(self, event: Select.Changed) -> None:
        self._preview(str(event.select.id))

    def _preview(self, field_id: str) -> None:
        value = self.query_one(f"#{field_id}", Select).value
        files = list_texts(f"{field_id}s")
        text = ""
        if isinstance(value, str) and value in files:
            try:
                text = files[value].read_text(encoding="utf-8").strip()
            except OSError as exc:
                text = f"(cannot read {files[value]}: {exc})"
        self.query_one(f"#{field_id}-preview", Static).update(text)

    @on(TextsChanged)
    def _texts_changed(self, event: TextsChanged) -> None:
        """A persona or human file was added, edited or removed: refresh the list and the preview."""
        for kind in event.kinds:
            field_id = kind[:-1]
            select = self.query_one(f"#{field_id}", Select)
            current = select.value
            files = list_texts(kind)
            select.set_options([(name, name) for name in files])
            if isinstance(current, str) and current in files:
                select.value = current
            self._preview(field_id)

    def form(self) -> SetupForm:
        def text(field_id: str) -> str:
            return self.query_one(f"#{field_id}", Input).value.strip()

        def choice(field_id: str) -> str:
            value = self.query_one(f"#{field_id}", Select).value
            return value if isinstance(value, str) else ""

        return SetupForm(
            backend=choice("backend"),
            model=text("model"),
            base_url=text("base-url"),
            api_key=text("api-key"),
            function_calling=choice("function-calling"),
            name=text("name"),
            context_window=text("context-window"),
            persona=choice("persona"),
            human=choice("human"),
        )

    def _show_errors(self, errors: dict[str, str]) -> None:
        for field_id in FIELDS:
            message = errors.get(field_id, "")
            self.query_one(f"#{field_id}-error", Static).update(message)
            self.query_one(f"#{field_id}-field").set_class(bool(message), "-invalid")
        if errors:
            first = next(f for f in FIELDS if f in errors)
            self.query_one(f"#{first}").focus()

    # --------------------------------------------------------------- actions

    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        self._submit()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="submit")
    async def _submit(self) -> None:
        form = self.form()
        if self._defaults_worker is not None:  # names may still be loading: wait rather than guess
            await self._defaults_worker.wait()
        errors = form.errors(self._taken, env_key=bool(os.environ.get("OPENAI_API_KEY")))
        self._show_errors(errors)
        if errors:
            return

        updates = form.updates()
        try:
            path = await asyncio.to_thread(Settings.update_file, **updates)
        except Exception as exc:  # the agent can still be created; say why the defaults were not kept
            self.notify(f"Could not save the config file: {exc}", severity="warning")
        else:
            self.notify(f"Saved defaults to {path}", timeout=3)
        if updates["api_key"] is not None:
            updates["api_key"] = SecretStr(updates["api_key"])
        self.dismiss(self.settings.model_copy(update={**updates, "agent": form.name}))

    @on(Button.Pressed, "#test-connection")
    def _test_pressed(self) -> None:
        form = self.form()
        env_key = bool(os.environ.get("OPENAI_API_KEY"))
        errors = {k: v for k, v in form.errors(set(), env_key).items() if k in ("base-url", "api-key")}
        self._show_errors(errors)
        if errors:
            return
        status = self.query_one("#connection-status", Static)
        status.update("Connecting…")
        status.set_class(False, "-failed")
        self._test_connection(form.backend, form.base_url or None, form.api_key or None)

    @work(exclusive=True, group="test-connection")
    async def _test_connection(self, backend: str, base_url: str | None, api_key: str | None) -> None:
        from ...model.errors import LLMError

        runtime = await asyncio.to_thread(importlib.import_module, "memgpt_tui.runtime")  # slow import
        try:
            where, models = await runtime.list_models(backend, base_url, api_key, self.CONNECTION_TIMEOUT)
        except LLMError as error:
            self._connection_status(False, f"{error} {error.hint}".rstrip())
            return
        shown = ", ".join(models[:8]) + (f" (+{len(models) - 8} more)" if len(models) > 8 else "")
        self._connection_status(True, f"to {where}: {len(models)} models: {shown or 'none listed'}")
        model = self.query_one("#model", Input)
        model.suggester = SuggestFromList(models, case_sensitive=False)
        if not model.value and models:
            model.value = models[0]

    def _connection_status(self, ok: bool, detail: str) -> None:
        status = self.query_one("#connection-status", Static)
        status.update(
            Text.assemble(("Connected" if ok else "Not connected", "bold"), " " if ok else ": ", detail)
        )
        status.set_class(not ok, "-failed")
