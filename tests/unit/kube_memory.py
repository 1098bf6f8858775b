"""An in-memory implementation of the project's own ``KubeApi`` interface, for unit tests of
the code that calls it (appliers, gatherers). Not a fake apiserver: no validation, no
defaulting, no watches; only what the interface promises (404 -> None/False, 409 -> False, a
refused pod or resize -> RefusedError)."""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from typing import Any

from workqueue_operator.k8s.client import KubeApi, RefusedError, StoredSecret
from workqueue_operator.k8s.labels import pool_selector
from workqueue_operator.k8s.observe import pod_views
from workqueue_operator.scaling import PodView
from workqueue_operator.values.quantities import quantity_to_millicores


@dataclass
class InMemoryKube:
    pods: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    custom: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    released: list[tuple[str, str]] = field(default_factory=list)
    secrets: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)
    secret_labels: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    config_maps: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    claims: set[tuple[str, str]] = field(default_factory=set)
    jobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    applied: list[dict[str, Any]] = field(default_factory=list)
    pod_quota: int | None = None
    """Pods a namespace may hold; creating more is refused as a full ResourceQuota would."""
    node_cpu_millicores: int | None = None
    """The allocatable CPU of the node every pod runs on: a resize asking for more is refused
    as the apiserver's resize admission refuses it."""
    status_patches: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def secret_exists(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.secrets

    def claim_exists(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.claims

    def secret_value(self, namespace: str, name: str, key: str) -> bytes | None:
        return self.secrets.get((namespace, name), {}).get(key)

    def read_secret(self, namespace: str, name: str) -> StoredSecret | None:
        data = self.secrets.get((namespace, name))
        if data is None:
            return None
        return StoredSecret(dict(self.secret_labels.get((namespace, name), {})), dict(data))

    def config_map_value(self, namespace: str, name: str, key: str) -> bytes | None:
        value = self.config_maps.get((namespace, name), {}).get(key)
        return None if value is None else value.encode()

    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self.custom.get((plural, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list_custom(self, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(o)
            for (p, ns, _), o in self.custom.items()
            if p == plural and (namespace is None or ns == namespace)
        ]

    def patch_custom_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any] | None:
        self.status_patches.append((plural, namespace, name, copy.deepcopy(status)))
        obj = self.custom.get((plural, namespace, name))
        if obj is None:
            return None
        obj["status"] = {**obj.get("status", {}), **copy.deepcopy(status)}
        return copy.deepcopy(obj)

    def remove_finalizer(self, plural: str, namespace: str, name: str, finalizer: str) -> None:
        obj = self.custom.get((plural, namespace, name))
        if obj is not None:
            meta = obj.setdefault("metadata", {})
            meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != finalizer]

    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        wanted = dict(part.split("=", 1) for part in selector.split(",") if part)
        return [
            copy.deepcopy(p)
            for (ns, _), p in self.pods.items()
            if ns == namespace
            and all(p["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
        ]

    def pool_pods(self, namespace: str, pool: str) -> list[PodView]:
        return pod_views(self.list_pods(namespace, pool_selector(pool)))

    def pool_changes(self, namespace: str, pool: str) -> int:
        """The pool's pods as they are now, hashed: moves whenever one of them changes."""
        return hash(repr(sorted(str(p) for p in self.list_pods(namespace, pool_selector(pool)))))

    def release_pool_pods(self, namespace: str, pool: str) -> None:
        self.released.append((namespace, pool))

    def create_pod(self, namespace: str, pod: dict[str, Any]) -> bool:
        self.calls.append(f"create {pod['metadata']['name']}")
        key = (namespace, pod["metadata"]["name"])
        if key in self.pods:
            return False
        held = sum(1 for ns, _ in self.pods if ns == namespace)
        if self.pod_quota is not None and held >= self.pod_quota:
            raise RefusedError(
                403,
                "Forbidden",
                f'pods "{key[1]}" is forbidden: exceeded quota: pods, requested: pods=1, '
                f"used: pods={held}, limited: pods={self.pod_quota}",
            )
        self.pods[key] = copy.deepcopy(pod)
        return True

    def delete_pod(self, namespace: str, name: str) -> bool:
        self.calls.append(f"delete {name}")
        return self.pods.pop((namespace, name), None) is not None

    def patch_pod_metadata(
        self, namespace: str, name: str, labels: dict[str, str], annotations: dict[str, str | None]
    ) -> bool:
        self.calls.append(f"label {name}")
        pod = self.pods.get((namespace, name))
        if pod is None:
            return False
        metadata = pod["metadata"]
        metadata.setdefault("labels", {}).update(labels)
        kept = metadata.setdefault("annotations", {})
        for key, value in annotations.items():
            if value is None:
                kept.pop(key, None)
            else:
                kept[key] = value
        return True

    def resize_pod(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        self.calls.append(f"resize {name}")
        pod = self.pods.get((namespace, name))
        if pod is None:
            return False
        for change in patch["spec"]["containers"]:
            container = next(c for c in pod["spec"]["containers"] if c["name"] == change["name"])
            cpu = quantity_to_millicores(change["resources"]["requests"]["cpu"])
            if self.node_cpu_millicores is not None and cpu > self.node_cpu_millicores:
                raise RefusedError(
                    403,
                    "Forbidden",
                    f'pods "{name}" is forbidden: node didn\'t have enough allocatable '
                    f"resources: cpu, requested: {cpu}, allocatable: {self.node_cpu_millicores}",
                )
            for kind, amounts in change["resources"].items():
                container["resources"].setdefault(kind, {}).update(amounts)
        return True

    def apply(self, obj: dict[str, Any]) -> None:
        self.applied.append(copy.deepcopy(obj))
        if obj["kind"] == "Secret":
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            self.secrets[key] = {k: base64.b64decode(v) for k, v in obj["data"].items()}
            self.secret_labels[key] = dict(obj["metadata"].get("labels", {}))

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.jobs.get((namespace, name)))

    def create_job(self, namespace: str, job: dict[str, Any]) -> bool:
        key = (namespace, job["metadata"]["name"])
        if key in self.jobs:
            return False
        self.jobs[key] = copy.deepcopy(job)
        return True

    def delete_job(self, namespace: str, name: str) -> bool:
        return self.jobs.pop((namespace, name), None) is not None

    def annotate_job(self, namespace: str, name: str, annotations: dict[str, str]) -> None:
        job = self.jobs.get((namespace, name))
        if job is not None:
            job["metadata"].setdefault("annotations", {}).update(annotations)

    def pod_log(
        self, namespace: str, name: str, container: str, tail_lines: int = 50
    ) -> str | None:
        return None


def _implements_kube_api(kube: InMemoryKube) -> KubeApi:
    """Never called: mypy checks here that ``InMemoryKube`` has every method of ``KubeApi``."""
    return kube
