"""Test harness: the local control plane as the tests see it (not product code)."""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.manifests import object_count_quota

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPTS = REPO / "e2e" / "cluster"
# The labels that name the process, and its host, which made a test namespace
# (Cluster.create_namespace; tests/leftovers.py).
OWNER_PID_LABEL = "test.workqueue.dev/owner-pid"
OWNER_HOST_LABEL = "test.workqueue.dev/owner-host"


def owner_host() -> str:
    """This host's name as a label value (63 characters of [a-z0-9.-_] at most)."""
    name = re.sub(r"[^a-z0-9._-]+", "-", socket.gethostname().lower()).strip("-._")
    return name[:63].rstrip("-._") or "unknown"


def owner_labels(pid: int | None = None) -> dict[str, str]:
    """The labels of a test namespace made by process ``pid`` (this one when None) here."""
    return {
        OWNER_PID_LABEL: str(os.getpid() if pid is None else pid),
        OWNER_HOST_LABEL: owner_host(),
    }


T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float = 60.0,
    interval: float = 0.5,
    what: str = "condition",
    explain: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` until it returns something truthy; fail with ``what`` after ``timeout``
    (and, when given, ``explain()``'s account of where things stand)."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    message = f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})"
    raise AssertionError(explained(message, explain))


def explained(message: str, explain: Callable[[], str] | None) -> str:
    """A timeout's ``message`` with ``explain()``'s account of where things stand; when that
    fails too, the message still comes first, with why there is no account."""
    if explain is None:
        return message
    try:
        account = explain()
    except Exception as error:  # the timeout is what the caller must see
        account = f"(no account of where things stand: {error!r})"
    return f"{message}\n{account}"


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON lines of a program's output (a manager's log, say), other lines skipped."""
    found = []
    for line in text.splitlines():
        try:
            found.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return found


@dataclass(frozen=True)
class Cluster:
    """The running local control plane: its kubeconfig and a matching kubectl."""

    kubeconfig: Path
    bin_dir: Path

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{self.bin_dir}:{env.get('PATH', '')}"
        return env

    def kubectl(
        self,
        *args: str,
        namespace: str | None = None,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        command: list[str] = [str(self.bin_dir / "kubectl")]
        if namespace:
            command += ["-n", namespace]
        command += list(args)
        result = subprocess.run(
            command,
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def get(self, resource: str, name: str, namespace: str) -> dict[str, Any] | None:
        """The object as JSON, or None when it does not exist."""
        result = self.kubectl("get", resource, name, "-o", "json", namespace=namespace, check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        value: dict[str, Any] = json.loads(result.stdout)
        return value

    def apply(
        self, manifest: str, namespace: str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.kubectl("apply", "-f", "-", namespace=namespace, input=manifest, check=check)

    def create_namespace(self, name: str, *, owner_pid: int | None = None) -> None:
        """Create a namespace labelled with its owner, this process (or ``owner_pid``) on this
        host, so that a later run can tell it is left over once that process is gone
        (tests/leftovers.py), and wait for its default ServiceAccount (pods need it)."""
        manifest = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": owner_labels(owner_pid)},
        }
        self.kubectl("create", "-f", "-", input=json.dumps(manifest))
        wait_for(
            lambda: self.get("serviceaccount", "default", name),
            timeout=60,
            what=f"the default ServiceAccount in {name}",
        )

    def wait_condition(
        self,
        resource: str,
        name: str,
        namespace: str,
        type_: str,
        *,
        status: str | None = None,
        reason: str | None = None,
        message_has: Sequence[str] = (),
        what: str,
        timeout: float = 60,
        explain: Callable[[], str] | None = None,
    ) -> dict[str, Any]:
        """The object's ``type_`` condition, once it has ``status`` and ``reason`` (each when
        given) and its message holds one of ``message_has`` (when given)."""

        def found() -> dict[str, Any] | None:
            c = condition(self.get(resource, name, namespace), type_)
            if c is None or status not in (None, c["status"]) or reason not in (None, c["reason"]):
                return None
            if message_has and not any(word in c.get("message", "") for word in message_has):
                return None
            return c

        return wait_for(found, timeout=timeout, what=what, explain=explain)

    def wait_condition_true(
        self, resource: str, name: str, namespace: str, type_: str, *, what: str
    ) -> None:
        """Wait (a minute at most) until the object's ``type_`` condition is True."""
        self.wait_condition(resource, name, namespace, type_, status="True", what=what)

    def apply_full_quota(self, name: str, resource: str, namespace: str) -> None:
        """A ResourceQuota that allows no ``resource`` object (``object_count_quota``), once the
        quota controller has counted it (before that the apiserver refuses creates with
        "status unknown for quota" instead of "exceeded quota")."""
        self.apply(object_count_quota(name, resource), namespace)
        wait_for(
            lambda: ((self.get("resourcequota", name, namespace) or {}).get("status") or {}).get(
                "hard"
            ),
            timeout=60,
            what=f"ResourceQuota {name} counted",
        )

    def namespace_account(self, namespace: str, *, log_lines: int = 5, events: int = 15) -> str:
        """Where a namespace stands, for a test that timed out: every pod (phase, restarts,
        node) with its containers' last log lines, and the latest Events."""
        pods = json.loads(self.kubectl("get", "pods", "-o", "json", namespace=namespace).stdout)
        lines = [f"pods in {namespace}:"]
        for pod in pods["items"]:
            name, status = pod["metadata"]["name"], pod.get("status") or {}
            restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses", []))
            lines.append(
                f"  {name}: {status.get('phase')}, {restarts} restarts, on "
                f"{pod['spec'].get('nodeName')}"
            )
            for container in pod["spec"]["containers"]:
                log = self.kubectl(
                    "logs", name, "-c", container["name"], f"--tail={log_lines}",
                    namespace=namespace, check=False,
                )  # fmt: skip
                for line in (log.stdout or log.stderr).splitlines()[-log_lines:]:
                    lines.append(f"    [{container['name']}] {line[:300]}")
        found = json.loads(self.kubectl("get", "events", "-o", "json", namespace=namespace).stdout)
        latest = sorted(
            found["items"], key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or ""
        )[-events:]
        lines.append(f"latest Events in {namespace}:")
        lines += [
            f"  {e.get('type')} {e.get('reason')} {e['involvedObject'].get('kind')}/"
            f"{e['involvedObject'].get('name')}: {(e.get('message') or '')[:200]}"
            for e in latest
        ]
        return "\n".join(lines)

    def events_for(self, name: str, namespace: str) -> list[dict[str, Any]]:
        result = self.kubectl(
            "get",
            "events",
            "--field-selector",
            f"involvedObject.name={name}",
            "-o",
            "json",
            namespace=namespace,
        )
        items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
        return items


@contextmanager
def crd_kept_applied(cluster: Cluster, crd_file: Path, every: float = 0.25) -> Iterator[None]:
    """Apply ``crd_file`` now, and again whenever the CRD changes while the block runs (its
    generation, read every ``every`` seconds).

    The local cluster is shared by several checkouts at once; one whose CRD lacks this
    checkout's newer fields may apply it at any moment, and the apiserver then prunes those
    fields from every read of this checkout's objects (the operator would act on a spec without
    them) until this one is applied again. Apply only a CRD whose fields are a superset of the
    others'. This narrows that window to a fraction of a second; it cannot close it."""
    import kubernetes  # noqa: PLC0415  (the conftest sets the client's environment first)
    import yaml  # noqa: PLC0415

    name = yaml.safe_load(crd_file.read_text())["metadata"]["name"]
    api = kubernetes.client.ApiextensionsV1Api(
        kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    )

    def apply() -> int | None:
        cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", str(crd_file), check=False
        )
        return generation()

    def generation() -> int | None:
        try:
            return int(api.read_custom_resource_definition(name).metadata.generation)
        except (kubernetes.client.exceptions.ApiException, OSError):
            return None

    ours = apply()
    stop = threading.Event()

    def loop() -> None:
        nonlocal ours
        while not stop.wait(every):
            now = generation()
            if now is not None and now != ours:
                ours = apply()

    thread = threading.Thread(target=loop, name="crd-kept-applied", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def start_cluster(extra_env: dict[str, str] | None = None) -> Cluster:
    """Bring the local control plane up (reusing one already running) and describe it."""
    env = dict(os.environ) | (extra_env or {})
    subprocess.run(["bash", str(CLUSTER_SCRIPTS / "up.sh")], env=env, check=True, timeout=3600)
    return running_cluster(env)


def running_cluster(env: dict[str, str] | None = None) -> Cluster:
    """The local control plane as it is now (nothing started or stopped)."""
    settings = _cluster_settings(dict(os.environ) if env is None else env)
    return Cluster(kubeconfig=Path(settings["KUBECONFIG"]), bin_dir=Path(settings["WQ_BIN_DIR"]))


def local_kubeconfig() -> Path:
    """The local control plane's kubeconfig (whether or not it is running yet)."""
    return Path(_cluster_settings(dict(os.environ))["KUBECONFIG"])


def _cluster_settings(env: dict[str, str]) -> dict[str, str]:
    """KUBECONFIG and the folder of the matching kubectl, as e2e/cluster/env.sh sets them."""
    script = (
        f"source {CLUSTER_SCRIPTS / 'env.sh'} >/dev/null; echo $KUBECONFIG; "
        'dirname "$(command -v kubectl)"'
    )
    out = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    return {"KUBECONFIG": out[0], "WQ_BIN_DIR": out[1]}


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    """The status condition of a type, if the object has it."""
    if obj is None:
        return None
    conditions: Sequence[dict[str, Any]] = obj.get("status", {}).get("conditions", [])
    return next((c for c in conditions if c.get("type") == type_), None)


def wait_for_passes(
    kind: str, namespace: str, name: str, count: int = 2, timeout: float = 60.0
) -> None:
    """Wait until the in-process operator (the session's ``operator`` fixture) has finished
    ``count`` more reconcile passes of one object, as its
    ``workqueue_operator_last_reconcile_timestamp_seconds`` says: what a test waits on before
    it asserts that those passes changed nothing."""
    from workqueue_operator.controllers import metrics  # noqa: PLC0415

    last = metrics.last_pass(kind, namespace, name) or 0.0

    def pass_after(since: float) -> float | None:
        at = metrics.last_pass(kind, namespace, name)
        return at if at is not None and at > since else None

    for n in range(count):
        last = wait_for(
            functools.partial(pass_after, last),
            timeout=timeout,
            interval=0.1,
            what=f"reconcile pass {n + 1} of {count} of {kind} {namespace}/{name}",
        )
