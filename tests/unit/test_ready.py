"""The Ready condition: a summary of each kind's other conditions (pure)."""

from __future__ import annotations

from typing import Any

from workqueue_operator.api.ready import ReadyRule, ready_verdict

POOL = ReadyRule(("Accepted", "EnvironmentReady", "PodsRunning"), when_set=("PodsCreated",))


def c(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason or type_, "message": message}


def test_ready_when_every_condition_holds_and_names_them() -> None:
    conditions = [c("Accepted", "True"), c("EnvironmentReady", "True"), c("PodsRunning", "True")]
    verdict = ready_verdict(POOL, conditions)
    assert verdict.accepted and verdict.reason == "Ready"
    assert verdict.message == "Accepted, EnvironmentReady, PodsRunning: True"
    with_created = ready_verdict(POOL, [*conditions, c("PodsCreated", "True")])
    assert with_created.message.endswith("PodsRunning, PodsCreated: True")


def test_the_first_condition_that_does_not_hold_says_why() -> None:
    stuck = c("PodsRunning", "False", "Unschedulable", "1 of 1 worker pods cannot run ...")
    refused = c("PodsCreated", "False", "FailedCreate", "exceeded quota")
    verdict = ready_verdict(
        POOL, [c("Accepted", "True"), c("EnvironmentReady", "True"), stuck, refused]
    )
    assert not verdict.accepted
    assert (verdict.reason, verdict.message) == (
        "Unschedulable",
        "PodsRunning: 1 of 1 worker pods cannot run ...",
    )
    rejected = ready_verdict(POOL, [c("Accepted", "False", "ManagerNotFound", "no mgr")])
    assert (rejected.reason, rejected.message) == ("ManagerNotFound", "Accepted: no mgr")


def test_a_required_condition_not_yet_set_is_waiting_and_an_optional_one_is_not_needed() -> None:
    verdict = ready_verdict(POOL, [c("Accepted", "True")])
    assert (verdict.accepted, verdict.reason) == (False, "Waiting")
    assert verdict.message == "EnvironmentReady: not determined yet"
    unknown = ready_verdict(ReadyRule(("Reachable",)), [c("Reachable", "Unknown", "Polling")])
    assert (unknown.accepted, unknown.reason) == (False, "Polling")
