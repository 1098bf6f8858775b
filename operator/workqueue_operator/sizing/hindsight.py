"""The best fixed ladder in hindsight: a reference that knows each learner's distribution.

:func:`hindsight` builds, from the whole trace, the ladders ``adaptive-ladder`` would compute if
it had seen every task of a learner's share of the trace beforehand: per category, and for all
tasks pooled (the papers' rules' one learner), the cheapest ladders
(:func:`workqueue_operator.sizing.strategies.adaptive.learn`) of every task's use, weighted by
wall time alone. Nothing is left to learn, so there is no recency and no record model. Run under
some rules, each learner plays its fixed ladder once the rules' cold start is over.

It knows the distribution of its tasks' use, never one task's use. For tasks drawn independently
from one distribution, no strategy that does not know each task's use beforehand does better in
expectation than the cheapest ladder of that distribution, so the hindsight ladder measures how
much a learner loses by learning, and caps what any ladder could gain. On a trace whose use
drifts, a strategy that follows the drift can beat it. It is a reference for the docs and bench,
like ``declared-max``, not a strategy a pool could run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from workqueue_operator.sizing.rules import Rules, under
from workqueue_operator.sizing.strategies.adaptive import AdaptivePolicy, AdaptiveSettings, learn
from workqueue_operator.sizing.strategies.base import StrategyConfig, StrategyFactory
from workqueue_operator.sizing.strategies.history import History
from workqueue_operator.values.samples import Sample

NOTHING_ABOVE: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]] = ((), (), ())
"""No ladder above the top rung: the top rung is the largest use of the learner's tasks."""


def hindsight_settings(memory_coupling: float = 0.0) -> AdaptiveSettings:
    """``adaptive-ladder``'s settings with all tasks weighing alike and no record model."""
    return AdaptiveSettings(
        half_life=0.0, records=False, memory_coupling=memory_coupling, one_standard_error=False
    )


def groups(samples: Sequence[Sample], rules: Rules) -> dict[str, list[Sample]]:
    """The tasks each learner sees under ``rules``: each category's, or all of them pooled
    (keyed by :meth:`Rules.learner_of`, as ``RuledStrategy`` keys its learners)."""
    grouped: dict[str, list[Sample]] = {}
    for sample in samples:
        grouped.setdefault(rules.learner_of(sample.category), []).append(sample)
    return grouped


@dataclass
class HindsightLadder:
    """Fixed ladders known in advance, one per learner key (a category, or ``POOLED``)."""

    config: StrategyConfig
    tasks: Mapping[str, Sequence[Sample]]
    settings: AdaptiveSettings
    _policies: dict[str, AdaptivePolicy] = field(default_factory=dict, init=False)

    def policy(self, category: str) -> AdaptivePolicy:
        """The cheapest ladders of all of the key's tasks (computed on first use)."""
        policy = self._policies.get(category)
        if policy is None:
            history = History(self.config.machine, self.tasks[category])
            rungs, _ = learn(history, self.config.max_buckets, self.settings)
            policy = AdaptivePolicy(rungs, NOTHING_ABOVE, self.config.machine, self.settings.growth)
            self._policies[category] = policy
        return policy

    def observe(self, sample: Sample) -> None:
        """Nothing to learn: the ladders were known from the start."""


def hindsight(
    samples: Sequence[Sample], rules: Rules, memory_coupling: float = 0.0
) -> StrategyFactory:
    """The hindsight ladders of ``samples`` under ``rules`` (each learner's ladders are those of
    all the tasks the rules give it; its tasks get them once the rules' cold start is over)."""
    tasks = groups(samples, rules)
    settings = hindsight_settings(memory_coupling)

    def build(config: StrategyConfig) -> HindsightLadder:
        return HindsightLadder(config, tasks, settings)

    return under(rules, build)
