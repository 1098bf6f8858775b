"""``OperatorProcess``: ``workqueue-operator run`` as a real subprocess that a test can SIGKILL
and start again (test harness, not product code)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

from tests.harness import REPO, Cluster

METRICS_PORT_ENV = "WORKQUEUE_OPERATOR_METRICS_PORT"


def operator_program() -> Path:
    """The ``workqueue-operator`` console script of the interpreter running the tests."""
    beside = Path(sys.executable).with_name("workqueue-operator")
    return beside if beside.exists() else REPO / ".venv" / "bin" / "workqueue-operator"


def agent_argv(transactions_log: Path, port: int, manager: str | None = None) -> list[str]:
    """``workqueue-operator agent`` on a manager's transactions log, serving 127.0.0.1:port;
    with ``manager`` (host:port), also polling that manager's status port."""
    return [
        str(operator_program()),
        "agent",
        "--transactions-log",
        str(transactions_log),
        "--listen",
        f"127.0.0.1:{port}",
        *(["--manager", manager] if manager else []),
    ]


def other_operator_processes(exclude: int | None = None) -> list[str]:
    """Command lines of ``workqueue-operator run`` processes on this machine (but ``exclude``):
    a cluster-wide one also reconciles a test's own namespace."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in (exclude, os.getpid()):
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if any(w.endswith("workqueue-operator") for w in words) and "run" in words:
            found.append(f"{proc.name}: {' '.join(words)}")
    return found


class OperatorProcess:
    """The operator watching one namespace; every start writes its own log file."""

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        log_dir: Path,
        *,
        metrics_port: int = 0,
        log_format: str = "plain",
        verbose: bool = False,
    ) -> None:
        self._metrics_port = metrics_port
        self._verbose = verbose
        self._log_format = log_format
        self._cluster = cluster
        self._namespace = namespace
        self._log_dir = log_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0
        self.logs: list[Path] = []

    @property
    def metrics_port(self) -> int:
        """Where the operator serves its metrics (0: nowhere)."""
        return self._metrics_port

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        assert not self.running, "the operator is already running"
        self.starts += 1
        path = self._log_dir / f"operator-{self.starts}.log"
        self.logs.append(path)
        self._log = path.open("wb")
        # Unbuffered: a SIGKILLed run keeps its log up to the kill.
        env = self._cluster.env | {
            METRICS_PORT_ENV: str(self._metrics_port),
            "PYTHONUNBUFFERED": "1",
        }
        self._process = subprocess.Popen(
            [
                str(operator_program()),
                "run",
                "--namespace",
                self._namespace,
                "--log-format",
                self._log_format,
                *(["--verbose"] if self._verbose else []),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: no handler, no cleanup, whatever the operator was doing."""
        process = self._take()
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM (kopf's graceful stop), SIGKILL after 20 s."""
        process = self._take()
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=30)

    def output(self, last_chars: int = 4000) -> str:
        """The end of every run's log, for failure messages."""
        parts = []
        for path in self.logs:
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {path.name} ---\n{text[-last_chars:]}")
        return "\n".join(parts)

    def _take(self) -> subprocess.Popen[bytes] | None:
        process, self._process = self._process, None
        if self._log is not None:
            self._log.close()
            self._log = None
        return process
