"""Ask a server which models it has: the setup screen's connection test."""

from __future__ import annotations

import openai

from ..model.errors import AuthError
from ..model.state import BACKEND_DEFAULTS
from .api_client import PLACEHOLDER_KEY
from .openai_errors import to_llm_error
from .servers import SERVERS, root


async def list_models(
    backend: str, base_url: str | None, api_key: str | None, timeout: float
) -> tuple[str, list[str]]:
    """The address as the client resolved it and the models listed there, sorted. Raises LLMError."""
    if backend != "openai":
        api_key = api_key or PLACEHOLDER_KEY
    if backend in SERVERS or backend == "lmstudio-legacy":  # a MemGPT type: the server's root
        base_url = root(base_url or BACKEND_DEFAULTS[backend].base_url or "") + "/v1"
    try:
        client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)
    except openai.OpenAIError as exc:
        raise AuthError(str(exc)) from exc
    where = str(client.base_url).rstrip("/")
    try:
        page = await client.models.list()
        return where, sorted(m.id for m in page.data)
    except Exception as exc:
        raise to_llm_error(exc, where) from exc
    finally:
        await client.close()
