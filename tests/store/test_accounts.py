"""Users, tokens and agent ownership, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from memgpt_tui.model.errors import AgentLocked
from memgpt_tui.store import registry
from memgpt_tui.store.accounts import LOCAL_OWNER, AccountError, Accounts, NameTaken
from tests import pg
from tests.store.helpers import HashEmbedder, make_state, turn
from tests.waiting import eventually

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, home: Path) -> str | None:
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def accounts(db_url: str | None, home: Path, root: str) -> Iterator[Accounts]:
    with Accounts(db_url, home, root) as opened:
        yield opened


def raw_rows(db_url: str | None, home: Path, table: str) -> list[tuple[object, ...]]:
    """Every row of a table, read past the Accounts API."""
    url = (
        f"sqlite:///{home / 'accounts.db'}"
        if db_url is None
        else db_url.replace("postgresql:", "postgresql+psycopg:")
    )
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    finally:
        engine.dispose()


# ---------------------------------------------------------------------- users and tokens


def test_a_token_finds_its_user_and_only_its_hash_is_stored(
    accounts: Accounts, db_url: str | None, home: Path
) -> None:
    alice, token = accounts.add_user("alice")
    assert token.startswith("sk-memgpt-") and len(token) > 50
    assert accounts.authenticate(token) == alice
    assert accounts.user("alice") == alice and accounts.users() == [alice]
    stored = " ".join(str(v) for row in raw_rows(db_url, home, "users") for v in row)
    secret = token[len("sk-memgpt-") + 16 :]
    assert "alice" in stored
    assert token not in stored and secret not in stored


def test_every_failing_token_gets_the_same_none(accounts: Accounts) -> None:
    _, alice_token = accounts.add_user("alice")
    _, bob_token = accounts.add_user("bob")
    wrong_secret = alice_token[:-4] + ("AAAA" if not alice_token.endswith("AAAA") else "BBBB")
    other_selector = bob_token[:26] + alice_token[26:]  # bob's selector, alice's secret
    for token in (
        None,
        "",
        "Bearer",
        "sk-memgpt-",
        "sk-memgpt-zz",
        alice_token[:30],
        wrong_secret,
        other_selector,
        "é" * 70,
    ):
        assert accounts.authenticate(token) is None, token

    rotated = accounts.new_token("alice")
    assert accounts.authenticate(alice_token) is None
    assert accounts.authenticate(rotated).name == "alice"  # type: ignore[union-attr]

    accounts.remove_user("bob")
    assert accounts.authenticate(bob_token) is None
    assert accounts.authenticate(rotated).name == "alice"  # type: ignore[union-attr]


def test_any_header_value_is_none_never_an_error(home: Path, root: str) -> None:
    with Accounts(None, home, root) as accounts:
        accounts.add_user("alice")

        @given(garbage=st.text(max_size=120), start=st.sampled_from(["", "0" * 16, "sk-memgpt-"]))
        @settings(max_examples=150, deadline=None)
        def check(garbage: str, start: str) -> None:
            assert accounts.authenticate(start + garbage) is None

        check()


def test_user_names_are_unique_and_checked(accounts: Accounts) -> None:
    assert not accounts.has_users()
    accounts.add_user("alice")
    assert accounts.has_users()
    with pytest.raises(NameTaken, match="already exists"):
        accounts.add_user("alice")
    with pytest.raises(AccountError, match="not a valid user name"):
        accounts.add_user("../etc")
    with pytest.raises(AccountError, match="No user named 'nobody'"):
        accounts.new_token("nobody")
    assert accounts.user("nobody") is None
    assert [u.name for u in accounts.users()] == ["alice"]


# ---------------------------------------------------------------------- users kept apart


def test_agent_names_are_unique_per_user_and_another_users_agent_is_unknown(accounts: Accounts) -> None:
    alice, _ = accounts.add_user("alice")
    bob, _ = accounts.add_user("bob")
    hers = accounts.add_agent(alice.id, "sam")
    his = accounts.add_agent(bob.id, "sam")  # the same name, another owner
    assert hers.id != his.id and hers.dir == hers.id and hers.root != his.root
    assert alice.id in hers.root and not hers.root.startswith(accounts.local_root)
    with pytest.raises(NameTaken, match="already have an agent named 'sam'"):
        accounts.add_agent(alice.id, "sam")

    assert accounts.agents(alice.id) == [hers] and accounts.agents(bob.id) == [his]
    assert accounts.agent(alice.id, hers.id) == hers
    assert accounts.agent(alice.id, his.id) is None  # exactly as an id that does not exist
    assert accounts.agent(alice.id, "agent-00000000-0000-4000-8000-000000000000") is None
    with pytest.raises(AccountError, match="No agent"):
        accounts.rename_agent(alice.id, his.id, "stolen")
    accounts.remove_agent(alice.id, his.id)  # does nothing
    assert accounts.agent(bob.id, his.id) == his

    renamed = accounts.rename_agent(alice.id, hers.id, "Sam the Second")
    assert (renamed.id, renamed.dir, renamed.root) == (hers.id, hers.dir, hers.root)  # nothing moves
    other = accounts.add_agent(alice.id, "sam")
    with pytest.raises(NameTaken):
        accounts.rename_agent(alice.id, other.id, "Sam the Second")
    with pytest.raises(AccountError, match="1-100 characters"):
        accounts.rename_agent(alice.id, other.id, "bad\nname")
    accounts.remove_agent(alice.id, other.id)
    assert [a.name for a in accounts.agents(alice.id)] == ["Sam the Second"]


def test_removing_a_user_refuses_deletes_or_hands_over(accounts: Accounts) -> None:
    alice, _ = accounts.add_user("alice")
    bob, _ = accounts.add_user("bob")
    carol, _ = accounts.add_user("carol")
    sam = accounts.add_agent(alice.id, "sam")
    accounts.add_agent(alice.id, "max")
    accounts.add_agent(bob.id, "sam")

    with pytest.raises(AccountError, match="owns 2 agent"):
        accounts.remove_user("alice")
    with pytest.raises(AccountError, match="not both"):
        accounts.remove_user("alice", delete_agents=True, hand_to="bob")
    with pytest.raises(NameTaken, match="'bob' already has agents named sam"):
        accounts.remove_user("alice", hand_to="bob")
    with pytest.raises(AccountError, match="another user"):
        accounts.remove_user("alice", hand_to="alice")
    assert accounts.user("alice") == alice and len(accounts.agents(alice.id)) == 2  # all or nothing

    handed = accounts.remove_user("alice", hand_to="carol")
    assert {a.owner for a in handed} == {carol.id} and accounts.user("alice") is None
    assert accounts.agent(carol.id, sam.id) is not None  # same id, same store
    assert accounts.agent(carol.id, sam.id).root == sam.root  # type: ignore[union-attr]

    accounts.add_user("dave")  # no agents: still, a wrong --to is refused, not ignored
    with pytest.raises(AccountError, match="No user named 'nobody'"):
        accounts.remove_user("dave", hand_to="nobody")
    with pytest.raises(AccountError, match="another user"):
        accounts.remove_user("dave", hand_to="dave")
    assert accounts.remove_user("dave", hand_to="carol") == []

    deleted = accounts.remove_user("bob", delete_agents=True)
    assert [a.name for a in deleted] == ["sam"] and accounts.agent(bob.id, deleted[0].id) is None
    assert [u.name for u in accounts.users()] == ["carol"]


# ---------------------------------------------------------------------- the local owner and adopt


def test_the_local_owners_agents_are_the_directories_of_the_agents_root(
    accounts: Accounts, db_url: str | None, home: Path, root: str, embedder: HashEmbedder
) -> None:
    registry.create_store(root, "sam", embedder).close()
    (Path(root) / ".hidden").mkdir()
    [sam] = accounts.agents(LOCAL_OWNER)
    assert (sam.name, sam.dir, sam.root, sam.owner) == ("sam", "sam", root, LOCAL_OWNER)
    assert accounts.agents(LOCAL_OWNER) == [sam]  # the same id each time

    registry.create_store(root, "max", embedder).close()  # made by the TUI while the server runs
    listed = {a.name: a for a in accounts.agents(LOCAL_OWNER)}
    assert set(listed) == {"max", "sam"} and listed["sam"] == sam
    assert accounts.agent(LOCAL_OWNER, listed["max"].id) == listed["max"]

    registry.delete(root, "max")
    assert accounts.agent(LOCAL_OWNER, listed["max"].id) is None
    assert accounts.agents(LOCAL_OWNER) == [sam]

    with pytest.raises(NameTaken):
        accounts.add_agent(LOCAL_OWNER, "sam")
    made = accounts.add_agent(LOCAL_OWNER, "new")
    assert (made.root, made.dir) == (root, "new") and not Path(root, "new").exists()  # reserved only
    with pytest.raises(AccountError, match="not a valid agent name"):
        accounts.add_agent(LOCAL_OWNER, "two words")

    alice, _ = accounts.add_user("alice")
    assert accounts.agent(alice.id, sam.id) is None and accounts.agents(alice.id) == []

    other_root = str(Path(root).with_name("elsewhere"))  # the store URI changed: another namespace
    registry.create_store(other_root, "sam", embedder).close()
    with Accounts(db_url, home, other_root) as elsewhere:
        [other_sam] = elsewhere.agents(LOCAL_OWNER)
        assert other_sam.name == "sam" and other_sam.id != sam.id and other_sam.root == other_root
        assert elsewhere.agent(LOCAL_OWNER, sam.id) is None


def test_adopt_moves_a_local_agent_into_the_users_root(
    accounts: Accounts, root: str, home: Path, embedder: HashEmbedder
) -> None:
    store = registry.create_store(root, "sam", embedder)
    state = make_state()
    said = turn(store, state, "my name is Ada", "hello Ada")
    alice, _ = accounts.add_user("alice")
    accounts.add_agent(alice.id, "max")
    with pytest.raises(AgentLocked, match="is open in another memgpt-tui"):
        accounts.adopt("alice", "sam")
    assert [a.name for a in accounts.agents(LOCAL_OWNER)] == ["sam"] and Path(root, "sam").is_dir()
    store.close()

    with pytest.raises(AccountError, match="No user named 'bob'"):
        accounts.adopt("bob", "sam")
    with pytest.raises(AccountError, match="no agent named 'nobody'"):
        accounts.adopt("alice", "nobody")
    registry.create_store(root, "max", embedder).close()
    with pytest.raises(NameTaken, match="already has an agent named 'max'"):
        accounts.adopt("alice", "max")

    (home / "users").write_text("a file where the users' folder goes")
    with pytest.raises(OSError):
        accounts.adopt("alice", "sam")
    assert [a.name for a in accounts.agents(LOCAL_OWNER)] == [
        "sam",
        "max",
    ]  # the row was put back, made first
    assert [a.name for a in accounts.agents(alice.id)] == ["max"] and Path(root, "sam", "agent.json").exists()
    (home / "users").unlink()

    adopted = accounts.adopt("alice", "sam")
    assert adopted.owner == alice.id and adopted.name == "sam" and adopted.dir == adopted.id
    assert Path(adopted.root) == home / "users" / alice.id and not Path(root, "sam").exists()
    assert [a.name for a in accounts.agents(LOCAL_OWNER)] == ["max"]
    assert accounts.agent(alice.id, adopted.id) == adopted
    moved = registry.open_store(adopted.root, adopted.dir, embedder)
    try:
        assert [m.id for m in moved.recent_messages(None, 10)][-3:] == [m.id for m in said]
        assert moved.head() == state
    finally:
        moved.close()


# ---------------------------------------------------------------------- the database itself


def test_a_database_from_a_newer_version_is_refused(db_url: str | None, home: Path, root: str) -> None:
    Accounts(db_url, home, root).close()
    url = (
        f"sqlite:///{home / 'accounts.db'}"
        if db_url is None
        else db_url.replace("postgresql:", "postgresql+psycopg:")
    )
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = 99"))
    engine.dispose()
    with pytest.raises(AccountError, match="newer memgpt-tui"):
        Accounts(db_url, home, root)


def test_agents_list_oldest_first_and_a_version_1_database_is_migrated(
    db_url: str | None, home: Path, root: str
) -> None:
    with Accounts(db_url, home, root) as accounts:
        alice, _ = accounts.add_user("alice")
        for name in ("zed", "amy"):
            accounts.add_agent(alice.id, name)
        assert [a.name for a in accounts.agents(alice.id)] == ["zed", "amy"]
    engine = sa.create_engine(
        f"sqlite:///{home / 'accounts.db'}"
        if db_url is None
        else db_url.replace("postgresql:", "postgresql+psycopg:")
    )
    with engine.begin() as conn:  # as version 1 left it
        conn.execute(sa.text("ALTER TABLE agents DROP COLUMN created"))
        conn.execute(sa.text("UPDATE schema_version SET version = 1"))
    engine.dispose()
    with Accounts(db_url, home, root) as accounts:
        accounts.add_agent(alice.id, "bea")
        assert [a.name for a in accounts.agents(alice.id)] == ["amy", "zed", "bea"]


def test_bad_urls_are_refused_without_their_password(home: Path, root: str) -> None:
    with pytest.raises(AccountError, match="postgresql://USER"):
        Accounts("mysql://u:p@host/db", home, root)
    # an in-memory database would forget the users; a port must be a number
    for wrong in ("not a url", "sqlite:///", "sqlite://", "postgresql://u:p@h:notaport/x"):
        with pytest.raises(AccountError, match="postgresql://USER"):
            Accounts(wrong, home, root)
    with pytest.raises(
        AccountError, match="postgresql://u:\\*\\*\\*@127.0.0.1:9/db did not answer"
    ) as refused:
        Accounts("postgresql://u:hunter2secret@127.0.0.1:9/db", home, root)
    assert "hunter2secret" not in str(refused.value)


def test_many_threads_and_two_processes_worth_of_connections(
    db_url: str | None, home: Path, root: str
) -> None:
    first, second = Accounts(db_url, home, root), Accounts(db_url, home, root)
    users = [first.add_user(f"user{n}") for n in range(4)]
    errors: list[BaseException] = []

    def work(accounts: Accounts, user_index: int, thread: int) -> None:
        user, token = users[user_index]
        try:
            for n in range(8):
                record = accounts.add_agent(user.id, f"t{thread}-{n}")
                assert accounts.authenticate(token) == user
                accounts.rename_agent(user.id, record.id, f"t{thread}-{n}-renamed")
                assert accounts.agent(user.id, record.id) is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(first if t % 2 else second, t % 4, t)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(len(first.agents(u.id)) for u, _ in users) == 8 * 8
    first.close()
    second.close()


def test_threads_listing_new_local_agents_at_once(accounts: Accounts, root: str) -> None:
    for n in range(5):
        Path(root, f"made-by-the-tui-{n}").mkdir(parents=True)
    seen: list[list[str]] = []
    errors: list[BaseException] = []

    def listing() -> None:
        try:
            seen.append(sorted(a.id for a in accounts.agents(LOCAL_OWNER)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=listing) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(seen) == 8
    assert all(ids == seen[0] for ids in seen) and len(seen[0]) == 5


def test_a_kill_9_mid_write_loses_no_committed_write(home: Path, root: str) -> None:
    acknowledged: list[str] = []
    for _ in range(2):  # two kills at random instants, the second on a database the first left
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.store.accounts_child", str(home), root],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        wanted = len(acknowledged) + random.randint(5, 40)
        while len(acknowledged) < wanted:
            acknowledged.append(child.stdout.readline().strip())
        child.send_signal(signal.SIGKILL)
        acknowledged += [line.strip() for line in child.stdout if line.strip()]
        child.wait()
    [(check,)] = raw_rows(None, home, "pragma_integrity_check")
    assert check == "ok"
    with Accounts(None, home, root) as accounts:
        writer = accounts.user("writer")
        assert writer is not None
        names = {a.name for a in accounts.agents(writer.id)}
    assert set(acknowledged) <= names and len(names) - len(acknowledged) <= 3


def test_users_roots_are_their_own_and_private(
    accounts: Accounts, root: str, home: Path, embedder: HashEmbedder, tmp_path: Path
) -> None:
    alice, _ = accounts.add_user("alice")
    assert accounts.root_for(LOCAL_OWNER) == root
    assert Path(accounts.root_for(alice.id)) == home / "users" / alice.id

    registry.create_store(root, "sam", embedder).close()
    exported = registry.export_agent(root, "sam", tmp_path / "sam.agent")
    record = accounts.add_agent(alice.id, "sam")
    assert registry.import_agent(record.root, exported, record.dir) == record.dir  # as the server imports
    for folder in (home / "users", home / "users" / alice.id, home / "users" / alice.id / record.dir):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    on_s3 = Accounts(None, home, "s3://bucket/agents")
    assert on_s3.root_for(alice.id) == f"s3://bucket/agents/.users/{alice.id}"  # a name no agent can have
    # There a store cannot leave the home's own list: adopting is refused, with the way that works.
    with pytest.raises(AccountError, match=r"object storage .* export it .*POST /v1/agents/import"):
        on_s3.adopt(on_s3.add_user("zoe")[0].name, "sam")
    on_s3.close()


def remembered_soon(accounts: Accounts, token: str, agent_id: str | None = None) -> object:
    """Look ``token`` up until it is remembered: at once on SQLite, on PostgreSQL once the accounts
    listen for notices (from the first lookup on)."""
    eventually(
        lambda: accounts.token_agent(token, agent_id) and accounts.remembered(token, agent_id),
        "the lookup is remembered",
    )
    return accounts.remembered(token, agent_id)


def forgotten(accounts: Accounts, token: str, agent_id: str | None, at_once: bool) -> None:
    """Another process's change: seen at once on SQLite, on PostgreSQL when its notice arrives."""
    if at_once:
        assert accounts.remembered(token, agent_id) is None
    else:
        eventually(lambda: accounts.remembered(token, agent_id) is None, "the notice arrives")


def test_a_remembered_token_stops_when_another_process_rotates_or_removes_it(
    db_url: str | None, home: Path, root: str
) -> None:
    # Two Accounts on one database are two servers' views of it: one remembers, the other changes.
    with Accounts(db_url, home, root) as server, Accounts(db_url, home, root) as other:
        at_once = db_url is None  # SQLite sees every commit; PostgreSQL hears of it
        alice, token = other.add_user("alice")
        agent = other.add_agent(alice.id, "sam")
        assert remembered_soon(server, token, agent.id) == (alice, agent)

        other.remove_agent(alice.id, agent.id)
        forgotten(server, token, agent.id, at_once)
        assert server.token_agent(token, agent.id) == (alice, None)

        assert remembered_soon(server, token) == (alice, None)
        rotated = other.new_token("alice")
        forgotten(server, token, None, at_once)
        assert server.authenticate(token) is None
        assert server.authenticate(rotated) == alice

        assert remembered_soon(server, rotated) == (alice, None)
        other.remove_user("alice")
        forgotten(server, rotated, None, at_once)
        assert server.authenticate(rotated) is None


def test_a_processs_own_change_stops_a_remembered_token_at_once(
    db_url: str | None, home: Path, root: str
) -> None:
    with Accounts(db_url, home, root) as server:
        alice, token = server.add_user("alice")
        agent = server.add_agent(alice.id, "sam")
        assert remembered_soon(server, token, agent.id) == (alice, agent)
        server.remove_agent(alice.id, agent.id)
        assert server.remembered(token, agent.id) is None

        assert remembered_soon(server, token) == (alice, None)
        rotated = server.new_token("alice")
        assert server.remembered(token, None) is None and server.authenticate(token) is None

        assert remembered_soon(server, rotated) == (alice, None)
        server.remove_user("alice")
        assert server.remembered(rotated, None) is None and server.authenticate(rotated) is None


def test_while_its_listener_is_down_postgresql_is_asked_every_time(
    postgres: pg.Postgres, postgres_url: str, home: Path, root: str
) -> None:
    database = sa.make_url(postgres_url).database
    with (
        Accounts(postgres_url, home, root) as server,
        Accounts(postgres_url, home, root) as other,
        psycopg.connect(postgres.url(), autocommit=True) as admin,
    ):
        alice, token = other.add_user("alice")
        assert remembered_soon(server, token) == (alice, None)
        try:  # the listener is cut off, and cannot connect again; the pools' connections stay
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = 'memgpt-tui accounts notices'",
                [database],
            )
            eventually(lambda: server.remembered(token, None) is None, "the listener is seen lost")
            for _ in range(3):
                assert server.authenticate(token) == alice
                assert server.remembered(token, None) is None  # asked, and not remembered
            rotated = other.new_token("alice")
            assert server.remembered(token, None) is None and server.authenticate(token) is None
        finally:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

        assert remembered_soon(server, rotated) == (alice, None)  # listening again
        other.remove_user("alice")
        forgotten(server, rotated, None, at_once=False)
        assert server.authenticate(rotated) is None
    assert not [t for t in threading.enumerate() if t.name == "accounts-notices"]  # closed with them


def test_the_local_owners_agent_is_remembered_until_a_user_comes_or_its_store_goes(
    db_url: str | None, home: Path, root: str, embedder: HashEmbedder
) -> None:
    registry.create_store(root, "sam", embedder).close()
    with Accounts(db_url, home, root) as server, Accounts(db_url, home, root) as other:
        [sam] = server.agents(LOCAL_OWNER)
        assert server.remembered_local(sam.id) is None  # not asked yet
        eventually(
            lambda: server.local_agent(sam.id) == (True, sam) and server.remembered_local(sam.id) == sam,
            "the local owner's agent is remembered",
        )
        assert server.remembered("", sam.id) is None  # never the answer to a token

        registry.delete(root, "sam")  # the TUI deletes it while the server runs
        assert server.remembered_local(sam.id) is None
        assert server.local_agent(sam.id) == (True, None)

        registry.create_store(root, "max", embedder).close()
        [max_] = server.agents(LOCAL_OWNER)
        eventually(lambda: server.local_agent(max_.id) and server.remembered_local(max_.id), "remembered")
        assert server.remembered_no_users()  # has_users found none, as the local owner's requests ask
        other.add_user("alice")  # another server's users command: no local owner from now on
        eventually(lambda: server.remembered_local(max_.id) is None, "the notice arrives")
        assert not server.remembered_no_users()
        assert server.local_agent(max_.id) == (False, None)
