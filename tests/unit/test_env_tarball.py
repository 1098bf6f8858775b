"""Packing an environment: without bytecode the bytes depend on the files, never on when they
were written; with bytecode the file times stay (a .pyc is checked against its source's)."""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path

from workqueue_operator.envs.tarball import pack

FNAME = 0x08  # gzip header flag: an original file name follows


def environment(root: Path, written_at: float, *, bytecode: bool = False) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "run-in-env").write_text('#!/bin/sh\nexec "$@"\n')
    (root / "bin" / "run-in-env").chmod(0o755)
    (root / "lib.py").write_text("x = 1\n")
    (root / "python3").symlink_to("bin/run-in-env")
    if bytecode:
        (root / "__pycache__").mkdir()
        (root / "__pycache__" / "lib.cpython-311.pyc").write_bytes(b"\x00" * 16)
    for path in [*sorted(root.rglob("*"), reverse=True), root]:
        os.utime(path, (written_at, written_at), follow_symlinks=False)
    return root


def test_one_environment_written_at_two_times_packs_to_the_same_bytes(tmp_path: Path) -> None:
    early = environment(tmp_path / "a" / "env", 1_000_000_000.25)
    late = environment(tmp_path / "b" / "env", 1_800_000_000.75)
    for under in ("", "opt/poncho/abc"):
        one, other = tmp_path / f"one{len(under)}.tar.gz", tmp_path / f"other{len(under)}.tar.gz"
        pack(early, one, under=under)
        pack(late, other, under=under)
        assert one.read_bytes() == other.read_bytes()
        header = one.read_bytes()[:10]
        assert header[4:8] == b"\x00\x00\x00\x00" and not header[3] & FNAME
    with tarfile.open(tmp_path / "one14.tar.gz") as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert set(members) == {
        "opt", "opt/poncho", "opt/poncho/abc", "opt/poncho/abc/bin",
        "opt/poncho/abc/bin/run-in-env", "opt/poncho/abc/lib.py", "opt/poncho/abc/python3",
    }  # fmt: skip
    assert {m.mtime for m in members.values()} == {0}
    assert members["opt/poncho/abc/bin/run-in-env"].mode == 0o755
    assert members["opt/poncho/abc/python3"].linkname == "bin/run-in-env"
    with gzip.open(tmp_path / "one0.tar.gz") as raw:
        raw.read()  # a whole gzip stream


def test_an_environment_with_bytecode_keeps_its_file_times_in_whole_seconds(
    tmp_path: Path,
) -> None:
    env = environment(tmp_path / "env", 1_000_000_000.75, bytecode=True)
    pack(env, tmp_path / "env.tar.gz")
    with tarfile.open(tmp_path / "env.tar.gz") as archive:
        times = {m.name: m.mtime for m in archive.getmembers()}
        assert all(not m.pax_headers for m in archive.getmembers())
    assert times["lib.py"] == 1_000_000_000
    assert times["__pycache__/lib.cpython-311.pyc"] == 1_000_000_000
