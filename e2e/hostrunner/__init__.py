"""Host runner: a TEST HARNESS that runs the first container of selected pods as local
processes, standing in for kubelet + container runtime on the local control plane (whose nodes
are KWOK fakes and which cannot pull images). Never product code. See README.md here."""

from e2e.hostrunner.runner import (
    CLAIM_ANNOTATION,
    DEFAULT_SELECTOR,
    FINALIZER,
    HostRunner,
    ProcessInfo,
)

__all__ = ["CLAIM_ANNOTATION", "DEFAULT_SELECTOR", "FINALIZER", "HostRunner", "ProcessInfo"]
