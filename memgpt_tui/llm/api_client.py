"""The official openai client, made on first use.

Importing openai costs about half a second, which creating or opening an agent need not pay: the
backends keep a ``LazyClient`` and the import happens with the first request.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from memgpt_tui.model.errors import AuthError

if TYPE_CHECKING:
    import openai

OPENAI_BASE_URL = "https://api.openai.com/v1"


class LazyClient:
    """The address and key are settled (and a missing key refused) at once; the client itself waits."""

    def __init__(self, base_url: str | None, api_key: str | None, timeout: float) -> None:
        # As the client would decide: arguments first, then the environment, then OpenAI itself.
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise AuthError("No API key for the OpenAI API.", "Set OPENAI_API_KEY, or api_key in the config.")
        self.api_key = key
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL).rstrip("/")
        self._timeout = timeout
        self._client: openai.AsyncOpenAI | None = None

    def get(self) -> openai.AsyncOpenAI:
        if self._client is None:
            import openai

            from memgpt_tui.llm.openai_errors import to_llm_error

            try:
                # max_retries=0: the backends' own retries are the only ones, so they can be counted.
                self._client = openai.AsyncOpenAI(
                    base_url=self.base_url, api_key=self.api_key, timeout=self._timeout, max_retries=0
                )
            except openai.OpenAIError as exc:
                raise to_llm_error(exc, self.base_url) from exc
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
