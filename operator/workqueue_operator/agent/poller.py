"""Poll the manager's status port into a ``ManagerSnapshot``; failures are counted, not fatal."""

from __future__ import annotations

import asyncio
import logging
import time

from workqueue_operator.agent.manager_metrics import ManagerSnapshot
from workqueue_operator.wq.status import (
    AuthenticationError,
    ManagerUnreachable,
    StatusClient,
    StatusError,
)

log = logging.getLogger(__name__)


async def poll_once(client: StatusClient, snapshot: ManagerSnapshot) -> None:
    try:
        queue = await client.queue_status()
        # queue_status carries the category rows in this CCTools; older ones need wable_status.
        categories = queue.categories or await client.wable_status()
    except ManagerUnreachable as exc:
        _failed(snapshot, "unreachable", exc)
        return
    except AuthenticationError as exc:
        _failed(snapshot, "unauthorized", exc)
        return
    except StatusError as exc:
        _failed(snapshot, "malformed", exc)
        return
    if not snapshot.up:
        log.info("manager answers", extra={"manager": snapshot.address, "project": queue.project})
    snapshot.queue = queue
    snapshot.categories = categories
    snapshot.up = True
    snapshot.last_success_s = time.time()
    snapshot.polls["ok"] += 1


def _failed(snapshot: ManagerSnapshot, outcome: str, exc: Exception) -> None:
    if snapshot.up or snapshot.polls[outcome] == 0:
        log.warning(
            "manager status poll failed",
            extra={"manager": snapshot.address, "outcome": outcome, "error": str(exc)},
        )
    snapshot.up = False
    snapshot.polls[outcome] += 1


async def poll_forever(client: StatusClient, snapshot: ManagerSnapshot, interval_s: float) -> None:
    while True:
        await poll_once(client, snapshot)
        await asyncio.sleep(interval_s)
