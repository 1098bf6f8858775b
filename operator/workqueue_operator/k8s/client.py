"""The one thin wrapper over the Kubernetes API that the controllers use.

``KubeApi`` is the interface: the reads and writes the operator makes, as plain dicts (the JSON
the apiserver speaks), with 404 and 409 turned into results instead of errors. ``KubeClient``
implements it with the official client; unit tests use an in-memory implementation. Everything
that decides lives elsewhere.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import kubernetes
from kubernetes.client.exceptions import ApiException

from workqueue_operator import GROUP, VERSION
from workqueue_operator.k8s.labels import pool_selector
from workqueue_operator.k8s.observe import pod_views
from workqueue_operator.k8s.pod_cache import PodCache
from workqueue_operator.scaling import PodView

NOT_FOUND = 404
CONFLICT = 409
UNPROCESSABLE = 422
"""A JSON patch whose ``test`` failed: the object changed meanwhile (the next event retries)."""
TOO_MANY_REQUESTS = 429
FIELD_MANAGER = "workqueue-operator"
T = TypeVar("T")
APPLY_PATCH = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


class RefusedError(Exception):
    """The apiserver refused a request for a reason that retrying at once will not change: a
    ResourceQuota is full, an admission policy forbids the object, a field is invalid. The
    message is the apiserver's own."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def refused(error: ApiException) -> RefusedError | None:
    """The refusal an API error stands for, or None when it may pass by itself (a conflict, a
    rate limit, a server error, no answer)."""
    status = error.status or 0
    if not 400 <= status < 500 or status in (CONFLICT, TOO_MANY_REQUESTS):
        return None
    reason, message = str(error.reason or ""), str(error.reason or f"HTTP {status}")
    try:
        body = json.loads(error.body or "")
    except ValueError:
        body = None
    if isinstance(body, dict):
        reason = str(body.get("reason") or reason)
        message = str(body.get("message") or message)
    return RefusedError(status, reason, message)


def load_config() -> None:
    """In-cluster credentials when running in a pod, else the kubeconfig ($KUBECONFIG)."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        # Read $KUBECONFIG now: the client's own default is taken when it is first imported.
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))


@dataclass(frozen=True)
class StoredSecret:
    """A Secret as read: its labels and its data, decoded."""

    labels: dict[str, str]
    data: dict[str, bytes]


class KubeApi(Protocol):
    """Reads and writes of the objects the operator touches. Blocking: call it from a thread
    (``asyncio.to_thread``) in async handlers."""

    def secret_exists(self, namespace: str, name: str) -> bool: ...
    def claim_exists(self, namespace: str, name: str) -> bool: ...
    def secret_value(self, namespace: str, name: str, key: str) -> bytes | None: ...
    def read_secret(self, namespace: str, name: str) -> StoredSecret | None: ...
    def config_map_value(self, namespace: str, name: str, key: str) -> bytes | None: ...
    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None: ...
    def list_custom(self, plural: str, namespace: str | None) -> list[dict[str, Any]]: ...
    def patch_custom_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any] | None: ...
    def remove_finalizer(self, plural: str, namespace: str, name: str, finalizer: str) -> None: ...
    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...
    def pool_pods(self, namespace: str, pool: str) -> list[PodView]: ...
    def pool_changes(self, namespace: str, pool: str) -> int: ...
    def release_pool_pods(self, namespace: str, pool: str) -> None: ...
    def create_pod(self, namespace: str, pod: dict[str, Any]) -> bool: ...
    def delete_pod(self, namespace: str, name: str) -> bool: ...
    def patch_pod_metadata(
        self, namespace: str, name: str, labels: dict[str, str], annotations: dict[str, str | None]
    ) -> bool: ...
    def resize_pod(self, namespace: str, name: str, patch: dict[str, Any]) -> bool: ...
    def apply(self, obj: dict[str, Any]) -> None: ...
    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def create_job(self, namespace: str, job: dict[str, Any]) -> bool: ...
    def delete_job(self, namespace: str, name: str) -> bool: ...
    def annotate_job(self, namespace: str, name: str, annotations: dict[str, str]) -> None: ...
    def pod_log(
        self, namespace: str, name: str, container: str, tail_lines: int = 50
    ) -> str | None: ...


class KubeClient:
    """``KubeApi`` on the official Kubernetes client."""

    def __init__(self) -> None:
        self.client = kubernetes.client.ApiClient()
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.custom = kubernetes.client.CustomObjectsApi(self.client)
        self.apps = kubernetes.client.AppsV1Api(self.client)
        # The pod watches hold their connections for minutes: a pool of their own.
        watches = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient())
        self.pod_cache = PodCache(watches.list_namespaced_pod)

    def close(self) -> None:
        """Stop the pod watches."""
        self.pod_cache.stop()

    def _plain(self, obj: object) -> dict[str, Any]:
        plain: dict[str, Any] = self.client.sanitize_for_serialization(obj)
        return plain

    @staticmethod
    def _body(response: Any) -> Any:
        """The JSON of a response asked for with ``_preload_content=False``, its connection
        given back to the pool. Reading the JSON directly skips the client's model classes:
        a list of 1,000 pods costs ~1 s of CPU through them, ~25 ms as plain JSON."""
        try:
            return json.loads(response.data)
        finally:
            response.release_conn()

    # --- existence checks ------------------------------------------------------------------
    def secret_exists(self, namespace: str, name: str) -> bool:
        return self._exists(lambda: self.core.read_namespaced_secret(name, namespace))

    def claim_exists(self, namespace: str, name: str) -> bool:
        return self._exists(
            lambda: self.core.read_namespaced_persistent_volume_claim(name, namespace)
        )

    def _exists(self, read: Callable[[], object]) -> bool:
        return self._read(read) is not None

    @staticmethod
    def _read(read: Callable[[], T]) -> T | None:
        """What ``read`` returns; None when the object is missing (404)."""
        try:
            return read()
        except ApiException as error:
            if error.status == NOT_FOUND:
                return None
            raise

    # --- secrets and config maps -----------------------------------------------------------
    def secret_value(self, namespace: str, name: str, key: str) -> bytes | None:
        """One key of a Secret, decoded; None when the Secret or the key is missing."""
        stored = self.read_secret(namespace, name)
        return None if stored is None else stored.data.get(key)

    def read_secret(self, namespace: str, name: str) -> StoredSecret | None:
        """A whole Secret, decoded; None when it is missing."""
        secret = self._read(lambda: self.core.read_namespaced_secret(name, namespace))
        if secret is None:
            return None
        return StoredSecret(
            labels=dict((secret.metadata.labels if secret.metadata else None) or {}),
            data={k: base64.b64decode(v) for k, v in (secret.data or {}).items()},
        )

    def config_map_value(self, namespace: str, name: str, key: str) -> bytes | None:
        """One key of a ConfigMap, as bytes; None when the ConfigMap or the key is missing."""
        config_map = self._read(lambda: self.core.read_namespaced_config_map(name, namespace))
        value = None if config_map is None else (config_map.data or {}).get(key)
        return None if value is None else str(value).encode()

    # --- custom objects --------------------------------------------------------------------
    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._read(
            lambda: cast(
                dict[str, Any],
                self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name),
            )
        )

    def patch_custom_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Merge-patch ``status`` into the object's status subresource: the object as stored
        afterwards; None when it is gone."""
        try:
            return cast(
                dict[str, Any],
                self._body(
                    self.custom.patch_namespaced_custom_object_status(
                        GROUP, VERSION, namespace, plural, name, {"status": status},
                        _preload_content=False,
                    )
                ),
            )  # fmt: skip
        except ApiException as error:
            if error.status != NOT_FOUND:
                raise
        return None

    def remove_finalizer(self, plural: str, namespace: str, name: str, finalizer: str) -> None:
        """Take one finalizer off an object (a JSON patch that tests the list it replaces, so
        a concurrent change is not lost; a gone object or a finalizer already gone is fine)."""
        obj = self.get_custom(plural, namespace, name)
        finalizers = list((obj or {}).get("metadata", {}).get("finalizers") or [])
        if finalizer not in finalizers:
            return
        patch = [
            {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
            {
                "op": "replace",
                "path": "/metadata/finalizers",
                "value": [f for f in finalizers if f != finalizer],
            },
        ]
        try:
            self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, patch, _content_type=JSON_PATCH
            )
        except ApiException as error:
            if error.status not in (NOT_FOUND, UNPROCESSABLE):
                raise

    # --- pods ------------------------------------------------------------------------------
    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """Pods matching a label selector, read from the apiserver (not a cache), so that pods
        created a moment ago are counted."""
        response = self.core.list_namespaced_pod(
            namespace, label_selector=selector, _preload_content=False
        )
        items: list[dict[str, Any]] = self._body(response)["items"]
        return items

    def pool_pods(self, namespace: str, pool: str) -> list[PodView]:
        """A WorkerPool's pods from the operator's pod watch (``k8s.pod_cache``: no request,
        and the operator's own writes counted at once); listed from the apiserver while the
        namespace's watch has not listed yet."""
        views = self.pod_cache.pods(namespace, pool)
        if views is None:
            return pod_views(self.list_pods(namespace, pool_selector(pool)))
        return views

    def pool_changes(self, namespace: str, pool: str) -> int:
        """A number that moves whenever the pool's pods change (no request)."""
        return self.pod_cache.changes(namespace, pool)

    def release_pool_pods(self, namespace: str, pool: str) -> None:
        """The pool is gone (its namespace's watch stops with its last pool)."""
        self.pod_cache.forget_pool(namespace, pool)

    def create_pod(self, namespace: str, pod: dict[str, Any]) -> bool:
        """Create a pod; False when one of that name exists already; :class:`RefusedError` when
        the apiserver refuses it (quota, admission, invalid). The pod the apiserver sends back
        is read as plain JSON and given to the pod cache (read-your-writes)."""
        # The client takes the JSON dict as it is (its V1Pod hint is narrower).
        created = self._unless(
            CONFLICT,
            lambda: self._body(
                self.core.create_namespaced_pod(namespace, cast(Any, pod), _preload_content=False)
            ),
        )
        if created is None:
            return False
        self.pod_cache.offer(namespace, created)
        return True

    def delete_pod(self, namespace: str, name: str) -> bool:
        """Delete a pod; False when it is gone already."""
        try:
            answer = self._body(
                self.core.delete_namespaced_pod(name, namespace, _preload_content=False)
            )
        except ApiException as error:
            if error.status == NOT_FOUND:
                self.pod_cache.gone(namespace, name)
                return False
            raise
        if answer.get("kind") == "Pod":  # being deleted (grace period): Terminating
            self.pod_cache.offer(namespace, answer)
        else:  # a Status: gone at once
            self.pod_cache.gone(namespace, name)
        return True

    def patch_pod_metadata(
        self, namespace: str, name: str, labels: dict[str, str], annotations: dict[str, str | None]
    ) -> bool:
        """Merge labels and annotations into a pod (an annotation set to None is removed);
        False when the pod is gone."""
        body = {"metadata": {"labels": labels, "annotations": annotations}}
        return self._patch_pod(self.core.patch_namespaced_pod, namespace, name, body, MERGE_PATCH)

    def resize_pod(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        """Resize a pod's containers in place: a strategic merge patch of their resources
        through the pods/resize subresource (a JSON merge patch would replace the container
        list, which the apiserver refuses). False when the pod is gone; :class:`RefusedError`
        when the apiserver refuses it (e.g. ``node didn't have enough allocatable resources``,
        or the operator may not patch pods/resize)."""
        return self._patch_pod(
            self.core.patch_namespaced_pod_resize, namespace, name, patch, STRATEGIC_MERGE_PATCH
        )

    def _patch_pod(
        self,
        send: Callable[..., Any],
        namespace: str,
        name: str,
        body: dict[str, Any],
        content_type: str,
    ) -> bool:
        """Send one patch of a pod (or its subresource); False when the pod is gone."""
        patched = self._unless(
            NOT_FOUND,
            lambda: self._body(
                send(name, namespace, body, _content_type=content_type, _preload_content=False)
            ),
        )
        if patched is None:
            self.pod_cache.gone(namespace, name)
            return False
        self.pod_cache.offer(namespace, patched)
        return True

    @staticmethod
    def _unless(status: int, request: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        """Make ``request``: the apiserver's answer, or None when it answers ``status``
        (CONFLICT: it exists already; NOT_FOUND: it is gone); :class:`RefusedError` when the
        apiserver refuses it (quota, admission, invalid)."""
        try:
            return request()
        except ApiException as error:
            if error.status == status:
                return None
            refusal = refused(error)
            if refusal is not None:
                raise refusal from error
            raise

    # --- server-side apply -----------------------------------------------------------------
    def apply(self, obj: dict[str, Any]) -> None:
        """Server-side apply of a Deployment, Service, Secret or cert-manager Certificate the
        operator owns: the apiserver merges it, so re-applying the same object is a no-op and a
        changed spec rolls out. Raises RefusedError when the apiserver refuses it (e.g. the
        cluster has no such kind: cert-manager is not installed)."""
        name = obj["metadata"]["name"]
        namespace = obj["metadata"]["namespace"]
        options: dict[str, Any] = {
            "field_manager": FIELD_MANAGER,
            "force": True,
            "_content_type": APPLY_PATCH,
        }
        try:
            self._apply(name, namespace, obj, options)
        except ApiException as error:
            refusal = refused(error)
            if refusal is None:
                raise
            raise refusal from error

    def _apply(
        self, name: str, namespace: str, obj: dict[str, Any], options: dict[str, Any]
    ) -> None:
        kind = obj["kind"]
        if kind == "Deployment":
            self.apps.patch_namespaced_deployment(name, namespace, obj, **options)
        elif kind == "Service":
            self.core.patch_namespaced_service(name, namespace, obj, **options)
        elif kind == "Secret":
            self.core.patch_namespaced_secret(name, namespace, obj, **options)
        elif kind == "Certificate":
            group, version = obj["apiVersion"].split("/")
            self.custom.patch_namespaced_custom_object(
                group, version, namespace, "certificates", name, obj, **options
            )
        else:
            raise ValueError(f"apply does not handle kind {kind!r}")

    # --- jobs (PonchoEnv builds) -------------------------------------------------------------
    @property
    def batch(self) -> Any:
        """The batch/v1 API (made on first use)."""
        api = self.__dict__.get("_batch")
        if api is None:
            api = self.__dict__["_batch"] = kubernetes.client.BatchV1Api(self.client)
        return api

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            job = self.batch.read_namespaced_job(name, namespace)
        except ApiException as error:
            if error.status == NOT_FOUND:
                return None
            raise
        return self._plain(job)

    def create_job(self, namespace: str, job: dict[str, Any]) -> bool:
        """Create a Job; False when one of that name exists already. Raises RefusedError when
        the apiserver refuses it (an invalid pod template, a quota, an admission policy)."""
        created = self._unless(
            CONFLICT, lambda: self._plain(self.batch.create_namespaced_job(namespace, job))
        )
        return created is not None

    def delete_job(self, namespace: str, name: str) -> bool:
        """Delete a Job and, in the background, its pods; False when it is gone already."""
        try:
            self.batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
        except ApiException as error:
            if error.status == NOT_FOUND:
                return False
            raise
        return True

    def annotate_job(self, namespace: str, name: str, annotations: dict[str, str]) -> None:
        """Merge annotations into a Job (a gone Job is ignored)."""
        try:
            self.batch.patch_namespaced_job(
                name, namespace, {"metadata": {"annotations": annotations}}
            )
        except ApiException as error:
            if error.status != NOT_FOUND:
                raise

    def pod_log(
        self, namespace: str, name: str, container: str, tail_lines: int = 50
    ) -> str | None:
        """The tail of a container's log; None when it cannot be read (no kubelet, gone)."""
        try:
            text = self.core.read_namespaced_pod_log(
                name, namespace, container=container, tail_lines=tail_lines
            )
        except ApiException:
            return None
        return str(text)

    # --- listing custom objects --------------------------------------------------------------
    def list_custom(self, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        """Every object of a kind in a namespace, or in all namespaces (``namespace=None``)."""
        found: dict[str, Any]
        if namespace is None:
            found = cast(Any, self.custom.list_cluster_custom_object(GROUP, VERSION, plural))
        else:
            found = cast(
                Any, self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
            )
        items: list[dict[str, Any]] = found.get("items", [])
        return items


def _implements_kube_api(client: KubeClient) -> KubeApi:
    """Never called: mypy checks here that ``KubeClient`` has every method of ``KubeApi``."""
    return client
