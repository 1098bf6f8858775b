"""Packing an environment directory into a tarball, atomically: the relocatable tarball (the
prefix's contents at its root) or an image layer (the same files under ``opt/poncho/<hash>``).
An environment without compiled bytecode (uv's installs) packs to bytes that depend only on
its files' names, contents, modes and owners, never on when they were written, so two builds
that install the same files give one layer digest. One with ``.pyc`` files (conda's) keeps its
file times: Python trusts a timestamp-based ``.pyc`` only while its source keeps the time it
was compiled from, and would recompile at every import otherwise."""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path, PurePosixPath
from typing import NamedTuple

COMPRESS_LEVEL = 6
DIRECTORY_MODE = 0o755
FILE_TIME = 0
"""Every entry's mtime (unless the environment has bytecode) and the gzip header's."""


def _directory(name: str) -> tarfile.TarInfo:
    """A root-owned directory entry (the parents of a layer's environment)."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = DIRECTORY_MODE
    info.mtime = FILE_TIME
    return info


def has_bytecode(source: Path) -> bool:
    """Whether the environment holds compiled Python bytecode (``*.pyc``)."""
    return next(source.rglob("*.pyc"), None) is not None


def _whole_seconds(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """The file's time in whole seconds (what a ``.pyc`` records of its source), so that an
    extractor reading only the ustar header gives the same time as one reading PAX."""
    info.mtime = int(info.mtime)
    return info


def _timeless(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = FILE_TIME
    return info


class Packed(NamedTuple):
    size: int
    """The tarball's size in bytes."""
    file_times: bool
    """Whether the files kept their times (the environment has bytecode)."""


def pack(source: Path, output: Path, *, under: str = "") -> Packed:
    """``source``'s contents (not the directory itself) into the gzip tarball ``output``;
    symlinks stay symlinks. With ``under`` (``opt/poncho/<hash>``: an image layer), the files
    go below that path, whose directories are entries of their own (root, 0755) so that the
    layer makes them whatever the base image holds. Written beside ``output`` and renamed, so a
    reader never sees half a tarball."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    root = PurePosixPath(under.strip("/")) if under.strip("/") else None
    file_times = has_bytecode(source)
    times = _whole_seconds if file_times else _timeless
    try:
        with (
            partial.open("wb") as raw,
            gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=COMPRESS_LEVEL, mtime=FILE_TIME
            ) as zipped,
            tarfile.open(fileobj=zipped, mode="w") as archive,
        ):
            if root is not None:
                for parent in reversed(root.parents[:-1]):
                    archive.addfile(_directory(str(parent)))
                archive.add(source, arcname=str(root), recursive=False, filter=times)
            for child in sorted(source.iterdir()):
                name = child.name if root is None else str(root / child.name)
                archive.add(child, arcname=name, filter=times)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return Packed(output.stat().st_size, file_times)
