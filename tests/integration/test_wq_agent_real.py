"""The telemetry agent beside a real monitored manager running tasks of known memory."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest

from tests.cctools.manager import CategorySpec, ManagerFactory
from tests.cctools.tasks import hold_memory
from tests.cctools.workers import LOCALHOST, StartWorker
from tests.unit.wq_helpers import metric_values
from workqueue_operator.agent.config import AgentConfig
from workqueue_operator.agent.server import start_agent
from workqueue_operator.api.common import Framework
from workqueue_operator.telemetry.client import fetch_samples
from workqueue_operator.values.samples import Sample, TaskResult
from workqueue_operator.wq.measurements import BYTES_PER_MB

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CATEGORIES = {
    "alpha": CategorySpec(cores=1, memory_mb=400, disk_mb=100),
    "beta": CategorySpec(cores=1, memory_mb=500, disk_mb=100),
}
HOLD_S = 6  # longer than resource_monitor's 5 s sampling interval
# (category, MiB allocated, seconds held)
MEASURED = [("alpha", 150, HOLD_S), ("alpha", 250, HOLD_S), ("beta", 350, HOLD_S)]
SHORT = ("beta", 200, 1)  # under one sampling interval: flagged under_measured
EXHAUSTING = ("beta", 700, HOLD_S)  # over beta's 500 MB: stopped, RESOURCE_EXHAUSTION


@pytest.mark.parametrize("framework", list(Framework))
def test_agent_metrics_match_real_tasks(
    framework: Framework,
    manager_factory: ManagerFactory,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    """Work Queue writes the transactions log the test names; TaskVine writes its own under
    its run-info directory (``most-recent/vine-logs/transactions``), which the agent follows."""
    manager = manager_factory(
        framework=framework,
        monitoring=True,
        monitor_dir=tmp_path / "monitor",
        categories=CATEGORIES,
    )
    log = manager.transactions_log
    assert log is not None
    # CCTools 7.17 gives a task the same share of every resource of its worker (the largest
    # share it declares): 1 of 4 cores and 500 of 2000 MB are both a quarter, so a beta task's
    # memory limit is its declared 500 MB (with 2 cores it would be 1000 MB).
    start_worker(LOCALHOST, manager.port, framework=framework, cores=4, memory=2000, disk=2000)
    submitted: dict[str, tuple[str, int, float]] = {}
    for category, mib, seconds in [*MEASURED, SHORT, EXHAUSTING]:
        task_id = manager.submit(hold_memory(mib, seconds), category=category)
        submitted[str(task_id)] = (category, mib, seconds)

    config = AgentConfig(
        transactions_log=log,
        manager=f"{LOCALHOST}:{manager.port}",
        framework=framework,
        listen_host=LOCALHOST,
        listen_port=0,
        tail_interval_s=0.2,
        poll_interval_s=0.5,
    )

    async def scenario() -> None:
        running = await start_agent(config)
        try:
            finished = await asyncio.to_thread(manager.wait_for, len(submitted), 120)
            results = {str(t.task_id): t.result_str.upper().replace(" ", "_") for t in finished}
            exhausted_id = next(k for k, v in submitted.items() if v == EXHAUSTING)
            assert results.pop(exhausted_id) == "RESOURCE_EXHAUSTION"
            assert set(results.values()) == {"SUCCESS"}

            telemetry, snapshot = running.agent.telemetry, running.agent.snapshot
            assert snapshot is not None
            for _ in range(100):
                queue = snapshot.queue
                if telemetry.observations == len(submitted) and queue and queue.tasks_done == 5:
                    break
                await asyncio.sleep(0.2)
            base = f"http://{LOCALHOST}:{running.port}"
            async with aiohttp.ClientSession() as session, session.get(base + "/metrics") as r:
                text = await r.text()
            windows = await fetch_samples(base)
        finally:
            await running.stop()
        check_metrics(text, manager.port)
        check_samples(windows, submitted)
        promtool = shutil.which("promtool")
        if promtool is None:
            pytest.skip("promtool not installed (apt-get install prometheus)")
        result = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr

    asyncio.run(asyncio.wait_for(scenario(), 200))


def check_metrics(text: str, port: int) -> None:
    values = metric_values(text)
    # Exactly the finished attempts, each measured once (RETRIEVED, not again at DONE).
    assert values['workqueue_task_memory_bytes_count{category="alpha"}'] == 2
    assert values['workqueue_task_memory_bytes_count{category="beta"}'] == 3
    assert values['workqueue_task_wall_time_seconds_count{category="beta"}'] == 3
    assert values['workqueue_task_attempts_total{category="alpha",result="success"}'] == 2
    assert values['workqueue_task_attempts_total{category="beta",result="success"}'] == 2
    exhausted = 'workqueue_task_attempts_total{category="beta",result="resource_exhaustion"}'
    assert values[exhausted] == 1
    under = 'workqueue_task_samples_total{category="beta",measurement="under_measured"}'
    assert values[under] == 1
    complete = 'workqueue_task_samples_total{category="alpha",measurement="complete"}'
    assert values[complete] == 2
    # The two alpha tasks sit in the 256 MiB and 512 MiB buckets.
    assert values['workqueue_task_memory_bytes_bucket{category="alpha",le="1.34217728e+08"}'] == 0
    assert values['workqueue_task_memory_bytes_bucket{category="alpha",le="2.68435456e+08"}'] == 1
    assert values['workqueue_task_memory_bytes_bucket{category="alpha",le="5.36870912e+08"}'] == 2
    manager = f'manager="{LOCALHOST}:{port}"'
    assert values[f"workqueue_manager_up{{{manager}}}"] == 1
    assert values[f"workqueue_manager_tasks_done_total{{{manager}}}"] == 5
    assert values[f"workqueue_manager_tasks_failed_total{{{manager}}}"] == 1
    assert values[f'workqueue_manager_workers{{{manager},state="connected"}}'] == 1
    declared = f'workqueue_category_max_memory_bytes{{category="beta",kind="declared",{manager}}}'
    assert values[declared] == 500 * BYTES_PER_MB


def check_samples(
    windows: dict[str, list[Sample]], submitted: dict[str, tuple[str, int, float]]
) -> None:
    by_id = {s.task_id: s for samples in windows.values() for s in samples}
    assert set(by_id) == set(submitted)
    for task_id, (category, mib, seconds) in submitted.items():
        sample = by_id[task_id]
        assert sample.category == category
        if (category, mib, seconds) in MEASURED:
            # Measured peak within 15% of what the task allocated (plus the interpreter).
            assert sample.memory_mb == pytest.approx(mib, rel=0.15), (task_id, sample)
            assert sample.wall_time_s >= seconds
            assert sample.result is TaskResult.SUCCESS
        elif (category, mib, seconds) == EXHAUSTING:
            assert sample.result is TaskResult.RESOURCE_EXHAUSTION
            assert sample.memory_mb > 500
        else:
            assert sample.wall_time_s < 5  # flagged under_measured; the peak is a lower bound
