"""Data of the sizing tests: where the shared traces are (``WQ_SHARED_DIR``, else ``../shared``
beside the clone), and the float arrays the tests write by hand."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("WQ_SHARED_DIR") or REPO.parent / "shared")
TRACES = SHARED / "traces"


def arr(*values: float) -> np.ndarray:
    """The values as a float64 array, the type the strategies take."""
    return np.asarray(values, dtype=np.float64)
