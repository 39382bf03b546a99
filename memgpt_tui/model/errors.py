"""The errors a user can meet, from every layer. Each text says what went wrong and what to do."""

from __future__ import annotations


class AgentError(Exception):
    """An operation the user asked for cannot be done; the text says why."""


class ServerError(AgentError):
    """A server refused, or could not be reached; ``status`` 0 for the latter, and then ``sent`` when
    the request went out before the connection broke (the server may have acted on it)."""

    def __init__(self, text: str, status: int = 0, sent: bool = False) -> None:
        super().__init__(text)
        self.status = status
        self.sent = sent


class ContextFull(AgentError):
    pass


class StoreError(Exception):
    """A storage failure the user must see (corrupt, foreign, locked, mismatched). The text says why and what to do."""


class AgentLocked(StoreError):
    pass


class EmbeddingMismatch(StoreError):
    pass


class NotFound(StoreError):
    """No checkpoint or passage with that id."""


class AccountError(Exception):
    """A request about users, tokens or agent ownership that cannot be done; the text says why."""


class NameTaken(AccountError):
    """The owner already has an agent (or the home a user) by that name."""


class LLMError(Exception):
    """A failure talking to the model. ``hint`` tells the user what to do about it."""

    def __init__(self, message: str, hint: str = "", retryable: bool = True) -> None:
        super().__init__(message)
        self.hint = hint
        self.retryable = retryable


class ContextOverflowError(LLMError):
    """The provider refused the prompt as longer than the model's window."""


class BackendUnavailable(LLMError):
    """Nothing answers at the configured address (refused, DNS, server not started)."""


class AuthError(LLMError):
    """Wrong or missing API key."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message, hint, retryable=False)
