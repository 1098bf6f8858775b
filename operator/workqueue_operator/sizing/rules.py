"""The rules a strategy is scored under: what it learns from, and who gets the whole machine.

Every learning strategy (ours, the re-implementations of the published ones, CCTools' own code)
runs under the same rules, so that none gets information another lacks:

* ``PAPERS`` (the bucketing papers' simulator): one learner for all tasks, categories ignored;
  the first 10 tasks of the trace run on the whole machine (cold start).
* ``OPERATOR`` (what a WorkerPool does): one learner per category, fed only that category's
  tasks; until a category has a finished task its tasks run on the whole machine, which stands
  for the pool's declared worker size.

The cold start is the rules', not the strategy's: the learner is built with ``cold_start`` set
to the rules' count, so a strategy's own cold start ends when the rules' does. Baselines that
learn nothing (the whole machine, the declared maximum) are not wrapped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from workqueue_operator.sizing.strategies.base import (
    CategoryPolicy,
    FixedPolicy,
    Strategy,
    StrategyConfig,
    StrategyFactory,
)
from workqueue_operator.values.samples import Sample, TaskResult

POOLED = "pooled"
"""The category every task gets when categories are pooled."""


@dataclass(frozen=True, slots=True)
class Rules:
    """How strategies are run: per category or pooled, and the cold start on the machine."""

    name: str
    per_category: bool
    cold_start: int
    """Finished tasks (of the pool, or of the category) before a task gets a learnt size."""
    title: str = ""

    def learner_of(self, category: str) -> str:
        """The learner a category's tasks go to: the category's own, or the pooled one."""
        return category if self.per_category else POOLED


PAPERS = Rules(
    "papers",
    per_category=False,
    cold_start=10,
    title="papers' rules: categories pooled, the first 10 tasks on the whole machine",
)
OPERATOR = Rules(
    "operator",
    per_category=True,
    cold_start=1,
    title="operator's rules: per category, the whole machine until a category has a finished task",
)
RULE_SETS: tuple[Rules, ...] = (PAPERS, OPERATOR)


@dataclass
class RuledStrategy:
    """A strategy run under some rules (see the module docstring)."""

    factory: StrategyFactory
    config: StrategyConfig
    rules: Rules
    _learners: dict[str, Strategy] = field(default_factory=dict, init=False)
    _finished: dict[str, int] = field(default_factory=dict, init=False)
    _cold: FixedPolicy = field(init=False)

    def __post_init__(self) -> None:
        self._cold = FixedPolicy(self.config.machine, self.config.machine)

    def learner(self, key: str) -> Strategy:
        """The learner of a key, built on first use with the rules' cold start."""
        learner = self._learners.get(key)
        if learner is None:
            config = replace(self.config, cold_start=self.rules.cold_start)
            learner = self._learners[key] = self.factory(config)
        return learner

    def finished(self, category: str) -> int:
        """Finished tasks of the learner a category's tasks go to."""
        return self._finished.get(self.rules.learner_of(category), 0)

    def cold(self, category: str) -> bool:
        """Whether a category's tasks are still in the rules' cold start."""
        return self.finished(category) < self.rules.cold_start

    def policy(self, category: str) -> CategoryPolicy:
        """The whole machine during the cold start, else the learner's policy."""
        if self.cold(category):
            return self._cold
        key = self.rules.learner_of(category)
        return self.learner(key).policy(key)

    def observe(self, sample: Sample) -> None:
        """Tell the sample's learner (under the learner's category name)."""
        key = self.rules.learner_of(sample.category)
        if sample.category != key:
            sample = sample.in_category(key)
        self.learner(key).observe(sample)
        if sample.result is TaskResult.SUCCESS:
            self._finished[key] = self._finished.get(key, 0) + 1


def under(rules: Rules, factory: StrategyFactory) -> StrategyFactory:
    """``factory`` run under ``rules``."""

    def build(config: StrategyConfig) -> RuledStrategy:
        return RuledStrategy(factory, config, rules)

    return build
