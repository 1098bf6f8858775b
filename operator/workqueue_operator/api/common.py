"""Types shared by the three kinds: the camelCase base model, references, conditions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from workqueue_operator.api.schema import INT_OR_STRING
from workqueue_operator.values.quantities import MB_BYTES, quantity_to_bytes


def _number_as_text(value: object) -> object:
    """A quantity written as a whole number (``cpu: 2``), as Kubernetes takes its own, is the
    same quantity as text ("2")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def pattern_said(
    message: str, *rules: dict[str, str], whole_numbers: bool = False
) -> Callable[[dict[str, Any]], None]:
    """``json_schema_extra`` of a string field with a ``pattern``: a CEL rule checks the pattern
    and says ``message`` (the schema's own pattern error shows only the regular expression),
    then ``rules``. ``whole_numbers``: a quantity, which may also be a whole number at least 0
    (``x-kubernetes-int-or-string``, the schema of Kubernetes' own quantities); ``rules`` see
    either."""

    def extra(schema: dict[str, Any]) -> None:
        pattern = schema.pop("pattern")
        check = f"self.matches(r'''{pattern}''')"
        if whole_numbers:
            schema.pop("type", None)
            schema[INT_OR_STRING] = True
            check = f"type(self) == string ? {check} : self >= 0"
        schema["x-kubernetes-validations"] = [cel(check, message), *rules]

    return extra


# A Kubernetes resource quantity as users write it: "512Mi", "2Gi", "1500M", "10G", 2.
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
Quantity = Annotated[
    str,
    Field(
        pattern=QUANTITY_PATTERN,
        max_length=20,
        json_schema_extra=pattern_said(
            "must be a Kubernetes quantity: a number with an optional suffix (500m, 2, 1.5, 4Gi)",
            whole_numbers=True,
        ),
    ),
    BeforeValidator(_number_as_text),
]

# A DNS-1123 subdomain name, as Kubernetes object names are.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
ObjectName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=NAME_PATTERN,
        json_schema_extra=pattern_said(
            "must be a Kubernetes object name: lowercase letters, digits, '-' and '.', starting "
            "and ending with a letter or digit"
        ),
    ),
]

# A container image reference as the distribution spec writes it: [host[:port]/]path[:tag]
# [@algorithm:digest], path components lowercase.
_HOST = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_PATTERN = (
    rf"^(?:{_HOST}(?::[0-9]{{1,5}})?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"
    r":[0-9a-fA-F]{32,})?$"
)
ImageReference = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1024,
        pattern=IMAGE_PATTERN,
        json_schema_extra=pattern_said(
            "must be a container image: [registry[:port]/]path[:tag][@sha256:digest] with a "
            "lowercase path, e.g. registry.example.org:5000/team/worker:1.0"
        ),
    ),
]
"""A container image (``registry.example.org:5000/team/worker:1.0``, or by ``@sha256:`` digest)."""
REPOSITORY_NAME_PATTERN = rf"^(?:{_HOST}(?::[0-9]{{1,5}})?/)?{_COMPONENT}(?:/{_COMPONENT})*$"
"""An image repository: an image reference without a tag or digest."""

URL_MAX_LENGTH = 2048
_URL_REFUSED = r"\s'\"`$;|&<>\\(){}"
"""No blanks, quotes or shell metacharacters anywhere in a URL the operator passes on."""
_URL_REST = rf"[^{_URL_REFUSED}]*"
_HTTP_ORIGIN = rf"https?://{_HOST}(?::[0-9]{{1,5}})?"
HTTP_URL_PATTERN = rf"^{_HTTP_ORIGIN}(?:/{_URL_REST})?$"
HTTP_URL_PREFIX_PATTERN = rf"^{_HTTP_ORIGIN}(?:/[^{_URL_REFUSED}?#]*)?$"
"""An http(s) URL that paths are appended to: no query or fragment, which would end up in
front of the appended path."""


def url_field(pattern: str, message: str) -> Any:
    """The ``Field`` of a URL string: at most :data:`URL_MAX_LENGTH` characters matching
    ``pattern``, checked by a CEL rule that says ``message``."""
    return Field(
        max_length=URL_MAX_LENGTH, pattern=pattern, json_schema_extra=pattern_said(message)
    )


HttpUrl = Annotated[
    str,
    url_field(
        HTTP_URL_PATTERN,
        "must be an http:// or https:// URL with a host name and no blanks, quotes or shell "
        "characters",
    ),
]
"""An http:// or https:// URL."""
HttpUrlPrefix = Annotated[
    str,
    url_field(
        HTTP_URL_PREFIX_PATTERN,
        "must be an http:// or https:// URL with a host name, no query or fragment (paths are "
        "appended to it), and no blanks, quotes or shell characters",
    ),
]
"""An http:// or https:// URL that the operator appends paths to (an agent's base URL)."""
GIT_REMOTE_PATTERN = (
    rf"^(?:(?:https?|git|ssh)://(?:[A-Za-z0-9._-]+@)?{_HOST}(?::[0-9]{{1,5}})?(?:/{_URL_REST})?"
    rf"|[A-Za-z0-9._-]+@{_HOST}:{_URL_REST})$"
)
GitRemote = Annotated[
    str,
    url_field(
        GIT_REMOTE_PATTERN,
        "must be a git remote (https://, git://, ssh:// or user@host:path) with no blanks, "
        "quotes or shell characters",
    ),
]
"""A git remote: https://, git://, ssh:// or user@host:path."""


def cel(rule: str, message: str) -> dict[str, str]:
    """One CEL validation rule as the CRD's ``x-kubernetes-validations`` wants it."""
    return {"rule": rule, "message": message}


def with_cel(*rules: dict[str, str]) -> dict[str, Any]:
    """``json_schema_extra`` that puts CEL rules on a model's object schema."""
    return {"x-kubernetes-validations": list(rules)}


# A memory or disk size: a quantity of bytes (no "m", which would be thousandths of a byte) of
# at least 1Mi, the smallest size a CCTools worker or a pod can be given (CCTools counts in MB).
BYTES_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
SIZE_TOO_SMALL = (
    "must be at least 1Mi: sizes are bytes, so write the unit (512Mi, 4Gi); 512 alone is 512 bytes"
)


def _at_least_a_megabyte(text: str) -> str:
    if quantity_to_bytes(text) < MB_BYTES:
        raise ValueError(f"{text!r} {SIZE_TOO_SMALL}")
    return text


ByteQuantity = Annotated[
    str,
    Field(
        pattern=BYTES_PATTERN,
        max_length=20,
        json_schema_extra=pattern_said(
            "must be a size in bytes: a number with an optional unit (512Mi, 4Gi, 1500M); no m "
            "suffix, which would be thousandths of a byte",
            cel(
                f"type(self) == int ? self >= {MB_BYTES} : "
                "(!isQuantity(self) || quantity(self).compareTo(quantity('1Mi')) >= 0)",
                SIZE_TOO_SMALL,
            ),
            whole_numbers=True,
        ),
    ),
    AfterValidator(_at_least_a_megabyte),
    BeforeValidator(_number_as_text),
]
"""A memory or disk size (e.g. 512Mi, 4Gi, 1500M, or a number of bytes), at least 1Mi."""


class Framework(StrEnum):
    """Which CCTools framework a manager runs: Work Queue, or its successor TaskVine."""

    WORK_QUEUE = "WorkQueue"
    TASKVINE = "TaskVine"


class CamelModel(BaseModel):
    """Base for every API model: camelCase on the wire, snake_case in Python.

    Unknown fields are ignored (the apiserver prunes them anyway), so an operator that is older
    than its CRD still reads objects.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_attribute_docstrings=True,
    )

    def to_api(self) -> dict[str, Any]:
        """The JSON the apiserver stores: camelCase keys, unset optional fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class LocalObjectReference(CamelModel):
    """A reference to an object in the same namespace."""

    name: ObjectName
    """Name of the referenced object."""


DataKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        json_schema_extra=pattern_said("must be letters, digits, '-', '_' and '.'"),
    ),
]
"""A key of a Secret's or ConfigMap's data: letters, digits, '-', '_' and '.', as Kubernetes
allows."""


class SecretKeyReference(CamelModel):
    """A key of a Secret in the same namespace."""

    name: ObjectName
    """Name of the Secret."""
    key: DataKey = "password"
    """Key in the Secret whose value is used."""


class ConfigMapKeyReference(CamelModel):
    """A key of a ConfigMap in the same namespace."""

    name: ObjectName
    """Name of the ConfigMap."""
    key: DataKey = "ca.crt"
    """Key in the ConfigMap whose value is used."""


class TlsVerification(CamelModel):
    """How the operator checks a manager's TLS certificate when it polls its status port.
    (CCTools' workers encrypt but never check the manager's certificate.)"""

    model_config = ConfigDict(
        json_schema_extra=with_cel(
            cel(
                "!(has(self.caConfigMapRef) && has(self.insecureSkipVerify) && "
                "self.insecureSkipVerify)",
                "give caConfigMapRef or insecureSkipVerify, not both",
            ),
        )
    )

    ca_config_map_ref: ConfigMapKeyReference | None = None
    """A ConfigMap key holding the PEM certificate(s) the manager's certificate is checked
    against; the system's trusted roots when unset."""
    insecure_skip_verify: bool = False
    """Encrypt without checking the manager's certificate (e.g. the temporary self-signed one
    ndcctools makes for ssl=True)."""


class EnvVar(CamelModel):
    """An environment variable of a container."""

    name: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[ -<>-~]+$")]
    """Variable name: printable ASCII characters other than '=', as Kubernetes allows."""
    value: str = ""
    """Variable value."""


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(CamelModel):
    """One observation of the object's state, as in every Kubernetes status."""

    type: str
    """Kind of condition, e.g. Accepted, Reachable, EnvironmentReady."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: str
    """One CamelCase word saying why the condition has this status."""
    message: str = ""
    """A human-readable explanation."""
    last_transition_time: datetime
    """When the status last changed."""
    observed_generation: int | None = None
    """The metadata.generation this condition was computed from."""


def status_changes(stored: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields whose value differs from the stored status: the only ones worth a patch (none:
    the pass changed nothing)."""
    return {key: value for key, value in fields.items() if stored.get(key) != value}


def now() -> datetime:
    """The current time, in UTC, at whole seconds (as Kubernetes timestamps are)."""
    return datetime.now(UTC).replace(microsecond=0)


def set_condition(
    conditions: list[Condition],
    new: Condition,
) -> list[Condition]:
    """Conditions with ``new`` merged in by type, keeping ``lastTransitionTime`` when the status
    did not change (the Kubernetes convention). Pure: returns a new list."""
    merged: list[Condition] = []
    replaced = False
    for old in conditions:
        if old.type != new.type:
            merged.append(old)
            continue
        replaced = True
        if old.status == new.status:
            merged.append(new.model_copy(update={"last_transition_time": old.last_transition_time}))
        else:
            merged.append(new)
    if not replaced:
        merged.append(new)
    return merged


def find_condition(conditions: list[Condition], type_: str) -> Condition | None:
    """The condition of the given type, if any."""
    return next((c for c in conditions if c.type == type_), None)


def stored_condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    """The condition of the given type in a status as the apiserver stores it, if any."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


def is_transition(
    previous: Condition | None, new: Condition, *, message_is_news: bool = True
) -> bool:
    """Whether ``new`` says something that ``previous`` did not: worth an Event.
    ``message_is_news`` False: only a new status or reason is (a condition whose message is an
    error that may be worded differently at each try)."""
    if previous is None:
        return True
    if (previous.status, previous.reason) != (new.status, new.reason):
        return True
    return message_is_news and previous.message != new.message


def merge_condition(
    current_status: Mapping[str, Any],
    *,
    type_: str,
    ok: bool,
    reason: str,
    message: str,
    generation: int | None,
    message_is_news: bool = True,
) -> tuple[list[dict[str, Any]], bool]:
    """The status's conditions with one condition set, as API JSON, and whether that is a
    transition worth an Event (status, reason or, with ``message_is_news``, message changed)."""
    conditions = [Condition.model_validate(c) for c in current_status.get("conditions") or []]
    new = Condition(
        type=type_,
        status=ConditionStatus.TRUE if ok else ConditionStatus.FALSE,
        reason=reason,
        message=message,
        last_transition_time=now(),
        observed_generation=generation,
    )
    previous = find_condition(conditions, type_)
    transition = is_transition(previous, new, message_is_news=message_is_news)
    return [c.to_api() for c in set_condition(conditions, new)], transition


LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LabelValue = Annotated[
    str,
    Field(
        max_length=63,
        pattern=LABEL_VALUE_PATTERN,
        json_schema_extra=pattern_said(
            "must be empty or letters, digits, '-', '_' and '.', starting and ending with a "
            "letter or digit"
        ),
    ),
]
_QUALIFIED_KEYS = cel(
    r"self.all(k, k.size() <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?"
    r"(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",
    "keys must be qualified names: an optional DNS-subdomain prefix and '/', then a name of at "
    "most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
)
LabelMap = Annotated[
    dict[str, LabelValue], Field(max_length=64, json_schema_extra=with_cel(_QUALIFIED_KEYS))
]
"""Labels or a node selector: qualified-name keys, label values (at most 63 characters)."""
AnnotationMap = Annotated[
    dict[str, Annotated[str, Field(max_length=65536)]],
    Field(max_length=64, json_schema_extra=with_cel(_QUALIFIED_KEYS)),
]
"""Annotations: qualified-name keys, values of at most 64 KiB."""
