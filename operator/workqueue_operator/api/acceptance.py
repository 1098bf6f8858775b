"""Whether an object's spec can be acted on: the checks the CRD schema cannot make.

Pure functions: the caller gathers the facts (which objects exist) and gets a verdict back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import BaseModel, ValidationError

from workqueue_operator.api.common import merge_condition, stored_condition
from workqueue_operator.api.env import DOCKER_CONFIG_KEY, PonchoEnvSpec
from workqueue_operator.api.manager import ManagerMode, WorkQueueManagerSpec
from workqueue_operator.api.pool import WorkerPoolSpec

ACCEPTED = "Accepted"

SpecT = TypeVar("SpecT", bound=BaseModel)


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one spec: the Accepted condition's status, reason, message."""

    accepted: bool
    reason: str
    message: str

    def event(self) -> Event:
        """The Event that says this verdict: Normal when it accepts, Warning when not."""
        return Event(
            EventType.NORMAL if self.accepted else EventType.WARNING, self.reason, self.message
        )


def verdict_condition(
    status: Mapping[str, Any],
    *,
    type_: str,
    verdict: Verdict,
    generation: int | None,
    message_is_news: bool = True,
) -> tuple[list[dict[str, Any]], bool]:
    """The status's conditions with the ``type_`` condition saying ``verdict`` (True when it
    accepts), and whether that is a transition worth an Event (``merge_condition``)."""
    return merge_condition(
        status,
        type_=type_,
        ok=verdict.accepted,
        reason=verdict.reason,
        message=verdict.message,
        generation=generation,
        message_is_news=message_is_news,
    )


def condition_news(
    status: Mapping[str, Any],
    *,
    type_: str,
    verdict: Verdict,
    generation: int | None,
    message_is_news: bool = True,
) -> tuple[list[dict[str, Any]], list[Event]]:
    """:func:`verdict_condition`, with the Event the transition is worth
    (:func:`worth_an_event`) instead of whether it is one."""
    conditions, changed = verdict_condition(
        status,
        type_=type_,
        verdict=verdict,
        generation=generation,
        message_is_news=message_is_news,
    )
    worth = changed and worth_an_event(verdict, status, type_)
    return conditions, [verdict.event()] if worth else []


def worth_an_event(verdict: Verdict, status: Mapping[str, Any], type_: str) -> bool:
    """Whether condition ``type_`` of ``status`` changing to say ``verdict`` is worth an Event
    (the caller asks on changes only): a failure always; a success only when it ends a
    failure, not when an object works from the start."""
    previous = stored_condition(status, type_)
    return not verdict.accepted or (previous is not None and previous.get("status") == "False")


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event a reconcile pass posts on its object."""

    type: EventType
    reason: str
    """One CamelCase word."""
    message: str


def parse_spec(model: type[SpecT], spec: Mapping[str, Any]) -> SpecT | Verdict:
    """The typed spec, or a rejecting verdict that says which fields are wrong.

    The CRD schema rejects most bad input first; this catches what an older CRD let through.
    """
    try:
        return model.model_validate(dict(spec))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in error.errors()
        )
        return Verdict(False, "InvalidSpec", f"spec is invalid: {problems}")


def judge_manager(
    spec: WorkQueueManagerSpec, secret_data: Callable[[str], Mapping[str, bytes] | None]
) -> Verdict:
    """A WorkQueueManager is accepted when the password Secret it names exists and has a
    non-empty value at its key (``secret_data``: a Secret's data by name, None when missing).
    Workers mount that key: without it their pods never start."""
    ref = spec.password_secret_ref
    if ref is not None:
        data = secret_data(ref.name)
        if data is None:
            return Verdict(
                False,
                "SecretNotFound",
                f"passwordSecretRef names Secret {ref.name!r}, which does not exist in this "
                "namespace",
            )
        if not data.get(ref.key):
            keys = ", ".join(sorted(data)) or "none"
            what = "is empty" if ref.key in data else f"does not exist (its keys: {keys})"
            return Verdict(
                False,
                "SecretKeyNotFound",
                f"passwordSecretRef names key {ref.key!r} of Secret {ref.name!r}, which {what}",
            )
    if spec.mode is ManagerMode.IN_CLUSTER:
        return Verdict(True, "Valid", "spec is valid: the manager is deployed and polled")
    return Verdict(True, "Valid", "spec is valid: the External manager is polled")


def judge_pool(
    spec: WorkerPoolSpec,
    managers: Collection[str],
    environments: Collection[str],
) -> Verdict:
    """A WorkerPool is accepted when the WorkQueueManager and PonchoEnv it names exist."""
    if spec.manager_ref is not None and spec.manager_ref.name not in managers:
        return Verdict(
            False,
            "ManagerNotFound",
            f"managerRef names WorkQueueManager {spec.manager_ref.name!r}, which does not exist "
            "in this namespace",
        )
    if spec.env_ref is not None and spec.env_ref.name not in environments:
        return Verdict(
            False,
            "EnvironmentNotFound",
            f"envRef names PonchoEnv {spec.env_ref.name!r}, which does not exist in this namespace",
        )
    return Verdict(True, "Valid", "spec is valid: workers follow the manager's backlog")


_CONDA_TOKEN = r"[A-Za-z0-9_.*=<>!~,|+-]+"
CONDA_SPEC = re.compile(
    rf"^[A-Za-z0-9_][A-Za-z0-9_.:/-]*(?:\[[A-Za-z0-9_.*=<>!~,|+' -]*\])?{_CONDA_TOKEN[:-1]}*"
    rf"(?: {_CONDA_TOKEN}(?: {_CONDA_TOKEN})?)?$"
)
"""A conda match spec: ``name[version[ build]]`` as in ``numpy=1.26``, ``numpy >=1.20,<2``,
``conda-forge::numpy 1.26.0 py311h0``, ``numpy[version='>=1.20']``: no ``$``, ``;``, ``&``,
backticks, quotes outside brackets, or more words."""


def package_problems(spec: PonchoEnvSpec) -> list[str]:
    """What is wrong with a Poncho spec's package lists: every pip entry must be a PEP 508
    requirement (no pip options, no shell), every conda entry a plain match spec."""
    problems = []
    pip = list(spec.spec.pip or [])
    conda = spec.spec.conda
    for dependency in conda.dependencies if conda is not None else []:
        if isinstance(dependency, str):
            if not CONDA_SPEC.match(dependency):
                problems.append(f"conda dependency {dependency!r} is not a conda match spec")
        elif isinstance(dependency, dict):
            pip += [str(item) for item in dependency.get("pip") or []]
    for requirement in pip:
        try:
            Requirement(requirement)
        except InvalidRequirement as error:
            first_line = str(error).splitlines()[0]
            problems.append(f"pip {requirement!r} is not a PEP 508 requirement ({first_line})")
    return problems


def _docker_config_problem(
    field: str,
    name: str,
    secret_exists: Callable[[str], bool],
    docker_config: Callable[[str], bytes | None],
) -> Verdict | None:
    if not secret_exists(name):
        return Verdict(
            False,
            "SecretNotFound",
            f"{field} names Secret {name!r}, which does not exist in this namespace",
        )
    config = docker_config(name)
    try:
        data = json.loads(config) if config is not None else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("auths"), dict):
        return Verdict(
            False,
            "SecretNotDockerConfig",
            f"{field} names Secret {name!r}, which has no Docker config ({DOCKER_CONFIG_KEY} "
            'with "auths"): make it with kubectl create secret docker-registry',
        )
    return None


def judge_env(
    spec: PonchoEnvSpec,
    claim_exists: Callable[[str], bool],
    *,
    secret_exists: Callable[[str], bool],
    docker_config: Callable[[str], bytes | None],
    config_map_value: Callable[[str, str], bytes | None],
) -> Verdict:
    """A PonchoEnv is accepted when its packages are well-formed requirements, the
    PersistentVolumeClaim it writes to exists, the registry Secrets of an image output exist
    and hold a Docker config (``docker_config``: a Secret's ``.dockerconfigjson``, None when it
    has none), and the builder's CA bundle is there (``config_map_value``: a ConfigMap's key by
    name and key, None when either is missing); a build pod without it never starts."""
    problems = package_problems(spec)
    if problems:
        return Verdict(False, "InvalidPackages", "; ".join(problems)[:1000])
    tarball = spec.output.tarball
    if tarball is not None and tarball.pvc is not None and not claim_exists(tarball.pvc.claim_name):
        return Verdict(
            False,
            "ClaimNotFound",
            f"output.tarball.pvc names PersistentVolumeClaim {tarball.pvc.claim_name!r}, which "
            "does not exist in this namespace",
        )
    bundle = spec.builder.ca_bundle
    if bundle is not None and not config_map_value(bundle.name, bundle.key):
        return Verdict(
            False,
            "CABundleNotFound",
            f"builder.caBundle names key {bundle.key!r} of ConfigMap {bundle.name!r}: the "
            "ConfigMap does not exist in this namespace, or has no such key, or it is empty",
        )
    image = spec.output.image
    if image is not None:
        refs = (("pushSecretRef", image.push_secret_ref), ("pullSecretRef", image.pull_secret_ref))
        for field, ref in refs:
            problem = ref and _docker_config_problem(
                f"output.image.{field}", ref.name, secret_exists, docker_config
            )
            if problem:
                return problem
    return Verdict(True, "Valid", "spec is valid: the environment is built once per hash")
