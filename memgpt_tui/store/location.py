"""Where stores live. Roots are URIs (a local path or ``s3://...``); only the lock and the journal must
be on the local disk, because they rely on OS file locking and cheap appends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from .paths import is_local, local_path


def _fs(uri: str) -> tuple[pafs.FileSystem, str]:
    if is_local(uri):
        return pafs.LocalFileSystem(), str(local_path(uri))
    fs, path = pafs.FileSystem.from_uri(uri)
    return fs, path


def exists(uri: str) -> bool:
    fs, path = _fs(uri)
    return bool(fs.get_file_info(path).type != pafs.FileType.NotFound)


def list_dirs(uri: str) -> list[str]:
    """Names of the directories directly under ``uri`` (empty when it does not exist)."""
    fs, path = _fs(uri)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=False))
    return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)


def make_dir(uri: str) -> None:
    fs, path = _fs(uri)
    fs.create_dir(path, recursive=True)
    if is_local(uri):
        local_path(uri).chmod(0o700)


def delete_dir(uri: str) -> None:
    fs, path = _fs(uri)
    if fs.get_file_info(path).type == pafs.FileType.Directory:
        fs.delete_dir(path)


def read_json(uri: str) -> dict[str, Any] | None:
    """The JSON object at ``uri``; None when missing. Raises ValueError when it is not a JSON object."""
    fs, path = _fs(uri)
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as stream:
        data = json.loads(stream.read().decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def write_json(uri: str, data: dict[str, Any]) -> None:
    """Replace the file atomically: readers see the old or the new content, never a torn one."""
    payload = json.dumps(data, indent=1, ensure_ascii=False, default=str).encode("utf-8")
    fs, path = _fs(uri)
    if is_local(uri):
        tmp = f"{path}.tmp"
        with fs.open_output_stream(tmp) as stream:
            stream.write(payload)
        fs.move(tmp, path)
        Path(path).chmod(0o600)
    else:  # object stores replace whole objects atomically
        with fs.open_output_stream(path) as stream:
            stream.write(payload)
