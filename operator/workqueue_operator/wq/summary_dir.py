"""Follow a directory of resource_monitor output for new task summaries.

``*.summaries`` files (Work Queue's monitor directory: one object per line, appended) are
tailed; ``*.summary`` files (one object, written once by ``resource_monitor -O``) are read
once when they have not changed for ``settle_s`` seconds. Memory is bounded by
``max_files`` tracked files and ``max_lines_per_poll`` lines read per file and poll; files
that disappear are forgotten.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from workqueue_operator.values.samples import Sample
from workqueue_operator.wq.rmsummary import DEFAULT_CATEGORY, SummaryReader
from workqueue_operator.wq.tail import LineTailer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Seen:
    inode: int
    size: int
    mtime_ns: int


class SummaryDirectory:
    def __init__(
        self,
        directory: Path,
        *,
        default_category: str = DEFAULT_CATEGORY,
        settle_s: float = 1.0,
        max_files: int = 10_000,
        max_lines_per_poll: int = 10_000,
    ) -> None:
        self.directory = directory
        self.reader = SummaryReader(default_category)
        self._settle_s = settle_s
        self._max_files = max_files
        self._max_lines = max_lines_per_poll
        self._tailers: dict[Path, LineTailer] = {}
        self._done: dict[Path, _Seen] = {}
        self.files_dropped = 0

    def poll(self) -> list[Sample]:
        """Samples that appeared since the last call."""
        try:
            entries = sorted(self.directory.iterdir())
        except OSError as exc:
            log.warning(
                "cannot list summaries directory",
                extra={"path": str(self.directory), "error": str(exc)},
            )
            return []
        present = set(entries)
        self._forget(present)
        samples: list[Sample] = []
        now = time.time()
        for path in entries:
            if path.suffix == ".summaries":
                samples += self._tail(path)
            elif path.suffix == ".summary":
                samples += self._read_once(path, now)
        return samples

    def _forget(self, present: set[Path]) -> None:
        for path in [p for p in self._tailers if p not in present]:
            self._tailers.pop(path).close()
        for path in [p for p in self._done if p not in present]:
            del self._done[path]

    def _room(self) -> bool:
        if len(self._tailers) + len(self._done) < self._max_files:
            return True
        self.files_dropped += 1
        return False

    def _tail(self, path: Path) -> list[Sample]:
        tailer = self._tailers.get(path)
        if tailer is None:
            if not self._room():
                return []
            tailer = self._tailers[path] = LineTailer(path)
        samples: list[Sample] = []
        budget = self._max_lines  # the rest waits for the next poll
        while budget > 0 and (lines := tailer.poll()):
            budget -= len(lines)
            for line in lines:
                if line.strip():
                    samples += self.reader.read_text(line)
        return samples

    def _read_once(self, path: Path, now: float) -> list[Sample]:
        try:
            stat = path.stat()
        except OSError:
            return []
        seen = _Seen(stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if self._done.get(path) == seen or now - stat.st_mtime < self._settle_s:
            return []
        if path not in self._done and not self._room():
            return []
        self._done[path] = seen
        return self.reader.read_file(path)
