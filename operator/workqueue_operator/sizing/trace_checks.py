"""Checks of a replay's inputs that turn silent nonsense into errors and warnings.

* A machine size must be a positive, finite number (``nan`` and ``inf`` parse as floats).
* A trace whose wall times are all 0 has no resource x time at all: every efficiency would be
  0/0, so it is an error.
* Tasks with wall time 0 weigh nothing, a resource nobody used scores 0 whatever is allocated,
  and a use above the machine is capped at it (the task is replayed as if it had fit): each is
  a warning that says how many tasks it concerns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from workqueue_operator.sizing.resources import RESOURCES, Allocation, Resource
from workqueue_operator.values.samples import Sample

UNITS = {Resource.CORES: "", Resource.MEMORY: " MB", Resource.DISK: " MB"}
OPTIONS = {
    Resource.CORES: "--machine-cores",
    Resource.MEMORY: "--machine-memory-mb",
    Resource.DISK: "--machine-disk-mb",
}


def machine_problems(machine: Allocation) -> list[str]:
    """Why a machine size is unusable (empty when it is fine)."""
    return [
        f"{OPTIONS[r]} must be a positive, finite number (got {value:g})"
        for r, value in zip(RESOURCES, machine.values(), strict=True)
        if not (math.isfinite(value) and value > 0)
    ]


def over_machine(samples: Sequence[Sample], machine: Allocation) -> list[str]:
    """A warning per resource that some task used more of than the machine has."""
    warnings = []
    for index, resource in enumerate(RESOURCES):
        limit = machine.values()[index]
        over = [s for s in samples if Allocation.used_by(s).values()[index] > limit]
        if over:
            first = over[0]
            unit = UNITS[resource]
            used = Allocation.used_by(first).values()[index]
            warnings.append(
                f"{len(over)} task(s) used more {resource.value} than the machine has (first: "
                f"task {first.task_id or '?'}, {used:g}{unit} > {limit:g}{unit}); their use is "
                f"capped at the machine, as if they had fit (see {OPTIONS[resource]})"
            )
    return warnings


def input_problems(samples: Sequence[Sample], machine: Allocation) -> tuple[list[str], list[str]]:
    """(errors, warnings) about a trace replayed on a machine."""
    if not any(s.wall_time_s > 0 for s in samples):
        error = (
            f"all {len(samples)} task(s) have wall time 0, so there is no resource x time to "
            "score: every efficiency would be 0/0"
        )
        return [error], []
    warnings = []
    instant = sum(1 for s in samples if s.wall_time_s <= 0)
    if instant:
        warnings.append(
            f"{instant} of {len(samples)} task(s) have wall time 0: they weigh nothing in the "
            "efficiencies (their failed attempts are still counted)"
        )
    for index, resource in enumerate(RESOURCES):
        if not any(Allocation.used_by(s).values()[index] * s.wall_time_s > 0 for s in samples):
            warnings.append(
                f"no task used any {resource.value} for any time: its efficiency is 0 for every "
                "strategy that allocates some (n/a for one that allocates none)"
            )
    return [], [*warnings, *over_machine(samples, machine)]
