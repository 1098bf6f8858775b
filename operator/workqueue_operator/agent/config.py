"""What the agent follows and where it listens."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workqueue_operator.api.common import Framework

DEFAULT_PORT = 9090
DEFAULT_WINDOW = 1000


def parse_listen(text: str) -> tuple[str, int]:
    """``:9090`` (all interfaces), ``127.0.0.1:9090`` or ``9090`` -> (host, port)."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or "0.0.0.0"
    try:
        port = int(port_text)
    except ValueError as exc:
        raise ValueError(f"bad listen address {text!r}") from exc
    if not 0 <= port < 65536:
        raise ValueError(f"port out of range in {text!r}")
    return host, port


@dataclass(frozen=True)
class AgentConfig:
    transactions_log: Path | None = None
    summaries_dir: Path | None = None
    summaries_category: str = "default"
    manager: str | None = None  # host:port of the manager's status port
    framework: Framework = Framework.WORK_QUEUE
    password_file: Path | None = None
    tls: bool = False  # the manager speaks TLS
    tls_ca: Path | None = None  # checked against this PEM (None: the system's roots)
    tls_verify: bool = True
    listen_host: str = "0.0.0.0"
    listen_port: int = DEFAULT_PORT
    window: int = DEFAULT_WINDOW  # samples kept per category
    max_categories: int = 1000
    from_end: bool = False  # skip what the log already holds
    tail_interval_s: float = 1.0
    poll_interval_s: float = 15.0
    status_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.transactions_log is None and self.summaries_dir is None and self.manager is None:
            raise ValueError("nothing to follow: give a transactions log, summaries or a manager")
        if self.window < 1:
            raise ValueError("window must be at least 1")
