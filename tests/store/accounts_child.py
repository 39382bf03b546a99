"""Writes to the accounts database until killed: ``python -m tests.store.accounts_child HOME ROOT``.

Prints ``ready``, then the name of each agent once its transaction has committed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from memgpt_tui.store.accounts import Accounts


def main(home: str, root: str) -> None:
    accounts = Accounts(None, Path(home), root)
    user = accounts.user("writer") or accounts.add_user("writer")[0]
    print("ready", flush=True)
    n = len(accounts.agents(user.id))
    while True:
        record = accounts.add_agent(user.id, f"agent{n}")
        accounts.rename_agent(user.id, record.id, f"agent{n}")
        accounts.new_token("writer")
        print(record.name, flush=True)
        n += 1


if __name__ == "__main__":
    main(*sys.argv[1:3])
