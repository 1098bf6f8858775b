"""The quick start's scenario, on the local control plane and its real node (`make demo` runs
scripts/demo.sh, which brings those up and then runs this).

    .venv/bin/python scripts/demo.py [--framework WorkQueue|TaskVine|both]
    .venv/bin/python scripts/demo.py --down

1. Namespace ``wq-demo``: the storage of examples/demo-storage.yaml (a local PersistentVolume
   on a directory of this machine, which is the real node) and a ConfigMap with this machine's
   CA bundle (its egress inspects TLS; PyPI is reached through it).
2. The operator, installed by its Helm chart from the operator image in the node's registry,
   watching that namespace only (hostNetwork: the API server listens on 127.0.0.1 only).
3. Per framework: the user's manager program (scripts/demo_manager.py) and a telemetry agent
   (``workqueue-operator agent``) on this machine, and examples/demo.yaml: the
   WorkQueueManager pointing at them, the PonchoEnv with numpy, the WorkerPool. The manager
   runs two rounds of a backlog in two categories; the timeline printed is taken from the
   objects' status and Events, and the manager's own output.
4. The last framework's objects stay (manager idle, pool at 0, environment Ready) for a look
   around; ``--down`` (make demo-down) removes everything the demo made.

Images are this checkout's (images/build.sh, by content hash) as pushed to the registry by
e2e/node/push-images.sh. Processes: .run/wq-demo/*.pid; logs: .run/wq-demo/*.log.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("WQ_CACHE_DIR", Path.home() / ".cache" / "workqueue-operator"))
# Every name the demo makes follows from the namespace (DEMO_NAMESPACE; tests use their own).
NAMESPACE = os.environ.get("DEMO_NAMESPACE", "wq-demo")
RUN = REPO / ".run" / NAMESPACE
ENVS_DIR = CACHE / "demo" / NAMESPACE
NODE_IP = os.environ.get("WQ_NODE_IP", "10.88.0.1")
NODE_NAME = os.environ.get("WQ_NODE_NAME", "wq-real-node")
REGISTRY = f"127.0.0.1:{os.environ.get('WQ_REGISTRY_PORT', '5000')}"
MANAGER_PORT = int(os.environ.get("DEMO_MANAGER_PORT", "9123"))
AGENT_PORT = int(os.environ.get("DEMO_AGENT_PORT", "9190"))
# The operator's ports in the node's network (hostNetwork): clear of the tests' operators.
OPERATOR_METRICS_PORT, OPERATOR_HEALTH_PORT = 18580, 18581
RELEASE = NAMESPACE
STORAGE_CLASS, VOLUME = f"{NAMESPACE}-local", f"{NAMESPACE}-envs"
PROCESSES = ("manager", "agent")
ROUND_TIMEOUT_S = 420
OPERATOR_TIMEOUT_S = 180
OPERATOR_LABEL = "app.kubernetes.io/name=workqueue-operator"
PLACEMENT = {
    "nodeSelector": {"type": "real"},
    "tolerations": [
        {"key": "workqueue.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}
    ],
}


# --- small helpers ----------------------------------------------------------------------------


class Clock:
    """Elapsed time since DEMO_STARTED (scripts/demo.sh: when `make demo` began), else now."""

    def __init__(self) -> None:
        self.start = float(os.environ.get("DEMO_STARTED") or time.time())

    def stamp(self) -> str:
        s = int(time.time() - self.start)
        return f"{s // 60:02d}:{s % 60:02d}"

    def say(self, text: str) -> None:
        print(f"{self.stamp()}  {text}", flush=True)


def tool(name: str) -> str:
    version = "v1.37.2"
    for line in (REPO / "e2e" / "cluster" / "versions.env").read_text().splitlines():
        if line.startswith("K8S_VERSION="):
            version = line.split("=", 1)[1].strip()
    return str(CACHE / version / "bin" / name)


def kubeconfig() -> str:
    state = Path(os.environ.get("WQ_CLUSTER_DIR", CACHE / "cluster"))
    return os.environ.get("DEMO_KUBECONFIG", str(state / "kubeconfig"))


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    result = subprocess.run(
        [tool("kubectl"), "--kubeconfig", kubeconfig(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def apply(objects: list[dict[str, Any]], namespace: str | None = NAMESPACE) -> None:
    text = "\n---\n".join(json.dumps(o) for o in objects)
    args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
    kubectl(*args, stdin=text)


def mb(quantity: str) -> int:
    """A memory quantity in MB as CCTools counts them (2**20 bytes, Kubernetes' Mi)."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return round(float(quantity[: -len(suffix)]) * factor / 2**20)
    return round(float(quantity) / 2**20)


def image_ref(name: str) -> str:
    """This checkout's image NAME as the registry holds it: ``REGISTRY/.../NAME:h-HASH``.
    From images/build.sh's lines: those scripts/demo.sh saved (DEMO_IMAGES_TSV), else its own
    run (it builds nothing when the image is there)."""
    saved = os.environ.get("DEMO_IMAGES_TSV")
    if saved and Path(saved).is_file():
        out = Path(saved).read_text()
    else:
        out = subprocess.run(
            ["bash", str(REPO / "images" / "build.sh"), name],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        ).stdout
    for line in out.splitlines():
        fields = line.split("\t")
        if fields[0] == name:
            tag = fields[2].rsplit(":", 1)[1]
            ref = f"{REGISTRY}/workqueue-operator/{name}:{tag}"
            request = urllib.request.Request(
                f"http://{REGISTRY}/v2/workqueue-operator/{name}/manifests/{tag}", method="HEAD"
            )
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            try:
                opener.open(request, timeout=10).close()
            except OSError as error:
                raise RuntimeError(
                    f"{ref} is not in the registry ({error}): run e2e/node/push-images.sh"
                ) from None
            return ref
    raise RuntimeError(f"images/build.sh {name} printed no line for it:\n{out}")


# --- background processes on this machine -------------------------------------------------


def start(name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    RUN.mkdir(parents=True, exist_ok=True)
    log = (RUN / f"{name}.log").open("wb")
    process = subprocess.Popen(
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        start_new_session=True,  # outlives this script: make demo-down stops it
    )
    (RUN / f"{name}.pid").write_text(f"{process.pid}\n")
    return process


def stop(name: str) -> bool:
    pid_file = RUN / f"{name}.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False  # gone already
    if str(REPO) not in cmdline:
        return False  # the pid is another program's now: not the demo's to stop
    stopped = False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        stopped = True
        for _ in range(50):
            os.kill(pid, 0)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return stopped


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


# --- the objects ------------------------------------------------------------------------------


def example(name: str) -> list[dict[str, Any]]:
    return [o for o in yaml.safe_load_all((REPO / "examples" / name).read_text()) if o]


def storage_objects(directory: Path) -> list[dict[str, Any]]:
    objects = example("demo-storage.yaml")
    for o in objects:
        if o["kind"] == "StorageClass":
            o["metadata"]["name"] = STORAGE_CLASS
        if o["kind"] == "PersistentVolume":
            o["metadata"]["name"] = VOLUME
            o["spec"]["storageClassName"] = STORAGE_CLASS
            o["spec"]["local"]["path"] = str(directory)
            o["spec"]["claimRef"]["namespace"] = NAMESPACE
            term = o["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]
            term["matchExpressions"][0]["values"] = [NODE_NAME]
        if o["kind"] == "PersistentVolumeClaim":
            o["metadata"]["namespace"] = NAMESPACE
            o["spec"]["storageClassName"] = STORAGE_CLASS
    return objects


def demo_objects(framework: str, images: dict[str, str]) -> dict[str, dict[str, Any]]:
    by_kind = {o["kind"]: o for o in example("demo.yaml")}
    manager, env, pool = (
        copy.deepcopy(by_kind[k]) for k in ("WorkQueueManager", "PonchoEnv", "WorkerPool")
    )
    manager["spec"]["framework"] = framework
    manager["spec"]["address"] = f"{NODE_IP}:{MANAGER_PORT}"
    manager["spec"]["telemetryUrl"] = f"http://{NODE_IP}:{AGENT_PORT}"
    env["spec"]["builderImage"] = images["builder"]
    pool["spec"]["image"] = images["worker"]
    return {"manager": manager, "env": env, "pool": pool}


# --- what the cluster says --------------------------------------------------------------------


@dataclass
class Snapshot:
    pods: list[dict[str, Any]] = field(default_factory=list)
    pool: dict[str, Any] = field(default_factory=dict)
    manager: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


def snapshot() -> Snapshot:
    items = json.loads(
        kubectl("get", "pods,wqpool,wqm,penv,events", "-n", NAMESPACE, "-o", "json")
    )["items"]
    snap = Snapshot()
    for item in items:
        kind = item["kind"]
        if kind == "Pod":
            snap.pods.append(item)
        elif kind == "WorkerPool":
            snap.pool = item
        elif kind == "WorkQueueManager":
            snap.manager = item
        elif kind == "PonchoEnv":
            snap.env = item
        elif kind == "Event":
            snap.events.append(item)
    return snap


def shape_of(pod: dict[str, Any]) -> str:
    resources = pod["spec"]["containers"][0].get("resources", {})
    memory = resources.get("limits", {}).get("memory", "?")
    cpu = resources.get("limits", {}).get("cpu", resources.get("requests", {}).get("cpu", "?"))
    return f"{cpu} CPU {mb(memory) if memory != '?' else '?'} MB"


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == kind:
            return dict(c)
    return {}


class Narrator:
    """Prints what changed since the last look: the operator's pod becoming Ready, Events of
    the demo's objects, the pool's pods (count and shapes), its recommendations, the
    environment's phase, the manager's output. Keeps the tallies that :meth:`verdict` checks."""

    EVENT_KINDS = {"WorkerPool": "pool", "PonchoEnv": "env", "WorkQueueManager": "manager"}
    # Reasons that only confirm the spec: the timeline leaves them out (kubectl describe has them).
    QUIET_REASONS = ("Valid",)

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.seen_events: set[tuple[str, int]] = set()
        self.pods: dict[str, str] = {}
        self.shapes: str = ""
        self.env_phase: str = ""
        self.operator_ready = False
        self.reset()

    def reset(self) -> None:
        """Tallies of one framework's run."""
        self.max_pods = 0
        self.shapes_seen: set[str] = set()
        self.idle_removals = 0
        self.tasks_ok = 0
        self.tasks_in_env = 0
        self.tasks_failed = 0
        self.env_dir = ""
        self.first_output_shown: set[str] = set()

    def look(self, snap: Snapshot) -> None:
        self._operator(snap.pods)
        self._env(snap.env)
        self._events(snap.events)
        self._pool(snap)

    def _operator(self, pods: list[dict[str, Any]]) -> None:
        """One line when the operator's pod is first Ready (its readiness probe: /healthz).
        The demo does not wait for it: the manager, the agent and the objects start meanwhile,
        and the operator takes the objects up when it starts."""
        if self.operator_ready:
            return
        key, value = OPERATOR_LABEL.split("=")
        for p in pods:
            if p["metadata"].get("labels", {}).get(key) == value and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p.get("status", {}).get("conditions", [])
            ):
                self.operator_ready = True
                self.clock.say(f"operator: pod {p['metadata']['name']} Ready on {NODE_NAME}")
                return

    def _env(self, env: dict[str, Any]) -> None:
        status = env.get("status", {})
        phase = status.get("phase") or ""
        if not phase or phase == self.env_phase:
            return
        self.env_phase = phase
        name = env["metadata"]["name"]
        if phase == "Ready":
            size = (status.get("sizeBytes") or 0) / 1e6
            self.clock.say(f"env {name}: Ready: a {size:.0f} MB tarball {status.get('artifact')}")
        else:
            message = condition(env, "Ready").get("message")
            self.clock.say(f"env {name}: {phase}" + (f" ({message})" if message else ""))

    def _events(self, events: list[dict[str, Any]]) -> None:
        fresh = []
        for e in events:
            key = (e["metadata"]["uid"], int(e.get("count") or 1))
            if key in self.seen_events or e["involvedObject"]["kind"] not in self.EVENT_KINDS:
                continue
            self.seen_events.add(key)
            fresh.append(e)
        fresh.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
        for e in fresh:
            if e["reason"] == "ScaleDown" and " idle for " in e["message"]:
                self.idle_removals += 1
            if e["reason"] in self.QUIET_REASONS:
                continue
            subject = (
                f"{self.EVENT_KINDS[e['involvedObject']['kind']]} {e['involvedObject']['name']}"
            )
            self.clock.say(f"{subject}: {e['reason']}: {self.short(e['reason'], e['message'])}")

    @staticmethod
    def short(reason: str, message: str) -> str:
        """A scaling decision without its parenthesized counts (kubectl describe has them)."""
        if reason not in ("ScaleUp", "ScaleDown"):
            return message
        while True:
            shorter = re.sub(r"\s*\([^()]*\)", "", message)
            if shorter == message:
                return shorter
            message = shorter

    def _pool(self, snap: Snapshot) -> None:
        pool = snap.pool
        if not pool:
            return
        live = {
            p["metadata"]["name"]: shape_of(p)
            for p in snap.pods
            if p["metadata"].get("labels", {}).get("workqueue.dev/pool")
            and not p["metadata"].get("deletionTimestamp")
        }
        if set(live) != set(self.pods):
            shapes: dict[str, int] = {}
            for s in live.values():
                shapes[s] = shapes.get(s, 0) + 1
            described = ", ".join(f"{n} x {s}" for s, n in sorted(shapes.items())) or "none"
            connected = snap.manager.get("status", {}).get("queue", {}).get("workersConnected", 0)
            self.clock.say(
                f"pool workers: {len(self.pods)} -> {len(live)} pods ({described});"
                f" workers connected to the manager: {connected}"
            )
            self.pods = live
            self.max_pods = max(self.max_pods, len(live))
            self.shapes_seen.update(live.values())
        recs = pool.get("status", {}).get("recommendations") or []
        text = "; ".join(
            f"'{r['category']}' -> "
            + ", ".join(self.bucket(b, several=len(r["buckets"]) > 1) for b in r["buckets"])
            + f" (from {r.get('samples', 0)} samples)"
            for r in sorted(recs, key=lambda r: str(r["category"]))
            if r.get("buckets")
        )
        # A new line when a shape changes, not when only the number of samples grows.
        shapes_key = "; ".join(part.split(" (from")[0] for part in text.split("; "))
        if text and shapes_key != self.shapes:
            self.shapes = shapes_key
            self.clock.say(f"sizing: the pool's next pods get the measured shapes: {text}")

    @staticmethod
    def bucket(shape: dict[str, Any], several: bool) -> str:
        """A recommended shape, in whole units; finer, with its disk, when its category has
        several (buckets that differ by a fraction of a core or in disk alone, which pods round
        to one shape)."""
        if several:
            return (
                f"{shape['cores']:.2g} CPU {shape['memoryMb']:.1f} MB disk {shape['diskMb']:.0f} MB"
            )
        return f"{shape['cores']:.0f} CPU {shape['memoryMb']:.0f} MB"

    def manager_line(self, event: dict[str, Any], framework: str) -> None:
        kind = event["event"]
        if kind == "ready":
            self.clock.say(
                f"manager: {framework} application listening on {NODE_IP}:{event['port']}"
                " (this machine), monitoring every task"
            )
        elif kind == "submitted":
            cats = ", ".join(f"{n} '{c}'" for c, n in event["categories"].items())
            declared = event.get("declared")
            if declared:
                decl = ", ".join(f"'{c}' {m} MB" for c, m in declared.items())
                self.clock.say(
                    f"manager: round 2: {event['tasks']} more tasks ({cats}), each declaring the"
                    f" memory its category measured in round 1 + 4 % ({decl})"
                )
            else:
                self.clock.say(
                    f"manager: round 1: {event['tasks']} tasks in 2 categories ({cats}),"
                    " declaring nothing: each takes a whole worker"
                )
        elif kind == "done":
            category = event["category"]
            output = event.get("output") or ""
            fields = [*output.split(), "?", "?"]
            version, numpy_dir = fields[0], fields[1]
            if event.get("ok"):
                self.tasks_ok += 1
                if numpy_dir.startswith("/opt/poncho/"):
                    self.tasks_in_env += 1
                    self.env_dir = numpy_dir
            else:
                self.tasks_failed += 1
                self.clock.say(f"task '{category}' FAILED: {event['result']} {output}")
            if event.get("ok") and category not in self.first_output_shown:
                self.first_output_shown.add(category)
                worker = str(event["host"]).rsplit(":", 1)[0]
                self.clock.say(
                    f"task '{category}' ran on worker {worker} (a pod): numpy {version} from"
                    f" {numpy_dir} (the PonchoEnv), peak {event['memory_mb']:.0f} MB"
                )
        elif kind == "round" and event["round"] == 1:
            peaks = ", ".join(f"'{c}' {m:.0f} MB" for c, m in event["peaks"].items())
            self.clock.say(f"manager: round 1 done, peaks measured: {peaks}")
        elif kind == "idle":
            self.clock.say(f"manager: no worker left ({event['workers']} connected)")
        elif kind == "finished":
            self.clock.say(f"manager: all {event['tasks']} tasks done; idle now")

    def verdict(self, framework: str, tasks: int) -> str:
        """One line that says every part worked, or raises RuntimeError with what did not."""
        problems = []
        if not self.operator_ready:
            problems.append("the operator's pod was never Ready")
        if self.tasks_failed or self.tasks_ok != tasks:
            problems.append(f"{self.tasks_ok} of {tasks} tasks succeeded")
        if self.tasks_in_env != self.tasks_ok:
            problems.append(f"{self.tasks_in_env} of {self.tasks_ok} tasks ran in the PonchoEnv")
        if self.max_pods < 2:
            problems.append(f"the pool never scaled out (at most {self.max_pods} pods)")
        if self.idle_removals == 0:
            problems.append("no idle pod was removed")
        if len(self.shapes_seen) < 3:
            problems.append(f"pod shapes did not follow the measurements: {self.shapes_seen}")
        if problems:
            raise RuntimeError(f"{framework}: " + "; ".join(problems))
        return (
            f"{framework}: {self.tasks_ok}/{tasks} tasks ran in the PonchoEnv ({self.env_dir});"
            f" the pool went 0 -> {self.max_pods} -> 0 pods, removing {self.idle_removals}"
            f" idle pods; pod shapes: {'; '.join(sorted(self.shapes_seen))}"
        )


def follow(path: Path) -> Iterator[dict[str, Any]]:
    """JSON lines appended to ``path`` since the last call."""
    offset = 0
    while True:
        lines: list[dict[str, Any]] = []
        if path.exists():
            with path.open() as f:
                f.seek(offset)
                chunk = f.read()
            complete = chunk[: chunk.rfind("\n") + 1]
            offset += len(complete.encode())
            for line in complete.splitlines():
                with contextlib.suppress(json.JSONDecodeError):
                    lines.append(json.loads(line))
        yield from lines
        yield {}


# --- the scenario -----------------------------------------------------------------------------


def fresh_namespace(clock: Clock, directory: Path) -> None:
    if kubectl("get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "name").strip():
        clock.say(f"removing the demo of an earlier run (namespace {NAMESPACE})")
        down(quiet=True)
    kubectl("create", "namespace", NAMESPACE)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    kubectl("delete", "pv", VOLUME, "--ignore-not-found", "--wait=true")
    apply(storage_objects(directory), namespace=None)
    ca = os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt"
    kubectl("create", "configmap", "egress-ca", f"--from-file=ca.crt={ca}", "-n", NAMESPACE)


def install_operator(clock: Clock, image: str) -> None:
    repository, tag = image.rsplit(":", 1)
    args = [
        tool("helm"),
        "upgrade",
        "--install",
        RELEASE,
        str(REPO / "helm" / "workqueue-operator"),
        "--kubeconfig",
        kubeconfig(),
        "-n",
        NAMESPACE,
        "--set=rbac.namespaced=true",
        "--set=networkPolicy.enabled=false",
        f"--set=image.repository={repository}",
        f"--set=image.tag={tag}",
        "--set=hostNetwork=true",
        "--set=dnsPolicy=ClusterFirstWithHostNet",
        f"--set=metrics.port={OPERATOR_METRICS_PORT}",
        f"--set=operator.healthPort={OPERATOR_HEALTH_PORT}",
        # The node has 2 CPUs and the demo wants both for workers: the operator asks for none.
        '--set-json=resources={"requests":{"cpu":"0","memory":"128Mi"},"limits":{"memory":"1Gi"}}',
        f"--set-json=nodeSelector={json.dumps(PLACEMENT['nodeSelector'])}",
        f"--set-json=tolerations={json.dumps(PLACEMENT['tolerations'])}",
        "--set-json=operator.extraEnv="
        + json.dumps(
            [
                {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
                {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"},
            ]
        ),
    ]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"helm install: {result.stderr.strip()}")
    clock.say(
        f"operator: helm chart helm/workqueue-operator installed as release {RELEASE},"
        f" image {image.rsplit('/', 1)[1]}, watching namespace {NAMESPACE}"
    )


def check_operator(narrator: Narrator, deadline: float) -> None:
    """Raises when the operator's pod is not Ready by ``deadline`` (time.monotonic())."""
    if narrator.operator_ready or time.monotonic() < deadline:
        return
    raise RuntimeError(
        f"the operator's pod was not Ready within {OPERATOR_TIMEOUT_S} s:\n"
        + kubectl("describe", "pods", "-n", NAMESPACE, "-l", OPERATOR_LABEL, check=False)[-3000:]
    )


def check_ports() -> None:
    for port in (MANAGER_PORT, AGENT_PORT):
        if not port_free(port) or not port_free(port, NODE_IP):
            raise RuntimeError(
                f"port {port} is taken on this machine: choose others with DEMO_MANAGER_PORT"
                " and DEMO_AGENT_PORT (and make demo-down first if it is an earlier demo's)"
            )


def run_framework(
    clock: Clock,
    narrator: Narrator,
    framework: str,
    images: dict[str, str],
    last: bool,
    *,
    operator_deadline: float,
) -> str:
    narrator.reset()
    check_ports()
    logs = RUN / framework
    subprocess.run(["rm", "-rf", str(logs)], check=True)
    cctools = subprocess.run(
        ["bash", str(REPO / "scripts" / "cctools.sh"), "--prefix"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    env = {"PYTHONPATH": f"{cctools}/lib/python{python}/site-packages"}
    start(
        "manager",
        [sys.executable, str(REPO / "scripts" / "demo_manager.py"), "--framework", framework,
         "--port", str(MANAGER_PORT), "--logs", str(logs)],
        env,
    )  # fmt: skip
    manager_out = follow(RUN / "manager.log")
    transactions = None
    deadline = time.monotonic() + 60
    while transactions is None and time.monotonic() < deadline:
        for event in manager_out:
            if not event:
                break
            narrator.manager_line(event, framework)
            if event.get("event") == "ready":
                transactions = event["transactions"]
        time.sleep(0.2)
    if transactions is None:
        raise RuntimeError(f"the manager did not start; see {RUN / 'manager.log'}")
    start(
        "agent",
        [str(REPO / ".venv" / "bin" / "workqueue-operator"), "agent", "--transactions-log",
         transactions, "--listen", f"{NODE_IP}:{AGENT_PORT}"],
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while port_free(AGENT_PORT, NODE_IP):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the telemetry agent did not listen; see {RUN / 'agent.log'}")
        time.sleep(0.2)
    clock.say(f"telemetry: agent on {NODE_IP}:{AGENT_PORT} follows the manager's transactions log")
    objects = demo_objects(framework, images)
    apply([objects["manager"], objects["env"], objects["pool"]])
    clock.say(
        f"applied examples/demo.yaml: WorkQueueManager app ({framework}), PonchoEnv"
        " numpy-env (pip: numpy==2.1.3), WorkerPool workers (0-2 pods, sizing Buckets)"
    )
    finished = 0
    deadline = time.monotonic() + ROUND_TIMEOUT_S
    snap = Snapshot()
    while time.monotonic() < deadline:
        for event in manager_out:
            if not event:
                break
            narrator.manager_line(event, framework)
            if event.get("event") == "finished":
                finished = int(event["tasks"])
        snap = snapshot()
        narrator.look(snap)
        check_operator(narrator, operator_deadline)
        live_pool_pods = [
            p for p in snap.pods if p["metadata"].get("labels", {}).get("workqueue.dev/pool")
        ]
        if finished and not live_pool_pods:
            break
        time.sleep(1)
    else:
        raise RuntimeError(
            f"{framework}: not finished within {ROUND_TIMEOUT_S} s; see {RUN / 'manager.log'}"
            f" and kubectl describe wqpool,penv -n {NAMESPACE}"
        )
    verdict = narrator.verdict(framework, finished)
    if not last:
        kubectl("delete", "wqpool,wqm", "--all", "-n", NAMESPACE, "--wait=true")
        stop("agent")
        stop("manager")
        clock.say(
            f"{framework} done: its WorkerPool and WorkQueueManager deleted, manager stopped;"
            " the PonchoEnv stays for the next framework"
        )
    return verdict


def down(quiet: bool = False) -> list[str]:
    """Removes everything the demo made: its processes on this machine, its namespace (the
    operator's release, the objects, their pods), the PersistentVolume, StorageClass and
    cluster-scoped grants, and the environment tarballs' directory. Returns what it removed."""
    removed = []
    for name in PROCESSES:
        if stop(name):
            removed.append(f"process {name}")
    if kubectl("get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "name").strip():
        # The objects first, while the operator still runs (it releases their finalizers);
        # then the namespace, and the operator with it.
        kubectl("delete", "wqpool,wqm,penv", "--all", "-n", NAMESPACE, "--timeout=60s",
                check=False)  # fmt: skip
        kubectl("delete", "namespace", NAMESPACE, "--timeout=180s")
        removed.append(f"namespace {NAMESPACE}")
    for kind, name in (("pv", VOLUME), ("storageclass", STORAGE_CLASS)):
        if kubectl("delete", kind, name, "--ignore-not-found", check=False).strip():
            removed.append(f"{kind} {name}")
    for kind in ("clusterrolebinding", "clusterrole"):
        # The chart's discovery grants (rbac.discovery) are cluster-scoped.
        out = kubectl("delete", kind, "-l", f"app.kubernetes.io/instance={RELEASE}",
                      "--ignore-not-found", "-o", "name", check=False)  # fmt: skip
        removed += [line.split(".", 1)[0] + "/" + line.split("/", 1)[1]
                    for line in out.splitlines() if "/" in line]  # fmt: skip
    if ENVS_DIR.exists():
        shutil.rmtree(ENVS_DIR)
        removed.append(f"directory {ENVS_DIR}")
    with contextlib.suppress(OSError):
        ENVS_DIR.parent.rmdir()  # CACHE/demo, when no other namespace's demo uses it
    if not quiet:
        print("removed: " + (", ".join(removed) if removed else "nothing (no demo was up)"))
    return removed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--framework",
        default=os.environ.get("DEMO_FRAMEWORK", "both"),
        choices=("WorkQueue", "TaskVine", "both"),
    )
    parser.add_argument("--down", action="store_true", help="remove everything the demo made")
    args = parser.parse_args()
    if args.down:
        down()
        return 0
    frameworks = ["WorkQueue", "TaskVine"] if args.framework == "both" else [args.framework]
    clock = Clock()
    if not (RUN / "manager.pid").exists():  # else the earlier demo's manager goes first
        check_ports()
    images = {name: image_ref(name) for name in ("operator", "worker", "builder")}
    fresh_namespace(clock, ENVS_DIR)
    clock.say(
        f"namespace {NAMESPACE}: claim envs bound to a local PersistentVolume on {ENVS_DIR}"
        f" (node {NODE_NAME}): where the PonchoEnv's tarball goes"
    )
    narrator = Narrator(clock)
    install_operator(clock, images["operator"])
    # Not waited for here: the first framework's manager, agent and objects start while the
    # operator's pod starts; the timeline says when it is Ready (and the demo fails if it is not
    # within OPERATOR_TIMEOUT_S).
    operator_deadline = time.monotonic() + OPERATOR_TIMEOUT_S
    verdicts = [
        run_framework(
            clock,
            narrator,
            framework,
            images,
            i == len(frameworks) - 1,
            operator_deadline=operator_deadline,
        )
        for i, framework in enumerate(frameworks)
    ]
    print()
    print(kubectl("get", "wqm,wqpool,penv", "-n", NAMESPACE).rstrip())
    print()
    for verdict in verdicts:
        print(f"OK  {verdict}")
    summary(clock, frameworks)
    return 0


def summary(clock: Clock, frameworks: list[str]) -> None:
    print(
        f"""
The demo ran in {clock.stamp()}. The {frameworks[-1]} manager, its telemetry agent and the
operator keep running (the pool is at 0 pods until the next backlog). Where to look next:
  source e2e/cluster/env.sh      # KUBECONFIG and kubectl of the local cluster, in this shell
  kubectl get wqm,wqpool,penv,pods -n {NAMESPACE}
  kubectl describe wqpool workers -n {NAMESPACE}    # decisions, recommendations, Events
  kubectl describe penv numpy-env -n {NAMESPACE}    # the build, the tarball, its hash
  kubectl logs -n {NAMESPACE} deploy/{RELEASE}-workqueue-operator   # the operator's log
  {RUN}/manager.log, agent.log   # the manager program's and the agent's output
  helm/workqueue-operator/dashboards/overview.json, sizing.json   # Grafana dashboards
  docs/workerpool.md, docs/sizing.md, docs/ponchoenv.md, docs/telemetry.md, docs/troubleshooting.md
Remove everything the demo made: make demo-down"""
    )


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"demo: {error}", file=sys.stderr)
        sys.exit(1)
