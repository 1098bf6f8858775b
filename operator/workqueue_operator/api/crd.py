"""The three kinds' CustomResourceDefinitions, generated from the pydantic models.

``crds/`` holds this module's output (``workqueue-operator crds --write crds``); a test fails when
the two differ, so the models stay the single source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from workqueue_operator import GROUP, VERSION
from workqueue_operator.api.common import cel
from workqueue_operator.api.env import PonchoEnv, PonchoEnvSpec, PonchoEnvStatus
from workqueue_operator.api.manager import (
    WorkQueueManager,
    WorkQueueManagerSpec,
    WorkQueueManagerStatus,
)
from workqueue_operator.api.pool import WorkerPool, WorkerPoolSpec, WorkerPoolStatus
from workqueue_operator.api.schema import structural_schema

CATEGORY = "workqueue"


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    description: str
    priority: int = 0

    def to_crd(self) -> dict[str, Any]:
        column: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "jsonPath": self.json_path,
            "description": self.description,
        }
        if self.priority:
            column["priority"] = self.priority
        return column


@dataclass(frozen=True)
class Kind:
    """Everything the CRD of one kind says beyond the schema."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    model: type[BaseModel]
    spec: type[BaseModel]
    status: type[BaseModel]
    columns: tuple[PrinterColumn, ...]
    scale: dict[str, str] | None = None
    root_rules: tuple[dict[str, str], ...] = ()
    extra_categories: tuple[str, ...] = field(default_factory=tuple)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


def _ready(type_: str) -> str:
    return f'.status.conditions[?(@.type=="{type_}")].status'


AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp", "Time since creation")

WORKQUEUE_MANAGER = Kind(
    kind="WorkQueueManager",
    plural="workqueuemanagers",
    short_names=("wqm",),
    model=WorkQueueManager,
    spec=WorkQueueManagerSpec,
    status=WorkQueueManagerStatus,
    columns=(
        PrinterColumn("Framework", "string", ".spec.framework", "WorkQueue or TaskVine"),
        PrinterColumn("Mode", "string", ".spec.mode", "InCluster or External"),
        PrinterColumn("Phase", "string", ".status.phase", "Summary of the state"),
        PrinterColumn("Waiting", "integer", ".status.queue.tasksWaiting", "Tasks waiting"),
        PrinterColumn("Running", "integer", ".status.queue.tasksRunning", "Tasks running"),
        PrinterColumn("Workers", "integer", ".status.queue.workersConnected", "Workers connected"),
        PrinterColumn("Reachable", "string", _ready("Reachable"), "Manager answers status"),
        PrinterColumn("Address", "string", ".status.address", "host:port", priority=1),
        AGE,
    ),
    root_rules=(
        cel(
            "!has(self.spec) || self.spec.mode != 'InCluster' || "
            "(self.metadata.name.size() <= 63 && !self.metadata.name.contains('.'))",
            "an InCluster WorkQueueManager's name must be at most 63 characters without '.': it "
            "names the manager's Service (a DNS label) and labels its pod",
        ),
    ),
)

WORKER_POOL = Kind(
    kind="WorkerPool",
    plural="workerpools",
    short_names=("wqpool",),
    model=WorkerPool,
    spec=WorkerPoolSpec,
    status=WorkerPoolStatus,
    columns=(
        PrinterColumn("Manager", "string", ".spec.managerRef.name", "WorkQueueManager"),
        PrinterColumn("Min", "integer", ".spec.minWorkers", "Fewest workers"),
        PrinterColumn("Max", "integer", ".spec.maxWorkers", "Most workers"),
        PrinterColumn("Desired", "integer", ".status.desiredReplicas", "Pods wanted"),
        PrinterColumn("Replicas", "integer", ".status.replicas", "Pods that exist"),
        PrinterColumn("Busy", "integer", ".status.workersBusy", "Workers running tasks"),
        PrinterColumn("Idle", "integer", ".status.workersIdle", "Workers with no task"),
        PrinterColumn("Ready", "string", _ready("Ready"), "Accepted, its environment ready"),
        PrinterColumn("Suspend", "boolean", ".spec.suspend", "No pods wanted", priority=1),
        PrinterColumn("Reason", "string", ".status.desiredReason", "Why", priority=1),
        AGE,
    ),
    scale={
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    },
    root_rules=(
        cel(
            "self.metadata.name.size() <= 63",
            "a WorkerPool's name must be at most 63 characters: it is a label value on its pods",
        ),
    ),
)

PONCHO_ENV = Kind(
    kind="PonchoEnv",
    plural="ponchoenvs",
    short_names=("penv",),
    model=PonchoEnv,
    spec=PonchoEnvSpec,
    status=PonchoEnvStatus,
    columns=(
        PrinterColumn("Phase", "string", ".status.phase", "Pending, Building, Ready, Failed"),
        PrinterColumn("Hash", "string", ".status.hash", "Content hash of the spec"),
        PrinterColumn("Size", "integer", ".status.sizeBytes", "Artefact size in bytes"),
        PrinterColumn("Artifact", "string", ".status.artifact", "Where it is", priority=1),
        AGE,
    ),
)

KINDS: tuple[Kind, ...] = (WORKQUEUE_MANAGER, WORKER_POOL, PONCHO_ENV)


def crd_for(kind: Kind) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    spec_schema = structural_schema(kind.spec, default_objects=True)
    status_schema = structural_schema(kind.status, default_objects=False)
    root: dict[str, Any] = {
        "type": "object",
        "description": " ".join((kind.model.__doc__ or "").split()),
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
        "required": ["spec"],
    }
    if kind.root_rules:
        root["x-kubernetes-validations"] = list(kind.root_rules)
    subresources: dict[str, Any] = {"status": {}}
    if kind.scale:
        subresources["scale"] = dict(kind.scale)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/part-of": "workqueue-operator"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": [CATEGORY, *kind.extra_categories],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": subresources,
                    "additionalPrinterColumns": [c.to_crd() for c in kind.columns],
                }
            ],
        },
    }


HEADER = (
    "# Generated from the pydantic models in operator/workqueue_operator/api/ by\n"
    "# `workqueue-operator crds --write crds`. Do not edit by hand.\n"
)


def render(kind: Kind) -> str:
    """The CRD of one kind as the YAML text stored in ``crds/``."""
    body = yaml.safe_dump(crd_for(kind), sort_keys=False, width=100, allow_unicode=True)
    return HEADER + body


def file_name(kind: Kind) -> str:
    return f"{kind.crd_name}.yaml"


def write_all(directory: Path) -> list[Path]:
    """Write every CRD into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in KINDS:
        path = directory / file_name(kind)
        path.write_text(render(kind), encoding="utf-8")
        written.append(path)
    return written
