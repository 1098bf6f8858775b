"""The checks the CRD schema cannot make, and condition bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime

from workqueue_operator.api.acceptance import (
    Verdict,
    judge_env,
    judge_manager,
    judge_pool,
    parse_spec,
)
from workqueue_operator.api.common import Condition, ConditionStatus, is_transition, set_condition
from workqueue_operator.api.env import PonchoEnvSpec
from workqueue_operator.api.manager import WorkQueueManagerSpec
from workqueue_operator.api.pool import WorkerPoolSpec


def pool(**spec: object) -> WorkerPoolSpec:
    parsed = parse_spec(WorkerPoolSpec, spec)
    assert isinstance(parsed, WorkerPoolSpec)
    return parsed


def test_pool_with_missing_manager_is_rejected_with_the_name() -> None:
    verdict = judge_pool(pool(managerRef={"name": "mgr"}), managers={"other"}, environments=())
    assert verdict == Verdict(
        False,
        "ManagerNotFound",
        "managerRef names WorkQueueManager 'mgr', which does not exist in this namespace",
    )


def test_pool_with_existing_manager_and_env_is_accepted() -> None:
    spec = pool(managerRef={"name": "mgr"}, envRef={"name": "env"})
    assert judge_pool(spec, managers={"mgr"}, environments={"env"}).accepted
    missing_env = judge_pool(spec, managers={"mgr"}, environments=set())
    assert (missing_env.accepted, missing_env.reason) == (False, "EnvironmentNotFound")


def test_pool_with_external_address_needs_no_manager_object() -> None:
    assert judge_pool(pool(manager={"address": "login1:9123"}), (), ()).accepted


def test_parse_spec_reports_each_bad_field() -> None:
    verdict = parse_spec(WorkerPoolSpec, {"minWorkers": -1, "worker": {"memory": "lots"}})
    assert isinstance(verdict, Verdict)
    assert verdict.reason == "InvalidSpec"
    assert "minWorkers" in verdict.message
    assert "worker.memory" in verdict.message


def test_manager_secret_reference_is_checked() -> None:
    spec = WorkQueueManagerSpec.model_validate(
        {"mode": "External", "address": "h:9123", "passwordSecretRef": {"name": "pw"}}
    )
    assert judge_manager(spec, lambda name: None).reason == "SecretNotFound"
    good = {"pw": {"password": b"s3cret"}}
    assert judge_manager(spec, good.get).accepted
    wrong_key = judge_manager(spec, {"pw": {"pass": b"s3cret", "user": b"me"}}.get)
    assert (wrong_key.accepted, wrong_key.reason) == (False, "SecretKeyNotFound")
    assert wrong_key.message == (
        "passwordSecretRef names key 'password' of Secret 'pw', which does not exist "
        "(its keys: pass, user)"
    )
    empty = judge_manager(spec, {"pw": {"password": b""}}.get)
    assert (empty.reason, empty.message.endswith("which is empty")) == ("SecretKeyNotFound", True)
    assert judge_manager(spec, lambda name: {}).reason == "SecretKeyNotFound"


def _judge_env(
    spec: PonchoEnvSpec,
    claims: set[str],
    secrets: dict[str, bytes | None] | None = None,
    config_maps: dict[tuple[str, str], bytes] | None = None,
) -> Verdict:
    found = secrets or {}
    keys = config_maps or {}
    return judge_env(
        spec,
        lambda name: name in claims,
        secret_exists=lambda name: name in found,
        docker_config=found.get,
        config_map_value=lambda name, key: keys.get((name, key)),
    )


def test_env_ca_bundle_must_be_there_for_the_build_pod_to_start() -> None:
    spec = PonchoEnvSpec.model_validate(
        {
            "spec": {"pip": ["six"]},
            "output": {"tarball": {"url": "https://store.example.org/envs"}},
            "builder": {"caBundle": {"name": "corp-ca", "key": "ca.pem"}},
        }
    )
    missing = _judge_env(spec, set())
    assert (missing.accepted, missing.reason) == (False, "CABundleNotFound")
    assert "key 'ca.pem' of ConfigMap 'corp-ca'" in missing.message
    assert _judge_env(spec, set(), config_maps={("corp-ca", "ca.crt"): b"PEM"}).reason == (
        "CABundleNotFound"
    )
    assert _judge_env(spec, set(), config_maps={("corp-ca", "ca.pem"): b"PEM"}).accepted


def test_env_claim_reference_is_checked() -> None:
    spec = PonchoEnvSpec.model_validate(
        {"spec": {"pip": ["six"]}, "output": {"tarball": {"pvc": {"claimName": "envs"}}}}
    )
    assert _judge_env(spec, set()).reason == "ClaimNotFound"
    assert _judge_env(spec, {"envs"}).accepted


def test_env_image_registry_secrets_must_exist_and_hold_a_docker_config() -> None:
    spec = PonchoEnvSpec.model_validate(
        {
            "spec": {"pip": ["six"]},
            "output": {
                "image": {
                    "repository": "registry.example.org/envs",
                    "pushSecretRef": {"name": "push"},
                    "pullSecretRef": {"name": "pull"},
                }
            },
        }
    )
    config = b'{"auths": {"registry.example.org": {"auth": "dTpw"}}}'
    missing = _judge_env(spec, set(), {"pull": config})
    assert (missing.accepted, missing.reason) == (False, "SecretNotFound")
    assert "output.image.pushSecretRef names Secret 'push'" in missing.message
    opaque = _judge_env(spec, set(), {"push": None, "pull": config})
    assert (opaque.accepted, opaque.reason) == (False, "SecretNotDockerConfig")
    assert "kubectl create secret docker-registry" in opaque.message
    not_json = _judge_env(spec, set(), {"push": config, "pull": b"user:password"})
    assert (not_json.reason, "pullSecretRef" in not_json.message) == ("SecretNotDockerConfig", True)
    assert _judge_env(spec, set(), {"push": config, "pull": config}).accepted
    anonymous = PonchoEnvSpec.model_validate(
        {"spec": {"pip": ["six"]}, "output": {"image": {"repository": "10.88.0.1:5000/envs"}}}
    )
    assert _judge_env(anonymous, set()).accepted


def _condition(status: ConditionStatus, reason: str, at: int) -> Condition:
    return Condition(
        type="Accepted",
        status=status,
        reason=reason,
        message="m",
        last_transition_time=datetime.fromtimestamp(at, UTC),
    )


def test_set_condition_keeps_transition_time_when_status_is_unchanged() -> None:
    old = _condition(ConditionStatus.TRUE, "Valid", 100)
    merged = set_condition([old], _condition(ConditionStatus.TRUE, "Valid", 200))
    assert merged[0].last_transition_time == old.last_transition_time
    flipped = set_condition([old], _condition(ConditionStatus.FALSE, "Bad", 300))
    assert flipped[0].last_transition_time.timestamp() == 300


def test_only_changes_are_transitions() -> None:
    old = _condition(ConditionStatus.TRUE, "Valid", 100)
    assert is_transition(None, old)
    assert not is_transition(old, _condition(ConditionStatus.TRUE, "Valid", 200))
    assert is_transition(old, _condition(ConditionStatus.FALSE, "Valid", 200))
