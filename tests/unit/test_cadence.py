"""How soon a pool looks again (scaling/cadence.py) and how the loop waits for it, probing
(controllers/loop.py ``wait_for_next_pass``)."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime

import pytest

from tests.unit.kube_memory import InMemoryKube
from workqueue_operator.api.pool import WorkerPoolSpec
from workqueue_operator.controllers.loop import Context, Pass, Probe, wait_for_next_pass
from workqueue_operator.controllers.pool import pool_probe
from workqueue_operator.managers.status import ManagerPoll, is_quiet_poll, poll_status
from workqueue_operator.scaling.cadence import answer_fingerprint, is_quiet_pass, pool_cadence
from workqueue_operator.scaling.plan import PoolMemory
from workqueue_operator.values.cadence import QUIET_PASS_MAX_SECONDS, Cadence, next_probe_in
from workqueue_operator.wq.status import StatusClient
from workqueue_operator.wq.status_models import QueueStatus

NOW = 10_000.0


def spec(poll: int = 1, idle_delay: int = 60, cooldown: int = 30) -> WorkerPoolSpec:
    return WorkerPoolSpec.model_validate(
        {
            "manager": {"address": "m:9123"},
            "autoscale": {
                "pollIntervalSeconds": poll,
                "idleDelaySeconds": idle_delay,
                "cooldownSeconds": cooldown,
            },
        }
    )


def cadence(quiet: int, **kwargs: object) -> Cadence:
    idle_since = kwargs.pop("idle_since", {})
    last_scale_up = kwargs.pop("last_scale_up", None)
    return pool_cadence(
        spec(**kwargs),  # type: ignore[arg-type]
        quiet_passes=quiet,
        idle_since=idle_since,  # type: ignore[arg-type]
        last_scale_up=last_scale_up,  # type: ignore[arg-type]
        now=NOW,
    )


def test_a_pool_that_moves_is_passed_every_poll_interval_without_probes() -> None:
    assert cadence(0, poll=5) == Cadence(5.0, None)


def test_quiet_passes_double_the_wait_up_to_the_cap_and_probe_every_poll_interval() -> None:
    waits = [cadence(quiet).pass_after_seconds for quiet in range(1, 9)]
    assert waits == [2.0, 4.0, 8.0, 16.0] + [QUIET_PASS_MAX_SECONDS] * 4
    assert {cadence(quiet).probe_every_seconds for quiet in range(1, 9)} == {1.0}
    assert cadence(10_000).pass_after_seconds == QUIET_PASS_MAX_SECONDS  # no overflow


def test_a_poll_interval_longer_than_the_cap_is_never_shortened() -> None:
    assert cadence(3, poll=60) == Cadence(60.0, None)


def test_the_wait_never_passes_an_idle_workers_deadline_or_the_cooldowns_end() -> None:
    # Idle for 50 of its 60 s: the next pass is due when the delay runs out, not 16 s later.
    idle = cadence(4, idle_since={"pod-a": NOW - 50, "pod-b": NOW - 5})
    assert idle == Cadence(10.0, 1.0)
    # A worker idle past its delay (kept by minWorkers) sets no deadline.
    assert cadence(4, idle_since={"pod-a": NOW - 600}).pass_after_seconds == 16.0
    assert cadence(4, last_scale_up=NOW - 27) == Cadence(3.0, 1.0)
    # Due within a poll interval: no back-off at all.
    assert cadence(4, last_scale_up=NOW - 29.5) == Cadence(1.0, None)


def answer(category: str, waiting: int = 0, running: int = 0) -> dict[str, object]:
    return {"category": category, "tasks_waiting": waiting, "tasks_running": running}


def test_the_fingerprint_moves_with_any_figure_and_not_with_the_order() -> None:
    base = answer_fingerprint([answer("a", 1), answer("b", 0, 2)])
    assert answer_fingerprint([answer("b", 0, 2), answer("a", 1)]) == base
    assert answer_fingerprint([answer("a", 2), answer("b", 0, 2)]) != base
    assert answer_fingerprint([answer("a", 1), answer("b", 0, 1)]) != base
    assert answer_fingerprint([answer("a", 1)]) != base
    assert answer_fingerprint([answer("a", 1), answer("b", 0, 2) | {"max_cores": 4}]) != base


@pytest.mark.parametrize(
    ("change", "quiet"),
    [
        ({}, True),
        ({"manager_reachable": False}, False),
        ({"environment_ready": False}, False),
        ({"acted": True}, False),
        ({"events": 1}, False),
        ({"status": {"replicas": 3, "desiredReplicas": 4}}, False),
        ({"status": {"replicas": 3}}, True),  # fields the pass does not set stay as stored
    ],
)
def test_a_quiet_pass_is_one_that_changed_nothing(change: dict[str, object], quiet: bool) -> None:
    stored = {"replicas": 3, "desiredReplicas": 3}
    args: dict[str, object] = {
        "manager_reachable": True,
        "environment_ready": True,
        "acted": False,
        "events": 0,
        "stored_status": stored,
        "status": {"replicas": 3, "desiredReplicas": 3},
    } | change
    assert is_quiet_pass(**args) is quiet  # type: ignore[arg-type]


LOG = logging.getLogger("test")


def run_wait(
    seconds: float,
    probe: Probe | None,
    wake_after: float | None = None,
    counted: list[bool] | None = None,
) -> float:
    """How long ``wait_for_next_pass`` waited (each probe's result appended to ``counted``)."""

    async def main() -> float:
        wakeup, stop = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        if wake_after is not None:
            loop.call_later(wake_after, wakeup.set)
        start = loop.time()
        count = (counted if counted is not None else []).append
        await wait_for_next_pass(wakeup, stop, seconds, probe, LOG, count=count)
        return loop.time() - start

    return asyncio.run(main())


def counting_probe(answers: list[bool | Exception], every: float = 0.05) -> tuple[Probe, list[int]]:
    calls = [0]

    async def changed() -> bool:
        answer = answers[min(calls[0], len(answers) - 1)]
        calls[0] += 1
        if isinstance(answer, Exception):
            raise answer
        return answer

    return Probe(every, changed), calls


def test_a_probe_that_sees_a_change_ends_the_wait_early() -> None:
    probe, calls = counting_probe([False, False, True])
    counted: list[bool] = []
    waited = run_wait(5.0, probe, counted=counted)
    assert calls[0] == 3
    assert waited < 1.0
    assert counted == [False, False, True]  # every probe is counted, with its result


def test_probes_that_see_nothing_wait_the_whole_time() -> None:
    probe, calls = counting_probe([False], every=0.1)
    waited = run_wait(0.5, probe)
    assert waited >= 0.5
    assert 3 <= calls[0] <= 5  # one per probe interval, none after the deadline


def test_a_failing_probe_ends_the_wait() -> None:
    probe, calls = counting_probe([False, OSError("connection refused")])
    counted: list[bool] = []
    assert run_wait(5.0, probe, counted=counted) < 1.0
    assert calls[0] == 2
    assert counted == [False, True]  # a failed probe counts as a change


@pytest.mark.parametrize("every", [0.1, 1.0, 5.0, 7.0])
@pytest.mark.parametrize("now", [0.0, 0.004, 0.5, 12.3, 1_000.999, 98_765.4321])
def test_probes_fall_on_multiples_of_their_interval(now: float, every: float) -> None:
    wait = next_probe_in(now, every)
    assert 0 < wait <= every * 1.01
    ticks = (now + wait) / every
    assert ticks == pytest.approx(round(ticks), abs=1e-6)


def test_a_probe_due_at_once_waits_for_the_next_multiple() -> None:
    assert next_probe_in(10.0, 1.0) == pytest.approx(1.0)  # just after a tick: the next one
    assert next_probe_in(9.999, 1.0) == pytest.approx(1.001)  # just before: it follows a pass


def test_quiet_objects_started_apart_are_probed_together() -> None:
    """Two waits that start 0.37 intervals apart probe at the same instants (one wake-up of
    the event loop for both), each within one interval of its start."""
    every = 0.2
    probed: dict[str, list[float]] = {"a": [], "b": []}

    async def main() -> float:
        loop = asyncio.get_running_loop()

        def probe(name: str) -> Probe:
            async def changed() -> bool:
                probed[name].append(loop.time())
                return False

            return Probe(every, changed)

        async def wait(name: str, delay: float, seconds: float) -> None:
            await asyncio.sleep(delay)
            await wait_for_next_pass(asyncio.Event(), asyncio.Event(), seconds, probe(name), LOG)

        start = loop.time()
        # a's wait outlasts b's, so that every tick b reaches, a reaches too.
        await asyncio.gather(wait("a", 0.0, 2.0), wait("b", every * 0.37, 1.0))
        return start

    start = asyncio.run(main())
    assert len(probed["a"]) >= 3 and len(probed["b"]) >= 3
    # Each of b's probes ran in the same turn of the event loop as one of a's (unaligned, they
    # would be 0.074 s apart), however late a loaded machine ran that turn.
    for t in probed["b"]:
        assert min(abs(t - u) for u in probed["a"]) < 0.02, (probed["a"], probed["b"])
    assert probed["a"][0] - start <= every * 2


def test_a_wakeup_ends_the_wait_without_a_probe() -> None:
    assert run_wait(5.0, None, wake_after=0.1) < 1.0


def probe_of(kube: InMemoryKube, client: StatusClient) -> Probe:
    p: Pass[WorkerPoolSpec, PoolMemory] = Pass(
        name="workers",
        namespace="ns",
        uid="u",
        generation=1,
        spec=spec(),
        status={},
        memory=PoolMemory(),
        context=Context(kube=kube, namespace="ns"),
        logger=LOG,
    )
    return pool_probe(p, client, [answer("a", 1)], every_seconds=1.0)


def probe_once(probe: Probe) -> bool:
    async def once() -> bool:
        return await probe.changed()

    return asyncio.run(once())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_pool_probe_sees_its_pods_move_without_asking_the_manager() -> None:
    kube = InMemoryKube()
    client = StatusClient("127.0.0.1", closed_port(), timeout=1.0)  # would fail if asked
    probe = probe_of(kube, client)
    pod = {"metadata": {"name": "workers-1", "labels": {"workqueue.dev/pool": "workers"}}}
    kube.create_pod("ns", pod)
    assert probe_once(probe) is True


def test_a_pool_probe_whose_manager_does_not_answer_hands_over_to_a_pass() -> None:
    probe = probe_of(InMemoryKube(), StatusClient("127.0.0.1", closed_port(), timeout=1.0))
    assert probe_once(probe) is True


def test_a_quiet_manager_poll_answered_and_changed_nothing() -> None:
    at = datetime(2026, 12, 6, tzinfo=UTC)
    answered = ManagerPoll(at, "m:9123", queue=QueueStatus())
    stored, _ = poll_status({}, answered, 1)
    fields, events = poll_status(stored, answered, 1)
    assert is_quiet_poll(stored, answered, fields, len(events))
    busier = ManagerPoll(at, "m:9123", queue=QueueStatus(tasks_waiting=3))
    fields, events = poll_status(stored, busier, 1)
    assert not is_quiet_poll(stored, busier, fields, len(events))
    silent = ManagerPoll(at, "m:9123", reason="Unreachable", message="refused")
    fields, events = poll_status(stored, silent, 1)
    assert not is_quiet_poll(stored, silent, fields, len(events))
