"""How soon an object whose passes change nothing is looked at again. Pure functions.

While anything moves, a full pass runs every poll interval. After each *quiet* pass in a row
(one that changed nothing: what counts as quiet is the kind's to say) the wait before the next
full pass doubles, up to ``QUIET_PASS_MAX_SECONDS`` and never past a deadline the kind keeps;
meanwhile a cheap *probe* every poll interval may start the pass sooner (the controllers'
``Probe``). A poll interval longer than the cap is never shortened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

QUIET_PASS_MAX_SECONDS = 30.0
"""The longest wait between two full passes of an object whose passes change nothing."""


@dataclass(frozen=True)
class Cadence:
    """When the next full pass runs at the latest, and how often a probe may start it sooner
    (None: no probe, the next pass comes after ``pass_after_seconds``)."""

    pass_after_seconds: float
    probe_every_seconds: float | None = None


def quiet_backoff(
    interval_seconds: float, quiet_passes: int, due_in_seconds: Iterable[float] = ()
) -> Cadence:
    """The next look after ``quiet_passes`` quiet passes in a row, polled every
    ``interval_seconds``, with deadlines ``due_in_seconds`` from now that a pass must not miss
    (those already past are ignored)."""
    if quiet_passes <= 0:
        return Cadence(interval_seconds)
    backoff = min(
        interval_seconds * 2.0 ** min(quiet_passes, 16),
        max(interval_seconds, QUIET_PASS_MAX_SECONDS),
    )
    upcoming = [due for due in due_in_seconds if due > 0]
    if upcoming:
        backoff = min(backoff, max(interval_seconds, min(upcoming)))
    if backoff <= interval_seconds:
        return Cadence(interval_seconds)
    return Cadence(backoff, probe_every_seconds=interval_seconds)


def next_probe_in(now: float, every_seconds: float) -> float:
    """Seconds from ``now`` (a monotonic clock shared by every object's loop) to the next probe,
    which runs at a multiple of ``every_seconds`` on that clock. Every quiet object probed at the
    same interval is then probed at the same instants: one wake-up of the event loop serves all
    of them instead of one each, and no probe comes later than one interval. A probe due less than
    1 % of the interval away waits for the next one (it would follow a pass that just looked)."""
    if every_seconds <= 0:
        return 0.0
    left = every_seconds - now % every_seconds
    return left + every_seconds if left < every_seconds * 0.01 else left
