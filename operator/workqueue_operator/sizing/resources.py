"""The three sized resources and an allocation of them (one task attempt's limits)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from workqueue_operator.values.samples import Sample


class Resource(StrEnum):
    """A resource that sizing allocates and the replay scores."""

    CORES = "cores"
    MEMORY = "memory"
    DISK = "disk"


RESOURCES: tuple[Resource, ...] = (Resource.CORES, Resource.MEMORY, Resource.DISK)


@dataclass(frozen=True, slots=True)
class Allocation:
    """Cores, memory (MB) and disk (MB): what a task attempt may use, or did use."""

    cores: float
    memory_mb: float
    disk_mb: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Allocation:
        """Build from values in ``RESOURCES`` order."""
        cores, memory_mb, disk_mb = values
        return cls(cores, memory_mb, disk_mb)

    @classmethod
    def used_by(cls, sample: Sample) -> Allocation:
        """What a finished task used (its peak cores, memory and disk)."""
        return cls(sample.cores, sample.memory_mb, sample.disk_mb)

    def values(self) -> tuple[float, float, float]:
        """The values in ``RESOURCES`` order."""
        return (self.cores, self.memory_mb, self.disk_mb)

    def get(self, resource: Resource) -> float:
        """The value of one resource."""
        return self.values()[RESOURCES.index(resource)]

    def replace(self, resource: Resource, value: float) -> Allocation:
        """A copy with one resource set to ``value``."""
        values = list(self.values())
        values[RESOURCES.index(resource)] = value
        return Allocation.of(values)

    def capped(self, machine: Allocation) -> Allocation:
        """Each resource limited to what the machine has."""
        return Allocation.of(
            min(a, m) for a, m in zip(self.values(), machine.values(), strict=True)
        )

    def at_least(self, other: Allocation) -> Allocation:
        """Each resource raised to at least ``other``'s value."""
        return Allocation.of(max(a, b) for a, b in zip(self.values(), other.values(), strict=True))

    def exceeded_by(self, use: Allocation) -> frozenset[Resource]:
        """The resources in which ``use`` is above this allocation."""
        return frozenset(
            r for r, u, a in zip(RESOURCES, use.values(), self.values(), strict=True) if u > a
        )


DEFAULT_MACHINE = Allocation(cores=16, memory_mb=64000, disk_mb=64000)
"""The machine of the bucketing papers' simulator: 16 cores, 64,000 MB memory and disk."""


def maximum(allocations: Iterable[Allocation]) -> Allocation:
    """Per-resource maximum of some allocations (all zero when there are none)."""
    best = (0.0, 0.0, 0.0)
    for allocation in allocations:
        best = (
            max(best[0], allocation.cores),
            max(best[1], allocation.memory_mb),
            max(best[2], allocation.disk_mb),
        )
    return Allocation.of(best)
