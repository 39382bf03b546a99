"""Wrappers by name: how a completion-mode backend renders the context as one prompt."""

from __future__ import annotations

from .base import Wrapper
from .chat import CHATML, GEMMA, LLAMA3
from .notes import NOTES
from .transcript import TRANSCRIPT

WRAPPERS: dict[str, Wrapper] = {w.name: w for w in (NOTES, TRANSCRIPT, CHATML, LLAMA3, GEMMA)}


def get(name: str) -> Wrapper:
    try:
        return WRAPPERS[name]
    except KeyError:
        raise ValueError(f"No wrapper named {name!r}. Known: {', '.join(WRAPPERS)}.") from None
