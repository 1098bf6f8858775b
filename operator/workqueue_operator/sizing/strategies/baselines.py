"""Baselines that learn nothing: the whole machine, and the user's declared maximum."""

from __future__ import annotations

from dataclasses import dataclass

from workqueue_operator.sizing.strategies.base import FixedPolicy, StrategyConfig
from workqueue_operator.values.samples import Sample


@dataclass(frozen=True, slots=True)
class FixedStrategy:
    """Every task of every category gets the same allocation; a retry gets the machine."""

    policy_: FixedPolicy

    def policy(self, category: str) -> FixedPolicy:
        """The one fixed policy."""
        return self.policy_

    def observe(self, sample: Sample) -> None:
        """Nothing to learn."""


def whole_machine(config: StrategyConfig) -> FixedStrategy:
    """One task per machine: never fails, wastes whatever the task does not use."""
    return FixedStrategy(FixedPolicy(config.machine, config.machine))


def declared_max(config: StrategyConfig) -> FixedStrategy:
    """The user's declared per-task maximum (capped at the machine), retried on the machine.

    The replay declares the maximum over the whole trace: an oracle of a perfect declaration,
    the best a single fixed size can do without failures.
    """
    declared = config.declared if config.declared is not None else config.machine
    return FixedStrategy(FixedPolicy(declared.capped(config.machine), config.machine))
