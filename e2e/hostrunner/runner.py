"""``HostRunner``: runs the first container of selected pods as local processes (test harness).

It stands in for kubelet + container runtime on the local control plane, whose nodes are KWOK
fakes (no images can be pulled here). See README.md in this folder for the whole behaviour,
how it plays with KWOK, and its limits. Two threads:

* the *watch* thread lists and watches the selected pods into a cache keyed by uid (resuming
  from the last resourceVersion, relisting on 410 Gone), and wakes
* the *control* thread, the only one that starts, signals and reaps processes and writes pods:
  it reconciles every known pod (and every process) at each wake-up and every 0.2 s.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import urllib3

from e2e.hostrunner import procs
from e2e.hostrunner.kube import (
    CONFLICT,
    GONE,
    JSON_PATCH,
    NOT_FOUND,
    STRATEGIC_MERGE_PATCH,
    UNPROCESSABLE,
    ApiError,
    KubeClient,
)
from e2e.hostrunner.podspec import (
    JSON,
    NotReadyError,
    PodSpecError,
    container_ports,
    launch_spec,
    pod_hostname,
)
from e2e.processes import process_alive

log = logging.getLogger("e2e.hostrunner")

DEFAULT_SELECTOR = "workqueue.dev/host-runner=true"
CLAIM_ANNOTATION = "workqueue.dev/host-runner-claim"
"""``<host>/<pid>/<token>`` of the runner that runs the pod: no two runners run one pod."""
FINALIZER = "workqueue.dev/host-runner"
"""Holds a deleted pod (Terminating) until its process is gone, as a kubelet does."""
DEFAULT_GRACE_SECONDS = 30
TICK_SECONDS = 0.2
RETRY_SECONDS = 1.0
NOT_READY_RETRY_SECONDS = 2.0
MAX_STATUS_ATTEMPTS = 10
LOG_FILE = "container.log"

_LIVE_RUNNERS: set[str] = set()
_LIVE_LOCK = threading.Lock()
_HOST = socket.gethostname()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pointer(key: str) -> str:
    """A JSON-pointer path segment (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _bindable(port: int) -> int | None:
    """``port`` (0: any) if a listening socket could bind it on the host now (with
    SO_REUSEADDR, as servers such as CCTools' do), else None."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return None
        bound: int = s.getsockname()[1]
        return bound


def claim_alive(claim: str) -> bool:
    """Whether the runner named by a claim annotation still runs: a runner of this process
    that is not stopped, or another process on this host that exists. Claims of other hosts
    count as alive (they cannot be checked)."""
    host, _, rest = claim.partition("/")
    pid_text, _, _token = rest.partition("/")
    if host != _HOST or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        with _LIVE_LOCK:
            return claim in _LIVE_RUNNERS
    return process_alive(pid)


@dataclass(frozen=True)
class ProcessInfo:
    """A snapshot of one pod's process."""

    namespace: str
    name: str
    uid: str
    state: str
    """``waiting`` (its Secret/ConfigMap is missing), ``running``, ``terminating``, ``exited``
    or ``failed`` (could not be started)."""
    pid: int | None
    hostname: str
    argv: list[str]
    pod_dir: Path
    log_path: Path
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    exit_code: int | None
    message: str


@dataclass
class _Entry:
    """The control thread's record of one pod (by uid)."""

    namespace: str
    name: str
    uid: str
    pod_dir: Path
    grace_seconds: float
    container: str
    image: str
    hostname: str = ""
    argv: list[str] = field(default_factory=list)
    host_ports: dict[int, int] = field(default_factory=dict)
    """Container port -> the host port the process got for it (see :meth:`_host_ports`)."""
    proc: subprocess.Popen[bytes] | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    failed: bool = False
    term_sent_at: float | None = None
    kill_at: float | None = None
    retry_at: float = 0.0
    not_ready_logged: str = ""
    status_attempts: int = 0
    status_done: bool = False
    finalizer_released: bool = False
    deletion_done: bool = False

    @property
    def log_path(self) -> Path:
        return self.pod_dir / LOG_FILE

    @property
    def running(self) -> bool:
        return self.proc is not None and self.exit_code is None

    @property
    def finished(self) -> bool:
        return self.exit_code is not None

    @property
    def state(self) -> str:
        if self.failed:
            return "failed"
        if self.exit_code is not None:
            return "exited"
        if self.proc is None:
            return "waiting"
        return "terminating" if self.term_sent_at is not None else "running"


class HostRunner:
    """Runs selected, scheduled pods as local processes until they are deleted (test harness).

    ``with HostRunner(kubeconfig, namespace=ns) as runner: ...`` — see README.md. Pods are
    those matching ``label_selector`` (in ``namespace``, or all namespaces) with
    ``spec.nodeName`` set. Options: ``base_dir`` holds one directory per pod (a fresh temporary
    directory, removed at stop, by default); ``max_grace_seconds`` caps the pod's
    terminationGracePeriodSeconds between SIGTERM and SIGKILL; ``hold_deletion`` adds a
    finalizer while a pod's process runs, so that a deleted pod stays Terminating until its
    process is gone (KWOK would remove it at once); ``isolate`` (default: when possible) runs
    each process in its own UTS+PID namespace with the pod's hostname.
    """

    def __init__(
        self,
        kubeconfig: Path,
        label_selector: str = DEFAULT_SELECTOR,
        namespace: str | None = None,
        *,
        base_dir: Path | None = None,
        max_grace_seconds: float = 5.0,
        hold_deletion: bool = True,
        isolate: bool | None = None,
    ) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.label_selector = label_selector
        self.namespace = namespace
        self.max_grace_seconds = max_grace_seconds
        self.hold_deletion = hold_deletion
        self.isolate = procs.isolation_available() if isolate is None else isolate
        if not self.isolate:
            log.warning(
                "host runner without namespaces (needs root and util-linux unshare): processes "
                "keep the host's hostname and their tasks may outlive them until swept"
            )
        self._own_base = base_dir is None
        self._base_dir = base_dir
        self.claim = f"{_HOST}/{os.getpid()}/{uuid.uuid4().hex[:12]}"
        self._api = KubeClient(self.kubeconfig)
        self._watch_api = KubeClient(self.kubeconfig)
        self._pods: dict[str, JSON] = {}
        self._entries: dict[str, _Entry] = {}
        self._not_before: dict[str, float] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._synced = threading.Event()
        self._resync = threading.Event()
        self._threads: list[threading.Thread] = []
        self.watch_restarts = 0
        """Watch requests made so far (the first, then each resume or relist): for tests."""
        self.relists = 0
        """Full lists made so far (the first, then after 410 Gone or :meth:`resync`)."""

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_dir(self) -> Path:
        if self._base_dir is None:
            self._base_dir = Path(tempfile.mkdtemp(prefix="wq-host-runner-"))
        return self._base_dir

    def start(self, timeout: float = 60.0) -> HostRunner:
        """Start watching; return once the first list is in (raise TimeoutError if not)."""
        if self._threads:
            return self
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with _LIVE_LOCK:
            _LIVE_RUNNERS.add(self.claim)
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._watch_loop, name="host-runner-watch", daemon=True),
            threading.Thread(target=self._control_loop, name="host-runner-control", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if not self._synced.wait(timeout):
            self.stop()
            raise TimeoutError(f"host runner: no pod list from the apiserver in {timeout:g} s")
        log.info(
            "host runner %s watching pods %r in %s (dirs in %s)",
            self.claim,
            self.label_selector,
            self.namespace or "all namespaces",
            self.base_dir,
        )
        return self

    def stop(self) -> None:
        """Kill every process this runner started (and their leftovers), release the pods it
        held, and remove its base directory if it made it. Idempotent."""
        self._stopping.set()
        self._wake.set()
        self._watch_api.close_streams()
        for thread in self._threads:
            thread.join(timeout=60)
            if thread.is_alive():
                log.error("host runner thread %s did not stop", thread.name)
        self._threads = []
        with _LIVE_LOCK:
            _LIVE_RUNNERS.discard(self.claim)
        if self._own_base and self._base_dir is not None:
            shutil.rmtree(self._base_dir, ignore_errors=True)

    def __enter__(self) -> HostRunner:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def resync(self, *, relist: bool = True) -> None:
        """Break the watch as the network would: with ``relist``, list again (what a 410 Gone
        leads to); else resume from the last resourceVersion seen. For tests."""
        if relist:
            self._resync.set()
        self._watch_api.close_streams()

    # -- inspection --------------------------------------------------------------------------

    @property
    def running_count(self) -> int:
        """Processes started and not yet exited."""
        with self._lock:
            return sum(1 for e in self._entries.values() if e.running)

    def processes(self) -> list[ProcessInfo]:
        """Every pod this runner has handled, oldest first."""
        with self._lock:
            entries = list(self._entries.values())
        return [self._info(e) for e in entries]

    def process(self, namespace: str, name: str) -> ProcessInfo | None:
        """The latest process of the pod of that name (a re-created pod has a new uid)."""
        found = [p for p in self.processes() if p.namespace == namespace and p.name == name]
        return found[-1] if found else None

    def logs(self, namespace: str, pod: str) -> str:
        """stdout and stderr (interleaved) of the pod's latest process; "" if none."""
        info = self.process(namespace, pod)
        if info is None:
            return ""
        try:
            return info.log_path.read_text(errors="replace")
        except OSError:
            return ""

    @staticmethod
    def _info(e: _Entry) -> ProcessInfo:
        proc = e.proc
        return ProcessInfo(
            namespace=e.namespace,
            name=e.name,
            uid=e.uid,
            state=e.state,
            pid=None if proc is None else proc.pid,
            hostname=e.hostname,
            argv=list(e.argv),
            pod_dir=e.pod_dir,
            log_path=e.log_path,
            started_at=e.started_at,
            finished_at=e.finished_at,
            exit_code=e.exit_code,
            message=e.message,
        )

    # -- watch thread ------------------------------------------------------------------------

    def _watch_loop(self) -> None:
        version: str | None = None
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                if version is None or self._resync.is_set():
                    self._resync.clear()
                    version = self._relist()
                self.watch_restarts += 1
                version = self._watch(version)
                backoff = 0.5
            except ApiError as error:
                if error.status == GONE:
                    version = None
                    continue
                log.warning("host runner watch: %s", error)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
                if self._stopping.is_set():
                    break
                if not self._resync.is_set():
                    log.info("host runner watch interrupted (%s); resuming", error)
                    self._stopping.wait(backoff)
                    backoff = min(backoff * 2, 5.0)
            except Exception:
                log.exception("host runner watch failed; relisting")
                version = None
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _relist(self) -> str:
        listing = self._watch_api.list_pods(self.namespace, self.label_selector)
        pods = {p["metadata"]["uid"]: p for p in listing.get("items") or []}
        with self._lock:
            self._pods = pods
        self.relists += 1
        self._synced.set()
        self._wake.set()
        return str(listing["metadata"]["resourceVersion"])

    def _watch(self, version: str) -> str | None:
        """Follow the watch from ``version``; the last version seen (None = relist)."""
        for event in self._watch_api.watch_pods(self.namespace, self.label_selector, version):
            if self._stopping.is_set() or self._resync.is_set():
                break
            kind = event.get("type")
            obj: JSON = event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == GONE:
                    return None
                raise ApiError(int(obj.get("code") or 500), "WATCH", "pods", str(obj))
            version = str(obj["metadata"]["resourceVersion"])
            if kind == "BOOKMARK":
                continue
            uid = obj["metadata"]["uid"]
            with self._lock:
                if kind == "DELETED":
                    self._pods.pop(uid, None)
                else:
                    self._pods[uid] = obj
            self._wake.set()
        return None if self._resync.is_set() else version

    # -- control thread ----------------------------------------------------------------------

    def _control_loop(self) -> None:
        try:
            while not self._stopping.is_set():
                self._wake.wait(TICK_SECONDS)
                self._wake.clear()
                if self._synced.is_set():
                    self._reconcile_all()
        except Exception:
            log.exception("host runner control loop failed")
        finally:
            self._shutdown()

    def _reconcile_all(self) -> None:
        with self._lock:
            pods = dict(self._pods)
            uids = list(pods) + [u for u in self._entries if u not in pods]
        for uid in uids:
            if self._stopping.is_set():
                return
            try:
                self._reconcile(uid, pods.get(uid))
            except (ApiError, urllib3.exceptions.HTTPError, OSError) as error:
                log.warning("host runner: pod %s: %s (will retry)", uid, error)
                self._retry_later(uid)
            except Exception:  # one odd pod must not stop the others (or kill them all)
                log.exception("host runner: pod %s: unexpected error (will retry)", uid)
                self._retry_later(uid)

    def _retry_later(self, uid: str) -> None:
        entry = self._entries.get(uid)
        if entry is not None:
            entry.retry_at = time.monotonic() + RETRY_SECONDS
        else:
            self._not_before[uid] = time.monotonic() + RETRY_SECONDS

    def _reconcile(self, uid: str, pod: JSON | None) -> None:
        entry = self._entries.get(uid)
        now = time.monotonic()
        if entry is None:
            if pod is not None and self._not_before.get(uid, 0.0) <= now:
                self._not_before.pop(uid, None)
                self._maybe_start(pod)
            return
        deleting = pod is None or bool(pod["metadata"].get("deletionTimestamp"))
        # 1. Processes: notice exits, stop what must stop.
        if entry.running and entry.proc is not None:
            returncode = entry.proc.poll()
            if returncode is not None:
                self._exited(entry, returncode)
            elif deleting:
                self._stop_process(entry, now)
        if pod is None or now < entry.retry_at:
            return
        # 2. The API side, once nothing runs any more (or still waiting to start).
        if entry.proc is None and not entry.failed and not deleting:
            self._launch(entry, pod)
        elif deleting:
            if not entry.running:
                self._finish_deletion(entry, pod)
        elif entry.finished:
            self._report(entry, pod)

    # -- starting ----------------------------------------------------------------------------

    def _maybe_start(self, pod: JSON) -> None:
        meta = pod["metadata"]
        phase = (pod.get("status") or {}).get("phase")
        claim = (meta.get("annotations") or {}).get(CLAIM_ANNOTATION)
        ours_or_orphan = claim is None or claim == self.claim or not claim_alive(claim)
        if meta.get("deletionTimestamp") or phase in ("Succeeded", "Failed"):
            # Left over by a runner that died: let the pod go.
            if FINALIZER in (meta.get("finalizers") or []) and ours_or_orphan:
                self._release_finalizer(pod)
            return
        if not (pod.get("spec") or {}).get("nodeName") or not ours_or_orphan:
            return
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        entry = _Entry(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta["uid"],
            pod_dir=self.base_dir / f"{meta['namespace']}_{meta['name']}_{meta['uid'][:8]}",
            grace_seconds=float(DEFAULT_GRACE_SECONDS if grace is None else grace),
            container=str(containers[0].get("name", "")),
            image=str(containers[0].get("image", "")),
            hostname=pod_hostname(pod),
        )
        if not self._claim(pod):
            return
        with self._lock:
            self._entries[entry.uid] = entry
        self._launch(entry, pod)

    def _claim(self, pod: JSON) -> bool:
        """Mark the pod as ours (and hold its deletion) if it did not change meanwhile."""
        meta = pod["metadata"]
        annotations = meta.get("annotations")
        finalizers = meta.get("finalizers")
        ops: list[JSON] = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]}
        ]
        if (annotations or {}).get(CLAIM_ANNOTATION) != self.claim:
            if annotations is None:
                ops.append(
                    {
                        "op": "add",
                        "path": "/metadata/annotations",
                        "value": {CLAIM_ANNOTATION: self.claim},
                    }
                )
            else:
                path = f"/metadata/annotations/{_pointer(CLAIM_ANNOTATION)}"
                ops.append({"op": "add", "path": path, "value": self.claim})
        if self.hold_deletion and FINALIZER not in (finalizers or []):
            if finalizers is None:
                ops.append({"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]})
            else:
                ops.append({"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER})
        if len(ops) == 1:
            return True
        try:
            updated = self._api.patch_pod(meta["namespace"], meta["name"], ops, JSON_PATCH)
        except ApiError as error:
            if error.status in (NOT_FOUND, CONFLICT, UNPROCESSABLE):
                return False  # changed or gone meanwhile: the next event decides again
            raise
        self._remember(updated)
        return True

    def _remember(self, pod: JSON) -> None:
        """Put a pod the API just returned into the cache if it is newer than the cached one."""
        uid = pod["metadata"]["uid"]
        with self._lock:
            cached = self._pods.get(uid)
            if cached is None:
                return  # deleted meanwhile (the watch said so)
            if int(pod["metadata"]["resourceVersion"]) >= int(
                cached["metadata"]["resourceVersion"]
            ):
                self._pods[uid] = pod

    def _host_ports(self, entry: _Entry, pod: JSON) -> dict[int, int]:
        """A host port for each TCP port the pod's first container declares: the same number
        when it is free on the host and no other running pod of this runner has it, otherwise
        any free port (in a cluster every pod has the port space of its own network namespace;
        here the processes share the host's, and two TaskVine workers cannot both serve
        transfers on 9124)."""
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        with self._lock:
            taken = {
                port
                for other in self._entries.values()
                if other is not entry and other.running
                for port in other.host_ports.values()
            }
        ports: dict[int, int] = {}
        for port in container_ports(containers[0]):
            host_port = port
            while host_port in taken or _bindable(host_port) is None:
                host_port = _bindable(0) or port
            taken.add(host_port)
            ports[port] = host_port
        return ports

    def _launch(self, entry: _Entry, pod: JSON) -> None:
        try:
            entry.host_ports = self._host_ports(entry, pod)
            spec = launch_spec(
                pod,
                entry.pod_dir,
                self._lookup,
                token=self._token,
                services=self._service_names(entry.namespace),
                ports={c: h for c, h in entry.host_ports.items() if c != h},
            )
        except NotReadyError as error:
            if entry.not_ready_logged != str(error):
                log.info("host runner: pod %s/%s waits: %s", entry.namespace, entry.name, error)
                entry.not_ready_logged = str(error)
            entry.message = str(error)
            entry.retry_at = time.monotonic() + NOT_READY_RETRY_SECONDS
            return
        except PodSpecError as error:
            self._start_failed(entry, f"host runner cannot run this pod: {error}")
            return
        entry.hostname = spec.hostname
        entry.argv = spec.argv
        command = procs.wrap(spec.argv, spec.hostname, spec.hosts_file, isolate=self.isolate)
        try:
            entry.proc = procs.spawn(command, spec.env, spec.cwd, entry.log_path)
        except OSError as error:
            self._start_failed(entry, f"cannot start {spec.argv[0]!r}: {error}")
            return
        entry.started_at = _now()
        entry.message = ""
        log.info(
            "host runner: pod %s/%s started (pid %d): %s",
            entry.namespace,
            entry.name,
            entry.proc.pid,
            " ".join(spec.argv),
        )

    def _start_failed(self, entry: _Entry, message: str) -> None:
        log.warning("host runner: pod %s/%s: %s", entry.namespace, entry.name, message)
        now = _now()
        entry.failed = True
        entry.started_at = entry.started_at or now
        entry.finished_at = now
        entry.exit_code = 128
        entry.reason = "StartError"
        entry.message = message
        with contextlib.suppress(OSError), entry.log_path.open("a") as out:
            out.write(f"host-runner: {message}\n")

    def _service_names(self, namespace: str) -> list[str]:
        listing = self._api.request("GET", f"/api/v1/namespaces/{namespace}/services")
        return sorted(str(s["metadata"]["name"]) for s in listing.get("items") or [])

    def _lookup(self, kind: str, namespace: str, name: str) -> JSON | None:
        return self._api.read(kind, namespace, name)

    def _token(self, namespace: str, account: str, source: JSON) -> str:
        """A real token for a projected serviceAccountToken source (TokenRequest API)."""
        body: JSON = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": int(source.get("expirationSeconds") or 3600)},
        }
        if source.get("audience"):
            body["spec"]["audiences"] = [source["audience"]]
        try:
            answer = self._api.request(
                "POST",
                f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
                body=body,
            )
        except ApiError as error:
            if error.status == NOT_FOUND:
                raise NotReadyError(f"serviceaccount {namespace}/{account} not found") from error
            raise
        return str(answer.get("status", {}).get("token", ""))

    # -- stopping ----------------------------------------------------------------------------

    def _stop_process(self, entry: _Entry, now: float) -> None:
        """SIGTERM now, SIGKILL (to everything of the pod) after the grace period."""
        assert entry.proc is not None
        if entry.term_sent_at is None:
            grace = min(entry.grace_seconds, self.max_grace_seconds)
            entry.term_sent_at = now
            entry.kill_at = now + grace
            log.info(
                "host runner: pod %s/%s going: SIGTERM (SIGKILL in %gs)",
                entry.namespace,
                entry.name,
                grace,
            )
            if grace > 0:
                procs.terminate(entry.proc, isolated=self.isolate)
                return
        if entry.kill_at is not None and now >= entry.kill_at:
            procs.kill_everything(entry.proc, entry.proc.pid, entry.pod_dir)
            self._exited(entry, entry.proc.returncode if entry.proc.returncode is not None else -9)

    def _exited(self, entry: _Entry, returncode: int) -> None:
        """The main process is gone: kill what it left (as its namespace's end would), record
        the exit."""
        proc = entry.proc
        leftovers = procs.kill_everything(proc, proc.pid if proc else None, entry.pod_dir)
        if leftovers:
            log.info(
                "host runner: pod %s/%s: killed %d leftover process(es)",
                entry.namespace,
                entry.name,
                len(leftovers),
            )
        entry.exit_code = procs.exit_code(returncode)
        entry.finished_at = _now()
        entry.reason = "Completed" if entry.exit_code == 0 else "Error"
        log.info(
            "host runner: pod %s/%s exited with %d",
            entry.namespace,
            entry.name,
            entry.exit_code,
        )

    def _finish_deletion(self, entry: _Entry, pod: JSON) -> None:
        """As a kubelet: once the process is gone, let the pod object go (gracePeriod 0)."""
        if entry.deletion_done:
            return
        finalizers = pod["metadata"].get("finalizers") or []
        if FINALIZER in finalizers and not self._release_finalizer(pod):
            entry.retry_at = time.monotonic() + RETRY_SECONDS
            return
        self._api.delete_pod_now(entry.namespace, entry.name, entry.uid)
        entry.deletion_done = True

    def _release_finalizer(self, pod: JSON, *, drop_claim: bool = False) -> bool:
        """Remove our finalizer (and with ``drop_claim`` our claim); False if the pod changed."""
        meta = pod["metadata"]
        finalizers = meta.get("finalizers") or []
        ops: list[JSON] = []
        if FINALIZER in finalizers:
            index = finalizers.index(FINALIZER)
            ops += [
                {"op": "test", "path": f"/metadata/finalizers/{index}", "value": FINALIZER},
                {"op": "remove", "path": f"/metadata/finalizers/{index}"},
            ]
        annotations = meta.get("annotations") or {}
        if drop_claim and annotations.get(CLAIM_ANNOTATION) == self.claim:
            path = f"/metadata/annotations/{_pointer(CLAIM_ANNOTATION)}"
            ops += [
                {"op": "test", "path": path, "value": self.claim},
                {"op": "remove", "path": path},
            ]
        if not ops:
            return True
        try:
            updated = self._api.patch_pod(meta["namespace"], meta["name"], ops, JSON_PATCH)
        except ApiError as error:
            if error.status == NOT_FOUND:
                return True
            if error.status in (CONFLICT, UNPROCESSABLE):
                fresh = self._api.get_pod(meta["namespace"], meta["name"])
                if fresh is not None and fresh["metadata"]["uid"] == meta["uid"]:
                    self._remember(fresh)
                return False
            raise
        self._remember(updated)
        return True

    # -- reporting ---------------------------------------------------------------------------

    def _report(self, entry: _Entry, pod: JSON) -> None:
        """Write the terminated container and the pod's final phase, as a kubelet does; again
        if something (KWOK) changed it back; then release the pod."""
        phase = "Succeeded" if entry.exit_code == 0 else "Failed"
        status = pod.get("status") or {}
        statuses = status.get("containerStatuses") or []
        written = (
            status.get("phase") == phase
            and bool(statuses)
            and (statuses[0].get("state") or {}).get("terminated", {}).get("exitCode")
            == entry.exit_code
        )
        if written:
            entry.status_done = True
            if not entry.finalizer_released:
                entry.finalizer_released = self._release_finalizer(pod)
            return
        if entry.status_attempts >= MAX_STATUS_ATTEMPTS:
            return
        entry.status_attempts += 1
        if entry.status_attempts > 1:
            log.info(
                "host runner: pod %s/%s status is %s, writing %s again",
                entry.namespace,
                entry.name,
                status.get("phase"),
                phase,
            )
        updated = self._api.patch_pod(
            entry.namespace,
            entry.name,
            self._status_patch(entry, pod, phase),
            STRATEGIC_MERGE_PATCH,
            status=True,
        )
        self._remember(updated)
        entry.retry_at = time.monotonic() + RETRY_SECONDS * (entry.status_attempts - 1)

    def _status_patch(self, entry: _Entry, pod: JSON, phase: str) -> JSON:
        started = _rfc3339(entry.started_at or _now())
        finished = _rfc3339(entry.finished_at or _now())
        terminated: JSON = {
            "exitCode": entry.exit_code,
            "reason": entry.reason,
            "startedAt": started,
            "finishedAt": finished,
            "containerID": f"host-runner://{entry.uid}",
        }
        if entry.message:
            terminated["message"] = entry.message[:1000]
        statuses: list[JSON] = []
        old = {s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses") or []}
        for index, container in enumerate((pod.get("spec") or {}).get("containers") or []):
            name = container.get("name")
            state: JSON = (
                terminated
                if index == 0
                else {
                    "exitCode": 0,
                    "reason": "NotRunByHostRunner",
                    "startedAt": started,
                    "finishedAt": finished,
                }
            )
            statuses.append(
                {
                    "name": name,
                    "image": container.get("image", ""),
                    "imageID": (old.get(name) or {}).get("imageID", ""),
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "state": {"terminated": state},
                }
            )
        transition = _rfc3339(_now())
        conditions = [
            {
                "type": kind,
                "status": "False",
                "reason": "PodCompleted",
                "lastTransitionTime": transition,
            }
            for kind in ("Ready", "ContainersReady")
        ]
        return {
            "status": {
                "phase": phase,
                "conditions": conditions,
                "containerStatuses": statuses,
            }
        }

    # -- shutdown ----------------------------------------------------------------------------

    def _shutdown(self) -> None:
        """Kill everything started (it is a test harness: no grace), then let go of the pods
        held: no finalizer and no claim of ours stays behind."""
        with self._lock:
            entries = list(self._entries.values())
            pods = dict(self._pods)
        for entry in entries:
            if entry.running and entry.proc is not None:
                procs.kill_everything(entry.proc, entry.proc.pid, entry.pod_dir)
                returncode = entry.proc.returncode
                entry.exit_code = procs.exit_code(-9 if returncode is None else returncode)
                entry.finished_at = _now()
                entry.reason = "Error"
                entry.message = "killed: host runner stopped"
        for entry in entries:
            pod = pods.get(entry.uid)
            if pod is None:
                continue
            for _attempt in range(3):
                try:
                    if self._release_finalizer(pod, drop_claim=True):
                        break
                except (ApiError, urllib3.exceptions.HTTPError, OSError) as error:
                    log.warning("host runner: cannot release %s: %s", entry.name, error)
                fresh = None
                with contextlib.suppress(ApiError, urllib3.exceptions.HTTPError, OSError):
                    fresh = self._api.get_pod(entry.namespace, entry.name)
                if fresh is None or fresh["metadata"]["uid"] != entry.uid:
                    break
                pod = fresh
                time.sleep(0.2)
        log.info("host runner %s stopped", self.claim)
