"""Labels that name what the operator's objects belong to."""

from __future__ import annotations

from workqueue_operator import GROUP

POOL_LABEL = f"{GROUP}/pool"
SHAPE_LABEL = f"{GROUP}/shape"
GENERATION_LABEL = f"{GROUP}/pool-generation"
MANAGER_LABEL = f"{GROUP}/manager"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "workqueue-operator"
RESIZE_FROM_ANNOTATION = f"{GROUP}/resize-from"
"""On a pod being resized in place: the shape id it had when the operator asked."""
RESIZE_AT_ANNOTATION = f"{GROUP}/resize-requested-at"
"""On a pod being resized in place: when the operator asked (RFC 3339)."""


def pool_labels(pool: str) -> dict[str, str]:
    """Labels every pod of a WorkerPool carries."""
    return {POOL_LABEL: pool, MANAGED_BY_LABEL: MANAGED_BY}


def pool_selector(pool: str) -> str:
    """The label selector (string form) of a WorkerPool's pods."""
    return selector(pool_labels(pool))


def selector(labels: dict[str, str]) -> str:
    """A label selector (string form) that matches these labels."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def manager_labels(manager: str) -> dict[str, str]:
    """Labels of an InCluster manager's Deployment, pod, Service and Secrets."""
    return {MANAGER_LABEL: manager, MANAGED_BY_LABEL: MANAGED_BY}
