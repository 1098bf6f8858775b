"""workqueue-operator: run CCTools Work Queue applications on Kubernetes, sized from telemetry."""

__version__ = "0.1.0"

GROUP = "workqueue.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
