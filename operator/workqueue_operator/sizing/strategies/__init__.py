"""Sizing strategies, one module per family, and the registry of their names."""

from __future__ import annotations

from workqueue_operator.sizing.strategies.adaptive import adaptive_ladder
from workqueue_operator.sizing.strategies.base import (
    CategoryPolicy,
    Strategy,
    StrategyConfig,
    StrategyFactory,
)
from workqueue_operator.sizing.strategies.baselines import declared_max, whole_machine
from workqueue_operator.sizing.strategies.exhaustive import exhaustive_bucketing
from workqueue_operator.sizing.strategies.first_allocation import (
    max_throughput_strategy,
    min_waste_strategy,
)
from workqueue_operator.sizing.strategies.greedy import greedy_bucketing
from workqueue_operator.sizing.strategies.kmeans import kmeans_bucketing

OWN_STRATEGY = "adaptive-ladder"

STRATEGIES: dict[str, StrategyFactory] = {
    "whole-machine": whole_machine,
    "declared-max": declared_max,
    "min-waste": min_waste_strategy,
    "max-throughput": max_throughput_strategy,
    "greedy-bucketing": greedy_bucketing,
    "exhaustive-bucketing": exhaustive_bucketing,
    "kmeans-bucketing": kmeans_bucketing,
    OWN_STRATEGY: adaptive_ladder,
}
"""Strategy name -> factory taking a :class:`StrategyConfig`, baselines first."""

__all__ = [
    "OWN_STRATEGY",
    "STRATEGIES",
    "CategoryPolicy",
    "Strategy",
    "StrategyConfig",
    "StrategyFactory",
]
