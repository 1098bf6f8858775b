"""The agent's HTTP server and background loops.

Endpoints: ``/metrics`` (Prometheus text), ``/v1/samples[?category=C][&since=T][&limit=N]``
(recent samples per category, JSON), ``/v1/categories`` (names and counts), ``/healthz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from workqueue_operator.agent.config import AgentConfig
from workqueue_operator.agent.ingest import (
    IngestCollector,
    Source,
    SummariesSource,
    TransactionsSource,
)
from workqueue_operator.agent.manager_metrics import ManagerCollector, ManagerSnapshot
from workqueue_operator.agent.metrics import TaskMetrics
from workqueue_operator.agent.poller import poll_forever
from workqueue_operator.agent.telemetry import Telemetry
from workqueue_operator.agent.window import SampleWindow
from workqueue_operator.telemetry import wire
from workqueue_operator.wq.status import StatusClient, client_tls

log = logging.getLogger(__name__)


@dataclass
class Agent:
    """Everything one agent holds; built by ``build_agent``."""

    config: AgentConfig
    registry: CollectorRegistry
    telemetry: Telemetry
    sources: list[Source]
    snapshot: ManagerSnapshot | None
    client: StatusClient | None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    ingest_errors: int = 0


AGENT_KEY = web.AppKey("agent", Agent)


def build_agent(config: AgentConfig) -> Agent:
    registry = CollectorRegistry(auto_describe=True)
    telemetry = Telemetry(TaskMetrics(registry), SampleWindow(config.window, config.max_categories))
    sources: list[Source] = []
    if config.transactions_log is not None:
        sources.append(TransactionsSource(config.transactions_log, from_end=config.from_end))
    if config.summaries_dir is not None:
        sources.append(
            SummariesSource(config.summaries_dir, default_category=config.summaries_category)
        )
    registry.register(IngestCollector(sources))
    snapshot = client = None
    if config.manager is not None:
        password = config.password_file.read_bytes() if config.password_file else None
        client = StatusClient.for_address(
            config.manager,
            timeout=config.status_timeout_s,
            password=password,
            framework=config.framework,
            tls=client_tls(
                config.tls_ca.read_bytes() if config.tls_ca else None, verify=config.tls_verify
            )
            if config.tls
            else None,
        )
        snapshot = ManagerSnapshot(address=client.address)
        registry.register(ManagerCollector(snapshot))
    return Agent(config, registry, telemetry, sources, snapshot, client)


async def ingest_once(agent: Agent) -> int:
    """Poll every source once; return how many observations were recorded."""
    recorded = 0
    for source in agent.sources:
        for observation in await asyncio.to_thread(source.poll):
            agent.telemetry.record(observation)
            recorded += 1
    return recorded


async def _ingest_forever(agent: Agent) -> None:
    while True:
        try:
            recorded = await ingest_once(agent)
        except Exception:  # a bug in one poll must not stop the agent
            agent.ingest_errors += 1
            log.exception("telemetry ingestion failed; retrying")
            recorded = 0
        if not recorded:
            await asyncio.sleep(agent.config.tail_interval_s)


async def _background(app: web.Application) -> AsyncIterator[None]:
    agent = app[AGENT_KEY]
    if agent.sources:
        agent.tasks.append(asyncio.create_task(_ingest_forever(agent), name="ingest"))
    if agent.client is not None and agent.snapshot is not None:
        agent.tasks.append(
            asyncio.create_task(
                poll_forever(agent.client, agent.snapshot, agent.config.poll_interval_s),
                name="poll",
            )
        )
    yield
    for task in agent.tasks:
        task.cancel()
    for task in agent.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    agent.tasks.clear()


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[AGENT_KEY].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _float_param(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"{name} must be a number") from exc


async def samples(request: web.Request) -> web.Response:
    window = request.app[AGENT_KEY].telemetry.window
    since = _float_param(request, "since")
    limit = _float_param(request, "limit")
    wanted = request.query.get("category")
    names = [wanted] if wanted is not None else window.categories()
    rows = []
    for name in names:
        chosen = window.samples(name, since)
        if limit is not None:
            chosen = chosen[-int(limit) :] if limit >= 1 else []
        rows.append(wire.category_json(name, chosen, window.size))
    return web.json_response(wire.envelope(rows))


async def categories(request: web.Request) -> web.Response:
    window = request.app[AGENT_KEY].telemetry.window
    rows = [{"category": c, "count": window.count(c)} for c in window.categories()]
    return web.json_response({"api_version": wire.API_VERSION, "categories": rows})


async def healthz(request: web.Request) -> web.Response:
    agent = request.app[AGENT_KEY]
    running = all(not task.done() for task in agent.tasks)
    body = {
        "status": "ok" if running else "degraded",
        "observations": agent.telemetry.observations,
        "ingest_errors": agent.ingest_errors,
        "manager_up": agent.snapshot.up if agent.snapshot is not None else None,
    }
    return web.json_response(body, status=200 if running else 503)


def make_app(agent: Agent) -> web.Application:
    app = web.Application()
    app[AGENT_KEY] = agent
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/samples", samples)
    app.router.add_get("/v1/categories", categories)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(_background)
    return app


@dataclass
class RunningAgent:
    agent: Agent
    runner: web.AppRunner
    port: int

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_agent(config: AgentConfig) -> RunningAgent:
    """Start serving (port 0 picks a free port); stop with ``RunningAgent.stop``."""
    agent = build_agent(config)
    runner = web.AppRunner(make_app(agent), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.listen_host, config.listen_port)
    await site.start()
    port = int(runner.addresses[0][1]) if runner.addresses else config.listen_port
    log.info(
        "telemetry agent listening",
        extra={
            "host": config.listen_host,
            "port": port,
            "sources": [s.name for s in agent.sources],
            "manager": config.manager,
        },
    )
    return RunningAgent(agent, runner, port)


async def run_agent(config: AgentConfig) -> None:
    """Serve until SIGINT or SIGTERM."""
    running = await start_agent(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("telemetry agent stopping")
        await running.stop()
