"""A Work Queue or TaskVine manager written with the real ``ndcctools`` Python API, driven over
its standard input and output. Test harness only: ``tests.cctools.manager.TestManager`` starts
it as a process of its own (SWIG's ``wait()`` holds Python's GIL, so a manager shares no
process with the test that talks to it).

    python manager_program.py '<json config>'

Standard input: one JSON command a line. Standard output: one JSON event a line: ``ready``
(port, paths), ``finished`` (a task returned by ``wait``), ``reply`` (to a command with a
``req`` number) and ``error``. The manager serves workers and status queries only inside
``wait()``, which this program calls with a 1 s timeout between commands while serving.

Task ids are the manager's own: it numbers tasks 1, 2, ... in submission order, and the parent
sends the id it expects with every ``submit``; a different id is reported as an error, so the
parent never needs to wait for a round trip to know a task's id.
"""

from __future__ import annotations

import json
import os
import select
import socket
import sys
import time
from pathlib import Path
from typing import Any

RESOURCES = ("cores", "memory", "disk", "gpus", "wall_time", "cpu_time", "max_concurrent_processes")


def free_port() -> int:
    """A port the kernel picks at random from its ephemeral range. CCTools' own choice for
    port 0 is the lowest free port from 1024 up, which hands one test's port to the next
    test's manager while the first one's workers may still knock on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        port: int = sock.getsockname()[1]
        return port


def create(factory: Any, port: int) -> Any:
    """``factory(port)`` on ``port``, or on a random free port (five tries) when it is 0."""
    if port:
        return factory(port)
    for attempt in range(5):
        try:
            return factory(free_port())
        except Exception:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def summary(rm: Any) -> dict[str, float]:
    """An rmsummary's figures that are set (CCTools reports unset ones as -1)."""
    if rm is None:
        return {}
    figures = {}
    for name in RESOURCES:
        value = getattr(rm, name, None)
        if isinstance(value, int | float) and value >= 0:
            figures[name] = value
    return figures


class Framework:
    """What differs between ``ndcctools.work_queue`` and ``ndcctools.taskvine``."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.files: dict[str, Any] = {}

    def result(self, task: Any) -> tuple[int, str]:
        raise NotImplementedError

    def finished(self, task: Any) -> dict[str, Any]:
        code, text = self.result(task)
        return {
            "task_id": task.id,
            "result": code,
            "result_str": text,
            "exit_code": self.exit_code(task),
            "output": task.output or "",
            "category": task.category or "",
            "tag": task.tag or "",
            "host": self.host(task) or "",
            "hostname": task.hostname or "",
            "measured": summary(task.resources_measured),
            "allocated": summary(task.resources_allocated),
        }


class WorkQueue(Framework):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        import ndcctools.work_queue as wq  # noqa: PLC0415

        self.wq = wq
        ssl = tuple(config["ssl"]) if config.get("ssl") else None
        self.q = create(lambda port: wq.WorkQueue(port=port, ssl=ssl), config.get("port", 0))
        q = self.q
        if config.get("transactions_log"):
            q.specify_transactions_log(config["transactions_log"])
        if config.get("catalog"):
            host, _, port = config["catalog"].rpartition(":")
            q.specify_catalog_server(host, int(port))
        if config.get("name"):
            q.specify_name(config["name"])
        if config.get("password_file"):
            q.specify_password_file(config["password_file"])
        if config.get("monitoring"):
            # watchdog: the monitor stops a task that exceeds its declared limits.
            q.enable_monitoring(config.get("monitor_dir"), True)
        if config.get("keepalive"):
            interval, timeout = config["keepalive"]
            q.specify_keepalive_interval(interval)
            q.specify_keepalive_timeout(timeout)
        for name, value in (config.get("tune") or {}).items():
            q.tune(name, value)

    def paths(self) -> dict[str, Any]:
        return {"transactions_log": self.config.get("transactions_log")}

    def category(self, name: str, maximum: dict[str, float], mode: int) -> None:
        if maximum:
            self.q.specify_category_max_resources(name, maximum)
        self.q.specify_category_mode(name, mode)

    def declare(self, kind: str, name: str, value: str | None, cache: str | None = None) -> None:
        self.files[name] = value  # Work Queue files are local paths

    def task(self, command: dict[str, Any]) -> Any:
        t = self.wq.Task(command["command"])
        for key, setter in (
            ("category", t.specify_category),
            ("cores", t.specify_cores),
            ("memory_mb", t.specify_memory),
            ("disk_mb", t.specify_disk),
            ("gpus", t.specify_gpus),
            ("tag", t.specify_tag),
            ("max_retries", t.specify_max_retries),
        ):
            if command.get(key) is not None:
                setter(command[key])
        for name, remote in command.get("inputs", []):
            t.specify_input_file(self.files[name], remote, cache=False)
        for name, remote in command.get("outputs", []):
            t.specify_output_file(self.files[name], remote, cache=False)
        return t

    def submit(self, task: Any) -> int:
        return int(self.q.submit(task))

    def wait(self, seconds: int) -> Any:
        return self.q.wait(seconds)

    def result(self, task: Any) -> tuple[int, str]:
        return int(task.result), str(task.result_str)

    def exit_code(self, task: Any) -> int:
        return int(task.return_status)

    def host(self, task: Any) -> str:
        return str(task.host or "")

    def stats(self) -> Any:
        return self.q.stats

    def empty(self) -> bool:
        return bool(self.q.empty())

    def shutdown(self) -> None:
        self.q.shutdown_workers(0)


class TaskVine(Framework):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        import ndcctools.taskvine as vine  # noqa: PLC0415
        from ndcctools.taskvine import cvine  # noqa: PLC0415

        self.vine, self.cvine = vine, cvine
        run_info = Path(config["run_info_dir"])
        ssl = tuple(config["ssl"]) if config.get("ssl") else None
        self.m = create(
            lambda port: vine.Manager(
                port=port,
                run_info_path=str(run_info),
                run_info_template="run",
                staging_path=str(run_info),
                ssl=ssl,
            ),
            config.get("port", 0),
        )
        m = self.m
        self.logs = run_info / "run" / "vine-logs"
        if config.get("catalog"):
            m.set_catalog_servers(config["catalog"])
        if config.get("name"):
            m.set_name(config["name"])
        if config.get("password_file"):
            m.set_password_file(config["password_file"])
        if config.get("monitoring"):
            m.enable_monitoring(watchdog=True)
        if config.get("keepalive"):
            interval, timeout = config["keepalive"]
            m.set_keepalive_interval(interval)
            m.set_keepalive_timeout(timeout)
        for name, value in (config.get("tune") or {}).items():
            m.tune(name, value)
        if config.get("peer_transfers") is False:
            m.disable_peer_transfers()

    def paths(self) -> dict[str, Any]:
        return {
            "transactions_log": str(self.logs / "transactions"),
            "debug_log": str(self.logs / "debug"),
            "logs_dir": str(self.logs),
        }

    def category(self, name: str, maximum: dict[str, float], mode: int) -> None:
        if maximum:
            self.m.set_category_resources_max(name, maximum)
        self.m.set_category_mode(name, mode)

    def declare(self, kind: str, name: str, value: str | None, cache: str | None = None) -> None:
        level: Any = cache or False
        if kind == "temp":
            self.files[name] = self.m.declare_temp()
        elif kind == "buffer":
            self.files[name] = self.m.declare_buffer((value or "").encode(), cache=level)
        else:
            self.files[name] = self.m.declare_file(value, cache=level)

    def task(self, command: dict[str, Any]) -> Any:
        t = self.vine.Task(command["command"])
        for key, setter in (
            ("category", t.set_category),
            ("cores", t.set_cores),
            ("memory_mb", t.set_memory),
            ("disk_mb", t.set_disk),
            ("gpus", t.set_gpus),
            ("tag", t.set_tag),
            ("max_retries", t.set_retries),
        ):
            if command.get(key) is not None:
                setter(command[key])
        for name, remote in command.get("inputs", []):
            t.add_input(self.files[name], remote)
        for name, remote in command.get("outputs", []):
            t.add_output(self.files[name], remote)
        return t

    def submit(self, task: Any) -> int:
        return int(self.m.submit(task))

    def wait(self, seconds: int) -> Any:
        return self.m.wait(seconds)

    def result(self, task: Any) -> tuple[int, str]:
        return int(self.cvine.vine_task_get_result(task._task)), str(task.result)

    def exit_code(self, task: Any) -> int:
        return int(task.exit_code)

    def host(self, task: Any) -> str:
        return str(task.addrport or "")

    def stats(self) -> Any:
        return self.m.stats

    def empty(self) -> bool:
        return bool(self.m.empty())

    def shutdown(self) -> None:
        self.m.workers_shutdown(0)


STAT_FIELDS = (
    "workers_connected",
    "workers_idle",
    "workers_busy",
    "tasks_waiting",
    "tasks_on_workers",
    "tasks_running",
    "tasks_with_results",
    "tasks_submitted",
    "tasks_done",
    "tasks_failed",
    "tasks_exhausted_attempts",
)


class Program:
    def __init__(self, framework: Framework, serve: bool) -> None:
        self.framework = framework
        self.serve = serve
        self.buffer = b""
        self.running = True
        self.tasks: dict[int, Any] = {}  # keeps submitted tasks alive until they return

    def commands(self) -> list[dict[str, Any]]:
        """Whole lines waiting on standard input (never blocks)."""
        fd = sys.stdin.fileno()
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 1 << 16)
            if not chunk:  # the parent went away
                self.running = False
                break
            self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    def handle(self, command: dict[str, Any]) -> None:
        op = command["op"]
        f = self.framework
        if op == "submit":
            task = f.task(command)
            task_id = f.submit(task)
            self.tasks[task_id] = task
            if task_id != command["id"]:
                emit(
                    "error", message=f"submit: manager gave id {task_id}, expected {command['id']}"
                )
        elif op == "category":
            f.category(command["name"], command["max"], command["mode"])
        elif op == "declare":
            f.declare(command["kind"], command["name"], command.get("value"), command.get("cache"))
        elif op == "serve":
            self.serve = bool(command["on"])
        elif op == "stats":
            s = f.stats()
            emit("reply", req=command["req"], value={k: int(getattr(s, k)) for k in STAT_FIELDS})
        elif op == "empty":
            emit("reply", req=command["req"], value=f.empty())
        elif op == "exit":
            f.shutdown()
            self.running = False
        else:
            emit("error", message=f"unknown command {op!r}")

    def run(self) -> None:
        while self.running:
            for command in self.commands():
                try:
                    self.handle(command)
                except Exception as error:  # report, keep the manager alive
                    emit("error", message=f"{command.get('op')}: {type(error).__name__}: {error}")
            if not self.running:
                break
            if not self.serve:
                time.sleep(0.05)
                continue
            task = self.framework.wait(1)
            if task is not None:
                emit("finished", **self.framework.finished(task))
                self.tasks.pop(task.id, None)


def main() -> None:
    config = json.loads(sys.argv[1])
    framework: Framework = (TaskVine if config["framework"] == "TaskVine" else WorkQueue)(config)
    for name, category in (config.get("categories") or {}).items():
        framework.category(name, category["max"], category["mode"])
    port = framework.m.port if isinstance(framework, TaskVine) else framework.q.port
    emit("ready", port=port, pid=os.getpid(), **framework.paths())
    Program(framework, serve=config.get("serve", True)).run()


if __name__ == "__main__":
    main()
