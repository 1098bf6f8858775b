"""The operator's log: a request kopf will retry is a warning, its last failure an error."""

from __future__ import annotations

import logging

from workqueue_operator.commands.run import RetriedRequestsAreWarnings


def record(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("kopf._cogs.clients.watching", level, "api.py", 125, message, (), None)


def test_a_request_that_will_be_retried_is_a_warning_and_the_last_failure_an_error() -> None:
    retried = record(
        "Request attempt #1/9 failed; will retry: GET https://127.0.0.1:6443/apis/... -> "
        "APITooManyRequestsError('storage is (re)initializing', ...)"
    )
    assert RetriedRequestsAreWarnings().filter(retried)
    assert (retried.levelno, retried.levelname) == (logging.WARNING, "WARNING")
    escalated = record("Request attempt #9/9 failed; escalating: GET ... -> ...")
    assert RetriedRequestsAreWarnings().filter(escalated)
    assert escalated.levelno == logging.ERROR
    other = record("Handler 'x' failed with an exception. Will retry.")
    RetriedRequestsAreWarnings().filter(other)
    assert other.levelno == logging.ERROR
