"""Where a pod may run: the scheduling fields a user sets on worker pods (WorkerPool
``spec.template``) and on build pods (PonchoEnv ``spec.builder``). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from workqueue_operator.api.scheduling import Affinity, Toleration


class Placement(Protocol):
    """What both specs share: the pod's scheduling constraints."""

    @property
    def node_selector(self) -> Mapping[str, str]: ...

    @property
    def tolerations(self) -> Sequence[Toleration]: ...

    @property
    def affinity(self) -> Affinity | None: ...

    @property
    def priority_class_name(self) -> str | None: ...


def placement_fields(placement: Placement) -> dict[str, Any]:
    """The pod spec fields of a placement; unset ones are left out."""
    fields: dict[str, Any] = {}
    if placement.node_selector:
        fields["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations:
        fields["tolerations"] = [toleration.to_api() for toleration in placement.tolerations]
    if placement.affinity is not None:
        fields["affinity"] = placement.affinity.to_api()
    if placement.priority_class_name is not None:
        fields["priorityClassName"] = placement.priority_class_name
    return fields
