"""Which API errors are refusals (reported on the object) and which may pass by themselves."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from workqueue_operator.k8s.client import refused

QUOTA_MESSAGE = (
    'pods "w-1" is forbidden: exceeded quota: pod-count, requested: pods=1, used: pods=1, '
    "limited: pods=1"
)


def api_error(status: int, reason: str, body: str | None) -> ApiException:
    return ApiException(status=status, reason=reason, body=body)


def test_a_quota_refusal_carries_the_apiservers_message_and_reason() -> None:
    body = json.dumps(
        {"kind": "Status", "status": "Failure", "reason": "Forbidden", "message": QUOTA_MESSAGE}
    )
    refusal = refused(api_error(403, "Forbidden", body))
    assert refusal is not None
    assert (refusal.status, refusal.reason, refusal.message) == (403, "Forbidden", QUOTA_MESSAGE)


def test_a_body_that_is_not_json_falls_back_to_the_http_reason() -> None:
    refusal = refused(api_error(422, "Unprocessable Entity", "<html>"))
    assert refusal is not None and refusal.message == "Unprocessable Entity"


@pytest.mark.parametrize("status", [409, 429, 500, 503, 0])
def test_conflicts_rate_limits_and_server_errors_are_not_refusals(status: int) -> None:
    assert refused(api_error(status, "x", None)) is None


def test_a_resize_beyond_the_nodes_allocatable_is_a_refusal() -> None:
    """What kube-apiserver 1.37.2 answers a pods/resize above the node's allocatable (its resize
    admission, before the kubelet sees it)."""
    message = (
        'pods "exp1" is forbidden: node didn\'t have enough allocatable resources: cpu, '
        "requested: 4000, allocatable: 2000"
    )
    body = json.dumps({"kind": "Status", "reason": "Forbidden", "message": message, "code": 403})
    refusal = refused(api_error(403, "Forbidden", body))
    assert refusal is not None and refusal.message == message
