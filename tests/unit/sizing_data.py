"""Where the shared sizing data are: ``WQ_SHARED_DIR``, else ``../shared`` beside the clone."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("WQ_SHARED_DIR") or REPO.parent / "shared")
TRACES = SHARED / "traces"
