"""`make demo-down` (scripts/demo.py --down) removes everything `make demo` makes: its namespace,
the local PersistentVolume and StorageClass it made for the PonchoEnv's tarballs, the chart's
cluster-scoped grants, the tarballs' directory, and the processes it started on this machine
(the manager program and the telemetry agent). The demo's own functions make those things here,
in a namespace of this test's own (DEMO_NAMESPACE), so a demo that runs meanwhile is left alone;
what the scenario adds inside the namespace (the operator's release, pods) goes with it."""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from pathlib import Path
from types import ModuleType

import pytest

from tests.harness import Cluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
REPO = Path(__file__).resolve().parents[2]


def load_demo(namespace: str, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("DEMO_NAMESPACE", namespace)
    monkeypatch.setenv("DEMO_KUBECONFIG", str(kubeconfig))
    spec = importlib.util.spec_from_file_location(f"demo_{namespace}", REPO / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(f"{cmdline.parent.name}: {args}")
    return found


def test_demo_down_leaves_nothing(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = f"wq-demo-down-{uuid.uuid4().hex[:6]}"
    demo = load_demo(namespace, cluster.kubeconfig, monkeypatch)
    envs = tmp_path / "demo" / "envs"
    monkeypatch.setattr(demo, "ENVS_DIR", envs)

    # What the demo makes before its scenario: namespace, storage, the CA ConfigMap.
    demo.fresh_namespace(demo.Clock(), envs)
    (envs / "poncho").mkdir()
    (envs / "poncho" / "env.tar.gz").write_bytes(b"a tarball the build Job wrote")
    # The chart's discovery grant, cluster-scoped, labelled with the release (the namespace).
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": f"{namespace}-discovery",
            "labels": {"app.kubernetes.io/instance": namespace},
        },
        "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}],
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(role))
    # The manager program and the agent: processes of this machine, recorded in .run/NAMESPACE.
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)", str(demo.RUN)]
    started = [demo.start(name, sleeper) for name in ("manager", "agent")]
    assert processes_mentioning(str(demo.RUN)), "the stand-in processes did not start"

    try:
        demo.down(quiet=True)
    finally:
        alive = [p for p in started if p.poll() is None]
        for p in alive:  # what down() left, so that a failure leaves no sleeper behind
            p.kill()
            p.wait()
    assert alive == [], "down() left the demo's processes running"

    left = {
        kind: cluster.kubectl("get", kind, name, "--ignore-not-found", "-o", "name").stdout
        for kind, name in (
            ("namespace", namespace),
            ("pv", f"{namespace}-envs"),
            ("storageclass", f"{namespace}-local"),
            ("clusterrole", f"{namespace}-discovery"),
        )
    }
    assert {kind: out for kind, out in left.items() if out.strip()} == {}
    assert not envs.parent.exists(), f"{envs.parent} is still there"
    assert processes_mentioning(str(demo.RUN)) == []
    assert list(demo.RUN.glob("*.pid")) == []
