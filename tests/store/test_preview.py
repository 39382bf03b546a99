"""The preview file: kept while the head has not moved, gone at the first write, unread while locked."""

from __future__ import annotations

from collections.abc import Callable

from memgpt_tui.store import preview
from memgpt_tui.store.agent_store import LanceAgentStore
from tests.store.helpers import make_state, reply


def test_preview_lives_until_the_first_write(root: str, open_store: Callable[..., LanceAgentStore]) -> None:
    store = open_store()
    store.checkpoint(make_state(), "created", "")
    store.write_preview(b'{"head": "x"}')
    store.close()
    assert preview.path(root, "sam").stat().st_mode & 0o777 == 0o600

    store = open_store()  # opening and reading leave it alone
    store.recent_messages(None, 10)
    store.close()
    assert preview.read(root, "sam") == b'{"head": "x"}'

    store = open_store()
    store.append_messages(reply("hello", 1))
    assert not preview.path(root, "sam").exists(), "a crash from here on must not show the old head"
    store.close()


def test_no_preview_is_read_while_the_agent_is_open(
    root: str, open_store: Callable[..., LanceAgentStore]
) -> None:
    store = open_store()
    store.checkpoint(make_state(), "created", "")
    store.write_preview(b"{}")
    assert preview.read(root, "sam") is None  # the ordinary open explains the lock
    store.close()
    assert preview.read(root, "sam") == b"{}"
    assert preview.read(root, "nobody") is None
