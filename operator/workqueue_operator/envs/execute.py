"""Running a build plan's commands: output streamed to the builder's log, its tail kept for
the failure report."""

from __future__ import annotations

import os
import subprocess
from collections import deque
from collections.abc import Callable
from pathlib import Path

from workqueue_operator.envs.plan import Command
from workqueue_operator.envs.result import ExitCode, tail

TAIL_LINES = 60
NETWORK_ERRORS = (
    "Failed to fetch",
    "error sending request",
    "Connection refused",
    "Connection reset",
    "timed out",
    "Temporary failure in name resolution",
    "CondaHTTPError",
)
"""Installer output that says the network failed, not the spec: worth a retry."""

Log = Callable[[str], None]


class BuildError(Exception):
    """A step failed: the report's reason and message, and the builder's exit code."""

    def __init__(self, reason: str, message: str, exit_code: ExitCode) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.exit_code = exit_code


def run_command(command: Command, log: Log) -> None:
    """Run one command, its output (stdout and stderr) line by line into ``log``; raise
    :class:`BuildError` with the output's tail when it fails or cannot start."""
    log(f"$ {' '.join(command.argv)}")
    lines: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        process = subprocess.Popen(
            command.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env={**os.environ, **command.env},
        )
    except OSError as error:
        raise BuildError(
            command.reason, f"cannot run {command.argv[0]}: {error}", ExitCode.TRANSIENT
        ) from error
    assert process.stdout is not None
    with process:
        for raw in process.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            log(line)
    if process.returncode != 0:
        output = tail("\n".join(lines))
        code = failure_code(command, output)
        program = " ".join([Path(command.argv[0]).name, *command.argv[1:3]])
        message = f"{program} exited {process.returncode}"
        raise BuildError(command.reason, f"{message}\n{output}" if output else message, code)


def failure_code(command: Command, output: str) -> ExitCode:
    """Permanent when the command's failures are the spec's fault, unless its output says
    the network failed."""
    if command.permanent and not any(marker in output for marker in NETWORK_ERRORS):
        return ExitCode.INSTALL_FAILED
    return ExitCode.TRANSIENT
