"""A source agent's embedding endpoint, and the embedder its archival is embedded with here.

Archival comes over as text and is embedded again on import. An agent whose source embedded with an
endpoint we can speak (OpenAI-compatible ``/embeddings``) keeps that endpoint and model: it is recorded in
its store (``EmbeddingInfo.endpoint``) and its archival insert and search go there from then on. Every
other agent is embedded with the configured embedder, and the report says what was not carried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..model.errors import StoreError
from ..model.text import redact
from ..store.api import Embedder
from ..store.embeddings import OpenAIEmbedder

OPENAI = "https://api.openai.com/v1"
# MemGPT's "local" type: this model, in process (memgpt/embeddings.py: default_embedding_model).
MEMGPT_LOCAL_MODEL = "BAAI/bge-small-en-v1.5"


@dataclass(frozen=True)
class SourceEmbedding:
    """MemGPT's ``embedding_config`` of one agent."""

    kind: str  # embedding_endpoint_type: openai, azure, hugging-face, ollama, local
    endpoint: str | None
    model: str | None
    dim: int | None

    @classmethod
    def read(cls, config: dict[str, Any]) -> SourceEmbedding | None:
        kind = config.get("embedding_endpoint_type")
        if not kind:
            return None
        dim = config.get("embedding_dim")
        return cls(
            str(kind),
            str(config.get("embedding_endpoint") or "").rstrip("/") or None,
            str(config.get("embedding_model") or "") or None,
            int(dim) if isinstance(dim, int | str) and str(dim).isdigit() else None,
        )

    def url(self) -> str | None:
        """The OpenAI-compatible base URL serving this model, or None where there is none we can speak."""
        if not self.model:
            return None
        if self.kind == "openai":
            return self.endpoint or OPENAI
        if self.kind == "hugging-face" and self.endpoint:
            # MemGPT posted OpenAI's request shape to {endpoint}/embeddings, as the openai client does
            # (text-embeddings-inference serves it at /v1/embeddings).
            return self.endpoint
        if self.kind == "ollama":
            parts = urlsplit(self.endpoint or "http://localhost:11434")
            return f"{parts.scheme}://{parts.netloc}/v1"  # Ollama's OpenAI-compatible route
        return None

    def described(self) -> str:
        return f"{self.kind} at {self.endpoint or 'its default'}, model {self.model}"


@dataclass
class Embedding:
    """How one imported agent's archival is embedded."""

    embedder: Embedder
    endpoint: str | None = None  # the source's endpoint, carried into the agent
    left: str | None = None  # what of the source's setting was not carried, and what to do


def plan(source: SourceEmbedding | None, configured: Embedder, carry: bool) -> Embedding:
    """The embedder for an agent from ``source``: its own endpoint where ``carry`` allows and we speak
    it (checked with one request, so an unreachable one stops the import before anything is written)."""
    if source is None:
        return Embedding(configured)
    url = source.url()
    if url and carry:
        embedder = OpenAIEmbedder(str(source.model), base_url=url)
        try:
            embedder.dim  # noqa: B018 (probes the endpoint)
        except StoreError as exc:
            raise StoreError(
                redact(
                    f"The embedding endpoint at {url} (model {source.model}) failed: {str(exc.__cause__ or exc).rstrip('.')}. "
                    'Nothing was imported: start that server, or set embedding_backend = "embedded" in the '
                    "config to embed archival here instead."
                )
            ) from exc
        return Embedding(embedder, url)
    instead = f"archival was embedded with {configured.model} instead"
    if url:
        why = "the config names an embedder"
        return Embedding(configured, left=f"the embedding endpoint ({source.described()}): {instead} ({why})")
    if source.kind == "local":
        if _same_model(source, configured):
            return Embedding(configured)
        model = source.model or MEMGPT_LOCAL_MODEL
        return Embedding(
            configured, left=f"MemGPT's local embedding model {model}, which is not bundled here: {instead}"
        )
    if source.kind == "azure":
        return Embedding(
            configured,
            left=f"the embedding endpoint ({source.described()}): Azure OpenAI needs a deployment and an API "
            f'version, which are not spoken here: {instead}; to use it, set embedding_backend = "openai-compatible", '
            "embedding_base_url to the resource's https://NAME.openai.azure.com/openai/v1 and embedding_model "
            "to the deployment, and import again",
        )
    return Embedding(
        configured,
        left=f"the embedding endpoint ({source.described()}): not one spoken here: {instead}; to use an "
        "OpenAI-compatible server, set embedding_backend, embedding_base_url and embedding_model and import again",
    )


def _same_model(source: SourceEmbedding, configured: Embedder) -> bool:
    name = (source.model or MEMGPT_LOCAL_MODEL).rsplit("/", 1)[-1]
    return name == configured.model and source.dim in (None, configured.dim)
