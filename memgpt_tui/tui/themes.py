"""Themes as TOML files: the shipped ones overlaid by the user's, hot-reloaded while the app runs.

A theme file holds Textual's theme fields (``primary``, ``background``, ``dark``, ...) and an optional
``[variables]`` table; the name defaults to the file's stem. A user file with the same name as a
shipped one replaces it. A broken file is reported and skipped (or keeps its last good version).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from textual.app import App
from textual.color import Color, ColorParseError
from textual.theme import Theme

from ..config import ConfigError, Settings
from .watch import changed_files, overlay_dirs

DEFAULT_THEME = "memgpt-dark"
# Variables our stylesheets use beyond Textual's own; the app returns these from
# ``get_theme_variable_defaults`` so a theme that leaves them out still parses.
THEME_VARIABLE_DEFAULTS = {
    "gauge-system": "#7f8ea3",
    "gauge-tools": "#b48ead",
    "gauge-core": "#5fa8d3",
    "gauge-summary": "#f2a65a",
    "gauge-messages": "#6cc28a",
    "monologue": "#8a93a3",
}
_ALPHA = re.compile(r"^\d{1,3}%$")
_STYLE_WORDS = {"none", "bold", "italic", "underline", "reverse", "strike", "dim", "not"}


class ThemeFileError(Exception):
    pass


def _check_colour(value: str) -> str:
    """A CSS colour, optionally followed by an alpha percentage (``#81a1c1 35%``)."""
    parts = value.split()
    if not parts or len(parts) > 2 or (len(parts) == 2 and not _ALPHA.match(parts[1])):
        raise ValueError(f"{value!r} is not a colour")
    try:
        Color.parse(parts[0])
    except ColorParseError as exc:
        raise ValueError(f"{value!r} is not a colour") from exc
    return value


class _ThemeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    primary: str
    secondary: str | None = None
    accent: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    dark: bool = True
    luminosity_spread: float = 0.15
    text_alpha: float = 0.95
    variables: dict[str, str] = {}

    @field_validator(
        "primary", "secondary", "accent", "foreground", "background", "surface", "panel", "boost",
        "warning", "error", "success",
    )  # fmt: skip
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        return None if value is None else _check_colour(value)

    @field_validator("variables")
    @classmethod
    def _variables(cls, values: dict[str, str]) -> dict[str, str]:
        # A bad value would only fail when the stylesheet is reparsed, taking the app down: check now.
        for key, value in values.items():
            if key.endswith("-text-style"):
                if not set(value.split()) <= _STYLE_WORDS:
                    raise ValueError(f"variables.{key}: {value!r} is not a text style")
            else:
                try:
                    _check_colour(value)
                except ValueError as exc:
                    raise ValueError(f"variables.{key}: {exc}") from None
        return values


def load_theme(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        spec = _ThemeFile.model_validate(data)
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeFileError(f"cannot read it: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"not valid TOML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ThemeFileError(problems) from exc
    fields: dict[str, Any] = spec.model_dump(exclude={"name"})
    return Theme(name=spec.name or path.stem, **fields)


class ThemeManager:
    """Registers file themes with ``app``, applies and persists the choice, and hot-reloads the files."""

    def __init__(self, app: App[Any], settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._good: dict[Path, Theme] = {}  # last version of each file that loaded
        self._ours: dict[str, Theme] = {}  # what we registered, by name
        self._auto: str | None = None  # a theme we applied ourselves (not the user's choice)

    def start(self) -> None:
        """Call from the app's ``on_mount``."""
        dirs = overlay_dirs("themes")
        self._rescan(dirs, None)
        self._apply_initial()
        self.app.theme_changed_signal.subscribe(self.app, self._on_theme_changed)
        self.app.run_worker(self._watch(dirs), name="theme-watcher", group="theme-watcher", exclusive=True)

    def _apply_initial(self) -> None:
        wanted = self.settings.theme
        if wanted in self.app.available_themes:
            self._set(wanted)
            return
        fallback = DEFAULT_THEME if DEFAULT_THEME in self.app.available_themes else "textual-dark"
        self.app.notify(
            f"No theme named {wanted!r}; using {fallback!r}. Pick one with the command palette (Theme).",
            title="Unknown theme",
            severity="warning",
        )
        self._set(fallback)

    def _set(self, name: str) -> None:
        if self.app.theme != name:
            self._auto = name
            self.app.theme = name

    def _on_theme_changed(self, theme: Theme) -> None:
        if theme.name == self._auto:
            self._auto = None
            return
        if theme.name != self.settings.theme:
            self.settings = self.settings.model_copy(update={"theme": theme.name})
            self.app.run_worker(
                lambda: self._persist(theme.name), thread=True, group="theme-save", exclusive=True
            )

    def _persist(self, name: str) -> None:
        try:
            Settings.update_file(theme=name)
        except (ConfigError, OSError, ValidationError) as exc:
            self.app.call_from_thread(
                self.app.notify, f"Could not save the theme choice: {exc}", severity="warning"
            )

    async def _watch(self, dirs: list[Path]) -> None:
        try:
            async for paths in changed_files(dirs, ".toml"):
                self._rescan(dirs, paths)
        except (OSError, RuntimeError) as exc:  # e.g. the OS limit on watched files: themes work, not live
            self.app.notify(f"Theme files are not watched for changes: {exc}", severity="warning")

    def _rescan(self, dirs: list[Path], changed: set[Path] | None) -> None:
        """Load every theme file (later dirs shadow earlier ones) and sync the app's registry.
        Errors are reported for ``changed`` files only (all files when None), so one broken file
        is not reported again on every unrelated change."""
        found: dict[str, Theme] = {}
        present: set[Path] = set()
        for root in dirs:
            for path in sorted(root.glob("*.toml")) if root.is_dir() else ():
                present.add(path)
                try:
                    self._good[path] = load_theme(path)
                except ThemeFileError as exc:
                    if changed is None or path in changed:
                        kept = " (keeping its last good version)" if path in self._good else ""
                        self.app.notify(
                            f"{path}: {exc}{kept}", title="Theme file not loaded", severity="error", timeout=8
                        )
                if path in self._good:
                    found[self._good[path].name] = self._good[path]
        for path in set(self._good) - present:
            del self._good[path]
        active = self.app.theme
        for name in set(self._ours) - set(found):
            if name != active:  # never pull the rug from under the theme in use
                self.app.unregister_theme(name)
                del self._ours[name]
        before = self._ours.get(active)
        for theme in found.values():
            self.app.register_theme(theme)
            self._ours[theme.name] = theme
        if changed is not None and before is not None and found.get(active, before) != before:
            self._reapply(found[active])

    def _reapply(self, theme: Theme) -> None:
        """Re-apply the active theme after its file changed (setting ``app.theme`` to the same name
        is a no-op for the reactive)."""
        self.app.set_class(theme.dark, "-dark-mode")
        self.app.set_class(not theme.dark, "-light-mode")
        self.app.refresh_css(animate=False)
        self.app.theme_changed_signal.publish(theme)
        self.app.notify(f"Theme {theme.name!r} reloaded.", timeout=2)
