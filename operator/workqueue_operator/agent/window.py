"""The most recent samples of each category, bounded in samples and in categories."""

from __future__ import annotations

import logging
from collections import deque

from workqueue_operator.values.samples import Sample

log = logging.getLogger(__name__)


class SampleWindow:
    def __init__(self, size: int, max_categories: int = 1000) -> None:
        self.size = size
        self.max_categories = max_categories
        self._samples: dict[str, deque[Sample]] = {}
        self.dropped = 0  # samples of categories beyond max_categories

    def add(self, sample: Sample) -> bool:
        """Keep ``sample``; False when it was dropped because there are too many categories."""
        window = self._samples.get(sample.category)
        if window is None:
            if len(self._samples) >= self.max_categories:
                self.dropped += 1
                if self.dropped == 1:
                    log.warning(
                        "too many categories, dropping samples of new ones",
                        extra={"max_categories": self.max_categories},
                    )
                return False
            window = self._samples[sample.category] = deque(maxlen=self.size)
        window.append(sample)
        return True

    def categories(self) -> list[str]:
        return sorted(self._samples)

    def samples(self, category: str, since: float | None = None) -> list[Sample]:
        """The window of ``category``, oldest first (those after ``since`` if given)."""
        window = self._samples.get(category, ())
        if since is None:
            return list(window)
        return [s for s in window if s.timestamp > since]

    def count(self, category: str) -> int:
        return len(self._samples.get(category, ()))
