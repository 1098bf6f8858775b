"""The project's container images: built here (cached by content) and run once each.

``images/build.sh`` makes the local Debian base with mmdebstrap, starts dockerd when none is
running, and builds the operator, worker, manager and builder images, reusing any whose inputs
have not changed. Each test then runs one image's entry point the way the operator or a user
would. The tests skip only when this machine cannot run a Docker engine at all; a failing
build or image is a failure.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "images" / "build.sh"
COMMON = REPO / "images" / "base" / "common.sh"
DOCKER = "/usr/bin/docker"
IMAGES = ("operator", "worker", "manager", "builder")
BUILT = (*IMAGES, "pause")
"""What images/build.sh builds: the four images, and the real node's pod sandbox (pause, a
static binary in an empty image: nothing to run as uid 1000)."""
UID = "1000"

# A cold build (base rootfs, Debian packages, PyPI wheels) takes minutes on two cores; warm,
# the build script only hashes its inputs.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]


def _run(
    args: Sequence[str], timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
        )
    return proc


def docker(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return _run([DOCKER, *args], timeout=timeout, check=check)


def run_image(
    ref: str, *args: str, entrypoint: str | None = None, options: Sequence[str] = ()
) -> str:
    """``docker run --rm`` the image once; its standard output."""
    cmd = ["run", "--rm", *options]
    if entrypoint is not None:
        cmd += ["--entrypoint", entrypoint]
    return docker(*cmd, ref, *args).stdout


@pytest.fixture(scope="session")
def engine() -> None:
    """A Docker engine, started by the build scripts' own helper when none runs."""
    proc = subprocess.run(
        ["bash", "-c", f'source "{COMMON}" && ensure_dockerd'],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"this machine cannot run a Docker engine: {proc.stderr.strip()[-800:]}")


@pytest.fixture(scope="session")
def images(engine: None) -> dict[str, str]:
    """Every image built (or reused): name -> its content-hash reference."""
    proc = _run(["bash", str(BUILD)], timeout=1700)
    built: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        name, _status, ref, *_ = line.split("\t")
        built[name] = ref
    assert set(built) == set(BUILT), proc.stdout + proc.stderr
    return built


def test_a_second_build_reuses_every_image(images: dict[str, str]) -> None:
    proc = _run(["bash", str(BUILD)], timeout=600)
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert {row[0]: row[1] for row in rows} == dict.fromkeys(BUILT, "reused"), proc.stderr
    assert {row[0]: row[2] for row in rows} == images


@pytest.mark.parametrize("name", IMAGES)
def test_image_runs_as_non_root_uid_1000(images: dict[str, str], name: str) -> None:
    [config] = json.loads(docker("image", "inspect", images[name]).stdout)
    # Numeric, so that a pod's runAsNonRoot can be checked by the kubelet.
    assert config["Config"]["User"] == f"{UID}:{UID}"
    assert run_image(images[name], "-u", entrypoint="id").strip() == UID
    assert run_image(
        images[name], "-c", "echo $HOME; pwd; touch $HOME/w", entrypoint="sh"
    ).split() == [
        "/workspace",
        "/workspace",
    ]


def test_operator_help_crds_and_default_command(images: dict[str, str]) -> None:
    ref = images["operator"]
    assert "usage: workqueue-operator" in run_image(ref, "--help")
    documents = [d for d in yaml.safe_load_all(run_image(ref, "crds")) if d]
    assert len(documents) == 3
    assert {d["kind"] for d in documents} == {"CustomResourceDefinition"}
    assert {d["spec"]["group"] for d in documents} == {"workqueue.dev"}
    [config] = json.loads(docker("image", "inspect", ref).stdout)
    assert config["Config"]["Entrypoint"] == ["workqueue-operator"]
    assert config["Config"]["Cmd"] == ["run", "--all-namespaces"]


def test_operator_image_serves_the_agent_sidecar_on_a_read_only_root(
    images: dict[str, str],
) -> None:
    # The operator runs the telemetry agent from its own image, with only `args` set and
    # readOnlyRootFilesystem: the entry point must take `agent ...` and write nothing.
    out = run_image(images["operator"], "agent", "--help", options=["--read-only"])
    assert "--transactions-log" in out


def test_worker_programs(images: dict[str, str]) -> None:
    ref = images["worker"]
    assert "work_queue_worker version" in run_image(ref, "--version")
    assert "work_queue_worker version" in run_image(
        ref, "--version", entrypoint="work_queue_worker"
    )
    assert "resource_monitor version" in run_image(ref, "--version", entrypoint="resource_monitor")
    # The pods' tini option needs tini on PATH; resource_monitor measures as a non-root user.
    out = run_image(
        ref,
        "-c",
        "command -v tini && resource_monitor -i 1 -O /workspace/m -- true"
        " && cat /workspace/m.summary",
        entrypoint="sh",
    )
    assert '"exit_status":0' in out.replace(" ", "")


def test_manager_python_bindings(images: dict[str, str]) -> None:
    out = run_image(
        images["manager"],
        "python3",
        "-c",
        "import work_queue, resource_monitor, work_queue_futures;"
        " print(work_queue.WORK_QUEUE_DEFAULT_PORT)",
    )
    assert out.strip() == "9123"
    # A manager with monitoring on ships resource_monitor to its workers: it must find one.
    assert run_image(images["manager"], "sh", "-c", "command -v resource_monitor").strip()


MANAGER_PROGRAM = """
import work_queue as wq
q = wq.WorkQueue(port=0)
q.enable_monitoring()
print("port", q.port, flush=True)
t = wq.Task("echo task-ran-as-$(id -u)")
t.specify_cores(1); t.specify_memory(64); t.specify_disk(64)
q.submit(t)
t = q.wait(90)
print("result", t.result if t else "none", (t.output or "").strip() if t else "", flush=True)
"""


@pytest.fixture
def container_name() -> Iterator[str]:
    name = f"wq-images-test-{uuid.uuid4().hex[:8]}"
    yield name
    docker("rm", "-f", name, check=False)


def test_manager_image_runs_a_task_on_the_worker_image(
    images: dict[str, str], container_name: str
) -> None:
    """The bindings in the manager image and the worker image speak the same protocol."""
    docker(
        "run", "-d", "--name", container_name, "--network", "host",
        images["manager"], "python3", "-c", MANAGER_PROGRAM,
    )  # fmt: skip
    port = ""
    for _ in range(60):
        logs = docker("logs", container_name).stdout.split()
        if "port" in logs:
            port = logs[logs.index("port") + 1]
            break
        time.sleep(0.5)
    assert port, docker("logs", container_name).stderr
    worker = docker(
        "run", "--rm", "--network", "host", images["worker"],
        "--single-shot", "--cores", "1", "--memory", "256", "--disk", "256", "--timeout", "60",
        "127.0.0.1", port,
        timeout=120,
    )  # fmt: skip
    assert docker("wait", container_name, timeout=120).stdout.strip() == "0"
    out = docker("logs", container_name).stdout
    assert f"result 0 task-ran-as-{UID}" in out, (out, worker.stdout, worker.stderr)


def test_builder_tools(images: dict[str, str]) -> None:
    ref = images["builder"]
    assert "usage: workqueue-operator" in run_image(ref, "--help")
    assert run_image(ref, "--version", entrypoint="uv").startswith("uv ")
    # uv makes environments with the image's Python, with no interpreter download.
    out = run_image(
        ref,
        "-c",
        "uv venv --quiet --python /usr/bin/python3 /workspace/env && /workspace/env/bin/python -V",
        entrypoint="sh",
    )
    assert out.startswith("Python 3.")


def test_worker_python_is_the_builders(images: dict[str, str]) -> None:
    """A pip-only PonchoEnv is a venv linked to the builder's /usr/bin/python3; worker pods run
    its tasks with the worker image's: the same path and the same minor version."""
    program = "import sys; print(sys.executable, '%d.%d' % sys.version_info[:2])"
    builder = run_image(images["builder"], "-c", program, entrypoint="/usr/bin/python3")
    worker = run_image(images["worker"], "-c", program, entrypoint="/usr/bin/python3")
    assert worker.split() == builder.split(), (worker, builder)
    assert worker.split()[1] == "3.11"
