"""The PodsCreated condition: refusals named without the pod, Events only when they matter."""

from __future__ import annotations

from workqueue_operator.api.acceptance import Verdict, worth_an_event
from workqueue_operator.scaling.creation import (
    FAILED_CREATE,
    PODS_CREATED,
    CreationOutcome,
    creation_verdict,
)

QUOTA = (
    'pods "workers-c1m512-3fa9c1" is forbidden: exceeded quota: pod-count, '
    "requested: pods=1, used: pods=1, limited: pods=1"
)


def test_no_attempt_sets_nothing() -> None:
    assert creation_verdict(CreationOutcome(attempted=0, created=0)) is None


def test_a_refusal_is_false_with_the_apiservers_reason_and_no_pod_name() -> None:
    verdict = creation_verdict(CreationOutcome(attempted=3, created=1, refusal=QUOTA))
    assert verdict == Verdict(
        False,
        FAILED_CREATE,
        "the worker pod is forbidden: exceeded quota: pod-count, "
        "requested: pods=1, used: pods=1, limited: pods=1",
    )


def test_an_invalid_pod_and_a_message_without_a_pod_name() -> None:
    invalid = creation_verdict(
        CreationOutcome(1, 0, 'Pod "w-1" is invalid: spec.containers[0].image: Required value')
    )
    assert invalid is not None
    assert invalid.message == "the worker pod is invalid: spec.containers[0].image: Required value"
    other = creation_verdict(CreationOutcome(1, 0, "admission webhook denied the request"))
    assert other is not None
    assert other.message == "creating a worker pod: admission webhook denied the request"


def test_the_same_cause_on_another_pod_gives_the_same_condition() -> None:
    other = QUOTA.replace("workers-c1m512-3fa9c1", "workers-c1m512-77d0e2")
    first = creation_verdict(CreationOutcome(attempted=1, created=0, refusal=QUOTA))
    second = creation_verdict(CreationOutcome(attempted=5, created=0, refusal=other))
    assert first == second


def test_created_pods_are_true() -> None:
    verdict = creation_verdict(CreationOutcome(attempted=2, created=2))
    assert verdict is not None and verdict.accepted and verdict.reason == "Created"


def _status(condition_status: str | None) -> dict[str, object]:
    if condition_status is None:
        return {"conditions": [{"type": "Accepted", "status": "True"}]}
    return {"conditions": [{"type": PODS_CREATED, "status": condition_status}]}


def test_refusals_are_worth_an_event_and_success_only_after_a_refusal() -> None:
    refused = Verdict(False, FAILED_CREATE, "no")
    created = Verdict(True, "Created", "yes")
    assert worth_an_event(refused, _status(None), PODS_CREATED)
    assert worth_an_event(refused, _status("True"), PODS_CREATED)
    assert worth_an_event(created, _status("False"), PODS_CREATED)
    assert not worth_an_event(created, _status(None), PODS_CREATED)
    assert not worth_an_event(created, _status("True"), PODS_CREATED)
