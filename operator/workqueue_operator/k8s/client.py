"""The one thin wrapper over the Kubernetes API that the controllers use.

Everything that decides lives elsewhere; this only reads and writes objects.
"""

from __future__ import annotations

from collections.abc import Callable

import kubernetes
from kubernetes.client.exceptions import ApiException

NOT_FOUND = 404


def load_config() -> None:
    """In-cluster credentials when running in a pod, else the kubeconfig ($KUBECONFIG)."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()


class KubeApi:
    """Reads and writes of core objects, with 404 turned into ``False``/``None``."""

    def __init__(self) -> None:
        self.core = kubernetes.client.CoreV1Api()

    def secret_exists(self, namespace: str, name: str) -> bool:
        return self._exists(lambda: self.core.read_namespaced_secret(name, namespace))

    def claim_exists(self, namespace: str, name: str) -> bool:
        return self._exists(
            lambda: self.core.read_namespaced_persistent_volume_claim(name, namespace)
        )

    @staticmethod
    def _exists(read: Callable[[], object]) -> bool:
        try:
            read()
        except ApiException as error:
            if error.status == NOT_FOUND:
                return False
            raise
        return True
