"""The days a message names, read from its words and the day it was sent (a Wednesday here)."""

from __future__ import annotations

from datetime import date

import pytest

from memgpt_tui.llm.wrappers.dates import days_spoken_of

SENT = date(2024, 3, 6)  # a Wednesday


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("What did we talk about today?", ("2024-03-06", "2024-03-06")),
        ("What did I say I watched last night?", ("2024-03-05", "2024-03-05")),
        ("What did we discuss yesterday?", ("2024-03-05", "2024-03-05")),
        ("What did I tell you 3 days ago?", ("2024-03-03", "2024-03-03")),
        ("What did I say last week?", ("2024-02-26", "2024-03-03")),
        ("Anything new this week?", ("2024-03-04", "2024-03-06")),
        ("What did we talk about last month?", ("2024-02-01", "2024-02-29")),
        ("What did I say on Monday?", ("2024-03-04", "2024-03-04")),
        ("What did I say last Wednesday?", ("2024-02-28", "2024-02-28")),
        ("What did I tell you on the 4th of March?", ("2024-03-04", "2024-03-04")),
        ("What did we say on June 4?", ("2023-06-04", "2023-06-04")),  # not yet this year: last year's
        ("What happened on 2024-01-15?", ("2024-01-15", "2024-01-15")),
    ],
)
def test_a_message_naming_days_gets_their_range(text, days):
    found = days_spoken_of(text, SENT)
    assert found is not None and tuple(day.isoformat() for day in found) == days


@pytest.mark.parametrize(
    "text", ["What is my job?", "I have 2 cats.", "Where do I work, may I ask?", "Is 2024-02-30 a day?"]
)
def test_a_message_naming_no_day_has_no_range(text):
    assert days_spoken_of(text, SENT) is None
