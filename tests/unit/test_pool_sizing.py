"""Bucket recommendations and the pod shapes they give a WorkerPool."""

from __future__ import annotations

from workqueue_operator.api.pool import (
    BucketShape,
    CategoryRecommendation,
    SizingSpec,
    UpdateMode,
    WorkerPoolSpec,
)
from workqueue_operator.scaling import CategoryDemand
from workqueue_operator.scaling.pool_shapes import shapes_and_demands
from workqueue_operator.sizing.recommend import bumped, recommend, recommend_category
from workqueue_operator.sizing.resources import DEFAULT_MACHINE
from workqueue_operator.values.samples import Sample, TaskResult


def samples(category: str, memory: float, n: int) -> list[Sample]:
    return [Sample(category, 1.0, memory, 10.0, 30.0) for _ in range(n)]


def sizing(**fields: object) -> SizingSpec:
    return SizingSpec.model_validate({"mode": "Buckets", "minSamples": 5, **fields})


def test_too_few_samples_recommend_nothing() -> None:
    rec = recommend_category("a", samples("a", 200, 4), sizing(), DEFAULT_MACHINE)
    assert (rec.buckets, rec.samples) == ([], 4)


def test_two_memory_profiles_give_two_buckets_with_the_margin() -> None:
    mixed = samples("a", 200, 20) + samples("a", 1500, 20)
    for strategy in ("greedy", "exhaustive", "kmeans"):
        rec = recommend_category(
            "a", mixed, sizing(marginPercent=10, strategy=strategy), DEFAULT_MACHINE
        )
        assert [(b.memory_mb, b.share) for b in rec.buckets] == [(220, 0.5), (1650, 0.5)]
    # The adaptive ladder weighs a failed first try (its allocation x the task's time) against
    # over-allocation: trying 220 first costs every big task 220 more, which saves 1430 on each
    # small one, so two rungs are cheaper once small tasks are more than 220/1650 of all...
    rec = recommend_category("a", mixed, sizing(marginPercent=10), DEFAULT_MACHINE)
    assert [b.memory_mb for b in rec.buckets] == [220, 1650]
    # ...and one rung is cheaper when they are fewer (5 %).
    mostly_big = samples("a", 200, 5) + samples("a", 1500, 95)
    rec = recommend_category("a", mostly_big, sizing(marginPercent=10), DEFAULT_MACHINE)
    assert [b.memory_mb for b in rec.buckets] == [1650]
    # Three small tasks to one big one, mixed (60 small and then 20 big would be a shift in
    # use, after which only the big ones count: test_sizing_shift.py).
    mostly_small = [s for _ in range(20) for s in samples("a", 200, 3) + samples("a", 1500, 1)]
    rec = recommend_category("a", mostly_small, sizing(marginPercent=10), DEFAULT_MACHINE)
    assert [(b.memory_mb, b.share) for b in rec.buckets] == [(220, 0.75), (1650, 0.25)]


def test_exhaustion_counts_as_needing_more() -> None:
    oom = Sample("a", 1.0, 1000.0, 10.0, 5.0, result=TaskResult.RESOURCE_EXHAUSTION)
    assert bumped(oom).memory_mb == 1200.0
    small = Sample("a", 1.0, 300.0, 10.0, 5.0, result=TaskResult.RESOURCE_EXHAUSTION)
    assert bumped(small).memory_mb == 400.0
    rec = recommend_category(
        "a", samples("a", 1000, 5) + [oom] * 5, sizing(marginPercent=0), DEFAULT_MACHINE
    )
    assert max(b.memory_mb for b in rec.buckets) >= 1200


def test_small_changes_do_not_churn() -> None:
    first = recommend_category("a", samples("a", 1000, 10), sizing(), DEFAULT_MACHINE)
    nudged = recommend_category("a", samples("a", 1020, 10), sizing(), DEFAULT_MACHINE, first)
    assert nudged.buckets == first.buckets
    moved = recommend_category("a", samples("a", 2000, 10), sizing(), DEFAULT_MACHINE, first)
    assert moved.buckets != first.buckets


def test_recommend_covers_every_category() -> None:
    recs = recommend(
        {"b": samples("b", 100, 6), "a": samples("a", 100, 2)}, sizing(), DEFAULT_MACHINE
    )
    assert [(r.category, bool(r.buckets)) for r in recs] == [("a", False), ("b", True)]


def pool(**sizing_fields: object) -> WorkerPoolSpec:
    return WorkerPoolSpec.model_validate(
        {
            "manager": {"address": "h:1"},
            "worker": {"cores": 1, "memory": "4Gi", "disk": "4Gi"},
            "sizing": sizing_fields,
        }
    )


RECS = [
    CategoryRecommendation(
        category="a",
        samples=40,
        buckets=[
            BucketShape(cores=1, memory_mb=220, disk_mb=11, share=0.75),
            BucketShape(cores=1, memory_mb=1650, disk_mb=11, share=0.25),
        ],
    )
]


def test_fixed_and_off_keep_the_declared_worker() -> None:
    demands = [CategoryDemand("a", waiting=8)]
    for spec in (pool(mode="Fixed"), pool(mode="Buckets", updateMode="Off")):
        shapes, out = shapes_and_demands(spec, demands, RECS)
        assert [s.id for s in shapes] == ["c1m4096d4096"]
        assert out == demands


def test_buckets_split_a_category_backlog_by_share_onto_bucket_shapes() -> None:
    demands = [CategoryDemand("a", waiting=8), CategoryDemand("new", waiting=2)]
    shapes, out = shapes_and_demands(pool(mode="Buckets"), demands, RECS)
    # Disk has a floor: the worker's workspace counts against the pod's ephemeral-storage.
    assert [s.id for s in shapes] == ["c1m4096d4096", "c1m220d1024", "c1m1650d1024"]
    assert [(d.category, d.waiting, d.shape_id) for d in out] == [
        ("a/c1m220d1024", 6, "c1m220d1024"),
        ("a/c1m1650d1024", 2, "c1m1650d1024"),
        ("new", 2, None),
    ]


def test_recreate_replaces_only_idle_pods_of_an_old_shape_after_the_idle_delay() -> None:
    from workqueue_operator.scaling import PodPhase, PodView, WorkerShape, WorkerView  # noqa: PLC0415
    from workqueue_operator.scaling.pool_shapes import recreate_victims, shape_of  # noqa: PLC0415

    spec = WorkerPoolSpec.model_validate(
        {
            "manager": {"address": "h:1"},
            "sizing": {"mode": "Buckets", "updateMode": "Recreate", "marginPercent": 10},
            "autoscale": {"idleDelaySeconds": 30},
        }
    )
    wanted = (WorkerShape.of(1, 1000, 100),)
    assert shape_of("c1m1000d100") == wanted[0]
    pods = [
        PodView("old-idle", PodPhase.RUNNING, "c1m4000d100", 0.0),
        PodView("old-busy", PodPhase.RUNNING, "c1m4000d100", 0.0),
        PodView("old-fresh-idle", PodPhase.RUNNING, "c1m4000d100", 0.0),
        PodView("close-idle", PodPhase.RUNNING, "c1m1050d100", 0.0),
        PodView("wanted-idle", PodPhase.RUNNING, "c1m1000d100", 0.0),
    ]
    workers = [
        WorkerView("old-idle"),
        WorkerView("old-busy", tasks_running=1),
        WorkerView("old-fresh-idle"),
        WorkerView("close-idle"),
        WorkerView("wanted-idle"),
    ]
    idle = {"old-idle": 0.0, "old-fresh-idle": 90.0, "close-idle": 0.0, "wanted-idle": 0.0}
    victims = recreate_victims(
        spec, shapes=wanted, pods=pods, workers=workers, idle_since=idle, now=100.0
    )
    assert victims == ["old-idle"]
    initial = spec.model_copy(
        update={"sizing": spec.sizing.model_copy(update={"update_mode": UpdateMode.INITIAL})}
    )
    assert (
        recreate_victims(
            initial, shapes=wanted, pods=pods, workers=workers, idle_since=idle, now=100.0
        )
        == []
    )


def test_buckets_that_round_to_one_shape_are_merged() -> None:
    mixed = [Sample("a", c, 200.0, 10.0, 30.0) for c in (0.05, 0.35) for _ in range(10)]
    rec = recommend_category("a", mixed, sizing(strategy="greedy", maxBuckets=4), DEFAULT_MACHINE)
    assert [(b.cores, b.memory_mb, b.share) for b in rec.buckets] == [(1.0, 220, 1.0)]
