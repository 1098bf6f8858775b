"""The builder making environment images for real, as the build Job's container runs it: uv
installs from PyPI, crane (built from the Go module proxy by images/crane/build-crane.sh)
appends the layer to a real base image and pushes it to real registries (Debian's
docker-registry: the node's registry on 127.0.0.1:5000, and one with htpasswd auth started
here); Docker runs the pushed image and a task imports the package through run-in-env.
Needs PyPI and the registry of e2e/node (no cluster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import REPO
from tests.registry import AuthRegistry, answers, auth_registry, free_port
from workqueue_operator.envs.artifact import ImageArtifact, image_tag, parse_artifact
from workqueue_operator.envs.normalize import spec_hash

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

NODE_REGISTRY = "127.0.0.1:5000"
WORKER = f"{NODE_REGISTRY}/workqueue-operator/worker:0.1.0"
PAUSE = f"{NODE_REGISTRY}/workqueue-operator/pause:0.1.0"
SIX = {"pip": ["six==1.16.0"]}
SIX_HASH = spec_hash(SIX)
DOCKER = "/usr/bin/docker"


@pytest.fixture(scope="session")
def crane() -> str:
    """crane, built (once, cached) the way the builder image gets it."""
    result = subprocess.run(
        ["bash", str(REPO / "images" / "crane" / "build-crane.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return str(Path(result.stdout.strip()) / "crane")


@pytest.fixture(scope="session")
def node_registry() -> str:
    if answers(f"http://{NODE_REGISTRY}/v2/") != 200:
        pytest.fail(f"no registry answers on {NODE_REGISTRY}: run e2e/node/up.sh")
    return NODE_REGISTRY


@pytest.fixture
def refusing(tmp_path: Path) -> Iterator[AuthRegistry]:
    with auth_registry(tmp_path / "auth-registry") as registry:
        yield registry


def docker_config(tmp_path: Path, registry: AuthRegistry, password: str) -> Path:
    """A $DOCKER_CONFIG directory, as the build Job mounts the push Secret."""
    directory = tmp_path / f"docker-config-{uuid.uuid4().hex[:6]}"
    directory.mkdir()
    (directory / "config.json").write_text(registry.docker_config(password))
    return directory


def build_image(
    crane: str,
    repository: str,
    base: str,
    *,
    spec: dict[str, Any] = SIX,
    config: Path | None = None,
    python: str = "/usr/bin/python3",
) -> tuple[int, dict[str, Any], str]:
    """``build-env --image-repository``: (exit code, report, log)."""
    env = dict(os.environ)
    if config is not None:
        env["DOCKER_CONFIG"] = str(config)
    command = [
        sys.executable, "-m", "workqueue_operator.cli", "build-env",
        "--spec-json", json.dumps(spec), "--expect-hash", spec_hash(spec),
        "--image-repository", repository, "--base-image", base, "--insecure-registry",
        "--crane", crane, "--python", python,
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=env, check=False
    )
    return result.returncode, json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def output(*argv: str) -> str:
    """Standard output of a command that may fail (clean-up, probes)."""
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=60)
    return done.stdout


def crane_json(crane: str, *args: str) -> Any:
    out = subprocess.run([crane, *args, "--insecure"], capture_output=True, check=True, timeout=60)
    return json.loads(out.stdout)


@pytest.fixture
def repository(node_registry: str, crane: str) -> Iterator[str]:
    """A repository of its own in the node's registry; its images deleted afterwards."""
    name = f"{node_registry}/test-envimage/six-{uuid.uuid4().hex[:8]}"
    yield name
    delete_images(crane, name)


def delete_images(crane: str, repository: str) -> None:
    for tag in output(crane, "ls", repository, "--insecure").split():
        digest = output(crane, "digest", f"{repository}:{tag}", "--insecure").strip()
        if digest:
            output(crane, "delete", f"{repository}@{digest}", "--insecure")


def docker_run(
    image: str, entrypoint: str, *args: str, user: str = "1000:1000"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKER, "run", "--rm", "--user", user, "--entrypoint", entrypoint, image, *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_an_environment_image_is_the_base_plus_one_layer_and_runs_its_tasks_inside(
    crane: str, repository: str, tmp_path: Path
) -> None:
    code, report, log = build_image(crane, repository, WORKER)
    assert code == 0, log
    assert report["ok"] and not report["reused"] and report["hash"] == SIX_HASH
    artifact = parse_artifact(report["artifact"])
    assert isinstance(artifact, ImageArtifact)
    assert artifact.repository == repository
    assert artifact.tag == image_tag(SIX_HASH, WORKER)

    # The base's layers, then one more: the environment at /opt/poncho/<hash>.
    base = crane_json(crane, "manifest", WORKER)
    pushed = crane_json(crane, "manifest", artifact.by_digest)
    assert pushed["layers"][:-1] == base["layers"]
    assert pushed["layers"][-1]["size"] == report["size_bytes"]
    layer = tmp_path / "layer.tar.gz"
    with layer.open("wb") as out:
        blob = f"{repository}@{pushed['layers'][-1]['digest']}"
        subprocess.run([crane, "blob", blob, "--insecure"], stdout=out, check=True, timeout=60)
    with tarfile.open(layer) as archive:
        names = set(archive.getnames())
    env_dir = f"opt/poncho/{SIX_HASH}"
    assert {"opt", "opt/poncho", env_dir, f"{env_dir}/bin/run-in-env"} <= names
    assert any(n.startswith(env_dir) and n.endswith("site-packages/six.py") for n in names)

    # The image runs a task inside the environment, as a worker pod's container does.
    image = artifact.by_digest
    try:
        inside = docker_run(
            image, f"/{env_dir}/bin/run-in-env",
            "python3", "-c", "import six, sys; print(six.__version__, sys.prefix)",
        )  # fmt: skip
        assert inside.returncode == 0, inside.stderr
        assert inside.stdout.split() == ["1.16.0", f"/{env_dir}"]
        outside = docker_run(image, "/usr/bin/python3", "-c", "import six")
        assert outside.returncode == 1 and "ModuleNotFoundError" in outside.stderr
        assert docker_run(image, "work_queue_worker", "--version").returncode == 0  # the base's
    finally:
        subprocess.run([DOCKER, "rmi", image], capture_output=True, check=False)

    # The same spec on the same base again: the tag is there, nothing is built.
    again_code, again, again_log = build_image(crane, repository, WORKER)
    assert again_code == 0, again_log
    assert again["reused"] is True and again["artifact"] == report["artifact"]
    assert again["size_bytes"] == report["size_bytes"]
    assert "uv" not in again_log and "nothing to build" in again_log
    # Another base is another image of the same environment.
    other_code, other, other_log = build_image(crane, repository, PAUSE)
    assert other_code == 0, other_log
    assert other["reused"] is False and other["artifact"] != report["artifact"]


def test_one_spec_on_one_base_is_the_same_image_byte_for_byte_in_another_repository(
    crane: str, repository: str
) -> None:
    code, first, log = build_image(crane, repository, WORKER)
    assert code == 0, log
    elsewhere = f"{repository}-elsewhere"
    try:
        again_code, again, again_log = build_image(crane, elsewhere, WORKER)
        assert again_code == 0, again_log
        assert again["reused"] is False  # built again, from scratch
        one = parse_artifact(first["artifact"])
        other = parse_artifact(again["artifact"])
        assert isinstance(one, ImageArtifact) and isinstance(other, ImageArtifact)
        layers = [
            crane_json(crane, "manifest", a.by_digest)["layers"][-1]["digest"] for a in (one, other)
        ]
        assert layers[0] == layers[1]
        assert one.digest == other.digest
    finally:
        delete_images(crane, elsewhere)


def test_a_registry_that_refuses_fails_before_the_build_with_its_own_message(
    crane: str, refusing: AuthRegistry, tmp_path: Path
) -> None:
    repository = f"{refusing.address}/envs/six"
    anonymous = build_image(crane, repository, PAUSE)
    wrong = build_image(
        crane, repository, PAUSE,
        config=docker_config(tmp_path, refusing, "wrong"),
    )  # fmt: skip
    for code, report, log in (anonymous, wrong):
        assert code == 4, log  # permanent: the Job fails at once, the operator retries later
        assert report["reason"] == "RegistryRefused"
        assert "UNAUTHORIZED: authentication required" in report["message"], report
        assert "uv" not in log  # refused before anything was built

    right = docker_config(tmp_path, refusing, refusing.password)
    code, report, log = build_image(crane, repository, PAUSE, config=right)
    assert code == 0, log
    assert report["artifact"].startswith(f"{repository}:{image_tag(SIX_HASH, PAUSE)}@sha256:")


def test_an_unreachable_registry_may_pass_on_retry_and_a_missing_base_does_not(
    crane: str, repository: str
) -> None:
    closed = f"127.0.0.1:{free_port()}/envs/six"
    code, report, log = build_image(crane, closed, PAUSE)
    assert code == 1, log  # the Job's backoffLimit retries it
    assert report["reason"] == "RegistryUnreachable"
    assert "connect: connection refused" in report["message"]

    missing = f"{NODE_REGISTRY}/workqueue-operator/no-such-base:0"
    code, report, log = build_image(crane, repository, missing)
    assert code == 4, log
    assert report["reason"] == "BaseImageNotFound"
    assert "MANIFEST_UNKNOWN" in report["message"] and missing in report["message"]


def test_run_in_env_refuses_rather_than_run_outside_an_environment_it_cannot_relink(
    crane: str, repository: str
) -> None:
    """A venv linked to an interpreter the base image lacks: run-in-env would relink it to the
    image's python3, but the image's files are not the task's to write. It says so and exits
    127; it never runs the task without the environment."""
    host_python = output("python3", "-c", "import sys; print(sys.executable)").strip()
    if host_python.startswith("/usr/bin/"):
        pytest.skip("this machine's python3 is the base image's: nothing to relink")
    code, report, log = build_image(crane, repository, WORKER, python="python3")
    assert code == 0, log
    artifact = parse_artifact(report["artifact"])
    assert isinstance(artifact, ImageArtifact)
    try:
        run = docker_run(
            artifact.by_digest, f"/opt/poncho/{SIX_HASH}/bin/run-in-env",
            "python3", "-c", "import six",
        )  # fmt: skip
    finally:
        subprocess.run([DOCKER, "rmi", artifact.by_digest], capture_output=True, check=False)
    assert run.returncode == 127, (run.stdout, run.stderr)
    assert "is not writable" in run.stderr
