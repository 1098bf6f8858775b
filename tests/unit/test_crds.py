"""The CRDs in crds/ are exactly what the models generate, and are structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from workqueue_operator.api.crd import KINDS, WORKER_POOL, Kind, crd_for, file_name, render
from workqueue_operator.api.manager import WorkQueueManagerSpec
from workqueue_operator.api.pool import WorkerPoolSpec
from workqueue_operator.api.schema import INT_OR_STRING, PRESERVE

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_crds_folder_matches_the_models(kind: Kind) -> None:
    path = REPO / "crds" / file_name(kind)
    assert path.exists(), f"{path} is missing: run `workqueue-operator crds --write crds`"
    assert path.read_text(encoding="utf-8") == render(kind), (
        f"{path} differs from the models: run `workqueue-operator crds --write crds`"
    )


def _nodes(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, schema)]
    for name, child in schema.get("properties", {}).items():
        found += _nodes(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        found += _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        found += _nodes(schema["additionalProperties"], f"{path}{{}}")
    return found


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schema_is_structural_and_documented(kind: Kind) -> None:
    root = crd_for(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _nodes(root["properties"]["spec"], ".spec") + _nodes(
        root["properties"]["status"], ".status"
    ):
        assert "$ref" not in node and "anyOf" not in node and "allOf" not in node, path
        assert node.get("type") or node.get(PRESERVE) or node.get(INT_OR_STRING), f"{path}: type?"
        if not path.endswith(("[]", "{}")):  # items and map values share their field's text
            assert node.get("description"), f"{path} has no description (kubectl explain)"


def test_worker_pool_has_scale_subresource_and_cel_rules() -> None:
    version = crd_for(WORKER_POOL)["spec"]["versions"][0]
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = {v["rule"] for v in spec["x-kubernetes-validations"]}
    assert "self.minWorkers <= self.maxWorkers" in rules
    assert "has(self.managerRef) != has(self.manager)" in rules
    # Optional nested objects default to {} so their fields' defaults apply...
    assert spec["properties"]["autoscale"]["default"] == {}
    # ...but not the one-of pair, where a default would break the rule.
    assert "default" not in spec["properties"]["manager"]
    assert "default" not in spec["properties"]["managerRef"]


def test_rendered_yaml_round_trips() -> None:
    for kind in KINDS:
        assert yaml.safe_load(render(kind)) == crd_for(kind)


def test_quantities_are_integers_or_strings_as_in_kubernetes() -> None:
    """``cpu: 2`` and a size in bytes are quantities, as in Kubernetes' own resources: the
    schema takes an integer or a string, the models turn the integer into the quantity's text."""
    root = crd_for(WORKER_POOL)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    memory = root["properties"]["spec"]["properties"]["worker"]["properties"]["memory"]
    assert memory.get(INT_OR_STRING) and "type" not in memory
    pool = WorkerPoolSpec.model_validate(
        {"manager": {"address": "a.b:9123"}, "worker": {"memory": 2**30}}
    )
    assert pool.worker.memory == "1073741824"
    manager = WorkQueueManagerSpec.model_validate({"image": "m:1", "resources": {"cpu": 2}})
    assert manager.resources.cpu == "2"
    for refused in ({"memory": 512}, {"memory": -(2**30)}, {"memory": True}):
        with pytest.raises(ValidationError):
            WorkerPoolSpec.model_validate({"manager": {"address": "a.b:9123"}, "worker": refused})
