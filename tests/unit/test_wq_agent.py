"""The telemetry agent on the real Coffea log and a fake manager: metrics, samples, health."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.unit.wq_helpers import (
    COFFEA_LOG,
    DATA,
    LOCAL_LOG,
    answer_canned,
    fake_manager,
    metric_values,
)
from workqueue_operator.agent.config import AgentConfig, parse_listen
from workqueue_operator.agent.server import RunningAgent, start_agent
from workqueue_operator.commands import agent as agent_command
from workqueue_operator.telemetry.client import fetch_samples
from workqueue_operator.wq.transactions import TransactionsReader


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def get_text(port: int, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as r,
    ):
        return r.status, await r.text()


def key(name: str, **labels: str) -> str:
    """The exposition key of a series (prometheus_client writes labels sorted by name)."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def with_agent(config: AgentConfig, body: Callable[[RunningAgent], Awaitable[None]]) -> None:
    async def scenario() -> None:
        running = await start_agent(config)
        try:
            await body(running)
        finally:
            await running.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_coffea_log_through_metrics_and_samples(tmp_path: Path) -> None:
    if not COFFEA_LOG.exists():
        pytest.skip("coffea log not present")
    config = AgentConfig(
        transactions_log=COFFEA_LOG,
        listen_host="127.0.0.1",
        listen_port=0,
        window=100,
        tail_interval_s=0.05,
    )

    async def body(running: RunningAgent) -> None:
        await eventually(lambda: running.agent.telemetry.observations == 1884)
        status, text = await get_text(running.port, "/metrics")
        assert status == 200
        values = metric_values(text)
        for category, count in (
            ("preprocessing", 136),
            ("processing", 1572),
            ("accumulating", 176),
        ):
            assert values[key("workqueue_task_memory_bytes_count", category=category)] == count
            assert values[key("workqueue_task_wall_time_seconds_count", category=category)] == count
            attempts = key("workqueue_task_attempts_total", category=category, result="success")
            assert values[attempts] == count
        under = sum(
            value
            for name, value in values.items()
            if name.startswith("workqueue_task_samples_total{") and "under_measured" in name
        )
        assert under == 203
        records = "workqueue_telemetry_records_total"
        assert values[key(records, source="transactions", outcome="malformed")] == 0
        assert values[key(records, source="transactions", outcome="task_record")] == 9420

        promtool = shutil.which("promtool")
        if promtool:
            check = subprocess.run(
                [promtool, "check", "metrics"],
                input=text,
                capture_output=True,
                text=True,
                check=False,
            )
            assert check.returncode == 0, check.stdout + check.stderr

        base = f"http://127.0.0.1:{running.port}"
        windows = await fetch_samples(base)
        assert {k: len(v) for k, v in windows.items()} == {
            "accumulating": 100,
            "preprocessing": 100,
            "processing": 100,
        }
        reader = TransactionsReader()
        expected = [
            o.sample for o in reader.feed_all(COFFEA_LOG.read_text().splitlines()) if o.sample
        ]
        processing = [s for s in expected if s.category == "processing"][-100:]
        assert windows["processing"] == processing  # the newest 100, in order, lossless

        since = await fetch_samples(base, category="processing", since=processing[-3].timestamp)
        assert since == {"processing": processing[-2:]}
        newest = processing[-1].timestamp
        assert await fetch_samples(base, category="processing", since=newest) == {"processing": []}
        assert (await fetch_samples(base, category="nope")) == {"nope": []}
        status, text = await get_text(running.port, "/v1/samples?category=processing&limit=2")
        assert status == 200 and text.count('"task_id"') == 2
        status, _ = await get_text(running.port, "/v1/samples?since=yesterday")
        assert status == 400
        status, text = await get_text(running.port, "/healthz")
        assert status == 200 and '"ok"' in text

    with_agent(config, body)


def test_growing_log_and_manager_figures(tmp_path: Path) -> None:
    log = tmp_path / "tx.log"
    lines = LOCAL_LOG.read_text().splitlines(keepends=True)
    # Up to the first RETRIEVED (the exhaustion) and half of the next line.
    log.write_text("".join(lines[:8]) + lines[8][:30])

    async def body_with(port: int) -> Callable[[RunningAgent], Awaitable[None]]:
        async def body(running: RunningAgent) -> None:
            telemetry = running.agent.telemetry
            await eventually(lambda: telemetry.observations == 1)
            with log.open("a") as handle:
                handle.write(lines[8][30:] + "".join(lines[9:]))
            await eventually(lambda: telemetry.observations == 3)
            snapshot = running.agent.snapshot
            assert snapshot is not None
            await eventually(lambda: snapshot.up)
            _, text = await get_text(running.port, "/metrics")
            values = metric_values(text)
            mine = "my category"
            attempts = "workqueue_task_attempts_total"
            assert values[key(attempts, category=mine, result="resource_exhaustion")] == 1
            assert values[key(attempts, category=mine, result="success")] == 1
            samples = key(
                "workqueue_task_samples_total", category="small", measurement="under_measured"
            )
            assert values[samples] == 1
            manager = f"127.0.0.1:{port}"
            assert values[key("workqueue_manager_up", manager=manager)] == 1
            assert values[key("workqueue_manager_tasks", manager=manager, state="waiting")] == 2
            workers = key("workqueue_manager_workers", manager=manager, state="connected")
            assert values[workers] == 1
            memory = key("workqueue_manager_memory_bytes", manager=manager, kind="total")
            assert values[memory] == 1200 * 2**20
            bound = "workqueue_category_max_memory_bytes"
            declared = key(bound, manager=manager, category="small", kind="declared")
            assert values[declared] == 300 * 2**20
            measured = key(bound, manager=manager, category="later", kind="measured")
            assert values[measured] == 3 * 2**20

        return body

    async def scenario() -> None:
        async with fake_manager(answer_canned) as port:
            config = AgentConfig(
                transactions_log=log,
                manager=f"127.0.0.1:{port}",
                listen_host="127.0.0.1",
                listen_port=0,
                tail_interval_s=0.05,
                poll_interval_s=0.1,
            )
            running = await start_agent(config)
            try:
                await (await body_with(port))(running)
            finally:
                await running.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_unreachable_manager_is_reported_not_fatal(tmp_path: Path) -> None:
    config = AgentConfig(
        manager="127.0.0.1:1",
        listen_host="127.0.0.1",
        listen_port=0,
        poll_interval_s=0.1,
        status_timeout_s=1,
    )

    async def body(running: RunningAgent) -> None:
        snapshot = running.agent.snapshot
        assert snapshot is not None
        await eventually(lambda: snapshot.polls["unreachable"] >= 2)
        _, text = await get_text(running.port, "/metrics")
        assert 'workqueue_manager_up{manager="127.0.0.1:1"} 0.0' in text
        status, text = await get_text(running.port, "/healthz")
        assert status == 200 and '"manager_up": false' in text

    with_agent(config, body)


def test_cli_arguments() -> None:
    parser = argparse.ArgumentParser()
    agent_command.register(parser.add_subparsers())
    args = parser.parse_args(
        ["agent", "--transactions-log", "tx.log", "--listen", "127.0.0.1:0", "--window", "5"]
    )
    config = agent_command.config_from_args(args)
    assert (config.transactions_log, config.listen_host, config.listen_port, config.window) == (
        Path("tx.log"),
        "127.0.0.1",
        0,
        5,
    )
    assert parse_listen(":9090") == ("0.0.0.0", 9090)
    assert parse_listen("9091") == ("0.0.0.0", 9091)
    with pytest.raises(ValueError):
        AgentConfig()
    with pytest.raises(ValueError):
        parse_listen("host:http")


def test_summaries_directory_source(tmp_path: Path) -> None:
    shutil.copy(DATA / "manager.summaries", tmp_path / "wq-1.summaries")
    config = AgentConfig(
        summaries_dir=tmp_path, listen_host="127.0.0.1", listen_port=0, tail_interval_s=0.05
    )

    async def body(running: RunningAgent) -> None:
        await eventually(lambda: running.agent.telemetry.observations == 4)
        windows = await fetch_samples(f"http://127.0.0.1:{running.port}")
        assert {k: [s.memory_mb for s in v] for k, v in windows.items()} == {
            "small": [2.0, 413.0, 113.0],
            "big": [263.0],
        }
        _, text = await get_text(running.port, "/metrics")
        values = metric_values(text)
        exhausted = key(
            "workqueue_task_attempts_total", category="small", result="resource_exhaustion"
        )
        assert values[exhausted] == 1
        ignored = key("workqueue_telemetry_records_total", source="summaries", outcome="ignored")
        assert values[ignored] == 1  # the manager's own summary

    with_agent(config, body)
