"""Packing an environment: the bytes depend on the files, never on when they were written."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from workqueue_operator.envs.tarball import pack


def environment(root: Path, written_at: float) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "run-in-env").write_text('#!/bin/sh\nexec "$@"\n')
    (root / "bin" / "run-in-env").chmod(0o755)
    (root / "lib.py").write_text("x = 1\n")
    (root / "python3").symlink_to("bin/run-in-env")
    for path in (root / "bin" / "run-in-env", root / "lib.py", root / "bin", root):
        os.utime(path, (written_at, written_at))
    return root


def test_one_environment_written_at_two_times_packs_to_the_same_bytes(tmp_path: Path) -> None:
    early = environment(tmp_path / "a" / "env", 1_000_000_000.25)
    late = environment(tmp_path / "b" / "env", 1_800_000_000.75)
    for under in ("", "opt/poncho/abc"):
        one, other = tmp_path / f"one{len(under)}.tar.gz", tmp_path / f"other{len(under)}.tar.gz"
        pack(early, one, under=under)
        pack(late, other, under=under)
        assert one.read_bytes() == other.read_bytes()
    with tarfile.open(tmp_path / "one14.tar.gz") as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert set(members) == {
        "opt", "opt/poncho", "opt/poncho/abc", "opt/poncho/abc/bin",
        "opt/poncho/abc/bin/run-in-env", "opt/poncho/abc/lib.py", "opt/poncho/abc/python3",
    }  # fmt: skip
    assert members["opt/poncho/abc/bin/run-in-env"].mode == 0o755
    assert members["opt/poncho/abc/python3"].linkname == "bin/run-in-env"
