"""A real Prometheus server (Debian's ``prometheus``, installed by ``scripts/setup.sh``) for the
tests and the benchmarks: started on a free loopback port with the scrape jobs asked for, its
TSDB in a temporary directory, queried over its HTTP API.

Test harness only. Every wait is bounded; ``stop`` ends the process (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 60.0


def missing_prometheus() -> str | None:
    """Why no Prometheus can run here, or None."""
    if shutil.which("prometheus") is None:
        return "prometheus is not installed (scripts/setup.sh installs Debian's package)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ScrapeJob:
    """One scrape job: static targets (``host:port``), with TLS client settings for the
    apiserver."""

    name: str
    targets: Sequence[str] = ()
    file_sd: Path | None = None
    """A JSON file of target groups, re-read when it changes (targets known later)."""
    scheme: str = "http"
    metrics_path: str = "/metrics"
    tls: Mapping[str, Any] = field(default_factory=dict)
    """``tls_config`` (ca_file, cert_file, key_file, ...)."""
    metric_relabel_keep: str | None = None
    """Keep only the series whose name matches this regex (the apiserver exports thousands)."""
    interval: str | None = None
    """This job's scrape interval (default: the server's)."""

    def config(self, interval: str) -> dict[str, Any]:
        job: dict[str, Any] = {
            "job_name": self.name,
            "scrape_interval": self.interval or interval,
            "scheme": self.scheme,
            "metrics_path": self.metrics_path,
        }
        if self.targets:
            job["static_configs"] = [{"targets": list(self.targets)}]
        if self.file_sd is not None:
            job["file_sd_configs"] = [{"files": [str(self.file_sd)], "refresh_interval": "5s"}]
        if self.tls:
            job["tls_config"] = dict(self.tls)
        if self.metric_relabel_keep:
            job["metric_relabel_configs"] = [
                {
                    "source_labels": ["__name__"],
                    "regex": self.metric_relabel_keep,
                    "action": "keep",
                }
            ]
        return job


class PrometheusError(RuntimeError):
    pass


class Prometheus:
    """``prometheus`` scraping ``jobs`` every ``interval``, with ``rule_files`` loaded."""

    def __init__(
        self,
        workdir: Path,
        jobs: Sequence[ScrapeJob],
        *,
        interval: str = "2s",
        rule_files: Sequence[Path] = (),
    ) -> None:
        problem = missing_prometheus()
        if problem is not None:
            raise PrometheusError(problem)
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [job.config(interval) for job in jobs],
        }
        # JSON is YAML: no YAML writer needed.
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(json.dumps(config, indent=1))
        self.log_path = workdir / "prometheus.log"
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1d",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited: {self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response,
            ):
                if response.status == 200:
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise PrometheusError(f"prometheus not ready in {START_TIMEOUT_S:.0f} s")
            time.sleep(0.2)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _get(self, path: str, params: Mapping[str, str]) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = json.loads(error.read() or b"{}")
            raise PrometheusError(f"{path} {params}: {body.get('error', error)}") from error
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query: the result vector (``[{"metric": {...}, "value": [t, "v"]}]``)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] == "vector" else []
        if data["resultType"] == "scalar":
            result = [{"metric": {}, "value": data["result"]}]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """A range query: the result matrix (``[{"metric": {...}, "values": [[t, "v"], ...]}]``);
        a scalar expression gives one series without labels."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = self._get("/api/v1/query_range", params)
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The single value of an instant query (the sum when it returns several), or None."""
        result = self.query(expr, at)
        if not result:
            return None
        return sum(float(item["value"][1]) for item in result)

    def rules(self) -> list[dict[str, Any]]:
        """The rule groups loaded from ``rule_files``, with each rule's state."""
        groups: list[dict[str, Any]] = self._get("/api/v1/rules", {})["groups"]
        return groups

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending or firing), with their labels and state."""
        active: list[dict[str, Any]] = self._get("/api/v1/alerts", {})["alerts"]
        return active

    def targets_up(self) -> dict[str, bool]:
        """Each active target's scrape URL and whether its last scrape worked."""
        data = self._get("/api/v1/targets", {"state": "active"})
        return {t["scrapeUrl"]: t["health"] == "up" for t in data["activeTargets"]}

    def wait_scraped(self, timeout: float = 60.0) -> None:
        """Until every target has been scraped successfully once."""
        deadline = time.monotonic() + timeout
        while True:
            up = self.targets_up()
            if up and all(up.values()):
                return
            if time.monotonic() > deadline:
                raise PrometheusError(f"targets not all up after {timeout:.0f} s: {up}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
