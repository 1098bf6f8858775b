"""The bench's own control plane instance, the identities the operators run as, and what
measures them: the apiserver's audit log (requests by verb and resource of one identity), the
process's CPU and RSS from /proc, a real Prometheus."""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness import REPO, Cluster, start_cluster

CLUSTER_SCRIPTS = REPO / "e2e" / "cluster"
SYSTEM_NAMESPACE = "scale-bench-system"
"""Where the operators' ServiceAccounts live; the audit policy logs this group's requests only."""
AUDIT_POLICY = f"""apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts:{SYSTEM_NAMESPACE}"]
  - level: None
"""
DEFAULT_PORTS = {
    "WQ_ETCD_PORT": "22379",
    "WQ_ETCD_PEER_PORT": "22380",
    "WQ_APISERVER_PORT": "16443",
    "WQ_KCM_PORT": "20257",
    "WQ_SCHEDULER_PORT": "20259",
    "WQ_KWOK_PORT": "20247",
}


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


@dataclass
class ControlPlane:
    """A control plane instance of the bench's own (own state dir and ports), its apiserver
    writing an audit log of the ``SYSTEM_NAMESPACE`` ServiceAccounts' requests."""

    state_dir: Path
    ports: Mapping[str, str]
    cluster: Cluster | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            "WQ_CLUSTER_DIR": str(self.state_dir),
            "WQ_KWOK_NODES": "1",
            "WQ_APISERVER_AUDIT_POLICY": str(self.state_dir.parent / "audit-policy.yaml"),
            **self.ports,
        }

    @property
    def audit_log(self) -> Path:
        return self.state_dir / "logs" / "audit.log"

    @property
    def apiserver(self) -> str:
        return f"127.0.0.1:{self.ports['WQ_APISERVER_PORT']}"

    @property
    def pki(self) -> Path:
        return self.state_dir / "pki"

    def up(self) -> Cluster:
        self.state_dir.parent.mkdir(parents=True, exist_ok=True)
        (self.state_dir.parent / "audit-policy.yaml").write_text(AUDIT_POLICY)
        self.cluster = start_cluster(self.env)
        return self.cluster

    def down(self) -> None:
        subprocess.run(
            ["bash", str(CLUSTER_SCRIPTS / "down.sh")],
            env=dict(os.environ) | self.env,
            check=False,
            timeout=300,
        )


def identity_kubeconfig(cluster: Cluster, name: str, work: Path) -> tuple[Path, str]:
    """A ServiceAccount ``name`` in ``SYSTEM_NAMESPACE`` bound to cluster-admin, and a
    kubeconfig with its token: (the kubeconfig, the username the apiserver logs)."""
    manifests = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}},
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": SYSTEM_NAMESPACE},
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"{SYSTEM_NAMESPACE}-{name}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": name, "namespace": SYSTEM_NAMESPACE}
                ],
            },
        ],
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifests))
    token = cluster.kubectl(
        "create", "token", name, "-n", SYSTEM_NAMESPACE, "--duration=24h"
    ).stdout.strip()
    admin = json.loads(cluster.kubectl("config", "view", "--raw", "-o", "json").stdout)
    server = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bench", "cluster": server}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": name}}],
        "current-context": "bench",
    }
    path = work / f"kubeconfig-{name}"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path, f"system:serviceaccount:{SYSTEM_NAMESPACE}:{name}"


def _audit_time(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class AuditLog:
    """Requests of the audited identities, by user, from the apiserver's audit log (one JSON
    line per request at ResponseComplete; a watch is logged when it ends)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def requests(self, user: str, start: float, end: float) -> collections.Counter[str]:
        """Requests ``user`` sent between ``start`` and ``end`` (Unix times, by the apiserver's
        receive time), counted by ``verb resource[/subresource]``."""
        counts: collections.Counter[str] = collections.Counter()
        for path in sorted(self.path.parent.glob("audit*.log"), key=lambda p: p.stat().st_mtime):
            with path.open(errors="replace") as lines:
                for line in lines:
                    if user not in line:
                        continue
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if event.get("user", {}).get("username") != user:
                        continue
                    at = _audit_time(event["requestReceivedTimestamp"])
                    if not start <= at < end:
                        continue
                    ref = event.get("objectRef") or {}
                    resource = ref.get("resource") or event.get("requestURI", "?").split("?")[0]
                    if ref.get("subresource"):
                        resource += "/" + ref["subresource"]
                    counts[f"{event.get('verb')} {resource}"] += 1
        return counts


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def cpu_seconds(pid: int) -> float:
    with Path(f"/proc/{pid}/stat").open() as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    with Path(f"/proc/{pid}/statm").open() as statm:
        return int(statm.read().split()[1]) * PAGE_KB / 1024


@dataclass
class Phase:
    """One measured phase of one process."""

    name: str
    start: float = 0.0
    """Unix time."""
    end: float = 0.0
    cpu_s: float = 0.0
    rss_peak_mb: float = 0.0
    rss_end_mb: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)
    prometheus: dict[str, float | None] = field(default_factory=dict)
    load: str = ""

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 1e-9)

    @property
    def cpu_per_min(self) -> float:
        return self.cpu_s * 60 / self.seconds

    @property
    def requests_total(self) -> int:
        return sum(self.requests.values())

    @property
    def writes(self) -> int:
        return sum(
            n
            for key, n in self.requests.items()
            if key.split()[0] in ("create", "update", "patch", "delete", "deletecollection")
        )


class ProcessMeter:
    """CPU and RSS of one process, sampled every 0.25 s from a thread (for peaks)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._peak = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"meter-{pid}")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            with contextlib.suppress(OSError):
                value = rss_mb(self.pid)
                with self._lock:
                    self._peak = max(self._peak, value)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[Phase]:
        """Measures the block; the Phase's CPU, RSS and times are filled when it ends."""
        result = Phase(name, start=time.time(), load=load_average())
        with self._lock:
            self._peak = rss_mb(self.pid)
        cpu0 = cpu_seconds(self.pid)
        try:
            yield result
        finally:
            result.end = time.time()
            with contextlib.suppress(OSError):
                result.cpu_s = cpu_seconds(self.pid) - cpu0
                result.rss_end_mb = rss_mb(self.pid)
            with self._lock:
                result.rss_peak_mb = max(self._peak, result.rss_end_mb)
            result.load += " -> " + load_average()


def admin_tls(pki: Path) -> dict[str, Any]:
    """Prometheus' tls_config for the apiserver's /metrics (the admin client certificate)."""
    return {
        "ca_file": str(pki / "ca.crt"),
        "cert_file": str(pki / "admin.crt"),
        "key_file": str(pki / "admin.key"),
    }


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
