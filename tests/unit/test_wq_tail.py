"""LineTailer: follows appends, partial lines, truncation, rotation; bounded; never raises."""

from __future__ import annotations

from pathlib import Path

import pytest

from workqueue_operator.wq.tail import LineTailer


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


@pytest.mark.parametrize(
    ("existing", "from_end"),
    [(None, False), (b"old\n", True)],
    ids=["missing-file-yields-nothing-until-it-appears", "from-end-skips-existing-content"],
)
def test_only_what_is_appended_after_the_start_is_read(
    tmp_path: Path, existing: bytes | None, from_end: bool
) -> None:
    log = tmp_path / "tx.log"
    if existing is not None:
        append(log, existing)
    tailer = LineTailer(log, from_end=from_end)
    assert tailer.poll() == []
    append(log, b"new\n")
    assert tailer.poll() == ["new"]


def test_appends_are_read_once_and_partial_lines_wait(tmp_path: Path) -> None:
    log = tmp_path / "tx.log"
    append(log, b"a\nb\npart")
    tailer = LineTailer(log)
    assert tailer.poll() == ["a", "b"]
    assert tailer.poll() == []
    append(log, b"ial\r\nc\n")
    assert tailer.poll() == ["partial", "c"]
    assert tailer.offset == log.stat().st_size
    assert tailer.stats.lines == 4


def test_truncation_restarts_from_the_beginning(tmp_path: Path) -> None:
    log = tmp_path / "tx.log"
    append(log, b"first line\nsecond line\n")
    tailer = LineTailer(log)
    assert len(tailer.poll()) == 2
    log.write_bytes(b"x\n")  # copytruncate, then a short write
    assert tailer.poll() == ["x"]
    assert tailer.stats.truncations == 1


def test_rotation_drains_the_old_file_then_reads_the_new(tmp_path: Path) -> None:
    log = tmp_path / "tx.log"
    append(log, b"1\n2\n")
    tailer = LineTailer(log)
    assert tailer.poll() == ["1", "2"]
    append(log, b"3\nlast-without-newline")
    log.rename(tmp_path / "tx.log.1")
    append(log, b"new\n")
    assert tailer.poll() == ["3", "last-without-newline", "new"]
    assert tailer.stats.rotations == 1


def test_rotation_of_a_long_file_is_drained_over_several_polls(tmp_path: Path) -> None:
    log = tmp_path / "tx.log"
    log.touch()
    tailer = LineTailer(log, chunk_bytes=8)
    assert tailer.poll() == []  # the old file is open
    append(log, b"aaa\nbbb\nccc\nddd\n")
    log.rename(tmp_path / "tx.log.1")
    append(log, b"new\n")
    seen: list[str] = []
    for _ in range(10):
        seen += tailer.poll()
    assert seen == ["aaa", "bbb", "ccc", "ddd", "new"]


def test_reads_are_bounded_per_poll(tmp_path: Path) -> None:
    log = tmp_path / "tx.log"
    append(log, b"".join(b"line %d\n" % i for i in range(1000)))
    tailer = LineTailer(log, chunk_bytes=100)
    first = tailer.poll()
    assert 0 < len(first) < 20
    total = len(first)
    while lines := tailer.poll():
        total += len(lines)
    assert total == 1000


def test_oversized_lines_are_dropped_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "tx.log"
    tailer = LineTailer(log, chunk_bytes=16, max_line_bytes=10)
    append(log, b"ok\n" + b"x" * 50 + b"\nfine\n")
    lines: list[str] = []
    for _ in range(10):
        lines += tailer.poll()
    assert lines == ["ok", "fine"]
    assert tailer.stats.oversized_lines == 1


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    log = tmp_path / "tx.log"
    append(log, b"\xff\xfe bad\n")
    assert LineTailer(log).poll() == ["\ufffd\ufffd bad"]
