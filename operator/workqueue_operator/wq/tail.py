"""Follow a growing text file line by line without re-reading it.

``LineTailer.poll()`` returns the complete lines appended since the last call. It keeps its
offset; holds back a partial last line until its newline arrives; starts over when the file
shrinks (truncation, ``copytruncate``); and on rotation (the path now names another file)
finishes the old file before reading the new one from its start. Memory is bounded: at most
``chunk_bytes`` are read per call and a line longer than ``max_line_bytes`` is dropped and
counted. It never raises for I/O trouble: a missing file simply yields nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)


@dataclass
class TailStats:
    lines: int = 0
    bytes_read: int = 0
    oversized_lines: int = 0
    truncations: int = 0
    rotations: int = 0
    open_errors: int = 0


class LineTailer:
    def __init__(
        self,
        path: Path,
        *,
        from_end: bool = False,
        chunk_bytes: int = 1 << 20,
        max_line_bytes: int = 1 << 20,
    ) -> None:
        self.path = path
        self.stats = TailStats()
        self._from_end = from_end
        self._chunk = chunk_bytes
        self._max_line = max_line_bytes
        self._file: BinaryIO | None = None
        self._identity: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        self._skipping = False  # inside an oversized line, dropping bytes until its newline

    @property
    def offset(self) -> int:
        """Bytes of the current file consumed (complete lines plus the held-back partial)."""
        return self._offset

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._identity = None

    def poll(self) -> list[str]:
        """Complete lines appended since the last call (without their newlines)."""
        try:
            stat = self.path.stat()
        except OSError:
            stat = None
        lines: list[str] = []
        if self._file is not None and stat is not None:
            if (stat.st_dev, stat.st_ino) != self._identity:
                # Rotated: drain what the old file still holds (over several calls if it is
                # long), its last line included, before turning to the new one.
                lines, at_end = self._read(final=True)
                if not at_end:
                    return lines
                self.close()
                self.stats.rotations += 1
            elif stat.st_size < self._offset:
                log.info("file truncated, reading from the start", extra={"path": str(self.path)})
                self.stats.truncations += 1
                self._reset(0)
        if self._file is None and (stat is None or not self._open()):
            return lines
        return lines + self._read(final=False)[0]

    def _open(self) -> bool:
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            self.stats.open_errors += 1
            log.warning("cannot open file", extra={"path": str(self.path), "error": str(exc)})
            return False
        stat = os.fstat(handle.fileno())
        self._file = handle
        self._identity = (stat.st_dev, stat.st_ino)
        start = stat.st_size if self._from_end and self.stats.rotations == 0 else 0
        self._from_end = False  # only the first file is joined at its end
        self._reset(start)
        return True

    def _reset(self, offset: int) -> None:
        self._offset = offset
        self._partial = b""
        self._skipping = False

    def _read(self, *, final: bool) -> tuple[list[str], bool]:
        """Lines from one chunk and whether the end of the file was reached. With ``final``
        (the file will not grow any more) a partial last line at the end counts as a line."""
        handle = self._file
        if handle is None:
            return [], True
        try:
            handle.seek(self._offset)
            data = handle.read(self._chunk)
        except OSError as exc:
            log.warning("cannot read file", extra={"path": str(self.path), "error": str(exc)})
            return [], True
        at_end = len(data) < self._chunk
        self._offset += len(data)
        self.stats.bytes_read += len(data)
        lines = self._split(data)
        if final and at_end and self._partial and not self._skipping:
            lines.append(self._partial.decode("utf-8", "replace"))
            self._partial = b""
        self.stats.lines += len(lines)
        return lines, at_end

    def _split(self, data: bytes) -> list[str]:
        pieces = data.split(b"\n")
        lines: list[str] = []
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            if self._skipping:
                if not last:
                    self._skipping = False  # the oversized line ended here
                continue
            if last:
                self._partial += piece
                if len(self._partial) > self._max_line:
                    self._drop_oversized()
                continue
            line = self._partial + piece
            self._partial = b""
            if len(line) > self._max_line:
                self.stats.oversized_lines += 1
                continue
            lines.append(line.decode("utf-8", "replace").rstrip("\r"))
        return lines

    def _drop_oversized(self) -> None:
        self.stats.oversized_lines += 1
        self._partial = b""
        self._skipping = True
