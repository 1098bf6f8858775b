"""A small typed REST client for the few calls the host runner makes (test harness).

It borrows only the TLS/auth set-up of the ``kubernetes`` package (``new_client_from_config``)
and speaks plain JSON over its urllib3 pool: objects stay dicts, patches say their content
type, and a watch is a raw streamed response that another thread can shut down at once.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlencode

import kubernetes
import urllib3

JSON = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

NOT_FOUND = 404
CONFLICT = 409
GONE = 410
UNPROCESSABLE = 422


class ApiError(Exception):
    """A non-2xx answer of the apiserver."""

    def __init__(self, status: int, method: str, path: str, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{method} {path}: HTTP {status}: {body[:500]}")


class KubeClient:
    """Requests against the cluster of one kubeconfig. Thread-safe (urllib3's pool is)."""

    def __init__(self, kubeconfig: Path) -> None:
        api = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), persist_config=False
        )
        self._config = api.configuration
        self._pool: urllib3.PoolManager = api.rest_client.pool_manager
        self._host = str(self._config.host).rstrip("/")
        self._streams: set[urllib3.BaseHTTPResponse] = set()
        self._lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------------

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "workqueue-e2e-host-runner"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        hook = getattr(self._config, "refresh_api_key_hook", None)
        if hook is not None:
            hook(self._config)
        auth = self._config.auth_settings().get("BearerToken")
        if auth and auth.get("value"):
            headers["Authorization"] = str(auth["value"])
        return headers

    def _url(self, path: str, query: Mapping[str, str | int | bool] | None) -> str:
        url = self._host + path
        if query:
            url += "?" + urlencode(
                {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in query.items()}
            )
        return url

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int | bool] | None = None,
        body: object = None,
        content_type: str | None = None,
        timeout: float = 30.0,
    ) -> JSON:
        """One request; the decoded JSON answer. Raises ApiError on a non-2xx status."""
        data = None if body is None else json.dumps(body).encode()
        if data is not None and content_type is None:
            content_type = "application/json"
        response = self._pool.request(
            method,
            self._url(path, query),
            body=data,
            headers=self._headers(content_type),
            timeout=urllib3.Timeout(connect=5.0, read=timeout),
            retries=False,
        )
        text = response.data.decode("utf-8", "replace")
        if not 200 <= response.status < 300:
            raise ApiError(response.status, method, path, text)
        return cast(JSON, json.loads(text)) if text.strip() else {}

    # -- typed calls -------------------------------------------------------------------------

    @staticmethod
    def pods_path(namespace: str | None) -> str:
        return f"/api/v1/namespaces/{quote(namespace)}/pods" if namespace else "/api/v1/pods"

    @staticmethod
    def pod_path(namespace: str, name: str) -> str:
        return f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(name)}"

    def list_pods(self, namespace: str | None, label_selector: str) -> JSON:
        return self.request(
            "GET", self.pods_path(namespace), query={"labelSelector": label_selector}
        )

    def get_pod(self, namespace: str, name: str) -> JSON | None:
        try:
            return self.request("GET", self.pod_path(namespace, name))
        except ApiError as error:
            if error.status == NOT_FOUND:
                return None
            raise

    def read(self, kind: str, namespace: str, name: str) -> JSON | None:
        """A Secret or ConfigMap (``kind`` = ``secrets`` | ``configmaps``); None when missing."""
        try:
            return self.request(
                "GET", f"/api/v1/namespaces/{quote(namespace)}/{kind}/{quote(name)}"
            )
        except ApiError as error:
            if error.status == NOT_FOUND:
                return None
            raise

    def patch_pod(
        self, namespace: str, name: str, patch: object, content_type: str, *, status: bool = False
    ) -> JSON:
        path = self.pod_path(namespace, name) + ("/status" if status else "")
        return self.request("PATCH", path, body=patch, content_type=content_type)

    def delete_pod_now(self, namespace: str, name: str, uid: str) -> bool:
        """Delete with gracePeriodSeconds=0 (as a kubelet finishes a deletion), only the pod of
        that uid; False when it is gone already."""
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        try:
            self.request("DELETE", self.pod_path(namespace, name), body=body)
        except ApiError as error:
            if error.status in (NOT_FOUND, CONFLICT):
                return False
            raise
        return True

    # -- watch -------------------------------------------------------------------------------

    def watch_pods(
        self, namespace: str | None, label_selector: str, resource_version: str
    ) -> Iterator[JSON]:
        """Watch events (``{"type": ..., "object": ...}``) from ``resource_version`` with
        bookmarks, until the server ends the watch (it is asked to after 5 minutes), the
        stream breaks (urllib3 errors propagate) or :meth:`close_streams` is called."""
        query: dict[str, str | int | bool] = {
            "watch": True,
            "labelSelector": label_selector,
            "resourceVersion": resource_version,
            "allowWatchBookmarks": True,
            "timeoutSeconds": 300,
        }
        response = self._pool.request(
            "GET",
            self._url(self.pods_path(namespace), query),
            headers=self._headers(None),
            timeout=urllib3.Timeout(connect=5.0, read=330.0),
            retries=False,
            preload_content=False,
        )
        with self._lock:
            self._streams.add(response)
        try:
            if response.status != 200:
                text = response.read().decode("utf-8", "replace")
                raise ApiError(response.status, "WATCH", self.pods_path(namespace), text)
            buffer = b""
            for chunk in response.stream(amt=None, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield cast(JSON, json.loads(line))
        finally:
            with self._lock:
                self._streams.discard(response)
            # Never hand a half-read stream back to the pool: close its connection.
            response.close()

    def close_streams(self) -> None:
        """End every watch in progress (their iterators stop or raise)."""
        with self._lock:
            streams = list(self._streams)
        for response in streams:
            with contextlib.suppress(Exception):  # best effort: the stream may be done
                response.shutdown()
