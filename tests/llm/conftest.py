from typing import Any

import pytest

HEARTBEAT_PARAM = {
    "type": "boolean",
    "description": "Request an immediate heartbeat after the function runs.",
}


def function(
    name: str, description: str, properties: dict[str, Any], heartbeat: bool = True
) -> dict[str, Any]:
    props = dict(properties)
    if heartbeat:
        props["request_heartbeat"] = HEARTBEAT_PARAM
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": props, "required": list(props)},
        },
    }


def memgpt_tools() -> list[dict[str, Any]]:
    """A slice of MemGPT's function set, as the engine sends it."""
    return [
        function(
            "send_message",
            "Sends a message to the human user.",
            {"message": {"type": "string", "description": "Message contents."}},
            heartbeat=False,
        ),
        function(
            "core_memory_append",
            "Append to the contents of core memory.",
            {"label": {"type": "string", "enum": ["persona", "human"]}, "content": {"type": "string"}},
        ),
        function(
            "archival_memory_search",
            "Search archival memory.",
            {"query": {"type": "string"}, "page": {"type": "integer"}},
        ),
    ]


@pytest.fixture
def tools() -> list[dict[str, Any]]:
    return memgpt_tools()
