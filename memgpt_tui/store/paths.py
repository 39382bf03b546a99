"""Where an agent's files are, computed without touching any filesystem or importing pyarrow: the
start-up path uses it to read an agent's preview before the storage libraries have loaded."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import urlparse

from ..config import home_dir
from ..model.errors import StoreError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def check_name(name: str, what: str = "agent") -> str:
    if not valid_name(name):
        raise StoreError(
            f"{name!r} is not a valid {what} name: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return name


def is_local(uri: str) -> bool:
    scheme = urlparse(uri).scheme
    return scheme in ("", "file") or len(scheme) == 1  # a Windows drive letter is not a scheme


def local_path(uri: str) -> Path:
    return Path(urlparse(uri).path if uri.startswith("file://") else uri).expanduser().resolve()


def join(uri: str, *parts: str) -> str:
    if is_local(uri):
        return str(local_path(uri).joinpath(*parts))
    return "/".join([uri.rstrip("/"), *parts])


def local_state_dir(store_uri: str) -> Path:
    """Local directory for the lock and journal of a store: inside it when local, else under home."""
    if is_local(store_uri):
        return local_path(store_uri)
    digest = hashlib.sha256(store_uri.encode()).hexdigest()[:20]
    return home_dir() / "remote-stores" / digest


def store_uri(root: str, name: str) -> str:
    return join(root, check_name(name))
