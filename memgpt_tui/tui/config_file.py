"""Write choices made in the UI to the config file without copying flags or environment into it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from ..config import ConfigError, Settings, config_path


class _FileOnly(Settings):
    """Settings built from init values alone: neither ``MEMGPT_TUI_*`` variables nor the file leak in."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, *_: Any, **__: Any
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def file_values() -> dict[str, Any]:
    path = config_path()
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}. Fix it or delete it to start over.") from exc


def save_settings(**updates: Any) -> Path:
    """Merge ``updates`` into the config file (0600); a ``None`` value removes the key."""
    return _FileOnly(**{**file_values(), **updates}).save()
