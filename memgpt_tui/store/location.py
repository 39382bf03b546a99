"""Where stores live: a local directory or an S3-compatible object store (``s3://bucket/prefix``).

Local paths use the filesystem. Object stores are reached through ``obstore`` with the settings LanceDB
gets too (``storage_options``), read from the usual AWS variables: ``AWS_ENDPOINT_URL`` (or
``AWS_ENDPOINT``) for a store other than AWS, ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``); credentials
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``) are read by both libraries
themselves and never pass through here. Conditional puts (``create_new``, ``replace_if``) are what the
lease on an object store is built on.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ..config import ensure_private_dir
from ..model.errors import StoreError
from .paths import is_local, local_path

if TYPE_CHECKING:
    from obstore.store import S3Store


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT") or None


def _region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def storage_options(uri: str) -> dict[str, str] | None:
    """LanceDB's options for ``uri``: None for a local path."""
    if is_local(uri):
        return None
    _bucket_and_key(uri)  # refuses what is not s3://
    options = {}
    if endpoint := _endpoint():
        options["aws_endpoint"] = endpoint
        if endpoint.startswith("http://"):
            options["allow_http"] = "true"
    if region := _region():
        options["aws_region"] = region
    return options


def _bucket_and_key(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StoreError(
            f"{uri!r} is not a store memgpt-tui can use: give a local directory or s3://bucket/prefix "
            "(any S3-compatible store; set AWS_ENDPOINT_URL for one that is not AWS)."
        )
    return parsed.netloc, parsed.path.strip("/")


@cache
def _bucket(bucket: str, endpoint: str | None, region: str | None) -> S3Store:
    from obstore.store import S3Store

    config: dict[str, Any] = {}
    if endpoint:
        config["endpoint"] = endpoint
    if region:
        config["region"] = region
    return S3Store(
        bucket,
        config=config,  # type: ignore[arg-type]
        client_options={
            "allow_http": bool(endpoint and endpoint.startswith("http://")),
            "connect_timeout": "5s",
            "timeout": "30s",
        },
        # a store that does not answer is reported within seconds, not after minutes of retries
        retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=20)},
        conditional_put="etag",
    )


def _remote(uri: str) -> tuple[S3Store, str]:
    bucket, key = _bucket_and_key(uri)
    return _bucket(bucket, _endpoint(), _region()), key


def _failed(uri: str, exc: Exception) -> StoreError:
    """An object store error as a message: its first line names the request, never a credential."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StoreError(
        f"The object store at {uri} did not answer as expected ({detail}). Check the bucket, "
        "AWS_ENDPOINT_URL, AWS_REGION and the credentials in the environment."
    )


def exists(uri: str) -> bool:
    if is_local(uri):
        return local_path(uri).exists()
    import obstore

    store, key = _remote(uri)
    try:
        return bool(obstore.list(store, prefix=f"{key}/", chunk_size=1).collect()[:1])
    except obstore.exceptions.BaseError as exc:
        raise _failed(uri, exc) from exc


def list_dirs(uri: str) -> list[str]:
    """Names of the directories (object prefixes) directly under ``uri``; empty when there are none."""
    if is_local(uri):
        path = local_path(uri)
        return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
    import obstore

    store, key = _remote(uri)
    try:
        listing = obstore.list_with_delimiter(store, prefix=f"{key}/" if key else None)
    except obstore.exceptions.BaseError as exc:
        raise _failed(uri, exc) from exc
    return sorted(prefix.rstrip("/").rsplit("/", 1)[-1] for prefix in listing["common_prefixes"])


def make_dir(uri: str) -> None:
    """Create a local directory and the parents it needs (0700); object stores have no directories to
    create."""
    if is_local(uri):
        ensure_private_dir(local_path(uri))


def delete_dir(uri: str) -> None:
    if is_local(uri):
        if local_path(uri).is_dir():
            shutil.rmtree(local_path(uri))
        return
    import obstore

    store, key = _remote(uri)
    try:
        for chunk in obstore.list(store, prefix=f"{key}/", chunk_size=1000):
            obstore.delete(store, [meta["path"] for meta in chunk])
    except obstore.exceptions.BaseError as exc:
        raise _failed(uri, exc) from exc


def read_bytes(uri: str) -> bytes | None:
    """The file or object at ``uri``; None when missing."""
    found = read_versioned(uri)
    return found[0] if found else None


def read_versioned(uri: str) -> tuple[bytes, str] | None:
    """The content and version tag (the ETag of an object) at ``uri``; None when missing."""
    if is_local(uri):
        path = local_path(uri)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        return data, str(path.stat().st_mtime_ns)
    import obstore

    store, key = _remote(uri)
    try:
        result = obstore.get(store, key)
        return bytes(result.bytes()), str(result.meta["e_tag"])
    except (FileNotFoundError, obstore.exceptions.NotFoundError):
        return None
    except obstore.exceptions.BaseError as exc:
        raise _failed(uri, exc) from exc


def write_bytes(uri: str, data: bytes) -> None:
    """Replace the file atomically: readers see the old or the new content, never a torn one."""
    if is_local(uri):
        path = local_path(uri)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o600)
        tmp.replace(path)
        return
    import obstore

    store, key = _remote(uri)
    try:
        obstore.put(store, key, data)  # an object is replaced whole
    except obstore.exceptions.BaseError as exc:
        raise _failed(uri, exc) from exc


def create_new(uri: str, data: bytes) -> str | None:
    """Write an object that must not exist yet (If-None-Match); its ETag, or None when it exists."""
    import obstore

    store, key = _remote(uri)
    try:
        return str(obstore.put(store, key, data, mode="create")["e_tag"])
    except (FileExistsError, obstore.exceptions.AlreadyExistsError, obstore.exceptions.PreconditionError):
        return None
    except obstore.exceptions.BaseError as exc:
        raise _failed(uri, exc) from exc


def replace_if(uri: str, data: bytes, etag: str) -> str | None:
    """Replace an object only if it is still version ``etag`` (If-Match); the new ETag, or None when it
    changed (or vanished) since."""
    import obstore

    store, key = _remote(uri)
    try:
        return str(obstore.put(store, key, data, mode={"e_tag": etag})["e_tag"])
    except (FileNotFoundError, obstore.exceptions.NotFoundError, obstore.exceptions.PreconditionError):
        return None
    except obstore.exceptions.BaseError as exc:
        raise _failed(uri, exc) from exc


def list_files(uri: str) -> list[str]:
    """Names of the objects directly under ``uri`` (object stores only), sorted."""
    import obstore

    store, key = _remote(uri)
    try:
        listing = obstore.list_with_delimiter(store, prefix=f"{key}/")
    except obstore.exceptions.BaseError as exc:
        raise _failed(uri, exc) from exc
    return sorted(meta["path"].rsplit("/", 1)[-1] for meta in listing["objects"])


def delete_files(uri: str, names: list[str]) -> None:
    """Delete objects directly under ``uri`` (object stores only); missing ones are ignored."""
    import obstore

    if not names:
        return
    store, key = _remote(uri)
    try:
        obstore.delete(store, [f"{key}/{name}" for name in names])
    except obstore.exceptions.BaseError as exc:
        raise _failed(uri, exc) from exc


def read_json(uri: str) -> dict[str, Any] | None:
    """The JSON object at ``uri``; None when missing. Raises ValueError when it is not a JSON object."""
    data = read_bytes(uri)
    if data is None:
        return None
    value = json.loads(data.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def write_json(uri: str, data: dict[str, Any]) -> None:
    write_bytes(uri, json.dumps(data, indent=1, ensure_ascii=False, default=str).encode("utf-8"))
