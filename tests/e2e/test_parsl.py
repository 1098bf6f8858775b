"""The Parsl example (examples/parsl/) end to end: real Parsl, the manager of its
WorkQueueExecutor or TaskVineExecutor, and workers from a WorkerPool — each scenario once per
framework (the WorkQueueManager's ``framework``, the program's ``--executor``).

The Parsl program runs in the environment scripts/parsl-env.sh makes (the .venv's base Python,
CCTools 7.17.1's own ndcctools, Parsl from PyPI). Its tasks run on real work_queue_workers or
vine_workers of the same CCTools build: the host runner runs the pool's pods as local
processes, with the Parsl environment's python3 first on the PATH (Parsl's ``init_command``),
as the example image has it in a real cluster.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e.hostrunner import HostRunner, ProcessInfo

from tests.harness import REPO, Cluster, wait_for

pytestmark = pytest.mark.e2e

EXAMPLE = REPO / "examples" / "parsl"
APP = EXAMPLE / "parsl_app.py"
PARSL_VENV = Path(
    os.environ.get("PARSL_VENV", Path.home() / ".cache/workqueue-operator/parsl-venv")
)
PASSWORD = "parsl-e2e-password"
HOST_RUNNER_LABELS = {"workqueue.dev/host-runner": "true"}
EXECUTORS = {"WorkQueue": "workqueue", "TaskVine": "taskvine"}
"""The WorkQueueManager's ``framework`` -> the program's ``--executor``."""
WORKER_PROGRAMS = {"WorkQueue": "work_queue_worker", "TaskVine": "vine_worker"}
frameworks = pytest.mark.parametrize("framework", list(EXECUTORS))


@pytest.fixture(scope="module")
def parsl_python() -> Path:
    """The Parsl environment's interpreter, checked to import both of Parsl's CCTools
    executors (ndcctools.work_queue and ndcctools.taskvine)."""
    python = PARSL_VENV / "bin" / "python"
    probe = (
        "import ndcctools.work_queue, ndcctools.taskvine; "
        "from parsl.executors.workqueue import executor as e; "
        "from parsl.executors.taskvine import manager as m; "
        "assert e._work_queue_enabled, e.IMPORT_EXCEPTION; "
        "assert m._taskvine_enabled"
    )
    result = (
        subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
        if python.exists()
        else None
    )
    if result is None or result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1] if result and result.stderr else ""
        pytest.fail(
            f"no working Parsl environment at {PARSL_VENV} ({detail or 'missing'}): "
            "run scripts/parsl-env.sh (make setup does)",
            pytrace=False,
        )
    return python


class ParslProgram:
    """examples/parsl/parsl_app.py as a subprocess; its JSON lines are collected as they come."""

    def __init__(self, python: Path, workdir: Path, *args: str) -> None:
        self.workdir = workdir
        self.stderr_path = workdir / "parsl_app.stderr"
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [str(python), str(APP), *args],
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,  # its Work Queue process goes with it on kill
            )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def poll(self, name: str, timeout: float) -> dict[str, Any] | None:
        """The next event ``name`` within ``timeout`` (earlier events of other names are
        dropped), or None."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=min(left, 1.0))
            except queue.Empty:
                if self.proc.poll() is not None and self.events.empty():
                    return None
                continue
            if event["event"] == name:
                return event
        return None

    def event(self, name: str, timeout: float) -> dict[str, Any]:
        """The next event ``name``; fails after ``timeout`` or when the program has ended."""
        event = self.poll(name, timeout)
        if event is None:
            raise AssertionError(
                f"no {name!r} from parsl_app.py within {timeout:.0f}s "
                f"(exit code {self.proc.poll()}); stderr ends:\n{self.stderr_tail()}"
            )
        return event

    def stderr_tail(self, lines: int = 30) -> str:
        return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


StartParsl = Callable[..., ParslProgram]


@pytest.fixture
def start_parsl(parsl_python: Path, tmp_path: Path) -> Iterator[StartParsl]:
    """Start parsl_app.py in ``tmp_path``; it is killed at teardown whatever happened."""
    started: list[ParslProgram] = []

    def start(*args: str) -> ParslProgram:
        program = ParslProgram(parsl_python, tmp_path, *args)
        started.append(program)
        return program

    yield start
    for program in started:
        program.stop()


def worker_init() -> str:
    """Parsl's init_command: the Parsl environment's python3 first on the workers' PATH."""
    return f'export PATH="{PARSL_VENV / "bin"}:$PATH"'


def example(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((EXAMPLE / name).read_text()) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind]
    return doc


def for_this_host(docs: list[dict[str, Any]], pool: dict[str, Any]) -> str:
    """The example's objects with this test's password, and the pool's pods for the host
    runner (fast autoscaling, workers that leave soon after their manager)."""
    by_kind(docs, "Secret")["stringData"]["password"] = PASSWORD
    spec = by_kind(docs, "WorkerPool")["spec"]
    spec["template"] = {"labels": HOST_RUNNER_LABELS}
    spec["workerArgs"] = ["--timeout=20"]
    spec.update(pool)
    return yaml.safe_dump_all(docs)


def live_pods(cluster: Cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "pods", "-l", selector, "-o", "json", namespace=namespace).stdout
    return [p for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]


def assert_each_task_ran_once(transactions: Path, tasks: int) -> None:
    """Every task of the manager's transactions log (Work Queue's and TaskVine's have the same
    TASK lines) started once and succeeded: no worker went away under a running task."""
    started, succeeded = Counter[str](), Counter[str]()
    for line in transactions.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[2] == "TASK" and not line.startswith("#"):
            if fields[4] == "RUNNING":
                started[fields[3]] += 1
            elif fields[4:6] == ["DONE", "SUCCESS"]:
                succeeded[fields[3]] += 1
    assert len(started) == tasks and set(started.values()) == {1}, started
    assert succeeded == started, (succeeded, started)


def worker_programs(runner: HostRunner) -> set[str]:
    return {Path(p.argv[0]).name for p in runner.processes() if p.argv}


@frameworks
def test_parsl_external_manager_gets_its_workers_from_a_pool_that_scales_out_and_back(
    operator: Cluster,
    namespace: str,
    host_runner: HostRunner,
    *,
    start_parsl: StartParsl,
    tmp_path: Path,
    framework: str,
) -> None:
    password_file = tmp_path / "wq-password.txt"
    password_file.write_text(PASSWORD)
    tasks, max_workers = 6, 4
    parsl = start_parsl(
        f"--executor={EXECUTORS[framework]}",
        "--port=0",  # any free port; the program says which
        f"--password-file={password_file}",
        f"--tasks={tasks}",
        "--task-seconds=5",
        "--reduce-seconds=10",
        "--hold-after-done=-1",  # up until SIGTERM (Parsl itself stops after the results)
        f"--worker-init={worker_init()}",
    )
    listening = parsl.event("listening", timeout=60)
    assert listening["executor"] == EXECUTORS[framework], listening

    docs = example("external.yaml")
    wqm = by_kind(docs, "WorkQueueManager")
    assert wqm["spec"]["framework"] == "WorkQueue"  # the example's default; TaskVine documented
    wqm["spec"] |= {
        "framework": framework,
        "address": f"127.0.0.1:{listening['port']}",
        "pollIntervalSeconds": 1,
    }
    pool_name = by_kind(docs, "WorkerPool")["metadata"]["name"]
    autoscale = {"pollIntervalSeconds": 1, "scaleUpStep": max_workers}
    autoscale |= {"idleDelaySeconds": 2, "cooldownSeconds": 2}
    operator.apply(
        for_this_host(docs, {"maxWorkers": max_workers, "autoscale": autoscale}), namespace
    )

    # While the workflow runs: pods, and what the operator reads from Parsl's manager.
    selector = f"workqueue.dev/pool={pool_name}"
    pod_names: set[str] = set()
    most = fewest_after_most = 0
    categories: set[str] = set()
    reachable = False
    done: dict[str, Any] | None = None
    deadline = time.monotonic() + 150
    while done is None and time.monotonic() < deadline:
        live = live_pods(operator, namespace, selector)
        pod_names |= {p["metadata"]["name"] for p in live}
        if len(live) > most:
            most = fewest_after_most = len(live)
        fewest_after_most = min(fewest_after_most, len(live))
        status = (operator.get("wqm", wqm["metadata"]["name"], namespace) or {}).get("status", {})
        categories |= {c["category"] for c in status.get("categories", [])}
        reachable = reachable or status.get("phase") == "Running"
        done = parsl.poll("done", timeout=0.5)
        if done is None and parsl.proc.poll() is not None:
            break
    assert done is not None, (
        f"no results in 150 s (exit code {parsl.proc.poll()}):\n{parsl.stderr_tail()}"
    )

    assert done["ok"], done
    assert done["tasks"] == tasks and done["mismatches"] == [], done
    assert done["bash_exit_code"] == 0 and done["pi_from_bash"].startswith("3.1"), done
    # The tasks ran on the pool's workers (a worker's hostname is its pod's name), several of
    # them, of the framework's program.
    assert set(done["hosts"]) <= pod_names, (done["hosts"], pod_names)
    assert len(done["hosts"]) >= 2, f"the wide phase ran on one worker only: {done['hosts']}"
    assert worker_programs(host_runner) == {WORKER_PROGRAMS[framework]}, host_runner.processes()
    assert reachable, "the operator never read Parsl's manager (with the password)"
    assert "count_inside" in categories, categories  # Parsl's apps are the manager's categories
    assert most == max_workers, f"the pool never reached maxWorkers: at most {most} pods"
    assert fewest_after_most <= 1, (
        f"the pool kept {fewest_after_most} pods during the one-task phase of the workflow"
    )
    # Scale-down took idle workers only: no task lost its worker (wide phase + 2 narrow tasks).
    assert_each_task_ran_once(Path(listening["transactions_log"]), tasks + 2)

    # After the results Parsl stops its manager (an idle one would answer nothing anyway): the
    # pool holds, the workers leave after their --timeout without a manager, and their
    # finished pods are removed.
    wait_for(
        lambda: not live_pods(operator, namespace, selector),
        timeout=90,
        what="the pool back at 0 pods after Parsl's manager stopped",
    )

    def settled() -> dict[str, Any] | None:
        status: dict[str, Any] = operator.get("wqpool", pool_name, namespace)["status"]  # type: ignore[index]
        return status if (status["replicas"], status["desiredReplicas"]) == (0, 0) else None

    wait_for(settled, timeout=30, what="status.replicas and desiredReplicas back at 0")
    parsl.proc.send_signal(signal.SIGTERM)
    assert parsl.proc.wait(timeout=30) == 0, parsl.stderr_tail()

    reasons = Counter[str]()
    for event in operator.events_for(pool_name, namespace):
        reasons[event["reason"]] += event.get("count", 1)
    assert reasons["ScaleUp"] >= 1 and reasons["ScaleDown"] >= 1, dict(reasons)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def agent_transactions_log(deployment: dict[str, Any], pod_dir: Path) -> Path:
    """Where the Deployment's telemetry agent reads the transactions log, on this host: the
    path of its ``--transactions-log`` inside the ``telemetry`` volume of the manager pod."""
    containers = deployment["spec"]["template"]["spec"]["containers"]
    [agent] = [c for c in containers if c["name"] == "telemetry-agent"]
    [mount] = [m for m in agent["volumeMounts"] if m["name"] == "telemetry"]
    args = agent["args"]
    path = Path(args[args.index("--transactions-log") + 1])
    return pod_dir / "volumes" / "telemetry" / path.relative_to(mount["mountPath"])


@frameworks
def test_parsl_incluster(
    operator: Cluster,
    namespace: str,
    host_runner: HostRunner,
    parsl_python: Path,
    framework: str,
) -> None:
    """The InCluster example: the operator's Deployment runs the Parsl program (played here by
    a host runner for the manager pod), which takes its framework, port, password file and
    where to log from the operator's environment; the pool's workers reach it through its
    Service.

    No cluster DNS here: the operator cannot resolve the Service, so it sees the manager as
    unreachable and the pool holds at minWorkers (2) rather than following the backlog."""
    docs = example("incluster.yaml")
    wqm = by_kind(docs, "WorkQueueManager")
    image_args = wqm["spec"].pop("args")
    assert image_args[:2] == ["python3", "/app/parsl_app.py"], image_args
    assert "--hold-after-done=-1" in image_args  # a Deployment must not rerun the workflow
    assert not any(a.startswith("--executor") for a in image_args)  # from WORKQUEUE_FRAMEWORK
    name = wqm["metadata"]["name"]
    port = free_port()
    wqm["spec"] |= {
        "framework": framework,
        # The image's program, from this checkout and the Parsl environment.
        "command": [str(parsl_python), str(APP)],
        "args": ["--tasks=4", "--task-seconds=2", "--reduce-seconds=1", "--hold-after-done=-1"],
        "env": [{"name": "PARSL_WORKER_INIT", "value": worker_init()}],
        "port": port,
    }
    manifest = for_this_host(docs, {"minWorkers": 2, "maxWorkers": 2})
    # The Service first: worker pods resolve it (as 127.0.0.1) only if it exists when they start.
    non_pool = yaml.safe_dump_all([d for d in docs if d["kind"] != "WorkerPool"])
    manager_selector = f"workqueue.dev/manager={name}"
    with HostRunner(
        operator.kubeconfig, label_selector=manager_selector, namespace=namespace
    ) as manager_runner:
        operator.apply(non_pool, namespace)
        deployment = wait_for(
            lambda: operator.get("deployment", name, namespace), timeout=60, what="Deployment"
        )
        wait_for(lambda: operator.get("service", name, namespace), timeout=60, what="Service")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["WORKQUEUE_FRAMEWORK"] == framework, env
        assert env["WORKQUEUE_PORT"] == str(port) and "WORKQUEUE_PASSWORD_FILE" in env, env
        operator.apply(manifest, namespace)

        def manager_pod() -> str | None:
            pods = live_pods(operator, namespace, manager_selector)
            return pods[0]["metadata"]["name"] if pods else None

        pod = wait_for(manager_pod, timeout=60, what="the manager's pod")
        pool_selector = f"workqueue.dev/pool={by_kind(docs, 'WorkerPool')['metadata']['name']}"
        workers: set[str] = set()

        def manager_log() -> str:
            return "\n".join(manager_runner.logs(namespace, pod).splitlines()[-30:])

        def events() -> list[dict[str, Any]]:
            log = manager_runner.logs(namespace, pod)
            return [json.loads(line) for line in log.splitlines() if line.startswith("{")]

        def done() -> dict[str, Any] | None:
            workers.update(
                p["metadata"]["name"] for p in live_pods(operator, namespace, pool_selector)
            )
            return next((e for e in events() if e["event"] == "done"), None)

        try:
            outcome = wait_for(done, timeout=120, interval=1, what="the workflow's results")
        except AssertionError as e:
            raise AssertionError(f"{e}; the manager's log ends:\n{manager_log()}") from None
        [listening] = [e for e in events() if e["event"] == "listening"]
        assert listening["executor"] == EXECUTORS[framework], listening
        assert outcome["ok"] and outcome["tasks"] == 4, outcome
        assert set(outcome["hosts"]) <= workers, (outcome["hosts"], workers)
        assert worker_programs(host_runner) == {WORKER_PROGRAMS[framework]}
        process = manager_runner.process(namespace, pod)
        assert process is not None
        # The telemetry agent's path leads to Parsl's transactions log: Work Queue's through
        # the program's link, TaskVine's through the run-info path the program passed on.
        assert_each_task_ran_once(agent_transactions_log(deployment, process.pod_dir), 4 + 2)

        # Deleting the manager stops the program (SIGTERM ends its hold): exit 0.
        operator.kubectl("delete", "wqm", name, "--wait=false", namespace=namespace)

        def ended() -> ProcessInfo | None:
            info = manager_runner.process(namespace, pod)
            return info if info is not None and info.exit_code is not None else None

        code = wait_for(ended, timeout=60, what="the manager's process to end").exit_code
        assert code == 0, manager_log()
