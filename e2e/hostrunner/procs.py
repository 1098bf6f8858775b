"""Local processes standing in for containers (test harness).

Each pod's process is started as

    setpriv --pdeathsig KILL -- \\
      unshare --uts --pid --fork --mount-proc --kill-child -- \\
        sh -c 'mount --bind POD_DIR/etc-hosts /etc/hosts; hostname "$0" && exec "$@"' \
      HOSTNAME COMMAND ARGS...

* ``--uts`` + ``hostname``: the process sees the pod's name as its hostname (the worker reports
  ``gethostname()`` to the manager, and the operator maps hostnames back to pods).
* /etc/hosts: a kubelet-style hosts file that maps the hostname (to 127.0.0.1) is bind-mounted
  over /etc/hosts in the process's own mount namespace (the host's file is untouched). It is
  needed: ``work_queue_worker`` resolves its hostname, and when that fails it reports garbage
  (an uninitialised buffer) as its hostname in ``worker_status``.
* ``--pid --fork --mount-proc``: the command is PID 1 of its own PID namespace, as in a
  container. When it exits, the kernel kills everything left in the namespace, so the task
  processes of a dead ``work_queue_worker`` die with it (a killed worker's tasks otherwise
  survive and hold the manager's socket). As in a container, PID 1 only gets the signals it
  has a handler for (SIGTERM to a bare ``sleep`` does nothing; SIGKILL always works).
* ``--kill-child`` and ``setpriv --pdeathsig KILL``: if the runner's thread that started
  ``unshare`` dies (the test process is killed), ``unshare`` and then the namespace are killed.
* ``start_new_session``: the whole thing is its own session and process group.

Without root (or without ``unshare``) the command runs directly in a new session, with the
host's hostname; the runner logs a warning. Either way, :func:`kill_everything` also kills every
process in the session and every process whose working directory is inside the pod's directory.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

# $0 = hostname, $1 = mount, $2 = the pod's hosts file, $3 = hostname program, then the command.
_CONTAINER_INIT = (
    '"$1" --bind "$2" /etc/hosts || echo "host-runner: cannot mount /etc/hosts" >&2; '
    '"$3" "$0" && shift 3 && exec "$@"'
)


@functools.cache
def _tools() -> dict[str, str] | None:
    names = ("setpriv", "unshare", "hostname", "mount", "sh")
    tools = {name: shutil.which(name) for name in names}
    if any(path is None for path in tools.values()):
        return None
    return {name: str(path) for name, path in tools.items()}


@functools.cache
def isolation_available() -> bool:
    """True when this process may create UTS/PID/mount namespaces (root with util-linux)."""
    tools = _tools()
    if tools is None or os.geteuid() != 0:
        return False
    probe = [tools["unshare"], "--uts", "--pid", "--fork", "--mount-proc", "--", "true"]
    try:
        result = subprocess.run(probe, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    if result.returncode != 0:
        log.warning("cannot create namespaces: %s", result.stderr.decode(errors="replace"))
    return result.returncode == 0


def wrap(argv: list[str], hostname: str, hosts_file: Path, *, isolate: bool) -> list[str]:
    """The full command line that runs ``argv`` as a pod's container would run: isolated, with
    ``hostname`` and ``hosts_file`` bind-mounted on /etc/hosts inside its mount namespace."""
    tools = _tools()
    if tools is None:
        return list(argv)
    prefix = [tools["setpriv"], "--pdeathsig", "KILL", "--"]
    if not isolate:
        return [*prefix, *argv]
    return [
        *prefix,
        tools["unshare"],
        "--uts",
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        "--",
        tools["sh"],
        "-c",
        _CONTAINER_INIT,
        hostname,
        tools["mount"],
        str(hosts_file),
        tools["hostname"],
        *argv,
    ]


def spawn(
    argv: list[str], env: dict[str, str], cwd: Path, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session, stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


# -- /proc --------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, pgid, sid) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return int(fields[1]), int(fields[2]), int(fields[3])


def _pids() -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit()]


def children(pid: int) -> list[int]:
    return [p for p in _pids() if (s := _stat(p)) is not None and s[0] == pid]


def _under(pid: int, root: str) -> bool:
    try:
        cwd = str(Path(f"/proc/{pid}/cwd").readlink())
    except OSError:
        return False
    return cwd == root or cwd.startswith(root + os.sep)


def _is_zombie(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return text[text.rfind(")") + 2 :].startswith("Z")


def leftovers(session: int, directory: Path) -> list[int]:
    """Live processes of a pod: in its session or process group, or working inside its
    directory (task sandboxes of a worker whose own process is gone)."""
    root = os.path.realpath(directory)
    me = os.getpid()
    found = []
    for pid in _pids():
        if pid == me:
            continue
        stat = _stat(pid)
        if stat is None:
            continue
        if (session in (stat[1], stat[2]) or _under(pid, root)) and not _is_zombie(pid):
            found.append(pid)
    return found


# -- signals ------------------------------------------------------------------------------------


def container_pid(proc: subprocess.Popen[bytes], *, isolated: bool) -> int | None:
    """The pid (in this namespace) of the container's main process: the child of ``unshare``
    when isolated, else the started process itself. None when it is gone."""
    if proc.poll() is not None:
        return None
    if not isolated:
        return proc.pid
    kids = children(proc.pid)
    return kids[0] if kids else None


def terminate(proc: subprocess.Popen[bytes], *, isolated: bool) -> None:
    """SIGTERM as a container runtime sends it: to the container's main process (PID 1 of its
    namespace), or to the whole process group when not isolated."""
    if proc.poll() is not None:
        return
    if isolated:
        pid = container_pid(proc, isolated=True)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)


def _kill(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def kill_everything(
    proc: subprocess.Popen[bytes] | None,
    session: int | None,
    directory: Path,
    *,
    wait: float = 10.0,
) -> list[int]:
    """SIGKILL the pod's process, its namespace, its session and everything working inside
    ``directory``; reap ``proc``. Repeats until nothing is left (a task may fork meanwhile).
    Returns the pids killed besides ``proc``. Never raises."""
    killed: list[int] = []
    deadline = time.monotonic() + wait
    if proc is not None and proc.poll() is None:
        # Freeze the main process first so that it starts nothing new while we look. Then
        # kill the started process (unshare) before the container's: its --kill-child takes
        # the namespace down, and it dies by SIGKILL itself (exit code 137). Were the
        # container's process killed first, unshare would report its death as exit code 1 on
        # some kernels (it cannot re-raise SIGKILL: "sigprocmask unblock failed", gVisor).
        main = container_pid(proc, isolated=True)
        if main is not None and main != proc.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(main, signal.SIGSTOP)
        _kill([proc.pid])
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)
        if main is not None:
            _kill([main])
    while True:
        alive = proc is not None and proc.poll() is None
        found = [
            p
            for p in leftovers(-1 if session is None else session, directory)
            if proc is None or p != proc.pid
        ]
        if not found and not alive:
            break
        if alive and proc is not None:
            _kill([proc.pid])
        _kill(found)
        killed += [p for p in found if p not in killed]
        if time.monotonic() > deadline:
            log.error("processes survive SIGKILL: %s", found)
            break
        time.sleep(0.05)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    return killed


def exit_code(returncode: int) -> int:
    """A container's exit code: a death by signal N reads 128 + N (137 for SIGKILL)."""
    return returncode if returncode >= 0 else 128 - returncode
