"""The operator's pod watch (k8s/pod_cache.py) against the real apiserver: it follows the pool
label's pods per pool, counts the operator's own writes before the watch delivers them, never
brings a deleted pod back from a late answer, and stops its watch with the last pool."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from tests.harness import Cluster, wait_for
from workqueue_operator.k8s.client import KubeClient, load_config
from workqueue_operator.k8s.labels import POOL_LABEL
from workqueue_operator.k8s.pod_cache import PodCache
from workqueue_operator.scaling import PodPhase

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def pod(name: str, pool: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {POOL_LABEL: pool}},
        "spec": {"containers": [{"name": "c", "image": "pause"}]},
    }


@pytest.fixture
def core(cluster: Cluster) -> kubernetes.client.CoreV1Api:
    client = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    return kubernetes.client.CoreV1Api(client)


@pytest.fixture
def cache(core: kubernetes.client.CoreV1Api) -> Iterator[PodCache]:
    pods = PodCache(core.list_namespaced_pod)
    yield pods
    pods.stop()


def names(cache: PodCache, namespace: str, pool: str) -> list[str] | None:
    views = cache.pods(namespace, pool)
    return None if views is None else [v.name for v in views]


def create(core: kubernetes.client.CoreV1Api, namespace: str, body: dict[str, Any]) -> Any:
    response = core.create_namespaced_pod(namespace, body, _preload_content=False)
    return json.loads(response.data)


def test_the_watch_follows_each_pools_pods(
    cluster: Cluster, namespace: str, cache: PodCache, core: kubernetes.client.CoreV1Api
) -> None:
    create(core, namespace, pod("before", "a"))  # there before the first list
    wait_for(lambda: names(cache, namespace, "a") == ["before"], what="the first list")
    moved = cache.changes(namespace, "a")
    create(core, namespace, pod("a-1", "a"))
    create(core, namespace, pod("b-1", "b"))
    cluster.kubectl(
        "run", "unlabelled", "--image=pause", "--restart=Never", namespace=namespace
    )  # not a worker: the watch never sees it
    wait_for(lambda: names(cache, namespace, "a") == ["a-1", "before"], what="a-1 watched")
    wait_for(lambda: names(cache, namespace, "b") == ["b-1"], what="b-1 watched")
    assert cache.changes(namespace, "a") > moved
    cluster.kubectl("delete", "pod", "before", "--grace-period=0", "--force", namespace=namespace)
    wait_for(lambda: names(cache, namespace, "a") == ["a-1"], what="the deletion watched")
    assert names(cache, namespace, "a") == ["a-1"]


def test_own_writes_count_at_once_and_a_late_copy_never_revives_a_deleted_pod(
    cluster: Cluster, namespace: str, core: kubernetes.client.CoreV1Api
) -> None:
    watch_may_start = threading.Event()

    def list_pods(namespace: str, **options: Any) -> Any:
        """The real API; a watch request waits until the test lets it start."""
        if options.get("watch"):
            watch_may_start.wait()
        return core.list_namespaced_pod(namespace, **options)

    load_config()
    kube = KubeClient()
    kube.pod_cache = PodCache(list_pods)

    def live() -> list[str]:
        views = kube.pool_pods(namespace, "a")
        return [v.name for v in views if v.phase is not PodPhase.TERMINATING]

    try:
        wait_for(lambda: kube.pod_cache.pods(namespace, "a") == [], what="the first list")
        # No watch yet: only the writes' answers can make the cache know of these pods.
        assert kube.create_pod(namespace, pod("mine", "a"))
        assert kube.create_pod(namespace, pod("other", "a"))
        assert live() == ["mine", "other"]
        assert kube.delete_pod(namespace, "other")
        assert live() == ["mine"]
        # The watch starts from the first list's version, so it replays both pods' creation;
        # "other" stays deleted, and when the watch sees "mine" deleted too, a
        # copy read before, offered late, does not bring it back.
        watch_may_start.set()
        stale = json.loads(core.read_namespaced_pod("mine", namespace, _preload_content=False).data)
        cluster.kubectl("delete", "pod", "mine", "--grace-period=0", "--force", namespace=namespace)
        wait_for(lambda: kube.pod_cache.pods(namespace, "a") == [], what="both gone")
        kube.pod_cache.offer(namespace, stale)
        assert kube.pod_cache.pods(namespace, "a") == []
    finally:
        watch_may_start.set()
        kube.close()


def test_the_watch_stops_with_the_last_pool_of_its_namespace(
    namespace: str, cache: PodCache
) -> None:
    wait_for(lambda: names(cache, namespace, "a") == [], what="the first list")
    assert names(cache, namespace, "b") == []
    watching = [t for t in threading.enumerate() if t.name == f"pods-{namespace}"]
    assert len(watching) == 1
    cache.forget_pool(namespace, "a")
    assert watching[0].is_alive()  # pool b is still there
    cache.forget_pool(namespace, "b")
    watching[0].join(timeout=30)
    assert not watching[0].is_alive()
