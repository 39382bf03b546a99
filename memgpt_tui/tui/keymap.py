"""The user's keymap: ``[keymap]`` in config.toml rebinds any binding by its id (``main.find = "ctrl+g"``).

Textual applies a keymap to every binding with that id (``App.set_keymap``); what is checked here is what
Textual would silently ignore or misread: ids that name no binding, and keys it cannot parse.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import REPLACED_KEYS, Keys, key_to_character

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
NAMED_KEYS = frozenset(k.value for k in Keys) | {"space"}


def bindings_of(cls: type[DOMNode]) -> list[Binding]:
    return [b for b in cls.BINDINGS if isinstance(b, Binding)]


def known_ids(classes: Iterable[type[DOMNode]]) -> dict[str, Binding]:
    """The bindings of these classes by id (the app gives every class a keymap may change)."""
    return {b.id: b for cls in classes for b in bindings_of(cls) if b.id}


def valid_key(key: str) -> bool:
    """A key Textual can match: modifiers, then one character or a key name (``f5``, ``question_mark``)."""
    *modifiers, base = key.split("+")
    if not base or not MODIFIERS.issuperset(modifiers):
        return False
    return len(base) == 1 or base in NAMED_KEYS or key_to_character(REPLACED_KEYS.get(base, base)) is not None


def check(keymap: Mapping[str, object], known: Mapping[str, Binding]) -> tuple[dict[str, str], list[str]]:
    """The bindings that can be applied, and one sentence for each that cannot (its default stays)."""
    good: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, value in keymap.items():
        if binding_id not in known:
            near = difflib.get_close_matches(binding_id, list(known), n=1)
            hint = f" Did you mean {near[0]!r}?" if near else " The README lists the ids (Keys)."
            problems.append(f"{binding_id!r} is not a binding id.{hint}")
            continue
        keys = (
            ",".join(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value
        )
        if not isinstance(keys, str) or not keys.strip():
            problems.append(f'{binding_id}: give the keys as a string, e.g. "ctrl+g" or "f5,ctrl+g".')
            continue
        bad = [k.strip() for k in keys.split(",") if not valid_key(k.strip())]
        if bad:
            problems.append(
                f"{binding_id}: {', '.join(repr(k) for k in bad)} is not a key Textual knows "
                "(e.g. ctrl+g, f5, shift+enter, question_mark)."
            )
            continue
        good[binding_id] = ",".join(k.strip() for k in keys.split(","))
    return good, problems


def keys_in_force(binding: Binding, keymap: Mapping[str, str]) -> str:
    """The keys a binding answers to: the user's, when the keymap rebinds it."""
    return keymap.get(binding.id, binding.key) if binding.id else binding.key


def keys_shown(cls: type[DOMNode], keymap: Mapping[str, str]) -> list[tuple[Binding, list[str]]]:
    """Each binding of ``cls`` with the keys it answers to now: a key the keymap gave another binding
    of the same class is no longer this one's (see ``taken_keys``)."""
    bindings = bindings_of(cls)
    moved = {k.strip() for b in bindings if b.id in keymap for k in keys_in_force(b, keymap).split(",")}
    return [
        (b, [k for k in keys_in_force(b, keymap).split(",") if b.id in keymap or k.strip() not in moved])
        for b in bindings
    ]


def taken_keys(keymap: Mapping[str, str], classes: Iterable[type[DOMNode]]) -> list[str]:
    """One sentence per key the keymap gives a binding that another binding of the same screen or widget
    had by default: Textual moves the key, and the other binding loses it."""
    out = []
    for cls in classes:
        defaults = {
            key.strip(): b for b in bindings_of(cls) if b.id not in keymap for key in b.key.split(",")
        }
        for binding in bindings_of(cls):
            for key in keymap.get(binding.id or "", "").split(","):
                if (other := defaults.get(key)) is not None:
                    out.append(
                        f"{key} now runs {binding.id} ({binding.description}) "
                        f"instead of {other.id} ({other.description})."
                    )
    return out
