"""Operator start-up: kopf settings, the shared Kubernetes client, the metrics endpoint."""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from workqueue_operator import GROUP
from workqueue_operator.controllers import metrics
from workqueue_operator.controllers.loop import Supervisor
from workqueue_operator.k8s.client import KubeClient, load_config


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Keep kopf's bookkeeping in annotations of our own group: the CRDs' structural status
    # schemas would prune kopf's default status fields.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 60
    load_config()
    memo.kube = KubeClient()
    memo.supervisor = Supervisor()
    try:
        port = metrics.port_from_env(os.environ)
    except ValueError as error:
        raise kopf.PermanentError(str(error)) from error
    metrics.serve(port)  # once per process; port 0: off


@kopf.on.cleanup()
async def stop_loops(memo: kopf.Memo, **_: Any) -> None:
    """Stop every object's loop, then the pod watches, when the operator stops."""
    await memo.supervisor.shutdown()
    memo.kube.close()
