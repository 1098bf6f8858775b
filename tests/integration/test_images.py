"""The project's container images: built here (cached by content) and run once each.

``images/build.sh`` makes the local Debian base with mmdebstrap, starts dockerd when none is
running, compiles CCTools 7.17.1 once from the vendored source into the cctools image, and
builds the operator, worker, manager and builder images, reusing any whose inputs have not
changed. Each test then runs one image's entry point the way the operator or a user would; a
real Work Queue manager and a real TaskVine manager in the manager image each run tasks on a
worker of the worker image. The tests skip only when this machine cannot run a Docker engine at
all; a failing build or image is a failure.
"""

from __future__ import annotations

import hashlib
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
BUILT = ("cctools", "crane", *IMAGES, "pause")
"""What images/build.sh builds: the four images, the CCTools build the worker and manager copy
(cctools, files in an empty image), the crane binary the builder copies (crane, one file in an
empty image), and the real node's pod sandbox (pause, a static binary in an empty image): the
last three have nothing to run as uid 1000."""
UID = "1000"
CCTOOLS_VERSION = "7.17.1"
VENDORED_ARCHIVE = REPO.parent / "shared" / "vendor" / f"cctools-{CCTOOLS_VERSION}-src.tar.gz"

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


def test_cctools_image_is_the_vendored_release(images: dict[str, str]) -> None:
    [config] = json.loads(docker("image", "inspect", images["cctools"]).stdout)
    labels = config["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == CCTOOLS_VERSION
    assert labels["dev.workqueue.cctools-source"] == "source"
    if VENDORED_ARCHIVE.exists():
        digest = hashlib.sha256(VENDORED_ARCHIVE.read_bytes()).hexdigest()
        assert labels["dev.workqueue.cctools-archive-sha256"] == digest


CCTOOLS_FILES = (
    "/opt/cctools/bin/work_queue_worker",
    "/opt/cctools/bin/vine_worker",
    "/opt/cctools/bin/resource_monitor",
    "/opt/cctools/VERSION",
)


def test_worker_and_manager_carry_the_same_build(images: dict[str, str]) -> None:
    sums = {
        name: run_image(images[name], *CCTOOLS_FILES, entrypoint="sha256sum")
        for name in ("worker", "manager")
    }
    assert sums["worker"] == sums["manager"]
    # A PythonTask's function is pickled by the manager's cloudpickle and loaded by the worker's.
    program = "import cloudpickle; print(cloudpickle.__version__)"
    versions = {
        name: run_image(images[name], "-c", program, entrypoint="python3").strip()
        for name in ("worker", "manager")
    }
    assert versions["worker"] == versions["manager"], versions
    version = run_image(images["worker"], "/opt/cctools/VERSION", entrypoint="cat")
    assert version.startswith(f"CCTools {CCTOOLS_VERSION} built from source"), version


def first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def test_worker_programs(images: dict[str, str]) -> None:
    ref = images["worker"]
    # The image's entry point (tini -g -- work_queue_worker), then each program by name.
    assert f"work_queue_worker version {CCTOOLS_VERSION} FINAL" in first_line(
        run_image(ref, "--version")
    )
    for program in ("work_queue_worker", "vine_worker", "resource_monitor"):
        out = first_line(run_image(ref, "--version", entrypoint=program))
        assert f"{program} version {CCTOOLS_VERSION} FINAL" in out, out
    # TaskVine's PythonTask wrapper imports cloudpickle with the worker's python3.
    run_image(ref, "-c", "import cloudpickle", entrypoint="python3")
    # The pods' tini option needs tini on PATH; resource_monitor measures as a non-root user.
    out = run_image(
        ref,
        "-c",
        "command -v tini && resource_monitor -i 1 -O /workspace/m -- true"
        " && cat /workspace/m.summary",
        entrypoint="sh",
    )
    assert '"exit_status":0' in out.replace(" ", "")


def test_manager_python_and_programs(images: dict[str, str]) -> None:
    ref = images["manager"]
    out = run_image(
        ref,
        "python3",
        "-c",
        "import sys, cloudpickle, packaging, ndcctools.taskvine as vine,"
        " ndcctools.work_queue as wq; print(sys.prefix, wq.WORK_QUEUE_DEFAULT_PORT, vine.__name__)",
    )
    assert out.split() == ["/opt/venv", "9123", "ndcctools.taskvine"]
    # A manager with monitoring on ships resource_monitor to its workers: it must find one.
    # `pip install` as the image's user goes to /opt/venv.
    out = run_image(
        ref,
        "sh",
        "-c",
        "for p in makeflow resource_monitor work_queue_status vine_status work_queue_worker"
        " vine_worker; do $p --version | head -n1; done; touch /opt/venv/lib/python3.11/w",
    )
    assert len(out.splitlines()) == 6
    assert all(f"version {CCTOOLS_VERSION} FINAL" in line for line in out.splitlines()), out


WORK_QUEUE_MANAGER = """
import ndcctools.work_queue as wq
q = wq.WorkQueue(port=0)
q.enable_monitoring()
print("port", q.port, flush=True)
t = wq.Task("echo task-ran-as-$(id -u)")
t.specify_cores(1); t.specify_memory(64); t.specify_disk(64)
q.submit(t)
t = q.wait(90)
print("result", t.result if t else "none", (t.output or "").strip() if t else "", flush=True)
print("measured", t.resources_measured is not None if t else "none", flush=True)
"""

TASKVINE_MANAGER = """
import ndcctools.taskvine as vine

def square(x):
    import sys
    return x * x, "%d.%d" % sys.version_info[:2]

m = vine.Manager(port=0, run_info_path="/workspace/vine-run-info")
m.enable_monitoring()
print("port", m.port, flush=True)
t = vine.Task("echo task-ran-as-$(id -u)")
p = vine.PythonTask(square, 7)
for task in (t, p):
    task.set_cores(1); task.set_memory(64); task.set_disk(64)
    m.submit(task)
while not m.empty():
    m.wait(90)
print("result", t.result, (t.std_output or "").strip(), flush=True)
print("measured", t.resources_measured is not None, flush=True)
print("python", p.result, repr(p.output), flush=True)
"""


@pytest.fixture
def container_name() -> Iterator[str]:
    name = f"wq-images-test-{uuid.uuid4().hex[:8]}"
    yield name
    docker("rm", "-f", name, check=False)


def run_manager_and_worker(
    images: dict[str, str], container_name: str, program: str, worker: str
) -> str:
    """The manager image runs ``program`` (which prints ``port N``); one single-shot worker
    of the worker image (``worker``: work_queue_worker or vine_worker) connects to it. Returns
    the manager's standard output once it exited 0."""
    docker(
        "run", "-d", "--name", container_name, "--network", "host",
        images["manager"], "python3", "-c", program,
    )  # fmt: skip
    port = ""
    for _ in range(60):
        logs = docker("logs", container_name).stdout.split()
        if "port" in logs:
            port = logs[logs.index("port") + 1]
            break
        time.sleep(0.5)
    assert port, docker("logs", container_name).stderr
    proc = docker(
        "run", "--rm", "--network", "host", "--entrypoint", worker, images["worker"],
        "--single-shot", "--cores", "1", "--memory", "256", "--disk", "512", "--timeout", "60",
        "127.0.0.1", port,
        timeout=120,
    )  # fmt: skip
    status = docker("wait", container_name, timeout=120).stdout.strip()
    logs = docker("logs", container_name)
    assert status == "0", (logs.stdout, logs.stderr, proc.stdout, proc.stderr)
    return logs.stdout


def test_work_queue_manager_runs_a_task_on_the_worker_image(
    images: dict[str, str], container_name: str
) -> None:
    """ndcctools.work_queue in the manager image and work_queue_worker in the worker image
    speak the same protocol; the monitored task ran as the image's user."""
    out = run_manager_and_worker(images, container_name, WORK_QUEUE_MANAGER, "work_queue_worker")
    assert f"result 0 task-ran-as-{UID}" in out, out
    assert "measured True" in out, out


def test_taskvine_manager_runs_a_task_and_a_python_task_on_the_worker_image(
    images: dict[str, str], container_name: str
) -> None:
    """ndcctools.taskvine and vine_worker: a command task (monitored), and a PythonTask that the
    worker runs with its python3 and cloudpickle; the function ran under the same Python minor
    version as the manager's."""
    out = run_manager_and_worker(images, container_name, TASKVINE_MANAGER, "vine_worker")
    assert f"result success task-ran-as-{UID}" in out, out
    assert "measured True" in out, out
    assert "python success (49, '3.11')" in out, out


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
    # crane appends a PonchoEnv's layer to its base image and pushes it (output.image).
    assert run_image(ref, "version", entrypoint="crane").strip() == "v0.22.1"


def test_worker_python_is_the_builders(images: dict[str, str]) -> None:
    """A pip-only PonchoEnv is a venv linked to the builder's /usr/bin/python3; worker pods run
    its tasks with the worker image's: the same path and the same minor version."""
    program = "import sys; print(sys.executable, '%d.%d' % sys.version_info[:2])"
    builder = run_image(images["builder"], "-c", program, entrypoint="/usr/bin/python3")
    worker = run_image(images["worker"], "-c", program, entrypoint="/usr/bin/python3")
    assert worker.split() == builder.split(), (worker, builder)
    assert worker.split()[1] == "3.11"
