"""Sliding lists (in-context ids, prompt tokens per step) stored as what was added since a whole copy."""

from __future__ import annotations

import json

from memgpt_tui.store.states import LISTS, StatePacker, unpack
from tests.store.helpers import make_state


def test_a_sliding_window_costs_what_it_added_and_comes_back_whole() -> None:
    packer, rows, expected = StatePacker(), {}, []
    state = make_state()
    for step in range(1, 200):
        ids = [*state.in_context_ids, f"m{step:04d}a", f"m{step:04d}b"]
        if step % 37 == 0:  # an eviction keeps the first message and drops a run after it
            ids = ids[:1] + ids[len(ids) // 2 :]
        state.in_context_ids = ids[-60:]
        state.prompt_history = [*state.prompt_history, 1000 + step % 3][-50:]  # repeats values
        state.step = step
        rows[f"c{step}"] = packer.pack(f"c{step}", state)
        expected.append(state.model_copy(deep=True))

    def fetch(ids: list[str]) -> dict[str, str]:
        return {i: rows[i] for i in ids}

    assert [unpack(rows[f"c{n}"], fetch) for n in range(1, 200)] == expected
    packed = [json.loads(row) for row in rows.values()]
    whole = [p for p in packed if LISTS not in p or "in_context_ids" not in p[LISTS]]
    assert 10 < len(whole) < 40, "a 60-id window is copied whole every few steps, not every step"
    stored = sum(len(p["in_context_ids"]) for p in packed[60:]) / len(packed[60:])
    assert stored < 20, "a row stores a fraction of the 60 ids in context, however long the history"
