"""The home's local owner alone: agents are the directories under the agents root, ids follow names.
Used where no users database is given; it answers the same calls as ``store.accounts.Accounts``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .. import runtime
from ..config import Settings

LOCAL_OWNER = "local"
PREFIX = "agent-"


class AccountError(Exception):
    pass


class NameTaken(AccountError):
    pass


@dataclass(frozen=True)
class User:
    id: str
    name: str
    created: datetime


@dataclass(frozen=True)
class AgentRecord:
    id: str
    owner: str
    name: str
    root: str
    dir: str


class LocalAccounts:
    def __init__(self, settings: Settings) -> None:
        self.root = settings.agents_root()
        self.settings = settings

    def close(self) -> None:
        pass

    def has_users(self) -> bool:
        return False

    def authenticate(self, token: str | None) -> User | None:
        return None

    def root_for(self, owner: str) -> str:
        return self.root

    def agents(self, owner: str) -> list[AgentRecord]:
        names = [i.name for i in runtime.agent_infos(self.settings) if i.problem is None]
        return [self._record(name) for name in sorted(names)]

    def agent(self, owner: str, agent_id: str) -> AgentRecord | None:
        return next((r for r in self.agents(owner) if r.id == agent_id), None)

    def add_agent(self, owner: str, name: str) -> AgentRecord:
        if any(r.name == name for r in self.agents(owner)):
            raise NameTaken(f"An agent named {name!r} already exists.")
        return self._record(name)

    def rename_agent(self, owner: str, agent_id: str, name: str) -> AgentRecord:
        raise AccountError("Renaming an agent needs the users database (memgpt-tui users add NAME).")

    def remove_agent(self, owner: str, agent_id: str) -> None:
        pass

    def _record(self, name: str) -> AgentRecord:
        return AgentRecord(PREFIX + name, LOCAL_OWNER, name, self.root, name)
