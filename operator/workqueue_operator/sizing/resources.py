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
        """Each resource limited to what the machine has (this one when it fits)."""
        if not (
            machine.cores < self.cores
            or machine.memory_mb < self.memory_mb
            or machine.disk_mb < self.disk_mb
        ):
            return self  # what min(value, machine's) gives in every resource
        return Allocation(
            min(self.cores, machine.cores),
            min(self.memory_mb, machine.memory_mb),
            min(self.disk_mb, machine.disk_mb),
        )

    def at_least(self, other: Allocation) -> Allocation:
        """Each resource raised to at least ``other``'s value."""
        return Allocation(
            max(self.cores, other.cores),
            max(self.memory_mb, other.memory_mb),
            max(self.disk_mb, other.disk_mb),
        )

    def exceeded_by(self, use: Allocation) -> frozenset[Resource]:
        """The resources in which ``use`` is above this allocation."""
        cores = use.cores > self.cores
        memory = use.memory_mb > self.memory_mb
        disk = use.disk_mb > self.disk_mb
        return _EXCEEDED[cores + 2 * memory + 4 * disk]


_EXCEEDED: tuple[frozenset[Resource], ...] = tuple(
    frozenset(r for bit, r in enumerate(RESOURCES) if index >> bit & 1) for index in range(8)
)
"""Every set of resources, indexed by the bits of cores (1), memory (2) and disk (4)."""


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
