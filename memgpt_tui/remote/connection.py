"""One server: its address, the caller's token, and every request's failure said in one sentence."""

from __future__ import annotations

from typing import Any

import httpx

from ..model.errors import ServerError

__all__ = ["API_VERSION", "Connection", "ServerError"]

API_VERSION = "1"  # of the server's own paths, as /v1/health/ names it (x_memgpt_api)


class Connection:
    def __init__(self, url: str, token: str | None = None, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # Turns answer when they end: reads may wait as long as a turn runs.
        self.http = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout, read=None)
        )

    async def check(self) -> None:
        """The server answers, speaks our API version and takes the token."""
        health = await self.call("GET", "/v1/health/")
        theirs = str(health.get("x_memgpt_api", "none"))
        if theirs != API_VERSION:
            raise ServerError(
                f"The server at {self.url} speaks version {theirs} of memgpt-tui's API and this "
                f"memgpt-tui version {API_VERSION}: update the older of the two."
            )
        await self.call("GET", "/v1/x-memgpt/agents")

    async def call(self, method: str, path: str, *, raw: bool = False, **kwargs: Any) -> Any:
        """The answer's JSON (its bytes when ``raw``); a refusal or a failure to reach the server is a
        ``ServerError`` saying it."""
        answer = await self.request(method, path, **kwargs)
        return answer.content if raw else answer.json()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The whole answer, its headers too; failures as ``call`` says them."""
        try:
            answer = await self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            sent = isinstance(exc, httpx.ReadError | httpx.ReadTimeout | httpx.RemoteProtocolError)
            raise ServerError(
                f"The server at {self.url} is unreachable ({type(exc).__name__}).", sent=sent
            ) from None
        if answer.status_code == 401:
            raise ServerError(f"The server at {self.url} refused the token: check --token.", 401)
        if answer.status_code >= 400:
            raise ServerError(_detail(answer), answer.status_code)
        return answer

    async def aclose(self) -> None:
        await self.http.aclose()


def _detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return f"The server answered {answer.status_code}."
