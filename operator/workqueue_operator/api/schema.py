"""Turn a pydantic model's JSON schema into a Kubernetes structural OpenAPI v3 schema.

Structural means: no ``$ref``, a ``type`` on every node (or ``x-kubernetes-preserve-unknown-
fields``), no ``anyOf`` of different types. Optional fields (``X | None``) become plain ``X``
that may be left out; free-form values (``Any``, ``dict[str, Any]``) keep unknown fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

JsonSchema = dict[str, Any]

_DROPPED_KEYS = frozenset({"title", "$defs"})
PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"


class NotStructuralError(ValueError):
    """The model uses a shape that a CRD schema cannot express."""


def structural_schema(model: type[BaseModel], *, default_objects: bool) -> JsonSchema:
    """The structural schema of ``model``.

    With ``default_objects``, an optional nested object whose own fields are all optional gets
    ``default: {}``, so that the apiserver fills in its fields' defaults even when the user left
    the whole object out (``spec.autoscale`` appears with every default on ``kubectl get -o
    yaml``). Use it for spec, not for status.
    """
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions: dict[str, JsonSchema] = raw.get("$defs", {})
    return _convert(raw, definitions, default_objects=default_objects)


def _resolve(node: JsonSchema, definitions: dict[str, JsonSchema]) -> JsonSchema:
    """Inline a ``$ref`` (or pydantic's ``allOf: [{$ref}]`` form), keeping sibling keys such as
    the field's own description, which wins over the referenced model's docstring."""
    ref_holder = node
    if "allOf" in node and len(node["allOf"]) == 1 and "$ref" in node["allOf"][0]:
        ref_holder = node["allOf"][0]
    if "$ref" not in ref_holder:
        return node
    name = ref_holder["$ref"].rsplit("/", 1)[-1]
    resolved = dict(definitions[name])
    for key, value in node.items():
        if key not in {"$ref", "allOf"}:
            resolved[key] = value
    return resolved


def _strip_null(node: JsonSchema) -> JsonSchema:
    """``anyOf: [X, null]`` (an optional field) becomes X with the outer keys kept."""
    options = node.get("anyOf")
    if options is None:
        return node
    non_null = [o for o in options if o.get("type") != "null"]
    if len(non_null) != 1:
        raise NotStructuralError(f"a union of several types is not structural: {options}")
    merged = {k: v for k, v in node.items() if k != "anyOf"}
    inner = dict(non_null[0])
    inner.update(merged)
    if inner.get("default", "") is None:
        del inner["default"]
    return inner


def _convert(
    node: JsonSchema, definitions: dict[str, JsonSchema], *, default_objects: bool
) -> JsonSchema:
    node = _strip_null(_resolve(node, definitions))
    node = _resolve(node, definitions)  # the non-null branch may itself be a $ref
    out: JsonSchema = {k: v for k, v in node.items() if k not in _DROPPED_KEYS}
    if "description" in out:
        out["description"] = " ".join(out["description"].split())

    if not out.get("type") and "enum" not in out and not out.get(INT_OR_STRING):
        # Any: a free-form value of any type.
        return {k: v for k, v in out.items() if k in {"description", "default"}} | {PRESERVE: True}

    if out.get("type") == "object":
        properties = out.get("properties")
        additional = out.get("additionalProperties")
        if properties is not None:
            converted = {
                name: _convert(child, definitions, default_objects=default_objects)
                for name, child in properties.items()
            }
            if default_objects:
                required = set(out.get("required", []))
                for name, child in converted.items():
                    if (
                        name not in required
                        and child.get("type") == "object"
                        and "properties" in child
                        and "default" not in child
                        and not child.get("required")
                        and name in _defaultable(node, name)
                    ):
                        child["default"] = {}
            out["properties"] = converted
            out.pop("additionalProperties", None)
        elif isinstance(additional, dict) and additional:
            out["additionalProperties"] = _convert(
                additional, definitions, default_objects=default_objects
            )
        else:
            # dict[str, Any] or a bare object: keep whatever the user writes.
            out.pop("additionalProperties", None)
            out[PRESERVE] = True
    elif out.get("type") == "array":
        out["items"] = _convert(out.get("items", {}), definitions, default_objects=default_objects)
    else:
        _describe_limits(out)
    return _readable_order(out)


def _describe_limits(node: JsonSchema) -> None:
    """Say a field's default and range in its description: ``kubectl explain`` shows only the
    description and the type, not the schema's ``default``, ``minimum`` or ``maximum``."""
    notes = []
    if "default" in node:
        notes.append(f"Default: {_literal(node['default'])}.")
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        notes.append(f"Range: {_literal(low)} to {_literal(high)}.")
    elif low is not None:
        notes.append(f"At least {_literal(low)}.")
    elif high is not None:
        notes.append(f"At most {_literal(high)}.")
    if notes:
        node["description"] = " ".join([node.get("description", ""), *notes]).strip()


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_LEADING_KEYS = ("type", "description", "default")


def _readable_order(node: JsonSchema) -> JsonSchema:
    """Type, description and default first, so the YAML in crds/ reads top-down."""
    ordered = {key: node[key] for key in _LEADING_KEYS if key in node}
    ordered.update((key, value) for key, value in node.items() if key not in ordered)
    return ordered


def _defaultable(parent: JsonSchema, name: str) -> set[str]:
    """Names of properties that were not optional-with-None in the model (an ``X | None = None``
    field must stay absent when unset, so it gets no object default)."""
    child = parent.get("properties", {}).get(name, {})
    is_nullable = any(o.get("type") == "null" for o in child.get("anyOf", []))
    return set() if is_nullable else {name}
