"""Cleaning text where it enters and redacting keys where it leaves."""

from __future__ import annotations

import json
import logging

from memgpt_tui.model.text import RedactingFilter, clean, clean_json, redact, register_secret


def test_clean_removes_controls_and_replaces_lone_surrogates():
    assert clean("a\x00b\x1b[2Jc\x7f\x85d") == "ab[2Jcd"
    assert clean("half \ud800 pair") == "half \ufffd pair"
    assert clean("tab\tnew\nline\r ok 😀") == "tab\tnew\nline\r ok 😀"
    text = "nothing to do"
    assert clean(text) is text


def test_clean_json_cleans_escaped_surrogates_and_keeps_the_rest():
    assert json.loads(clean_json('{"m": "x\\ud800y", "n": 1}')) == {"m": "x\ufffdy", "n": 1}
    assert clean_json('{"m": "\\u00e9"}') == '{"m": "\\u00e9"}'  # nothing unsafe: unchanged
    assert clean_json("not json \x00") == "not json "


def test_redact_hides_configured_and_key_shaped_secrets():
    register_secret("plain-configured-secret")
    text = redact(
        "Incorrect API key provided: sk-proj-abc123def456ghi. Authorization: Bearer eyJhbGciOi.x; "
        "api_key=abcdefgh12345678; and plain-configured-secret"
    )
    assert "abc123" not in text and "eyJhbGciOi" not in text and "abcdefgh1234" not in text
    assert "plain-configured-secret" not in text and text.count("redacted") == 4


def test_the_log_filter_redacts_messages_and_tracebacks(tmp_path):
    path = tmp_path / "log.txt"
    handler = logging.FileHandler(path)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("redaction-test")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError("server said: sk-live-0123456789abcdef")
        except RuntimeError:
            logger.exception("failed with key %s", "sk-another-0123456789")
    finally:
        logger.removeHandler(handler)
        handler.close()
    written = path.read_text()
    assert "0123456789" not in written and "RuntimeError" in written and "sk-[redacted]" in written
