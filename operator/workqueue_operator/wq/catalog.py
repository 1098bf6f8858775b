"""Find Work Queue and TaskVine managers by project name through a catalog server.

A named manager sends its ``queue_status`` to the catalog every 60 s; the catalog keeps a
record 1,800 s after the last update. ``GET http://CATALOG/query.json`` returns all records.
Records not heard from for ``max_age_s`` are stale (a manager that died recently) and are
skipped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from workqueue_operator.api.common import Framework
from workqueue_operator.wq import cctools_json
from workqueue_operator.wq.status import parse_address

log = logging.getLogger(__name__)

DEFAULT_CATALOG_PORT = 9097
DEFAULT_MAX_AGE_S = 180.0  # three missed 60 s updates
MANAGER_TYPES = {
    "wq_master": Framework.WORK_QUEUE,
    "wq_manager": Framework.WORK_QUEUE,
    "vine_manager": Framework.TASKVINE,
}
"""The catalog record ``type`` of each kind of manager."""


class CatalogError(Exception):
    """The catalog server could not be queried or answered nonsense."""


@dataclass(frozen=True, slots=True)
class ManagerRecord:
    project: str
    host: str  # the address the catalog heard the update from
    port: int
    hostname: str  # the name the catalog resolved for it
    last_heard: float  # seconds since the epoch
    version: str = ""
    owner: str = ""
    framework: Framework = Framework.WORK_QUEUE

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _record(raw: dict[str, Any]) -> ManagerRecord | None:
    try:
        return ManagerRecord(
            project=str(raw["project"]),
            host=str(raw.get("address") or raw["name"]),
            port=int(raw["port"]),
            hostname=str(raw.get("name", "")),
            last_heard=float(raw["lastheardfrom"]),
            version=str(raw.get("version", "")),
            owner=str(raw.get("owner", "")),
            framework=MANAGER_TYPES[str(raw["type"])],
        )
    except (KeyError, TypeError, ValueError):
        return None


def select_managers(
    records: list[dict[str, Any]],
    project: str,
    *,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    now: float | None = None,
) -> list[ManagerRecord]:
    """Fresh manager records of ``project``, most recently heard from first."""
    current = time.time() if now is None else now
    found = []
    for raw in records:
        if raw.get("type") not in MANAGER_TYPES or raw.get("project") != project:
            continue
        record = _record(raw)
        if record is None:
            log.warning("skipping an unusable catalog record", extra={"project": project})
            continue
        if current - record.last_heard > max_age_s:
            log.info(
                "skipping a stale catalog record",
                extra={
                    "project": project,
                    "manager": record.address,
                    "age_s": round(current - record.last_heard),
                },
            )
            continue
        found.append(record)
    return sorted(found, key=lambda r: r.last_heard, reverse=True)


async def query_catalog(catalog: str, *, timeout: float = 5.0) -> list[dict[str, Any]]:
    """All records of the catalog at ``host[:port]``."""
    try:
        host, port = parse_address(catalog, default_port=DEFAULT_CATALOG_PORT)
    except ValueError as exc:
        raise CatalogError(str(exc)) from exc
    url = f"http://{host}:{port}/query.json"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url) as response,
        ):
            response.raise_for_status()
            text = await response.text(errors="replace")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise CatalogError(f"{url}: {exc or type(exc).__name__}") from exc
    try:
        data = cctools_json.loads(text)
    except ValueError as exc:
        raise CatalogError(f"{url}: invalid JSON ({exc})") from exc
    if not isinstance(data, list):
        raise CatalogError(f"{url}: expected a JSON array")
    return [row for row in data if isinstance(row, dict)]


async def find_managers(
    catalog: str,
    project: str,
    *,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    timeout: float = 5.0,
) -> list[ManagerRecord]:
    """Managers of ``project`` known to ``catalog``, freshest first (may be empty)."""
    return select_managers(
        await query_catalog(catalog, timeout=timeout), project, max_age_s=max_age_s
    )
