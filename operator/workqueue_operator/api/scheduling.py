"""Where the operator's pods may run and what they carry from the user: tolerations, affinity
(core/v1 Affinity field for field, so that a misspelt field is refused by ``kubectl apply``) and
the pod template of worker and manager pods."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from workqueue_operator.api.common import (
    AnnotationMap,
    CamelModel,
    LabelMap,
    LabelValue,
    ObjectName,
    cel,
    with_cel,
)


class TolerationOperator(StrEnum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(CamelModel):
    """A core/v1 Toleration."""

    model_config = ConfigDict(
        json_schema_extra=with_cel(
            cel(
                "!has(self.operator) || self.operator != 'Exists' || "
                "!has(self.value) || self.value == ''",
                "value must be empty when operator is Exists (it tolerates any value)",
            ),
            cel(
                "(has(self.key) && self.key != '') || "
                "(has(self.operator) && self.operator == 'Exists')",
                "a toleration without key needs operator Exists (it then tolerates every taint)",
            ),
            cel(
                "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
                "tolerationSeconds is only for effect NoExecute",
            ),
        )
    )

    key: Annotated[str, Field(max_length=317)] | None = None
    """The taint key it tolerates; empty with operator Exists: every taint."""
    operator: TolerationOperator | None = None
    """Exists or Equal (the Kubernetes default: Equal)."""
    value: LabelValue | None = None
    """The taint value it tolerates (operator Equal)."""
    effect: TaintEffect | None = None
    """NoSchedule, PreferNoSchedule or NoExecute; every effect when unset."""
    toleration_seconds: Annotated[int, Field(ge=0, le=31536000)] | None = None
    """How long a NoExecute taint is tolerated."""


class NodeSelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GT = "Gt"
    LT = "Lt"


class NodeSelectorRequirement(CamelModel):
    """A core/v1 NodeSelectorRequirement."""

    key: str
    """The node label (or, in matchFields, field) the requirement is about."""
    operator: NodeSelectorOperator
    """In, NotIn, Exists, DoesNotExist, Gt or Lt."""
    values: list[str] | None = None
    """The values: one or more for In and NotIn, none for Exists and DoesNotExist, one integer
    for Gt and Lt."""


class NodeSelectorTerm(CamelModel):
    """A core/v1 NodeSelectorTerm: every requirement must hold."""

    match_expressions: list[NodeSelectorRequirement] | None = None
    """Requirements on the node's labels."""
    match_fields: list[NodeSelectorRequirement] | None = None
    """Requirements on the node's fields (metadata.name)."""


class NodeSelector(CamelModel):
    """A core/v1 NodeSelector: one of its terms must hold."""

    node_selector_terms: Annotated[list[NodeSelectorTerm], Field(min_length=1)]
    """The terms, ORed."""


class PreferredSchedulingTerm(CamelModel):
    """A core/v1 PreferredSchedulingTerm."""

    weight: Annotated[int, Field(ge=1, le=100)]
    """How much a node that matches is preferred."""
    preference: NodeSelectorTerm
    """What a preferred node matches."""


class NodeAffinity(CamelModel):
    """A core/v1 NodeAffinity."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    """The nodes a pod may run on."""
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = (
        None
    )
    """The nodes a pod prefers, with weights."""


class LabelSelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class LabelSelectorRequirement(CamelModel):
    """A meta/v1 LabelSelectorRequirement."""

    key: str
    """The label the requirement is about."""
    operator: LabelSelectorOperator
    """In, NotIn, Exists or DoesNotExist."""
    values: list[str] | None = None
    """The values (In, NotIn); none for Exists and DoesNotExist."""


class LabelSelector(CamelModel):
    """A meta/v1 LabelSelector: every label and requirement must hold."""

    match_labels: dict[str, str] | None = None
    """Labels and the values they must have."""
    match_expressions: list[LabelSelectorRequirement] | None = None
    """Requirements on labels."""


class PodAffinityTerm(CamelModel):
    """A core/v1 PodAffinityTerm."""

    label_selector: LabelSelector | None = None
    """The pods this term is about."""
    namespaces: list[str] | None = None
    """Their namespaces (the pod's own when empty and without namespaceSelector)."""
    namespace_selector: LabelSelector | None = None
    """Their namespaces, by label."""
    topology_key: Annotated[str, Field(min_length=1)]
    """The node label whose value defines "the same place" (kubernetes.io/hostname,
    topology.kubernetes.io/zone, ...)."""
    match_label_keys: list[str] | None = None
    """Labels of the incoming pod whose values the selected pods must share."""
    mismatch_label_keys: list[str] | None = None
    """Labels of the incoming pod whose values the selected pods must not have."""


class WeightedPodAffinityTerm(CamelModel):
    """A core/v1 WeightedPodAffinityTerm."""

    weight: Annotated[int, Field(ge=1, le=100)]
    """How much the term counts."""
    pod_affinity_term: PodAffinityTerm
    """The term."""


class PodAffinity(CamelModel):
    """A core/v1 PodAffinity (or PodAntiAffinity, which has the same fields)."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = None
    """Terms that must hold."""
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = (
        None
    )
    """Terms that are preferred, with weights."""


class Affinity(CamelModel):
    """A core/v1 Affinity, field for field, so that a misspelt field is refused when the object
    is applied instead of being dropped when a pod is made."""

    node_affinity: NodeAffinity | None = None
    """Which nodes the pod may run on, or prefers."""
    pod_affinity: PodAffinity | None = None
    """Pods the pod must, or prefers to, run beside."""
    pod_anti_affinity: PodAffinity | None = None
    """Pods the pod must not, or prefers not to, run beside."""


class PodTemplate(CamelModel):
    """Fields copied into the pods the operator makes (worker pods; an InCluster manager's pod)."""

    labels: LabelMap = Field(default_factory=dict)
    """Extra labels of the pods."""
    annotations: AnnotationMap = Field(default_factory=dict)
    """Extra annotations of the pods."""
    node_selector: LabelMap = Field(default_factory=dict)
    """Node selector of the pods."""
    tolerations: Annotated[list[Toleration], Field(max_length=64)] = Field(default_factory=list)
    """Tolerations of the pods."""
    affinity: Affinity | None = None
    """Affinity of the pods (core/v1 Affinity)."""
    priority_class_name: ObjectName | None = None
    """Priority class of the pods."""
    service_account_name: ObjectName | None = None
    """Service account of the pods."""
