"""How many tasks fit a worker, how many workers a backlog needs, shapes, idle tracking."""

from __future__ import annotations

import pytest

from workqueue_operator.api.pool import WorkerPoolSpec
from workqueue_operator.scaling import (
    CategoryDemand,
    PoolPolicy,
    TaskResources,
    WorkerShape,
    WorkerView,
    apportion,
    backlog_need,
    choose_shape,
    tasks_per_worker,
    track_idle_since,
    worker_host_key,
)

FOUR_CORES = WorkerShape.of(cores=4, memory_mb=8192, disk_mb=16384)


@pytest.mark.parametrize(
    ("task", "fits"),
    [
        (TaskResources(), 1),  # nothing declared: the whole worker
        (TaskResources(cores=1), 4),
        (TaskResources(cores=2), 2),
        (TaskResources(cores=3), 1),  # 3 of 4 cores: one at a time
        (TaskResources(cores=4), 1),
        (TaskResources(cores=5), 0),  # never runs on this worker
        (TaskResources(memory_mb=1000), 4),  # each task gets at least one core
        (TaskResources(memory_mb=1000, cores=0.5), 4),
        (TaskResources(cores=1, memory_mb=4096), 2),  # memory binds
        (TaskResources(cores=1, memory_mb=8192), 1),  # a whole worker's memory
        (TaskResources(disk_mb=20000), 0),
        (TaskResources(cores=1, memory_mb=100, disk_mb=100), 4),
        (TaskResources(gpus=1), 0),  # no GPU here
    ],
)
def test_tasks_per_worker_follows_the_managers_allocation(task: TaskResources, fits: int) -> None:
    assert tasks_per_worker(task, FOUR_CORES) == fits


def test_gpu_tasks_without_cores_pack_by_gpus() -> None:
    gpu_shape = WorkerShape.of(cores=8, memory_mb=32768, disk_mb=32768, gpus=4)
    assert tasks_per_worker(TaskResources(gpus=1), gpu_shape) == 4
    assert tasks_per_worker(TaskResources(gpus=1, cores=4), gpu_shape) == 2


def test_forty_one_core_tasks_need_ten_four_core_workers() -> None:
    need = backlog_need([CategoryDemand("default", 40, task=TaskResources(cores=1))], [FOUR_CORES])
    assert need.workers == 10
    assert need.by_shape == {FOUR_CORES.id: 10}
    assert need.tasks == 40


def test_running_tasks_count_and_categories_add_up() -> None:
    need = backlog_need(
        [
            CategoryDemand("small", waiting=5, running=3, task=TaskResources(cores=1)),  # 2
            CategoryDemand("unknown", waiting=2, running=1),  # 3 whole workers
            CategoryDemand("idle", waiting=0),
        ],
        [FOUR_CORES],
    )
    assert need.workers == 5
    assert [c.category for c in need.categories] == ["small", "unknown"]


def test_tasks_that_fit_no_shape_are_reported_not_counted() -> None:
    need = backlog_need(
        [
            CategoryDemand("huge", 7, task=TaskResources(memory_mb=100_000)),
            CategoryDemand("ok", 4, task=TaskResources(cores=1)),
        ],
        [FOUR_CORES],
    )
    assert need.workers == 1
    assert [c.category for c in need.unfit] == ["huge"]


def test_shape_choice_prefers_the_categorys_own_then_the_first_that_fits() -> None:
    small = WorkerShape.of(cores=1, memory_mb=2048, disk_mb=4096)
    big = WorkerShape.of(cores=8, memory_mb=65536, disk_mb=65536)
    shapes = [small, big]
    assert choose_shape(CategoryDemand("a", 1, task=TaskResources(cores=1)), shapes) == small
    assert choose_shape(CategoryDemand("b", 1, task=TaskResources(cores=4)), shapes) == big
    assert choose_shape(CategoryDemand("c", 1), shapes) == small  # unknown: first shape
    pinned = CategoryDemand("d", 1, task=TaskResources(cores=1), shape_id=big.id)
    assert choose_shape(pinned, shapes) == big
    too_big_for_pin = CategoryDemand("e", 1, task=TaskResources(cores=4), shape_id=small.id)
    assert choose_shape(too_big_for_pin, shapes) == big
    assert choose_shape(CategoryDemand("f", 1, task=TaskResources(cores=99)), shapes) is None


def test_apportion_is_exact_and_fair() -> None:
    assert apportion(10, {"a": 10, "b": 0}) == {"a": 10, "b": 0}
    assert apportion(5, {"a": 3, "b": 2}) == {"a": 3, "b": 2}
    assert apportion(4, {"a": 0, "b": 0}) == {"a": 4, "b": 0}
    assert apportion(0, {"a": 3}) == {"a": 0}
    assert sum(apportion(7, {"a": 5, "b": 3, "c": 1}).values()) == 7
    # a small share is not starved by a large one
    assert apportion(10, {"a": 100, "b": 1}) == {"a": 9, "b": 1}
    assert apportion(1, {"a": 1, "b": 5}) == {"a": 0, "b": 1}


def test_shape_from_the_declared_worker_resources() -> None:
    spec = WorkerPoolSpec.model_validate(
        {"managerRef": {"name": "m"}, "worker": {"cores": 4, "memory": "8Gi", "disk": "1G"}}
    )
    policy = PoolPolicy.from_spec(spec)
    assert policy.shapes == (WorkerShape("c4m8192d954", 4, 8192, 954),)
    assert (policy.min_workers, policy.max_workers, policy.autoscale) == (0, 10, True)
    assert policy.idle_delay_seconds == 60.0
    assert WorkerShape.of(2, 1024, 2048, gpus=1).id == "c2m1024d2048g1"
    assert len(WorkerShape.of(1024, 10**12, 10**15, gpus=64).id) <= 32


def test_policy_and_shape_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="minWorkers"):
        PoolPolicy(min_workers=3, max_workers=2, shapes=(FOUR_CORES,))
    with pytest.raises(ValueError, match="at least one"):
        PoolPolicy(min_workers=0, max_workers=2, shapes=())
    with pytest.raises(ValueError, match="unique"):
        PoolPolicy(min_workers=0, max_workers=2, shapes=(FOUR_CORES, FOUR_CORES))
    with pytest.raises(ValueError, match="shape id"):
        WorkerShape("Not_A_Label", 1, 1, 1)
    with pytest.raises(ValueError, match="cores"):
        WorkerShape("zero", 0, 1, 1)


def test_idle_since_is_kept_while_idle_and_dropped_when_busy_or_gone() -> None:
    first = track_idle_since(
        {}, [WorkerView("a"), WorkerView("b", tasks_running=1), WorkerView("c")], now=100.0
    )
    assert first == {"a": 100.0, "c": 100.0}
    second = track_idle_since(
        first, [WorkerView("a"), WorkerView("b"), WorkerView("c", tasks_running=2)], now=130.0
    )
    assert second == {"a": 100.0, "b": 130.0}
    assert track_idle_since(second, [], now=160.0) == {}


def test_idle_tracking_merges_connections_and_strips_domains() -> None:
    assert worker_host_key("Pool-C1-ab12c.pods.example.org") == "pool-c1-ab12c"
    idle = track_idle_since(
        {"w": 10.0},
        [WorkerView("w.example"), WorkerView("w", cores_inuse=1)],  # one connection is busy
        now=20.0,
    )
    assert idle == {}
