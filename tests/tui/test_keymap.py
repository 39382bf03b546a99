"""``[keymap]`` in config.toml: rebinding by binding id, the help screen showing the keys in force, and a
bad keymap explained at start with the defaults kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memgpt_tui.config import Settings, file_values
from memgpt_tui.tui.app import MemGPTApp, binding_classes
from memgpt_tui.tui.keymap import bindings_of, check, known_ids, valid_key
from memgpt_tui.tui.screens.help import HelpScreen
from memgpt_tui.tui.widgets.rows import ReplyRow
from tests.fakes.scripted_llm import say
from tests.tui.conftest import idle, ready, type_and_send
from tests.tui.hosting import wait_until


def configured_app(home: Path, agent: Any, toml: str) -> tuple[MemGPTApp, list[tuple[str, str]]]:
    (home / "config.toml").write_text(toml, encoding="utf-8")
    app = MemGPTApp(Settings(), agent=agent)
    notes: list[tuple[str, str]] = []
    original = app.notify

    def notify(message: str, **kw: Any) -> None:
        notes.append((kw.get("severity", "information"), str(message)))
        original(message, **kw)

    app.notify = notify  # type: ignore[method-assign]
    return app, notes


def help_text(app: MemGPTApp) -> str:
    return str(app.screen.query_one("#help-keys").render())


async def test_keymap_rebinds_by_id_and_help_shows_the_keys_in_force(make_agent, llm, home) -> None:
    agent = await make_agent()
    llm.queue(say("Tea it is."))
    # dotted ids as TOML reads them (a nested table), and quoted
    toml = '[keymap]\nmain.find = "ctrl+g"\n"conversation.copy" = "y,ctrl+y"\n'
    app, notes = configured_app(home, agent, toml)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        assert app.keymap == {"main.find": "ctrl+g", "conversation.copy": "y,ctrl+y"}
        assert not [n for n in notes if n[0] == "warning"]
        await pilot.press("ctrl+f")
        assert not main.find.display, "the default key is replaced, not added to"
        await pilot.press("ctrl+g")
        assert main.find.display and main.find.input.has_focus
        await pilot.press("escape")
        await type_and_send(pilot, "tea please")
        await idle(pilot)
        main.conversation.focus()
        await pilot.press("up")
        assert isinstance(main.conversation.selected, ReplyRow)
        await pilot.press("c")
        assert app.clipboard == ""
        await pilot.press("y")
        assert app.clipboard == "Tea it is."
        main.chat.focus()
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        shown = help_text(app)
        # each key with what it does and the id a keymap rebinds it by
        find_line = next(line for line in shown.splitlines() if line.rstrip().endswith("main.find"))
        assert find_line.startswith("^g ") and " Find " in find_line and "^f" not in find_line
        copy_line = next(line for line in shown.splitlines() if line.rstrip().endswith("conversation.copy"))
        assert copy_line.startswith("y / ^y ") and "Copy message" in copy_line


async def test_a_bad_keymap_is_explained_at_start_and_the_defaults_stay(make_agent, home) -> None:
    agent = await make_agent()
    toml = '[keymap]\nmain.fnd = "ctrl+g"\n"main.help" = "ctrl+nope"\n"app.quit" = 3\n"main.checkpoints" = "f9"\n'
    app, notes = configured_app(home, agent, toml)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await wait_until(pilot, lambda: any(n[0] == "warning" for n in notes))
        warning = next(text for severity, text in notes if severity == "warning")
        assert "'main.fnd' is not a binding id. Did you mean 'main.find'?" in warning
        assert "main.help: 'ctrl+nope' is not a key" in warning
        assert "app.quit: give the keys as a string" in warning
        assert "These keep their default keys." in warning
        assert app.keymap == {"main.checkpoints": "f9"}, "the good binding is applied"
        await pilot.press("ctrl+f")  # the defaults of the bad ones still work
        assert main.find.display
        await pilot.press("escape")
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))


def test_every_binding_has_a_unique_id_and_a_valid_key() -> None:
    ids = [b.id for cls in binding_classes() for b in bindings_of(cls)]
    assert None not in ids
    assert len(ids) == len(set(ids))
    for binding in known_ids(binding_classes()).values():
        assert all(valid_key(k.strip()) for k in binding.key.split(",")), binding


def test_key_check() -> None:
    known = known_ids(binding_classes())
    good, problems = check({"main.find": ["ctrl+g", "f3"], "find.next": "enter , ctrl+n"}, known)
    assert good == {"main.find": "ctrl+g,f3", "find.next": "enter,ctrl+n"} and not problems
    for key in ("ctrl+shift+up", "question_mark", "?", "slash", "minus", "f12", "space", "alt+enter", "X"):
        assert valid_key(key), key
    for key in ("", "ctrl+", "hyper+ctrl+wat", "ctl+g", "f1+ctrl"):
        assert not valid_key(key), key


async def test_a_key_taken_from_another_binding_is_reported(make_agent, home) -> None:
    agent = await make_agent()
    app, notes = configured_app(home, agent, '[keymap]\n"main.find" = "ctrl+b"\n')
    async with app.run_test(size=(120, 40)) as pilot:
        main = await ready(pilot)
        await pilot.press("ctrl+b")
        assert main.find.display, "the keymap's binding takes the key"
        await wait_until(pilot, lambda: any("ctrl+b now runs" in text for _, text in notes))
        clash = next(text for _, text in notes if "ctrl+b now runs" in text)
        assert clash == "ctrl+b now runs main.find (Find) instead of main.memory_browser (Search memory)."
        await pilot.press("escape", "f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        lines = help_text(app).splitlines()
        assert next(line for line in lines if line.rstrip().endswith("main.find")).startswith("^b ")
        browser = next(line for line in lines if line.rstrip().endswith("main.memory_browser"))
        assert browser.startswith("(no key) "), browser  # the key it lost is listed once, where it runs


def test_the_keymap_survives_a_rewrite_of_the_config_file(home) -> None:
    (home / "config.toml").write_text(
        '[keymap]\nmain.find = "ctrl+g"\n"main.help" = ["f1", "f12"]\n"not an id" = "x"\n', encoding="utf-8"
    )
    Settings.update_file(theme="solarized-dark")  # as configure and the setup screen write it
    saved = file_values()
    assert saved["theme"] == "solarized-dark"
    assert Settings().keymap == {"main.find": "ctrl+g", "main.help": ["f1", "f12"], "not an id": "x"}
