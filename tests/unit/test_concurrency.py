"""run_bounded: order, the concurrency bound, and stopping at the first error."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from workqueue_operator.controllers.concurrency import run_bounded


def test_results_come_back_in_the_order_of_the_calls() -> None:
    def call(i: int) -> Callable[[], int]:
        def run() -> int:
            time.sleep(0.01 * (5 - i))  # later calls end first
            return i * i

        return run

    assert asyncio.run(run_bounded([call(i) for i in range(5)], limit=5)) == [0, 1, 4, 9, 16]


def test_at_most_limit_calls_run_at_once_and_the_first_limit_run_together() -> None:
    limit = 3
    lock = threading.Lock()
    in_flight = 0
    most = 0
    together = threading.Barrier(limit)

    def call(i: int) -> Callable[[], int]:
        def run() -> int:
            nonlocal in_flight, most
            with lock:
                in_flight += 1
                most = max(most, in_flight)
            if i < limit:
                together.wait(timeout=5)  # raises unless `limit` calls run at once
            time.sleep(0.01)
            with lock:
                in_flight -= 1
            return i

        return run

    assert asyncio.run(run_bounded([call(i) for i in range(12)], limit=limit)) == list(range(12))
    assert most == limit


def test_the_first_error_stops_the_calls_not_started_and_is_raised() -> None:
    started: list[int] = []

    def call(i: int) -> Callable[[], int]:
        def run() -> int:
            started.append(i)
            if i == 1:
                raise PermissionError("forbidden")
            return i

        return run

    with pytest.raises(PermissionError, match="forbidden"):
        asyncio.run(run_bounded([call(i) for i in range(6)], limit=1))
    assert started == [0, 1]


def test_no_calls_give_no_results() -> None:
    assert asyncio.run(run_bounded([], limit=4)) == []


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="limit must be >= 1"):
        asyncio.run(run_bounded([lambda: 1], limit=0))
