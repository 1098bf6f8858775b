"""Packing an environment directory into a tarball, atomically."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

COMPRESS_LEVEL = 6


def pack(source: Path, output: Path) -> int:
    """``source``'s contents (not the directory itself) into the gzip tarball ``output``;
    symlinks stay symlinks. Written beside ``output`` and renamed, so a reader never sees half
    a tarball. Returns the tarball's size in bytes."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        with tarfile.open(partial, "w:gz", compresslevel=COMPRESS_LEVEL) as archive:
            for child in sorted(source.iterdir()):
                archive.add(child, arcname=child.name)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return output.stat().st_size
