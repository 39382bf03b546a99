"""What a careless user does in line mode and through the Client: every mistake gets a clear message,
no traceback, and no message is lost."""

from __future__ import annotations

import subprocess
import sys

from memgpt_tui import Client
from tests.e2e.test_interfaces import backend_flags, env  # noqa: F401  (fixture)
from tests.fakes.openai_server import Reply


def plain(env, stdin: bytes, url: str) -> subprocess.CompletedProcess[bytes]:  # noqa: F811
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "memgpt_tui",
            "run",
            "--plain",
            "--agent",
            "care",
            "--first",
            *backend_flags(url),
        ],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=120,
    )


def test_line_mode_keeps_invalid_utf8_and_explains_bad_commands(env, openai_fake):  # noqa: F811
    openai_fake.default = Reply.tool_call("send_message", {"message": "Got it."})
    run = plain(
        env,
        b"caf\xe9 \xff\xfe au lait\n/load nosuchcheckpoint\n/attach nosuchsource\n/pop x\nstill here\n",
        openai_fake.base_url,
    )
    out, err = run.stdout.decode(), run.stderr.decode()
    assert run.returncode == 0, err
    assert "Traceback" not in out + err
    assert out.count("care: Got it.") == 2
    assert "✗" in out and "nosuchcheckpoint" in out and "nosuchsource" in out
    sent = [r["messages"][-1]["content"] for r in openai_fake.chat_requests]
    assert "caf\ufffd \ufffd\ufffd au lait" in sent[0]


def test_the_client_cleans_a_lone_surrogate_and_stays_usable(env, openai_fake):  # noqa: F811
    openai_fake.default = Reply.tool_call("send_message", {"message": "fine"})
    with Client(
        backend="openai-compatible", base_url=openai_fake.base_url, model="fake-model", no_verify=True
    ) as client:
        client.create_agent("surrogate", no_verify=True)
        first = client.user_message("surrogate", "half \ud800 a pair")
        assert {"assistant_message": "fine"} in first
        assert {"assistant_message": "fine"} in client.user_message("surrogate", "and again")
        found = client.search_recall("surrogate", "half")
        assert any("half \ufffd a pair" in str(m) for m in found["items"])
