"""Read an agent's ``/v1/samples`` (what the operator does to size buckets)."""

from __future__ import annotations

from typing import Any

import aiohttp

from workqueue_operator.telemetry.wire import sample_from_json
from workqueue_operator.values.samples import Sample


class AgentUnavailableError(Exception):
    """The agent did not answer, or answered something unusable."""


async def fetch_samples(
    base_url: str,
    *,
    category: str | None = None,
    since: float | None = None,
    timeout: float = 5.0,
) -> dict[str, list[Sample]]:
    """Recent samples per category from the agent at ``base_url`` (e.g. http://host:9090)."""
    params: dict[str, str] = {}
    if category is not None:
        params["category"] = category
    if since is not None:
        params["since"] = repr(since)
    url = base_url.rstrip("/") + "/v1/samples"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url, params=params) as response,
        ):
            response.raise_for_status()
            body: Any = await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise AgentUnavailableError(f"{url}: {exc or type(exc).__name__}") from exc
    try:
        return {
            row["category"]: [sample_from_json(s) for s in row["samples"]]
            for row in body["categories"]
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise AgentUnavailableError(f"{url}: unexpected answer ({exc})") from exc
