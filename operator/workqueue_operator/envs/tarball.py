"""Packing an environment directory into a tarball, atomically: the relocatable tarball (the
prefix's contents at its root) or an image layer (the same files under ``opt/poncho/<hash>``)."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path, PurePosixPath

COMPRESS_LEVEL = 6
DIRECTORY_MODE = 0o755


def _directory(name: str) -> tarfile.TarInfo:
    """A root-owned directory entry (the parents of a layer's environment)."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = DIRECTORY_MODE
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
        with tarfile.open(partial, "w:gz", compresslevel=COMPRESS_LEVEL) as archive:
            if root is not None:
                for parent in reversed(root.parents[:-1]):
                    archive.addfile(_directory(str(parent)))
                archive.add(source, arcname=str(root), recursive=False)
            for child in sorted(source.iterdir()):
                name = child.name if root is None else str(root / child.name)
                archive.add(child, arcname=name)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return output.stat().st_size
