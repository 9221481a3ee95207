"""Small helpers over pyarrow filesystems, so a run folder, train storage or model path can be a
local folder or any URI (``s3://``, ``gs://``, ``file://``; filesystem options as a URI query)."""

from __future__ import annotations

import json
import os
from typing import Any

import pyarrow.fs as pafs


def resolve(uri_or_path: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and path of a local path or a pyarrow URI (``s3://``, ``gs://``, ``file://``...)."""
    if "://" in uri_or_path:
        return pafs.FileSystem.from_uri(uri_or_path)
    return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(uri_or_path))


def join(base: str, *parts: str) -> str:
    """Join URI or path parts with ``/`` (URIs never use the OS separator). A URI's query
    (``s3://bucket/x?endpoint_override=...``: pyarrow's filesystem options) stays at the end."""
    base, sep, query = base.partition("?") if "://" in base else (base, "", "")
    out = base.rstrip("/")
    for p in parts:
        out += "/" + p.strip("/")
    return out + sep + query


def exists(uri: str) -> bool:
    """Whether a file or folder exists."""
    fs, path = resolve(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def read_json(uri: str) -> Any:
    """Read a JSON file (None when it does not exist)."""
    fs, path = resolve(uri)
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return json.loads(f.read().decode("utf-8"))


def write_json(uri: str, obj: Any) -> None:
    """Write a JSON file (parent folders created; written to a temp name then moved on local disk)."""
    fs, path = resolve(uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    blob = json.dumps(obj, indent=2, ensure_ascii=False, default=str).encode("utf-8")
    if isinstance(fs, pafs.LocalFileSystem):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
        return
    with fs.open_output_stream(path) as f:
        f.write(blob)


def write_text(uri: str, text: str) -> None:
    """Write a UTF-8 text file."""
    fs, path = resolve(uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(text.encode("utf-8"))


def copy_dir(src: str, dst: str, source_filesystem: pafs.FileSystem | None = None) -> None:
    """Copy a folder between any two locations (replacing ``dst``).

    ``source_filesystem`` given: ``src`` is a path on it (e.g. a Ray checkpoint's filesystem).
    """
    if source_filesystem is not None:
        sfs, spath = source_filesystem, src
    else:
        sfs, spath = resolve(src)
    dfs, dpath = resolve(dst)
    if dfs.get_file_info(dpath).type != pafs.FileType.NotFound:
        dfs.delete_dir(dpath)
    dfs.create_dir(dpath, recursive=True)
    pafs.copy_files(spath, dpath, source_filesystem=sfs, destination_filesystem=dfs)


def local_copy(uri: str, local_dir: str) -> str:
    """A local folder holding ``uri`` (itself when it is already local)."""
    fs, path = resolve(uri)
    if isinstance(fs, pafs.LocalFileSystem):
        return path
    copy_dir(uri, local_dir)
    return local_dir


def is_shared(uri_or_path: str, shared_roots: list[str]) -> bool:
    """Whether every node of a cluster sees ``uri_or_path``: a remote URI, or a path under a shared mount.

    ``file://`` URIs and plain paths are local to one node unless they lie under one of
    ``shared_roots`` (folders mounted at the same place on every node, e.g. ``/mnt/shared``).
    """
    if "://" in uri_or_path and not uri_or_path.startswith("file://"):
        return True
    path = os.path.abspath(os.path.expanduser(uri_or_path.removeprefix("file://")))
    for root in shared_roots:
        r = os.path.abspath(os.path.expanduser(root)).rstrip("/")
        if path == r or path.startswith(r + "/"):
            return True
    return False


def shared_storage_problems(paths: dict[str, str | None], shared_roots: list[str], nodes: int) -> list[str]:
    """One line per path that only the driver's node would see, on a cluster of ``nodes`` nodes.

    Ray Train 2.60 refuses such a storage path at the first checkpoint ("A local path on the head
    node is not accessible by worker nodes"); model folders and adapters on one node's disk are
    missing on the others. A single-node Ray needs nothing shared.

    Args:
        paths: {what it is (e.g. ``train.storage_path``): path or URI}; None entries are skipped.
        shared_roots: Folders mounted at the same place on every node.
        nodes: Alive nodes of the Ray cluster.
    """
    if nodes <= 1:
        return []
    roots = f"under {shared_roots}" if shared_roots else "(no shared_storage mount is configured)"
    return [
        f"{what}: {p!r} is local to one node, but the Ray cluster has {nodes} nodes: use s3://... or a path {roots}"
        for what, p in paths.items()
        if p and not is_shared(p, shared_roots)
    ]


def alive_nodes() -> int:
    """Alive nodes of the connected Ray cluster."""
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive"))
