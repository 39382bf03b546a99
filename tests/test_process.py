"""What the app sets for its whole process when it starts, and what a program embedding the Client
keeps: its environment, its allocator and its modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from memgpt_tui.client import Client
from tests.fakes.openai_server import FakeOpenAIServer

REPORT = (
    "import json, os, sys\n"
    "rest = sys.modules.get('lance_namespace_urllib3_client')\n"
    "rest = rest and ('whole' if 'ApiClient' in vars(rest) else 'placeholder')\n"
    "print(json.dumps({\n"
    "    'env': {k: os.environ.get(k) for k in ('LANCE_LOG', 'LANCEDB_LOG', 'ARROW_DEFAULT_MEMORY_POOL')},\n"
    "    'rest_client': rest,\n"
    "    'process_settings': 'memgpt_tui.process' in sys.modules,\n"
    "}))\n"
)
PLAIN_ENV = {
    k: v for k, v in os.environ.items() if k not in ("LANCE_LOG", "LANCEDB_LOG", "ARROW_DEFAULT_MEMORY_POOL")
}


def report(code: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", code + REPORT], capture_output=True, text=True, check=True, env=PLAIN_ENV
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_client_and_the_store_changes_nothing_process_wide() -> None:
    seen = report("import memgpt_tui.client, memgpt_tui.store\n")
    assert seen == {
        "env": {"LANCE_LOG": None, "LANCEDB_LOG": None, "ARROW_DEFAULT_MEMORY_POOL": None},
        "rest_client": None,
        "process_settings": False,
    }


def test_the_app_sets_its_process_up_before_it_parses_its_arguments() -> None:
    seen = report(
        "from memgpt_tui import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
    )
    assert seen == {
        "env": {"LANCE_LOG": "error", "LANCEDB_LOG": "error", "ARROW_DEFAULT_MEMORY_POOL": "system"},
        "rest_client": None,
        "process_settings": True,
    }


def test_lancedb_loads_the_rest_clients_endpoints_only_when_asked_for() -> None:
    """The store imports LanceDB without the endpoints of the Lance REST namespace client; the package
    is whole as soon as anything asks it for a name of its own."""
    seen = report(
        "import memgpt_tui.store.tables\n"
        "from lance_namespace_urllib3_client import ApiClient, TableApi\n"
        "import lance_namespace_urllib3_client as rest\n"
        "assert rest.TableApi is TableApi and not hasattr(rest, 'NoSuchName')\n"
    )
    assert seen["rest_client"] == "whole"
    assert seen["env"] == {"LANCE_LOG": None, "LANCEDB_LOG": None, "ARROW_DEFAULT_MEMORY_POOL": None}


def test_the_rest_client_package_is_not_cut_short() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import memgpt_tui.store.tables, sys, json\n"
         "print(json.dumps('lance_namespace_urllib3_client.api.table_api' in sys.modules))"],
        capture_output=True, text=True, check=True, env=PLAIN_ENV,
    )  # fmt: skip
    assert json.loads(out.stdout) is False


def test_lancedb_loads_without_the_overrides_checks_and_leaves_the_real_package() -> None:
    """While LanceDB imports, ``overrides`` only marks; afterwards a program gets the real package,
    whose checks still work."""
    out = subprocess.run(
        [sys.executable, "-c", "import memgpt_tui.store.tables, sys, json\n"
         "from lancedb.db import DBConnection, LanceDBConnection\n"
         "stand_in = 'overrides' in sys.modules\n"
         "import overrides\n"
         "class Base(overrides.EnforceOverrides):\n"
         "    def f(self): ...\n"
         "try:\n"
         "    class Child(Base):\n"
         "        def f(self): ...\n"
         "    enforced = False\n"
         "except TypeError:\n"
         "    enforced = True\n"
         "print(json.dumps([stand_in, enforced, issubclass(LanceDBConnection, DBConnection)]))"],
        capture_output=True, text=True, check=True, env=PLAIN_ENV,
    )  # fmt: skip
    assert json.loads(out.stdout) == [False, True, True]


def test_a_new_agents_first_session_through_the_client_loads_neither_lancedb_nor_pyarrow(
    tmp_path: Path, openai_fake: FakeOpenAIServer
) -> None:
    """Its tables are made on first need: a chat that searches nothing keeps to the journal, and the
    next open makes them and replays it."""
    home = tmp_path / "home"
    code = (
        "import json, sys\n"
        "from memgpt_tui.client import Client\n"
        f"client = Client(home={str(home)!r}, backend='openai-compatible', base_url={openai_fake.base_url!r},\n"
        "                model='fake-model', no_verify=True, context_window=8192)\n"
        "client.create_agent('kit')\n"
        "for text in ('My cat is called Miso.', 'I live in Porto.'):\n"
        "    client.user_message('kit', text)\n"
        "client.close()\n"
        "print(json.dumps(sorted(m for m in ('lancedb', 'pyarrow', 'numpy') if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    agent = home / "agents" / "kit"
    assert not list(agent.glob("*.lance")) and list((agent / "journal").glob("*.log"))
    client = Client(home=home, backend="openai-compatible", base_url=openai_fake.base_url, model="fake-model",
                    no_verify=True, context_window=8192)  # fmt: skip
    try:
        found = client.search_recall("kit", "Porto")
        assert found["total"] == 1 and "I live in Porto." in found["items"][0]["content"]
        assert len(client.checkpoints("kit")) >= 3  # created, then a step for each message
        assert len(list(agent.glob("*.lance"))) == 5
    finally:
        client.close()
