"""Settings and paths.

Precedence, highest first: CLI flags (passed as init kwargs), ``MEMGPT_TUI_*`` environment variables,
MemGPT's ``BACKEND_TYPE`` with ``OPENAI_API_BASE``, the TOML config file, defaults. ``MEMGPT_TUI_HOME``
moves data *and* config into one directory, which is how tests and portable installs keep everything
out of the user's home.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .model.state import Backend, EmbeddingBackend, FunctionCalling
from .model.text import RedactingFilter

APP = "memgpt-tui"


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback)


def home_dir() -> Path:
    """Where agents, sources and logs live."""
    if env := os.environ.get("MEMGPT_TUI_HOME"):
        return Path(env).expanduser()
    return _xdg("XDG_DATA_HOME", ".local/share") / APP


def config_dir() -> Path:
    if env := os.environ.get("MEMGPT_TUI_HOME"):
        return Path(env).expanduser()
    return _xdg("XDG_CONFIG_HOME", ".config") / APP


def config_path() -> Path:
    return config_dir() / "config.toml"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` 0700, and the parents it needs too: memories are personal data."""
    for missing in reversed([p for p in (path, *path.parents) if not p.exists()]):
        missing.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)
    return path


class Limits(BaseModel):
    """MemGPT's tunables in one place: sizes, paging, memory pressure, chaining, summaries, verification."""

    core_block_chars: int = 2000
    function_result_chars: int = 3000
    page_size: int = 5
    warning_fraction: float = 0.75
    chain_limit: int = 10
    keep_last_messages: int = 3
    summarize_to_fraction: float = 0.5
    verify_retries: int = 10
    function_argument_chars: int = 20_000  # one call's arguments, and a reply's inner monologue
    message_chars: int = 100_000  # what the user sends or edits at once (a paste)


class Serve(BaseModel):
    """``memgpt-tui serve``: the ``[serve]`` table; flags override it."""

    host: str = "127.0.0.1"
    port: int = 8283
    db: str | None = None  # the users database URL; None: a SQLite file in the home
    idle_timeout: float = 600.0  # seconds before an agent nobody uses is closed
    body_limit: int = 16 * 1024 * 1024  # bytes of one request body (an Agent File upload)
    shutdown_deadline: float = 30.0  # seconds turns in flight get to finish on SIGTERM
    cors_origins: list[str] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)  # names clients reach it by, besides host and loopback


class Remote(BaseModel):
    """The ``[remote]`` table: a server that plain ``memgpt-tui`` attaches to (``--local`` does not)."""

    server: str | None = None
    token: SecretStr | None = None


class _TomlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return file_values()


class _DbEnvSource(PydanticBaseSettingsSource):
    """``MEMGPT_TUI_DB``: the users database URL, as ``[serve] db`` (``MEMGPT_TUI_SERVE__DB`` wins)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        url = os.environ.get("MEMGPT_TUI_DB")
        return {"serve": {"db": url}} if url else {}


class _MemGPTEnvSource(PydanticBaseSettingsSource):
    """MemGPT's own variables, as its local-LLM guide sets them: ``BACKEND_TYPE`` names the backend and
    ``OPENAI_API_BASE`` its address. They count only together with ``BACKEND_TYPE``, and not at all when
    a flag or ``MEMGPT_TUI_BACKEND`` names the backend."""

    def __init__(self, settings_cls: type[BaseSettings], init: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._init = init

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        kind = os.environ.get("BACKEND_TYPE", "").strip()
        if not kind or self._init().get("backend") or os.environ.get("MEMGPT_TUI_BACKEND"):
            return {}
        if kind not in get_args(Backend):
            raise ConfigError(
                f"BACKEND_TYPE={kind} is not a backend memgpt-tui knows: use one of {', '.join(get_args(Backend))}."
            )
        # Without OPENAI_API_BASE, the backend's own default address, not one the file holds for another.
        return {"backend": kind, "base_url": os.environ.get("OPENAI_API_BASE", "").strip() or None}


def file_values() -> dict[str, Any]:
    """What the config file itself says (no flags, no environment)."""
    path = config_path()
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}. Fix it or delete it to start over.") from exc
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from exc


class ConfigError(Exception):
    """A configuration the user must fix; the message says how."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEMGPT_TUI_", env_nested_delimiter="__", extra="ignore")

    backend: Backend | None = None
    model: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    function_calling: FunctionCalling | None = None
    # Completion mode: the wrapper that renders the context as one prompt (see ``llm/wrappers``);
    # None: the backend's default, "none": the chat endpoint.
    wrapper: str | None = None
    context_window: int | None = None
    request_timeout: float = 120.0
    max_retries: int = 3

    embedding_backend: EmbeddingBackend = "embedded"
    embedding_model: str | None = None
    embedding_base_url: str | None = None
    embedding_api_key: SecretStr | None = None

    persona: str = "sam_pov"
    human: str = "basic"
    agent: str | None = None
    theme: str = "memgpt-dark"
    store_uri: str | None = Field(default=None, description="LanceDB URI root; a local path or s3://...")
    no_verify: bool = False
    limits: Limits = Limits()
    serve: Serve = Serve()
    remote: Remote = Remote()
    keymap: dict[str, Any] = Field(default_factory=dict, description="binding id -> keys; checked by the TUI")

    @field_validator("keymap", mode="before")
    @classmethod
    def _flat_keymap(cls, value: Any) -> Any:
        """Binding ids are dotted, and TOML reads ``main.find = "ctrl+f"`` as a nested table."""
        if not isinstance(value, dict):
            return value
        flat: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, dict):
                flat.update({f"{key}.{k}": v for k, v in cls._flat_keymap(item).items()})
            else:
                flat[key] = item
        return flat

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _DbEnvSource(settings_cls),
            _MemGPTEnvSource(settings_cls, init_settings),
            _TomlSource(settings_cls),
        )

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Settings with CLI overrides; ``None`` overrides are ignored so config values survive."""
        return cls(**{k: v for k, v in overrides.items() if v is not None})

    def resolved_backend(self) -> Backend:
        """The embedded model is the default when nothing points at a real one."""
        if self.backend:
            return self.backend
        if self.base_url:
            return "openai-compatible"
        if self.api_key or os.environ.get("OPENAI_API_KEY"):
            return "openai"
        return "embedded"

    def attach_to(self, server: str | None, token: str | None) -> tuple[str, str | None] | None:
        """The server to attach to and its token: the flags, else ``MEMGPT_TUI_SERVER`` and
        ``MEMGPT_TUI_TOKEN``, else the ``[remote]`` table; None to run the agents here."""
        url = server or os.environ.get("MEMGPT_TUI_SERVER") or self.remote.server
        if not url:
            return None
        secret = self.remote.token.get_secret_value() if self.remote.token else None
        return url, token or os.environ.get("MEMGPT_TUI_TOKEN") or secret

    def agents_root(self) -> str:
        return self.store_uri or str(home_dir() / "agents")

    @classmethod
    def update_file(cls, **updates: Any) -> Path:
        """Merge ``updates`` into the config file (``None`` removes a key), without copying the
        current flags or ``MEMGPT_TUI_*`` variables into it."""
        return _FileOnly(**{**file_values(), **updates}).save()

    def save(self) -> Path:
        """Write the non-default settings to the TOML file (0600: it may hold a key)."""
        data = self.model_dump(exclude_defaults=True, exclude={"agent"}, mode="json")
        for key in ("api_key", "embedding_api_key"):
            secret = getattr(self, key)
            if secret is not None:
                data[key] = secret.get_secret_value()
        path = config_path()
        ensure_private_dir(path.parent)
        path.write_text(_to_toml(data), encoding="utf-8")
        path.chmod(0o600)
        return path


class _FileOnly(Settings):
    """Settings from init values alone: neither the environment nor the file leak in."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        *_: Any,
        **__: Any,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Enough TOML for flat settings plus one level of tables."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for name, table in tables:
        lines.append(f"\n[{prefix}{name}]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    """Bare when TOML allows it; quoted otherwise (a keymap's dotted binding ids, anything odd)."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def shipped_dir(name: str) -> Path:
    """A data directory shipped with the package (themes, personas, humans)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    return here.parent / name


def user_dir(name: str) -> Path:
    """The user's own overlay of a shipped directory (user files win over shipped ones)."""
    return config_dir() / name


def list_texts(kind: str) -> dict[str, Path]:
    """Persona or human names mapped to their file; user files shadow shipped ones."""
    found: dict[str, Path] = {}
    for root in (shipped_dir(kind), user_dir(kind)):
        if root.is_dir():
            for path in sorted(root.glob("*.txt")):
                found[path.stem] = path
    return found


def read_text(kind: str, name: str) -> str:
    files = list_texts(kind)
    if name not in files:
        known = ", ".join(sorted(files)) or "none"
        raise ConfigError(f"No {kind[:-1]} named {name!r}. Known: {known}.")
    return files[name].read_text(encoding="utf-8").strip()


def setup_logging(debug: bool) -> Path:
    logs = ensure_private_dir(ensure_private_dir(home_dir()) / "logs")
    path = logs / "memgpt-tui.log"
    logging.basicConfig(
        filename=path,
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    return path
