"""How close a line (a note, a line a search found) is to a question, by an embedder's vectors.

Closeness is the line's similarity to the question less its similarity to a question about nothing
in particular (``NEUTRAL``): a line close to every question about the user, such as a greeting, is
not close to any one of them, and a line closer to the question than to ``NEUTRAL`` is about it.
Vectors are embedded ahead, in a thread (``learn``), and kept by text, so ranking is a lookup; the
last question's scores are kept too, as one step ranks the same lines for it several times.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

NEUTRAL = "Tell me about myself."
_KEPT = 2048  # vectors kept per kind (questions, lines): a session's notes and searches fit


class TextEmbedder(Protocol):
    """What ranking needs of an embedder (the store's embedders have it)."""

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class Closeness:
    def __init__(self, embedder: TextEmbedder) -> None:
        self._embedder = embedder
        self._queries: OrderedDict[str, list[float]] = OrderedDict()
        self._lines: OrderedDict[str, list[float]] = OrderedDict()
        self._scored: tuple[str, dict[str, float]] = ("", {})  # the last question, its lines' scores

    async def learn(self, question: str, lines: Sequence[str]) -> None:
        """Embed the question (and ``NEUTRAL``) and the lines not embedded yet."""
        queries = [q for q in dict.fromkeys((NEUTRAL, question)) if q not in self._queries]
        missing = [line for line in dict.fromkeys(lines) if line not in self._lines]
        if queries or missing:
            vectors = await asyncio.to_thread(self._embed, queries, missing)
            for kept, texts, found in (
                (self._queries, queries, vectors[0]),
                (self._lines, missing, vectors[1]),
            ):
                kept.update(zip(texts, found, strict=True))
        for kept, used in ((self._queries, [NEUTRAL, question]), (self._lines, list(lines))):
            for text in used:
                kept.move_to_end(text)
            while len(kept) > _KEPT:
                kept.popitem(last=False)

    def _embed(
        self, queries: Sequence[str], lines: Sequence[str]
    ) -> tuple[list[list[float]], list[list[float]]]:
        found = [self._embedder.embed_query(q) for q in queries]
        return found, self._embedder.embed_passages(lines) if lines else []

    def scores(self, lines: Sequence[str], question: str) -> list[float] | None:
        """Each line's closeness to the question; None when a vector was not learned."""
        asked, neutral = self._queries.get(question), self._queries.get(NEUTRAL)
        vectors = [self._lines.get(line) for line in lines]
        if asked is None or neutral is None or any(v is None for v in vectors):
            return None
        if self._scored[0] != question or len(self._scored[1]) > _KEPT:
            self._scored = (question, {})
        scored = self._scored[1]
        for line, vector in zip(lines, vectors, strict=True):
            if line not in scored and vector is not None:
                scored[line] = _cosine(vector, asked) - _cosine(vector, neutral)
        return [scored[line] for line in lines]


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    norm = math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0
