"""A control plane of the chaos runner's own, beside the shared one (which other people's tests
use and which must never be stopped): ``e2e/cluster``'s scripts run with their own state
directory and free ports, and KWOK stages that can hold a pod Pending for as long as its
annotation says (the shared cluster's fast stages make every pod Running at once)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import kubernetes
import urllib3
import yaml
from tests.harness import REPO, Cluster

SCRIPTS = REPO / "e2e" / "cluster"
READY_DELAY_ANNOTATION = "pod-ready.stage.kwok.x-k8s.io/delay"
"""A pod with this annotation (a Go duration, ``60s``) stays Pending that long on this control
plane's KWOK nodes: KWOK's own ``general`` pod-ready stage reads the same annotation."""
PORT_VARIABLES = (
    "WQ_ETCD_PORT",
    "WQ_ETCD_PEER_PORT",
    "WQ_APISERVER_PORT",
    "WQ_KCM_PORT",
    "WQ_SCHEDULER_PORT",
    "WQ_KWOK_PORT",
)


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports nothing listens on now (the kernel's choice)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def delayed_stages(source: Path) -> str:
    """The shared cluster's KWOK stages, with the pod-ready stage delayed by the pod's
    ``READY_DELAY_ANNOTATION`` (no delay without it)."""
    documents = list(yaml.safe_load_all(source.read_text()))
    for document in documents:
        if document and document["metadata"]["name"] == "pod-ready":
            document["spec"]["delay"] = {
                "durationMilliseconds": 0,
                "durationFrom": {
                    "expressionFrom": f'.metadata.annotations["{READY_DELAY_ANNOTATION}"]'
                },
            }
    return yaml.safe_dump_all(documents, sort_keys=False)


class OwnControlPlane:
    """etcd, kube-apiserver, controller-manager, scheduler and KWOK in ``state_dir``, on free
    ports, with ``nodes`` fake nodes of ``pods_per_node`` pods each."""

    def __init__(self, state_dir: Path, *, nodes: int = 4, pods_per_node: int = 300) -> None:
        self.state_dir = state_dir
        self.scripts = state_dir / "scripts"
        self.nodes = nodes
        self.pods_per_node = pods_per_node
        self.cluster: Cluster | None = None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in PORT_VARIABLES:
            env.pop(name, None)
        saved = self.state_dir / "cluster.env"
        if not saved.exists():  # first start: free ports; later starts reuse the saved ones
            env.update(zip(PORT_VARIABLES, map(str, free_ports(len(PORT_VARIABLES))), strict=True))
        env |= {
            "WQ_CLUSTER_DIR": str(self.state_dir),
            "WQ_KWOK_NODES": str(self.nodes),
            "WQ_KWOK_NODE_PODS": str(self.pods_per_node),
            "WQ_KWOK_NODE_CPU": "1000",
            "WQ_KWOK_NODE_MEMORY": "4Ti",
            "WQ_STOP_GRACE": "5",
        }
        return env

    def _copy_scripts(self) -> None:
        """e2e/cluster as it is (same binaries, same cache key), with the delayed stages."""
        if self.scripts.exists():
            shutil.rmtree(self.scripts)
        shutil.copytree(SCRIPTS, self.scripts, symlinks=True)
        stages = self.scripts / "kwok" / "stages.yaml"
        stages.write_text(delayed_stages(SCRIPTS / "kwok" / "stages.yaml"))

    def up(self) -> Cluster:
        """Start every component that is not running (all of them the first time)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self.scripts.exists():
            self._copy_scripts()
        result = subprocess.run(
            ["bash", str(self.scripts / "up.sh")],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"up.sh of {self.state_dir} failed:\n{result.stderr[-3000:]}")
        bin_dir = Path(
            subprocess.run(
                ["bash", "-c", f"source {self.scripts}/lib.sh && echo $wq_bin"],
                env=self._env(),
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        self.cluster = Cluster(kubeconfig=self.state_dir / "kubeconfig", bin_dir=bin_dir)
        return self.cluster

    def pid(self, component: str) -> int | None:
        path = self.state_dir / "pids" / f"{component}.pid"
        try:
            pid = int(path.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def stop_components(self, *components: str, grace: float = 5.0) -> None:
        """SIGTERM these components (the processes this control plane's up.sh started, by the
        pid files they wrote), SIGKILL after ``grace`` seconds; wait until they are gone."""
        pids = [pid for c in components if (pid := self.pid(c)) is not None]
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(_alive(pid) for pid in pids):
            if time.monotonic() > deadline:
                for pid in pids:
                    if _alive(pid):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)

    def wait_ready(self, timeout: float) -> float:
        """The local time at which the apiserver first answered ``/readyz`` with 200 (probed
        every 0.1 s)."""
        api = kubernetes.config.new_client_from_config(
            config_file=str(self.state_dir / "kubeconfig"), persist_config=False
        )
        pool, host = api.rest_client.pool_manager, str(api.configuration.host).rstrip("/")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(urllib3.exceptions.HTTPError, OSError):
                answer = pool.request(
                    "GET", f"{host}/readyz", timeout=urllib3.Timeout(1.0), retries=False
                )
                if answer.status == 200:
                    return time.time()
            time.sleep(0.1)
        raise TimeoutError(f"the apiserver of {self.state_dir} not ready after {timeout:.0f} s")

    def down(self, *, purge: bool = True) -> None:
        """Stop everything (and delete the state directory)."""
        if not self.scripts.exists():
            return
        args = ["bash", str(self.scripts / "down.sh"), *(["--purge"] if purge else [])]
        subprocess.run(args, env=self._env(), capture_output=True, timeout=300, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state not in "ZX"
