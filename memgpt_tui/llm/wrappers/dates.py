"""The days a message speaks of, read from its own words and the day it was sent: "today",
"yesterday", "last night", "3 days ago", "last week", "this week", "last month", "on Monday",
"on 4 June", "March 3rd", "2024-03-01". Nothing else is guessed: a message without such words has
no range.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "a": 1}
_DAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DAY_OF_MONTH = (
    rf"(\d{{1,2}})(?:st|nd|rd|th)?(?: of)? ({_MONTH})\b|\b({_MONTH}) (\d{{1,2}})(?:st|nd|rd|th)?\b"
)

Range = tuple[date, date]


def days_spoken_of(text: str, today: date) -> Range | None:
    """The first range of days ``text`` names, relative to ``today``; None when it names none."""
    said = text.lower()
    for pattern, read in _READERS:
        if match := re.search(pattern, said):
            found = read(match, today)
            if found is not None:
                return found
    return None


def _iso(match: re.Match[str], today: date) -> Range | None:
    try:
        day = date.fromisoformat(match.group(0))
    except ValueError:
        return None
    return day, day


def _day_of_month(match: re.Match[str], today: date) -> Range | None:
    number, month = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
    for year in (today.year, today.year - 1):  # a day still to come this year was last year's
        try:
            day = date(year, _MONTHS[month], int(number))
        except ValueError:
            return None
        if day <= today:
            return day, day
    return None


def _ago(match: re.Match[str], today: date) -> Range:
    count = match.group(1)
    day = today - timedelta(days=int(count) if count.isdigit() else _NUMBERS[count])
    return day, day


def _weekday(match: re.Match[str], today: date) -> Range:
    back = (today.weekday() - _DAYS[match.group(1)]) % 7 or 7  # the last such day before today
    day = today - timedelta(days=back)
    return day, day


def _last_month(today: date) -> Range:
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


_READERS = [
    (r"\b\d{4}-\d{2}-\d{2}\b", _iso),
    (rf"\b(?:{_DAY_OF_MONTH})", _day_of_month),
    (r"\b(\d+|one|two|three|four|five|six|seven|a) days? ago\b", _ago),
    (r"\b(?:today|this morning|this afternoon|this evening|tonight)\b", lambda m, t: (t, t)),
    (r"\b(?:yesterday|last night)\b", lambda m, t: (t - timedelta(days=1),) * 2),
    (
        r"\blast week\b",
        lambda m, t: (t - timedelta(days=t.weekday() + 7), t - timedelta(days=t.weekday() + 1)),
    ),
    (r"\bthis week\b", lambda m, t: (t - timedelta(days=t.weekday()), t)),
    (r"\blast month\b", lambda m, t: _last_month(t)),
    (r"\bthis month\b", lambda m, t: (t.replace(day=1), t)),
    (rf"\b(?:on|last) ({'|'.join(_DAYS)})\b", _weekday),
]
