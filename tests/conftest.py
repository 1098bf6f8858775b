"""Fixtures shared by the integration and e2e tests: one cluster per session, CRDs applied,
a fresh namespace per test, the operator running in-process under kopf's KopfRunner."""

from __future__ import annotations

import os
import re
import sys
import uuid
import warnings
from collections.abc import Iterator

import pytest

from tests.cctools.install import missing_cctools, use_cctools_build
from tests.harness import REPO, Cluster, local_kubeconfig, start_cluster
from tests.leftovers import clear_leftovers

# Real CCTools fixtures (managers, workers, catalog) for every test that asks for them.
pytest_plugins = ("tests.cctools.fixtures",)

# The CCTools 7.17.1 build of scripts/cctools.sh first on PATH (and its ndcctools importable)
# for the whole session: tests, the operator they run and the host runner's processes.
if missing_cctools() is None:
    use_cctools_build()

# Every test talks to the local control plane, never to whatever $KUBECONFIG named before.
# Set it before anything imports the kubernetes client, which reads it once at import.
assert "kubernetes" not in sys.modules, "the kubernetes client was imported before KUBECONFIG"
os.environ["KUBECONFIG"] = str(local_kubeconfig())

CRD_NAMES = (
    "workqueuemanagers.workqueue.dev",
    "workerpools.workqueue.dev",
    "ponchoenvs.workqueue.dev",
)


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """The local control plane (started if it is not running; reused if it is), cleared of
    what earlier test runs that were killed left on it (tests/leftovers.py)."""
    started = start_cluster()
    assert started.kubeconfig == local_kubeconfig()
    cleared = clear_leftovers(started)
    if cleared:
        warnings.warn(f"deleted what killed test runs left: {', '.join(cleared)}", stacklevel=1)
    return started


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> Cluster:
    """The CRDs from crds/ applied and Established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{n}" for n in CRD_NAMES)
    )
    return cluster


# The session's operator watches only the namespaces this session's `namespace` fixture makes
# (another pytest run on the same cluster has its own prefix); tests that run an operator of
# their own (restarts) use namespaces outside this pattern.
TEST_NAMESPACE_PREFIX = f"wq{uuid.uuid4().hex[:4]}-"


@pytest.fixture(scope="session")
def operator(crds: Cluster) -> Iterator[Cluster]:
    """The operator, watching the tests' namespaces, for the whole session."""
    from kopf.testing import KopfRunner  # noqa: PLC0415

    args = [
        "run",
        "--standalone",
        f"--namespace={TEST_NAMESPACE_PREFIX}*",
        "-m",
        "workqueue_operator.controllers",
    ]
    with KopfRunner(args, timeout=60) as runner:
        yield crds
    assert runner.exception is None, runner.output


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) after the test."""
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:40].strip("-")
    name = f"{TEST_NAMESPACE_PREFIX}{base}-{uuid.uuid4().hex[:6]}"
    cluster.create_namespace(name)
    yield name
    # The project's objects first, while the operator that holds their finalizers still runs;
    # then the namespace, without waiting for it.
    cluster.kubectl(
        "delete", "wqpool,wqm,penv", "--all", "--timeout=60s", namespace=name, check=False
    )
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
