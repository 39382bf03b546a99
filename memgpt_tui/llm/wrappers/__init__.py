"""Wrappers by name: how a completion-mode backend renders the context as one prompt."""

from __future__ import annotations

from .base import Wrapper
from .chat import AIROBOROS, CHATML, GEMMA, LLAMA3, ZEPHYR
from .closeness import TextEmbedder
from .notes import NOTES
from .transcript import TRANSCRIPT

WRAPPERS: dict[str, Wrapper] = {
    w.name: w for w in (NOTES, TRANSCRIPT, CHATML, LLAMA3, GEMMA, AIROBOROS, ZEPHYR)
}

# MemGPT 0.3's wrapper names (``local_llm/utils.py: get_available_wrappers``) -> ours for the same
# prompt format. Its -grammar / -noforce / -hints / -roles variants changed how the reply was forced or
# hinted; here every reply is constrained the same way (a grammar where the server takes one).
MEMGPT_NAMES: dict[str, str] = {
    "chatml": "chatml",
    "llama3": "llama3",
    **dict.fromkeys(
        (
            "chatml-grammar",
            "chatml-noforce",
            "chatml-noforce-grammar",
            "chatml-noforce-roles",
            "chatml-noforce-roles-grammar",
            "chatml-hints",
            "chatml-hints-grammar",
            "chatml-noforce-hints",
            "chatml-noforce-hints-grammar",
            "dolphin-2.1-mistral-7b",
            "dolphin-2.1-mistral-7b-grammar",
        ),
        "chatml",
    ),
    **dict.fromkeys(("llama3-grammar", "llama3-hints-grammar"), "llama3"),
    **dict.fromkeys(("airoboros-l2-70b-2.1", "airoboros-l2-70b-2.1-grammar"), "airoboros"),
    **dict.fromkeys(("zephyr-7B", "zephyr-7B-grammar"), "zephyr"),
}


def resolve(name: str) -> str:
    """Our wrapper's name for ``name``, one of ours or one of MemGPT's."""
    return MEMGPT_NAMES.get(name, name)


def known() -> list[str]:
    return [*WRAPPERS, *(name for name in MEMGPT_NAMES if name not in WRAPPERS)]


def get(name: str, embedder: TextEmbedder | None = None) -> Wrapper:
    """The wrapper ``name``; with ``embedder``, ranking what it shows with it (``notes``)."""
    try:
        wrapper = WRAPPERS[resolve(name)]
    except KeyError:
        raise ValueError(f"No wrapper named {name!r}. Known: {', '.join(WRAPPERS)}.") from None
    return wrapper if embedder is None else wrapper.using(embedder)
