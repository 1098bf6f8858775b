"""The fault-injection runner's quick sizes (``bench/chaos.py --quick``) in the test suite:
every scenario once, run as the runner runs it and held to the runner's own expectations and to
the issue's figures: no task lost, none run twice but by the framework's design, no duplicate
or orphan pod, no busy worker deleted by the operator (docs/reliability.md).

The KWOK scenarios share one control plane of the runner's own, started by the first of them
and torn down at the end (never the shared one); manager-restart runs on the shared cluster's
real node, in a namespace of its own. To keep the suite's time down each scenario runs for one
framework here, the two alternating in the runner's order; ``WQ_CHAOS_FRAMEWORKS=both`` runs
every scenario for both (``bench/chaos.py --quick`` does too)."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cctools.install import missing_cctools
from tests.harness import REPO, running_cluster

if str(REPO / "bench") not in sys.path:
    sys.path.insert(0, str(REPO / "bench"))

from faults.context import RunContext
from faults.scenarios import ALL, manager_restart
from faults.table import render
from workqueue_operator.api.common import Framework

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(480)]

WQ, VINE = Framework.WORK_QUEUE, Framework.TASKVINE
ONE_EACH: tuple[tuple[Any, Framework], ...] = tuple(zip(ALL, itertools.cycle((WQ, VINE))))
CASES = (
    [(module, framework) for module, _ in ONE_EACH for framework in Framework]
    if os.environ.get("WQ_CHAOS_FRAMEWORKS") == "both"
    else list(ONE_EACH)
)


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunContext]:
    """The runner's context: its own control plane (started on first use), torn down at the
    end."""
    problem = missing_cctools()
    if problem:
        pytest.fail(f"CCTools: {problem}")
    context = RunContext(tmp_path_factory.mktemp("chaos"))
    try:
        yield context
    finally:
        context.close()


@pytest.mark.parametrize(("scenario", "framework"), CASES, ids=[f"{m.NAME}-{f}" for m, f in CASES])
def test_quick_scenario(chaos: RunContext, scenario: Any, framework: Framework) -> None:
    if scenario is manager_restart and not manager_restart.node_ready(running_cluster()):
        pytest.skip("the real node is not Ready (e2e/node/up.sh says why)")
    row = scenario.run(chaos, framework, scenario.QUICK)
    table = render([row])
    print(table)
    assert not row.error, table
    assert row.submitted > 0 and row.finished == row.submitted, table
    assert row.lost == 0, table
    assert row.run_twice == row.by_design, table
    assert row.duplicate_pods == 0 and row.orphan_pods == 0, table
    assert row.busy_deleted == 0, table
    assert row.checks and row.ok, table
