"""Fixtures of the end-to-end scenarios: the host runner (test harness) that runs worker pods
bound to KWOK nodes as local processes, so that real work_queue_workers serve real managers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e.hostrunner import HostRunner

from tests.harness import Cluster

HOST_RUNNER_LABEL = "workqueue.dev/host-runner"


@pytest.fixture
def host_runner(operator: Cluster, namespace: str) -> Iterator[HostRunner]:
    """Runs this test's pods that carry the host-runner label, until they are deleted."""
    with HostRunner(
        operator.kubeconfig, label_selector=f"{HOST_RUNNER_LABEL}=true", namespace=namespace
    ) as runner:
        yield runner


@pytest.fixture(scope="session")
def real_node(cluster: Cluster) -> str:
    """The real node (kubelet + containerd), up and Ready; see tests/e2e/realnode.py."""
    from tests.e2e.realnode import ensure_real_node  # noqa: PLC0415

    return ensure_real_node()
