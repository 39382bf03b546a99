"""The reply of a completion-mode model, constrained: one function call with inner thoughts.

A reply is ``{"inner_thoughts": "...", "function": "NAME", "params": {...}, "request_heartbeat": B}``,
the form ``json_mode`` reads and renders history in (the flag is dropped for functions that do not
take it). ``gbnf`` writes it as a llama.cpp grammar (llama.cpp's server, llama-cpp-python, koboldcpp):
keys in a fixed order, single-line strings of bounded length, and exactly the spacing of
``json.dumps``, so a reply reads like the calls in the history before it. ``reply_schema`` says the
same as JSON schema, for servers that take that instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memgpt_tui.llm.json_mode import HEARTBEAT, functions, split_params


@dataclass(frozen=True, slots=True)
class Caps:
    """Length caps, in characters, on what the model writes freely."""

    thoughts: int = 300
    text: int = 1000  # any other string argument (a message, a memory, a query)


_ESCAPE = r'"\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'  # a JSON escape sequence
_PRIMITIVES = {
    "boolean": '"true" | "false"',
    "integer": '"-"? [0-9]{1,15}',
    "number": '"-"? [0-9]{1,15} ("." [0-9]{1,15})? ([eE] [-+]? [0-9]{1,5})?',
    "date": r'"\"" [0-9]{4} "-" [0-9]{2} "-" [0-9]{2} "\""',
    # Any JSON, for parameter types the grammar does not spell out.
    "value": "object | array | string | number | boolean | null",
    "object": '"{" (string ": " value (", " string ": " value)*)? "}"',
    "array": '"[" (value (", " value)*)? "]"',
    "string": r'"\"" char* "\""',
    "null": '"null"',
    # No raw control characters: a reply stays on one line, as JSON requires.
    "char": rf'[^"\\\x00-\x1f] | {_ESCAPE}',
}


# How every reply begins. A prompt may end with it, so the model starts on its thoughts at once instead
# of generating these tokens one by one (``gbnf(primed=True)`` is then the grammar of the rest).
PRIMER = "{" + json.dumps("inner_thoughts") + ': "'


def gbnf(tools: Sequence[dict[str, Any]], caps: Caps = Caps(), *, primed: bool = False) -> str:
    """The grammar of one reply calling one of ``tools``; ``primed``: of what follows ``PRIMER``."""
    rules: dict[str, str] = {}
    branches = []
    for fn in functions(tools):
        branch = _rule_name(fn["name"])
        params, _ = split_params(fn)
        rules[branch] = (
            f"{_literal(json.dumps(fn['name']) + ', ' + json.dumps('params') + ': ')} {_object(params, rules, caps)}"
        )
        branches.append(branch)
    if not branches:
        raise ValueError("a reply grammar needs at least one function")
    _use("char", rules)
    rules["thoughts"] = rf'char{{0,{caps.thoughts}}} "\""'
    root = " ".join(
        [
            "" if primed else _literal(PRIMER),
            "thoughts",
            _literal(", " + json.dumps("function") + ": "),
            f"({' | '.join(branches)})",
            _literal(", " + json.dumps(HEARTBEAT) + ": "),
            _use("boolean", rules),
            '"}"',
        ]
    )
    return "\n".join([f"root ::= {root.strip()}", *(f"{k} ::= {v}" for k, v in rules.items())]) + "\n"


def worded_rules(words: Sequence[str], most: int) -> str:
    """The rule ``sentence``: one sentence of at most ``most`` of ``words`` (each as given, or with its
    first letter in the other case), apart by a space or a comma, then ``.``, ``!`` or ``?``. A small
    model's reply ends there instead of repeating itself.
    Words a JSON string would have to escape are left out. The words are one tree of their shared
    beginnings, so the server follows a few branches at a time rather than every word."""
    spelled = sorted(
        {
            form
            for word in words
            if word and not re.search(r'["\\\x00-\x1f\s]', word)
            for form in (word, word[:1].upper() + word[1:], word[:1].lower() + word[1:])
        }
    )
    rules: dict[str, str] = {}
    root = _branches(spelled, rules)
    return (
        f"sentence ::= word (gap word){{0,{most - 1}}} [.!?]\n"
        f'gap ::= " " | ", "\nword ::= {root}\n'
        + "".join(f"{name} ::= {body}\n" for name, body in rules.items())
    )


def chosen_rules(firsts: Sequence[str], seconds: Sequence[str]) -> str:
    """The rule ``sentence``: one of ``firsts``, then maybe a space and one of ``seconds``, each as
    given. A small model writes a sensible short reply by choosing among whole ones."""
    return f'sentence ::= line (" " then)?\nline ::= {_one_of(firsts)}\nthen ::= {_one_of(seconds)}\n'


def _one_of(texts: Sequence[str]) -> str:
    """Any of ``texts``, inside a JSON string."""
    return " | ".join(_literal(json.dumps(text)[1:-1]) for text in texts)


def _branches(words: Sequence[str], rules: dict[str, str]) -> str:
    """The alternatives that spell one of ``words`` (sorted, all different): words sharing a beginning
    share its branch, a rule of its own."""
    ends = "" in words
    groups: dict[str, list[str]] = {}
    for word in words:
        if word:
            groups.setdefault(word[0], []).append(word)
    alternatives = []
    for group in groups.values():
        shared = _shared_start(group)
        rest = [word[len(shared) :] for word in group]
        if rest == [""]:
            alternatives.append(_literal(shared))
            continue
        name = f"w{len(rules)}"
        rules[name] = ""  # its place, so the names stay in order of creation
        rules[name] = _branches(rest, rules)
        alternatives.append(f"{_literal(shared)} {name}")
    body = " | ".join(alternatives)
    return f"({body})?" if ends and alternatives else body


def _shared_start(words: Sequence[str]) -> str:
    first, last = min(words), max(words)
    size = 0
    while size < min(len(first), len(last)) and first[size] == last[size]:
        size += 1
    return first[:size]


def one_of(words: Sequence[str]) -> str:
    """The grammar of one of ``words``, each after a space."""
    return "root ::= " + " | ".join(_literal(" " + word) for word in words) + "\n"


def _object(schema: dict[str, Any], rules: dict[str, str], caps: Caps) -> str:
    """A parameter object: its required keys in order, then each optional one or not (an optional
    key that would come first is required, so that every comma has its place)."""
    properties: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    keys = [k for k in properties if k in required] + [k for k in properties if k not in required]
    parts = ['"{"']
    for index, key in enumerate(keys):
        lead = ", " if index else ""
        member = f"{_literal(lead + json.dumps(key) + ': ')} {_value(properties[key], rules, caps)}"
        parts.append(member if key in required or index == 0 else f"({member})?")
    parts.append('"}"')
    return " ".join(parts)


def _value(spec: dict[str, Any], rules: dict[str, str], caps: Caps) -> str:
    if "const" in spec:
        return _literal(json.dumps(spec["const"], ensure_ascii=False))
    if "enum" in spec:
        return "(" + " | ".join(_literal(json.dumps(v, ensure_ascii=False)) for v in spec["enum"]) + ")"
    kind = spec.get("type")
    if kind == "string" and spec.get("format") == "date":
        return _use("date", rules)
    if kind == "string":
        limit = min(spec.get("maxLength", caps.text), caps.text)
        name = "text" if limit == caps.text else f"text-{limit}"
        rules[name] = _bounded_string(limit, rules)
        return name
    if kind in ("boolean", "integer", "number"):
        return _use(kind, rules)
    return _use("value", rules)


def _bounded_string(limit: int, rules: dict[str, str]) -> str:
    _use("char", rules)
    return rf'"\"" char{{0,{limit}}} "\""'


def _use(name: str, rules: dict[str, str]) -> str:
    """A primitive rule, added with the rules it refers to."""
    if name not in rules:
        rules[name] = _PRIMITIVES[name]
        for word in re.findall(r"[a-z]+", re.sub(r'"[^"]*"', " ", _PRIMITIVES[name])):
            if word in _PRIMITIVES:
                _use(word, rules)
    return name


def _literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _rule_name(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-").lower() or "function"


def reply_schema(tools: Sequence[dict[str, Any]], caps: Caps = Caps()) -> dict[str, Any]:
    """The same reply as JSON schema: one branch per function."""
    branches = []
    for fn in functions(tools):
        properties: dict[str, Any] = {
            "inner_thoughts": {"type": "string", "maxLength": caps.thoughts},
            "function": {"const": fn["name"]},
            "params": _capped(split_params(fn)[0], caps),
            HEARTBEAT: {"type": "boolean"},
        }
        branches.append(
            {
                "type": "object",
                "properties": properties,
                "required": list(properties),
                "additionalProperties": False,
            }
        )
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def _capped(params: dict[str, Any], caps: Caps) -> dict[str, Any]:
    properties = {
        key: {**spec, "maxLength": min(spec.get("maxLength", caps.text), caps.text)}
        if spec.get("type") == "string" and "enum" not in spec and spec.get("format") != "date"
        else spec
        for key, spec in (params.get("properties") or {}).items()
    }
    return {**params, "properties": properties, "additionalProperties": False}
