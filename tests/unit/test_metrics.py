"""The operator's Prometheus registry: names, label sets, replacement and forgetting of
per-object series, the exposition checked by promtool, and the once-per-process endpoint."""

from __future__ import annotations

import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from workqueue_operator.api.manager import QueueFigures
from workqueue_operator.api.pool import BucketShape, CategoryRecommendation
from workqueue_operator.controllers import metrics
from workqueue_operator.controllers.metrics import BucketFigure, OperatorMetrics
from workqueue_operator.managers.status import queue_figures
from workqueue_operator.values.pod_trouble import LIVE_POD_TROUBLE_REASONS
from workqueue_operator.wq.measurements import BYTES_PER_MB
from workqueue_operator.wq.status_models import QueueStatus

EXPECTED_FAMILIES = {
    "workqueue_operator_reconciles",
    "workqueue_operator_reconcile_errors",
    "workqueue_operator_reconcile_duration_seconds",
    "workqueue_operator_scale_actions",
    "workqueue_operator_pods_refused",
    "workqueue_operator_pod_resizes",
    "workqueue_operator_pods",
    "workqueue_operator_pods_stuck",
    "workqueue_operator_manager_tasks",
    "workqueue_operator_manager_workers",
    "workqueue_operator_manager_reachable",
    "workqueue_operator_bucket_memory_bytes",
    "workqueue_operator_bucket_cores",
    "workqueue_operator_bucket_disk_bytes",
    "workqueue_operator_bucket_share_ratio",
    "workqueue_operator_pool_waste_memory_bytes",
    "workqueue_operator_pool_waste_cores",
    "workqueue_operator_last_reconcile_timestamp_seconds",
    "workqueue_operator_status_patches",
    "workqueue_operator_probes",
}

QUEUE = QueueFigures(
    tasks_waiting=5,
    tasks_running=2,
    tasks_done=40,
    tasks_failed=1,
    workers_connected=3,
    workers_busy=2,
    workers_idle=1,
)


def exercise(m: OperatorMetrics) -> None:
    """Call every function once with realistic values."""
    m.observe_reconcile("WorkerPool", 0.2, ok=True)
    m.observe_reconcile("WorkQueueManager", 3.5, ok=False)
    with m.reconcile("PonchoEnv"):
        pass
    m.record_scale("ns", "pool", "up", "ScaleUp", 3)
    m.record_scale("ns", "pool", "down", "ScaleDown", 1)
    m.record_refused_pods("ns", "pool", 2)
    m.record_resizes("ns", "pool", {"requested": 2, "done": 1, "infeasible": 1})
    m.set_pool_pods("ns", "pool", {("c1", "Running"): 2, ("c1", "Pending"): 1})
    m.set_stuck_pods("ns", "pool", {("ImagePullBackOff", "Pending"): 1})
    m.set_manager_figures("ns", "mgr", reachable=True, queue=QUEUE)
    m.set_manager_figures("ns", "gone-dark", reachable=False, queue=None)
    m.set_buckets("ns", "pool", [BucketFigure("analysis", "0", 2 * 2**30, 1.0, 4 * 2**30, 0.8)])
    m.set_waste("ns", "pool", memory_bytes=3 * 2**30, cores=1.5)
    m.record_pass("WorkerPool", "ns", "pool", at=1_800_000_000.0)
    m.record_status_patch("WorkerPool", "ns", "pool")
    m.record_probe("WorkerPool", "ns", "pool", changed=False)
    m.record_probe("WorkerPool", "ns", "pool", changed=True)


def samples(m: OperatorMetrics) -> list[Sample]:
    text = m.render().decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(m: OperatorMetrics, name: str, **labels: str) -> float | None:
    found = [s.value for s in samples(m) if s.name == name and s.labels == labels]
    assert len(found) <= 1
    return found[0] if found else None


def series(m: OperatorMetrics, name: str) -> list[dict[str, str]]:
    return [s.labels for s in samples(m) if s.name == name]


def test_every_family_is_exported_with_the_prefix_and_help() -> None:
    m = OperatorMetrics()
    exercise(m)
    families = list(text_string_to_metric_families(m.render().decode()))
    names = {f.name for f in families if not f.name.endswith("_created")}
    assert names == EXPECTED_FAMILIES
    assert all(f.documentation for f in families)


@pytest.mark.parametrize("exercised", [False, True], ids=["fresh", "after-every-call"])
def test_promtool_check_metrics_is_clean(exercised: bool) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package `prometheus`)")
    m = OperatorMetrics()
    if exercised:
        exercise(m)
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=m.render(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert not (result.stdout + result.stderr).strip(), (result.stdout + result.stderr).decode()


def test_kind_series_exist_at_zero_from_the_start() -> None:
    m = OperatorMetrics()
    for kind in metrics.KINDS:
        assert value(m, "workqueue_operator_reconciles_total", kind=kind, result="ok") == 0
        assert value(m, "workqueue_operator_reconcile_errors_total", kind=kind) == 0


def test_observe_reconcile_counts_results_errors_and_duration() -> None:
    m = OperatorMetrics()
    m.observe_reconcile("WorkerPool", 0.2, ok=True)
    m.observe_reconcile("WorkerPool", 0.7, ok=False)
    assert value(m, "workqueue_operator_reconciles_total", kind="WorkerPool", result="ok") == 1
    assert value(m, "workqueue_operator_reconciles_total", kind="WorkerPool", result="error") == 1
    assert value(m, "workqueue_operator_reconcile_errors_total", kind="WorkerPool") == 1
    duration = "workqueue_operator_reconcile_duration_seconds"
    assert value(m, f"{duration}_count", kind="WorkerPool") == 2
    assert value(m, f"{duration}_sum", kind="WorkerPool") == pytest.approx(0.9)
    assert value(m, f"{duration}_bucket", kind="WorkerPool", le="0.25") == 1


def test_reconcile_context_counts_an_exception_as_an_error_and_reraises() -> None:
    m = OperatorMetrics()
    with m.reconcile("PonchoEnv"):
        pass
    with pytest.raises(RuntimeError), m.reconcile("PonchoEnv"):
        raise RuntimeError("boom")
    assert value(m, "workqueue_operator_reconciles_total", kind="PonchoEnv", result="ok") == 1
    assert value(m, "workqueue_operator_reconcile_errors_total", kind="PonchoEnv") == 1


def test_scale_actions_accumulate_per_direction_and_reason() -> None:
    m = OperatorMetrics()
    m.record_scale("ns", "p", "up", "ScaleUp", 2)
    m.record_scale("ns", "p", "up", "ScaleUp", 3)
    m.record_scale("ns", "p", "down", "ScaleDown")
    m.record_scale("ns", "p", "up", "Rebalance", 0)  # nothing happened: no series
    name = "workqueue_operator_scale_actions_total"
    assert value(m, name, namespace="ns", pool="p", direction="up", reason="ScaleUp") == 5
    assert value(m, name, namespace="ns", pool="p", direction="down", reason="ScaleDown") == 1
    assert len(series(m, name)) == 2


def test_refused_pods_accumulate_per_pool() -> None:
    m = OperatorMetrics()
    m.record_refused_pods("ns", "p", 1)
    m.record_refused_pods("ns", "p", 7)
    m.record_refused_pods("ns", "q", 0)  # nothing refused: no series
    name = "workqueue_operator_pods_refused_total"
    assert value(m, name, namespace="ns", pool="p") == 8
    assert series(m, name) == [{"namespace": "ns", "pool": "p"}]
    with pytest.raises(ValueError, match="count"):
        m.record_refused_pods("ns", "p", -1)


def test_pod_resizes_accumulate_per_pool_and_result() -> None:
    m = OperatorMetrics()
    m.record_resizes("ns", "p", {"requested": 2, "done": 0})
    m.record_resizes("ns", "p", {"requested": 1, "done": 2, "infeasible": 1})
    name = "workqueue_operator_pod_resizes_total"
    assert value(m, name, namespace="ns", pool="p", result="requested") == 3
    assert value(m, name, namespace="ns", pool="p", result="done") == 2
    assert value(m, name, namespace="ns", pool="p", result="infeasible") == 1
    assert value(m, name, namespace="ns", pool="p", result="timed_out") is None
    with pytest.raises(ValueError, match="counts"):
        m.record_resizes("ns", "p", {"done": -1})


def test_scale_rejects_a_bad_direction_or_count() -> None:
    m = OperatorMetrics()
    with pytest.raises(ValueError, match="direction"):
        m.record_scale("ns", "p", "sideways", "ScaleUp")
    with pytest.raises(ValueError, match="count"):
        m.record_scale("ns", "p", "up", "ScaleUp", -1)


def test_pool_pods_are_replaced_as_a_whole() -> None:
    m = OperatorMetrics()
    m.set_pool_pods("ns", "p", {("small", "Running"): 2, ("large", "Pending"): 1})
    m.set_pool_pods("ns", "p", {("small", "Running"): 3})
    m.set_pool_pods("ns", "other", {("s", "Running"): 1})
    assert series(m, "workqueue_operator_pods") == [
        {"namespace": "ns", "pool": "other", "shape": "s", "phase": "Running"},
        {"namespace": "ns", "pool": "p", "shape": "small", "phase": "Running"},
    ]
    assert (
        value(
            m, "workqueue_operator_pods", namespace="ns", pool="p", shape="small", phase="Running"
        )
        == 3
    )


def test_stuck_pods_have_a_series_per_cause_zero_when_mended() -> None:
    m = OperatorMetrics()
    m.set_stuck_pods(
        "ns", "p", {("ImagePullBackOff", "Pending"): 2, ("Unschedulable", "Pending"): 1}
    )
    m.set_stuck_pods(
        "ns", "p", {("Unschedulable", "Pending"): 3, ("CrashLoopBackOff", "Unknown"): 1}
    )

    def stuck(reason: str, phase: str = "Pending") -> float | None:
        return value(
            m, "workqueue_operator_pods_stuck", namespace="ns", pool="p", reason=reason, phase=phase
        )

    assert (stuck("Unschedulable"), stuck("ImagePullBackOff"), stuck("CrashLoopBackOff")) == (
        3,
        0,
        0,
    )
    assert (stuck("CrashLoopBackOff", "Running"), stuck("CrashLoopBackOff", "Unknown")) == (0, 1)
    found = {(s["reason"], s["phase"]) for s in series(m, "workqueue_operator_pods_stuck")}
    zero_filled = {(r, p) for r in LIVE_POD_TROUBLE_REASONS for p in ("Pending", "Running")}
    assert found == zero_filled | {("CrashLoopBackOff", "Unknown")}


def test_manager_figures_and_unreachable_drops_stale_queue_figures() -> None:
    m = OperatorMetrics()
    queue = queue_figures(QueueStatus.model_validate(QUEUE.model_dump()))
    m.set_manager_figures("ns", "mgr", reachable=True, queue=queue)
    tasks = "workqueue_operator_manager_tasks"
    workers = "workqueue_operator_manager_workers"
    assert value(m, tasks, namespace="ns", manager="mgr", state="waiting") == 5
    assert value(m, tasks, namespace="ns", manager="mgr", state="failed") == 1
    assert value(m, workers, namespace="ns", manager="mgr", state="busy") == 2
    assert {s["state"] for s in series(m, tasks)} == set(metrics.TASK_STATES)
    assert {s["state"] for s in series(m, workers)} == set(metrics.WORKER_STATES)
    assert value(m, "workqueue_operator_manager_reachable", namespace="ns", manager="mgr") == 1

    m.set_manager_figures("ns", "mgr", reachable=False, queue=None)
    assert value(m, "workqueue_operator_manager_reachable", namespace="ns", manager="mgr") == 0
    assert series(m, tasks) == []
    assert series(m, workers) == []


def test_buckets_from_recommendations_are_in_base_units() -> None:
    recs = [
        CategoryRecommendation(
            category="analysis",
            buckets=[
                BucketShape(cores=1, memory_mb=1024, disk_mb=2048, share=0.75),
                BucketShape(cores=4, memory_mb=8192, disk_mb=4096, share=0.25),
            ],
        ),
        CategoryRecommendation(category="merge", buckets=[]),
    ]
    figures = metrics.buckets_from_recommendations(recs)
    assert [f.bucket for f in figures] == ["0", "1"]
    assert figures[1] == BucketFigure(
        "analysis", "1", 8192 * BYTES_PER_MB, 4, 4096 * BYTES_PER_MB, 0.25
    )

    m = OperatorMetrics()
    m.set_buckets("ns", "p", figures)
    labels = {"namespace": "ns", "pool": "p", "category": "analysis", "bucket": "0"}
    assert value(m, "workqueue_operator_bucket_memory_bytes", **labels) == 1024 * BYTES_PER_MB
    assert value(m, "workqueue_operator_bucket_cores", **labels) == 1
    assert value(m, "workqueue_operator_bucket_disk_bytes", **labels) == 2048 * BYTES_PER_MB
    assert value(m, "workqueue_operator_bucket_share_ratio", **labels) == 0.75

    m.set_buckets("ns", "p", figures[:1])  # replaced: bucket 1 is gone
    assert len(series(m, "workqueue_operator_bucket_cores")) == 1
    m.set_buckets("ns", "p", [])  # sizing mode Fixed: none
    assert series(m, "workqueue_operator_bucket_cores") == []


def test_waste_is_clamped_at_zero() -> None:
    m = OperatorMetrics()
    m.set_waste("ns", "p", memory_bytes=-5.0, cores=0.5)
    assert value(m, "workqueue_operator_pool_waste_memory_bytes", namespace="ns", pool="p") == 0
    assert value(m, "workqueue_operator_pool_waste_cores", namespace="ns", pool="p") == 0.5


def test_forget_drops_every_series_of_a_deleted_object_only() -> None:
    m = OperatorMetrics()
    exercise(m)
    m.set_pool_pods("ns", "kept", {("s", "Running"): 1})
    m.forget_pool("ns", "pool")
    m.forget_manager("ns", "mgr")
    m.forget_manager("ns", "gone-dark")
    for sample in samples(m):
        if sample.name.startswith("workqueue_operator_reconcile"):
            continue
        assert sample.labels.get("pool") in (None, "kept"), sample
        assert "manager" not in sample.labels, sample
    assert len(series(m, "workqueue_operator_pods")) == 1
    m.forget_pool("ns", "never-seen")  # no error


def test_module_functions_act_on_the_process_registry() -> None:
    before = value(
        metrics.METRICS, "workqueue_operator_reconciles_total", kind="PonchoEnv", result="ok"
    )
    metrics.observe_reconcile("PonchoEnv", 0.01, ok=True)
    after = value(
        metrics.METRICS, "workqueue_operator_reconciles_total", kind="PonchoEnv", result="ok"
    )
    assert after == (before or 0) + 1
    assert metrics.REGISTRY is metrics.METRICS.registry
    metrics.set_pool_pods("test-ns", "test-pool", {("s", "Running"): 1})
    metrics.forget_pool("test-ns", "test-pool")
    assert not [
        s for s in series(metrics.METRICS, "workqueue_operator_pods") if s["pool"] == "test-pool"
    ]


@pytest.mark.parametrize(
    ("environ", "port"),
    [
        ({}, 8080),
        ({metrics.PORT_ENV: ""}, 8080),
        ({metrics.PORT_ENV: "0"}, 0),
        ({metrics.PORT_ENV: " 9100 "}, 9100),
    ],
)
def test_port_from_env(environ: dict[str, str], port: int) -> None:
    assert metrics.port_from_env(environ) == port


@pytest.mark.parametrize("text", ["eighty", "-1", "65536"])
def test_port_from_env_rejects_bad_values(text: str) -> None:
    with pytest.raises(ValueError, match=metrics.PORT_ENV):
        metrics.port_from_env({metrics.PORT_ENV: text})


@pytest.fixture
def no_server_yet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's once-only flag as if nothing served yet (restored after the test)."""
    monkeypatch.setattr(metrics, "_serving_port", None)
    yield


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.usefixtures("no_server_yet")
def test_serve_starts_once_per_process_and_serves_the_registry() -> None:
    assert metrics.serve(0) is False
    port = free_port()
    assert metrics.serve(port, host="127.0.0.1") is True
    assert metrics.serve(port, host="127.0.0.1") is True  # again (a second KopfRunner): no-op
    assert metrics.serve(free_port(), host="127.0.0.1") is True  # stays where it is
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        body = response.read().decode()
    assert "workqueue_operator_reconciles_total" in body
    assert "python_gc_objects_collected_total" not in body  # its own registry, not the global


@pytest.mark.usefixtures("no_server_yet")
def test_serve_on_a_busy_port_warns_and_tries_again_later(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert metrics.serve(port, host="127.0.0.1") is False
    assert "cannot serve metrics" in caplog.text
    assert metrics._serving_port is None


def test_an_objects_last_pass_and_status_patches_are_kept_until_it_is_forgotten() -> None:
    m = OperatorMetrics()
    m.record_pass("PonchoEnv", "ns", "env", at=100.0)
    m.record_status_patch("PonchoEnv", "ns", "env")
    m.record_status_patch("PonchoEnv", "ns", "env")
    m.record_pass("PonchoEnv", "ns", "other", at=50.0)
    env = {"kind": "PonchoEnv", "namespace": "ns", "name": "env"}

    def of(metric: str) -> list[float]:
        return [s.value for s in samples(m) if s.name == metric and s.labels == env]

    assert of("workqueue_operator_last_reconcile_timestamp_seconds") == [100.0]
    assert of("workqueue_operator_status_patches_total") == [2]
    assert m.status_patches("PonchoEnv", "ns", "env") == 2
    m.forget_object("PonchoEnv", "ns", "env")
    assert m.last_pass("PonchoEnv", "ns", "env") is None
    assert of("workqueue_operator_status_patches_total") == []
    assert m.last_pass("PonchoEnv", "ns", "other") == 50.0
