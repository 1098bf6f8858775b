"""Blocking calls (API requests) run in threads, a bounded number at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


async def run_bounded(calls: Sequence[Callable[[], T]], *, limit: int) -> list[T]:
    """Runs ``calls`` in threads, at most ``limit`` at once, started in list order, and returns
    their results in that order.

    The first call that raises stops the calls not started yet; its exception is raised once the
    calls already running have ended, so that a failing API (forbidden, over quota) gets at most
    ``limit`` requests, not one per call.
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, not {limit}")
    gate = asyncio.Semaphore(limit)
    results: dict[int, T] = {}
    errors: list[Exception] = []

    async def run(index: int, call: Callable[[], T]) -> None:
        async with gate:
            if errors:
                return
            try:
                results[index] = await asyncio.to_thread(call)
            except Exception as error:
                errors.append(error)

    await asyncio.gather(*(run(i, call) for i, call in enumerate(calls)))
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(calls))]
