from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta

import pytest

from memgpt_tui.model.errors import NotFound
from memgpt_tui.model.messages import Message, user_message
from memgpt_tui.store.agent_store import LanceAgentStore
from tests.store.helpers import make_state, reply, turn


def said(store: LanceAgentStore, messages: list[Message]) -> list[str | None]:
    return [m.user_text() or m.content for m in messages]


def test_append_get_count_and_recent_paging(store: LanceAgentStore) -> None:
    messages = [user_message(f"message {i}", i) for i in range(12)]
    for message in messages:
        store.append_messages([message])
    assert store.count_messages() == 12
    assert store.get_messages([messages[3].id, messages[0].id, "nope"]) == [messages[3], messages[0]]
    newest = store.recent_messages(None, 5)
    assert [m.id for m in newest] == [m.id for m in messages[7:]]
    older = store.recent_messages(newest[0].id, 5)
    assert [m.id for m in older] == [m.id for m in messages[2:7]]
    assert [m.id for m in store.recent_messages(older[0].id, 5)] == [m.id for m in messages[:2]]
    assert store.recent_messages(messages[0].id, 5) == []
    with pytest.raises(ValueError):
        store.append_messages([messages[0]])


def test_messages_round_trip_through_lance(open_store: Callable[..., LanceAgentStore]) -> None:
    store = open_store()
    state = make_state()
    written = turn(store, state, "Grüße aus Köln 🎉", 'She said "hi" to me')
    store.close()
    store = open_store()
    assert store.get_messages([m.id for m in written]) == written
    assert store.recent_messages(None, 10) == written


def test_search_finds_unflushed_writes_and_pages(store: LanceAgentStore) -> None:
    state = make_state()
    for i in range(7):
        turn(store, state, f"tell me about volcano number {i}", f"volcano {i} is tall")
    turn(store, state, "what about oceans?", "oceans are deep")
    # nothing waited for the writer: the search still sees every write
    first = store.search_messages("volcano", 0, 5)
    assert first.total == 14 and first.pages == 3 and len(first.items) == 5
    second = store.search_messages("volcano", 2, 5)
    assert len(second.items) == 4
    seen = {m.id for p in range(3) for m in store.search_messages("volcano", p, 5).items}
    assert len(seen) == 14
    assert store.search_messages("volcano", 3, 5).items == []


def test_search_ranks_the_human_words_and_replies(store: LanceAgentStore) -> None:
    state = make_state()
    turn(store, state, "my favourite colour is teal", "noted")
    turn(store, state, "and my dog is called Rex", "Rex is a great name for a dog")
    hits = store.search_messages("teal", 0, 5)
    assert hits.total == 1 and hits.items[0].user_text() == "my favourite colour is teal"
    # the assistant's send_message argument is searchable too; the envelope's JSON keys are not
    assert {m.kind for m in store.search_messages("rex", 0, 5).items} == {"user_message", "assistant"}
    assert store.search_messages("user_message", 0, 5).total == 0


def test_search_no_results_and_odd_queries(store: LanceAgentStore) -> None:
    turn(store, make_state(), "hello", "hi")
    for query in ("zebra", "", "   ", "the", '"unbalanced AND (', "a:b"):
        page = store.search_messages(query, 0, 5)
        assert page.items == [] and page.total == 0 and page.pages == 0


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("On se retrouve au café demain", "cafe"),
        ("Wir treffen uns in München", "münchen"),
        ("東京 に 行きたい", "東京"),
        ("Привет, как дела", "привет"),
        ("pizza 🍕 tonight", "pizza"),
    ],
)
def test_search_unicode(store: LanceAgentStore, text: str, query: str) -> None:
    state = make_state()
    turn(store, state, "something unrelated", "ok")
    turn(store, state, text, "ok")
    hits = store.search_messages(query, 0, 5)
    assert [m.user_text() for m in hits.items] == [text]


@pytest.fixture(params=["UTC", "Pacific/Kiritimati", "America/Los_Angeles"])
def local_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Dates are local dates: run the date search in zones far from UTC on both sides."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def test_search_by_date_is_inclusive_and_chronological(store: LanceAgentStore, local_zone: str) -> None:
    local = datetime.now().astimezone().tzinfo
    days = [date(2024, 3, d) for d in (1, 2, 3, 4)]
    for day in days:
        for hour, minute in ((0, 0), (12, 30), (23, 59)):  # edges of the local day
            moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=local)
            store.append_messages(
                [user_message(f"{day} {hour}:{minute}", 1).model_copy(update={"created_at": moment})]
            )
    page = store.search_messages_by_date(days[1], days[2], 0, 4)
    assert page.total == 6 and page.pages == 2
    everything = page.items + store.search_messages_by_date(days[1], days[2], 1, 4).items
    assert [m.user_text() for m in everything] == [
        f"{d} {h}:{m}" for d in days[1:3] for h, m in ((0, 0), (12, 30), (23, 59))
    ]
    assert store.search_messages_by_date(days[2], days[1], 0, 10).total == 6  # reversed range
    assert store.search_messages_by_date(days[0], days[0], 0, 10).total == 3
    assert store.search_messages_by_date(date(2023, 1, 1), date(2023, 12, 31), 0, 5).total == 0


def test_delete_and_replace_messages(store: LanceAgentStore) -> None:
    state = make_state()
    first = turn(store, state, "keep me", "fine")
    second = turn(store, state, "pop me", "popped")
    store.delete_messages([m.id for m in second])
    assert store.count_messages() == 3
    assert store.get_messages([m.id for m in second]) == []
    assert store.search_messages("pop", 0, 5).total == 0
    edited = first[1].model_copy(update={"content": "a rethought monologue"})
    store.replace_messages([edited])
    assert store.get_messages([edited.id]) == [edited]
    assert store.search_messages("rethought", 0, 5).items == [edited]
    with pytest.raises(NotFound):
        store.replace_messages(reply("ghost", 9)[:1])


def test_recall_survives_reopen_with_pending_journal(open_store: Callable[..., LanceAgentStore]) -> None:
    store = open_store()
    state = make_state()
    for i in range(30):
        turn(store, state, f"fact {i}", f"ack {i}")
    store.close()
    store = open_store()
    assert store.count_messages() == 90
    assert store.search_messages("fact", 0, 100).total == 30
    assert store.head() == state
    assert (
        store.search_messages_by_date(
            date.today() - timedelta(days=1), date.today() + timedelta(days=1), 0, 5
        ).total
        == 90
    )
