import pytest

from memgpt_tui.llm import lenient


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('Sure! Here is my answer:\n{"a": "b"}\nHope that helps.', {"a": "b"}),
        ("{'a': 'it is', 'b': [1, 2]}", {"a": "it is", "b": [1, 2]}),
        ('{"a": [1, 2,], "b": 3,}', {"a": [1, 2], "b": 3}),
        ('{"a": True, "b": False, "c": None}', {"a": True, "b": False, "c": None}),
        ('{"a": {"b": "cut off in the mid', {"a": {"b": "cut off in the mid"}}),
        ('{"a": 1}{"b": 2}', {"a": 1}),
    ],
)
def test_near_json_is_repaired(text: str, expected: dict) -> None:
    assert lenient.load_object(text) == expected


@pytest.mark.parametrize(
    "text", ["", "   ", "I would rather not answer in JSON.", '"just a string"', "[1, 2]"]
)
def test_no_object_raises_not_json(text: str) -> None:
    with pytest.raises(lenient.NotJSON):
        lenient.load_object(text)


def test_unclosed_deep_nesting_is_not_json() -> None:
    # json.loads fails fast on it; the repairer hits its recursion limit instead
    with pytest.raises(lenient.NotJSON, match="nested too deeply"):
        lenient.load_object('{"a": ' + "[" * 3000)
