from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from textual.app import ComposeResult
from textual.widgets import Static

from memgpt_tui.config import Settings, config_path, shipped_dir
from memgpt_tui.tui.themes import ThemeFileError, ThemeManager, load_theme
from tests.tui.hosting import SIZE, HostApp, wait_until

DARK = (shipped_dir("themes") / "memgpt-dark.toml").read_text()


pytestmark = pytest.mark.usefixtures("home")


class ThemedApp(HostApp):
    CSS = "#swatch { background: $primary; }"

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.manager = ThemeManager(self, settings)

    def compose(self) -> ComposeResult:
        yield Static("swatch", id="swatch")

    def on_mount(self) -> None:
        self.manager.start()

    @property
    def swatch(self) -> str:
        """The primary colour as the stylesheet applied it to a widget."""
        return self.query_one("#swatch").styles.background.hex


def user_theme(home: Path, name: str, text: str) -> Path:
    path = home / "themes" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_shipped_themes_are_valid() -> None:
    names = {load_theme(p).name for p in shipped_dir("themes").glob("*.toml")}
    assert {"memgpt-dark", "memgpt-light", "memgpt-high-contrast", "solarized-dark"} <= names
    for path in shipped_dir("themes").glob("*.toml"):
        load_theme(path).to_color_system().generate()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('primary = "#12345"', "not a colour"),
        ("primary = [", "not valid TOML"),
        ('primary = "#123456"\nprimry = "#000000"', "primry"),
        ('secondary = "#123456"', "primary"),
        ('primary = "#123456"\n[variables]\ngauge-core = "bogus"', "variables.gauge-core"),
    ],
)
def test_invalid_theme_files_say_why(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ThemeFileError, match=problem):
        load_theme(path)


async def test_start_applies_the_configured_theme() -> None:
    app = ThemedApp(Settings.load(theme="solarized-dark"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "solarized-dark"
        assert {"memgpt-dark", "memgpt-light", "memgpt-high-contrast"} <= set(app.available_themes)
        assert app.get_css_variables()["gauge-core"] == "#268bd2"
    assert not config_path().exists()  # applying the saved choice writes nothing


async def test_unknown_theme_falls_back_with_a_notice() -> None:
    app = ThemedApp(Settings.load(theme="no-such-theme"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "memgpt-dark"
        assert any(sev == "warning" and "no-such-theme" in text for sev, text in app.notes)
    assert not config_path().exists()


async def test_invalid_user_theme_at_start_is_reported_and_skipped(home: Path) -> None:
    user_theme(home, "broken", 'primary = "nope"')
    app = ThemedApp(Settings.load())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "broken" not in app.available_themes
        assert any(sev == "error" and "broken.toml" in text for sev, text in app.notes)
        assert app.theme == "memgpt-dark"


async def test_choosing_a_theme_persists_it_without_touching_other_settings(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path().write_text('persona = "cs_phd"\n')
    monkeypatch.setenv("MEMGPT_TUI_MODEL", "from-the-environment")
    app = ThemedApp(Settings.load())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.theme = "memgpt-light"
        await wait_until(pilot, lambda: "memgpt-light" in config_path().read_text())
    saved = tomllib.loads(config_path().read_text())
    assert saved == {"persona": "cs_phd", "theme": "memgpt-light"}
    assert config_path().stat().st_mode & 0o777 == 0o600
    assert app.manager.settings.theme == "memgpt-light"


async def test_editing_the_active_theme_file_reapplies_it(home: Path) -> None:
    app = ThemedApp(Settings.load())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.swatch == "#5FA8D3"
        # A user file shadows the shipped theme of the same name.
        path = user_theme(home, "memgpt-dark", DARK.replace('primary = "#5fa8d3"', 'primary = "#ff0000"'))
        await wait_until(pilot, lambda: app.current_theme.primary == "#ff0000")
        assert app.theme == "memgpt-dark"
        await wait_until(pilot, lambda: app.swatch != "#5FA8D3")
        red = app.swatch
        assert red.startswith("#F")

        # A broken edit keeps the last good version and says why.
        path.write_text('primary = "#00ff00"\nbackground = "not a colour"')
        await wait_until(pilot, lambda: any(sev == "error" for sev, _ in app.notes))
        assert app.swatch == red

        # Removing the user file brings the shipped one back.
        path.unlink()
        await wait_until(pilot, lambda: app.swatch == "#5FA8D3")


async def test_a_new_theme_file_is_registered_live(home: Path) -> None:
    app = ThemedApp(Settings.load())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        user_theme(home, "ocean", 'primary = "#0077be"\nbackground = "#001f3f"')
        await wait_until(pilot, lambda: "ocean" in app.available_themes)
        app.theme = "ocean"
        await pilot.pause()
        assert app.get_css_variables()["background"] == "#001F3F"
