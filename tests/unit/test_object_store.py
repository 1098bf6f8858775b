"""The operator's objects as last seen (controllers/objects.py) and the resource-version order
behind it (k8s/versions.py)."""

from __future__ import annotations

from typing import Any

from workqueue_operator.controllers.objects import ObjectStore
from workqueue_operator.k8s.versions import is_newer, revision


def pool(version: str, replicas: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "workers", "resourceVersion": version},
        "spec": {"replicas": 1},
        "status": {"replicas": replicas},
    }


def test_versions_order_as_integers_and_unknown_ones_are_taken() -> None:
    assert is_newer(pool("10", 0), pool("9", 0))  # not as strings
    assert not is_newer(pool("9", 0), pool("10", 0))
    assert not is_newer(pool("10", 0), pool("10", 0))
    assert is_newer(pool("10", 0), None)
    assert is_newer(pool("x1", 0), pool("10", 0))  # another storage: the offered copy wins
    assert (revision(pool("12", 0)), revision(pool("x1", 0))) == (12, None)


def test_a_lagging_watch_event_does_not_bring_an_older_status_back() -> None:
    store = ObjectStore()
    store.offer("workerpools", "ns", pool("7", 1))
    store.offer("workerpools", "ns", pool("9", 3))  # the answer to the operator's patch
    store.offer("workerpools", "ns", pool("8", 2))  # the watch event of an earlier change
    held = store.get("workerpools", "ns", "workers")
    assert held is not None and held["status"] == {"replicas": 3}
    held["status"]["replicas"] = 99  # a pass changes its own copy only
    again = store.get("workerpools", "ns", "workers")
    assert again is not None and again["status"] == {"replicas": 3}
    store.forget("workerpools", "ns", "workers")
    assert store.get("workerpools", "ns", "workers") is None
    assert store.get("workerpools", "other", "workers") is None
