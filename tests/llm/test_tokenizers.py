import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from memgpt_tui.llm.tokenizers import (
    EstimateTokenizer,
    ServerTokenizer,
    TiktokenTokenizer,
    default_tokenizer,
)
from tests.fakes.openai_server import FakeOpenAIServer, unused_port


def test_tiktoken_counts_offline(tmp_path: Path) -> None:
    """A fresh process with an empty tiktoken cache and every download made to fail."""
    script = textwrap.dedent(
        """
        import asyncio, tiktoken.load

        real_read = tiktoken.load.read_file
        def no_downloads(blobpath):
            assert "://" not in blobpath, f"tried to download {blobpath}"
            return real_read(blobpath)
        tiktoken.load.read_file = no_downloads

        from memgpt_tui.llm.tokenizers import TiktokenTokenizer
        gpt4 = TiktokenTokenizer("gpt-4")
        print(gpt4.exact, asyncio.run(gpt4.count(["hello world", "tiktoken is great!", ""])))
        gpt4o = TiktokenTokenizer("gpt-4o")
        print(gpt4o.exact, asyncio.run(gpt4o.count(["hello world"])))
        """
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "empty-cache"),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True [2, 6, 0]", "False [2]"]


async def test_tiktoken_exact_only_for_its_own_models() -> None:
    assert TiktokenTokenizer("gpt-3.5-turbo").exact
    assert not TiktokenTokenizer("o3-mini").exact  # o200k does not ship offline: cl100k estimates it
    assert not TiktokenTokenizer("some-local-llama").exact


async def test_estimate_is_marked_and_cached() -> None:
    estimate = EstimateTokenizer()
    assert not estimate.exact
    first = await estimate.count(["The quick brown fox", "jumps"] * 3)
    assert first[0] > 1 and first[:2] * 3 == first
    assert await estimate.count(["jumps"]) == [first[1]]


async def test_server_tokenizer_uses_llama_cpp_python_endpoint_and_caches(
    openai_fake: FakeOpenAIServer,
) -> None:
    tokenizer = ServerTokenizer(openai_fake.base_url)
    texts = ["Hello, world!", "one two three", "Hello, world!"]
    assert await tokenizer.count(texts) == [4, 3, 4]
    assert tokenizer.exact
    assert await tokenizer.count(["one two three", "Hello, world!"]) == [3, 4]
    asked = [r for r in openai_fake.requests if r.method == "POST"]
    assert [r.path for r in asked] == ["/extras/tokenize/count"] * 2  # one per distinct text, ever
    assert {r.body["input"] for r in asked} == {"Hello, world!", "one two three"}
    await tokenizer.aclose()


async def test_server_tokenizer_falls_back_to_llama_cpp_tokenize(openai_fake: FakeOpenAIServer) -> None:
    openai_fake.disabled = {"/extras/tokenize/count"}
    tokenizer = ServerTokenizer(openai_fake.root_url)
    assert await tokenizer.count([f"word {i}" for i in range(20)]) == [2] * 20
    assert tokenizer.exact
    paths = [r.path for r in openai_fake.requests]
    assert paths.count("/extras/tokenize/count") == 1  # the missing endpoint is probed once
    assert paths.count("/tokenize") == 20
    assert openai_fake.requests[-1].body["content"].startswith("word")
    await tokenizer.aclose()


async def test_server_without_tokenize_endpoint_gives_estimates(openai_fake: FakeOpenAIServer) -> None:
    openai_fake.disabled = {"/extras/tokenize/count", "/tokenize"}
    tokenizer = ServerTokenizer(openai_fake.base_url)
    estimate = await EstimateTokenizer().count(["Hello there, how are you?"])
    assert await tokenizer.count(["Hello there, how are you?"]) == estimate
    assert not tokenizer.exact
    probes = len(openai_fake.requests)
    await tokenizer.count(["Something else entirely"])
    assert len(openai_fake.requests) == probes  # not asked again
    await tokenizer.aclose()


async def test_server_down_gives_estimates() -> None:
    down = ServerTokenizer(f"http://127.0.0.1:{unused_port()}/v1", timeout=1.0)
    assert await down.count(["a b c"]) == await EstimateTokenizer().count(["a b c"])
    assert not down.exact
    await down.aclose()


@pytest.mark.parametrize(("backend", "kind"), [("openai", TiktokenTokenizer), ("embedded", ServerTokenizer)])
def test_default_tokenizer(backend: str, kind: type) -> None:
    assert isinstance(default_tokenizer(backend, "gpt-4o", "http://127.0.0.1:1/v1"), kind)
