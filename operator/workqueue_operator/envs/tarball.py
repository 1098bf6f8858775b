"""Packing an environment directory into a tarball, atomically: the relocatable tarball (the
prefix's contents at its root) or an image layer (the same files under ``opt/poncho/<hash>``).
The bytes depend only on the files' names, contents, modes and owners, never on when they were
written: two builds of one spec give one layer digest."""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path, PurePosixPath

COMPRESS_LEVEL = 6
DIRECTORY_MODE = 0o755
FILE_TIME = 0
"""Every entry's mtime (and the gzip header's): a build's time is not part of the environment."""


def _directory(name: str) -> tarfile.TarInfo:
    """A root-owned directory entry (the parents of a layer's environment)."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = DIRECTORY_MODE
    info.mtime = FILE_TIME
    return info


def _timeless(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = FILE_TIME
    return info


def pack(source: Path, output: Path, *, under: str = "") -> int:
    """``source``'s contents (not the directory itself) into the gzip tarball ``output``;
    symlinks stay symlinks. With ``under`` (``opt/poncho/<hash>``: an image layer), the files
    go below that path, whose directories are entries of their own (root, 0755) so that the
    layer makes them whatever the base image holds. Written beside ``output`` and renamed, so a
    reader never sees half a tarball. Returns the tarball's size in bytes."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    root = PurePosixPath(under.strip("/")) if under.strip("/") else None
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
                archive.add(source, arcname=str(root), recursive=False, filter=_timeless)
            for child in sorted(source.iterdir()):
                name = child.name if root is None else str(root / child.name)
                archive.add(child, arcname=name, filter=_timeless)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return output.stat().st_size
