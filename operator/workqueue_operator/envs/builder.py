"""The builder: a Poncho spec in, a tarball or an image of the environment out, and a report.

This is what the build Job's container runs (``workqueue-operator build-env``). A tarball that
exists already for the same hash (with its ``.json`` record beside it, written last), or an
image whose tag the registry has, is reused, not rebuilt: a retried or duplicated Job finishes
at once.

An image is the base image plus one layer: the environment at ``/opt/poncho/<hash>`` (where it
was built, so conda prefixes need no relocation), appended and pushed by crane
(:mod:`workqueue_operator.envs.registry`). The registry is asked for the tag before anything
is built, so refused credentials fail the build before it spends its time.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workqueue_operator.envs import activation, fetch
from workqueue_operator.envs.artifact import ImageArtifact, image_tag
from workqueue_operator.envs.execute import BuildError, run_command
from workqueue_operator.envs.normalize import SpecError, canonical_json, normalize_spec, spec_hash
from workqueue_operator.envs.plan import Command, Download, Tools, build_plan, variables
from workqueue_operator.envs.registry import Crane, last_layer_size
from workqueue_operator.envs.result import BuildFailure, BuildReport, BuildSuccess, ExitCode
from workqueue_operator.envs.tarball import pack

Log = Callable[[str], None]
PREFIX_MAKERS = ("conda", "venv")
"""Steps that create the prefix themselves (it must not exist before them)."""
ENV_ROOT_IN_IMAGE = "opt/poncho"
"""Where an image layer puts the environment: ``/opt/poncho/<hash>``."""


@dataclass(frozen=True)
class ImageRequest:
    """An environment image: ``base`` plus the environment's layer, pushed to
    ``repository:<hash>-<base id>``."""

    repository: str
    base: str
    crane: Crane = field(default_factory=Crane)

    def target(self, env_hash: str) -> str:
        return f"{self.repository}:{image_tag(env_hash, self.base)}"


@dataclass(frozen=True)
class BuildRequest:
    """What to build and where to put it."""

    spec: Mapping[str, Any]
    output: Path | None = None
    """The tarball's path (on the PVC in a Job)."""
    upload_url: str | None = None
    """Where to PUT the tarball instead of (or after) writing ``output``."""
    image: ImageRequest | None = None
    """Push an image instead of writing a tarball."""
    artifact: str | None = None
    """The location to report (``pvc://...``); the output path or upload URL when None."""
    expect_hash: str | None = None
    """Fail unless the spec hashes to this (operator and builder disagree otherwise)."""
    work_dir: Path | None = None
    """Where the environment is made, as ``<work_dir>/<hash>`` (a temporary directory when
    None). Conda prefixes are not relocatable: build where the workers unpack."""
    tools: Tools = field(default_factory=Tools)
    force: bool = False
    """Build even when the tarball or image exists."""


def record_path(output: Path) -> Path:
    """The JSON record written beside a finished tarball."""
    return output.with_name(output.name + ".json")


def _existing_image(image: ImageRequest, env_hash: str, log: Log) -> BuildSuccess | None:
    target = image.target(env_hash)
    digest = image.crane.digest(target)
    if digest is None:
        log(f"{target}: not in the registry yet")
        return None
    size = last_layer_size(image.crane.manifest(f"{image.repository}@{digest}"))
    artifact = ImageArtifact(image.repository, target.rpartition(":")[2], digest)
    log(f"{artifact} exists for hash {env_hash}: nothing to build")
    return BuildSuccess(env_hash, str(artifact), size, 0.0, reused=True)


def _existing(request: BuildRequest, env_hash: str, artifact: str) -> BuildSuccess | None:
    if request.force:
        return None
    if request.output is not None:
        record = record_path(request.output)
        try:
            data = json.loads(record.read_text())
            size = request.output.stat().st_size
        except (OSError, ValueError):
            return None
        if isinstance(data, dict) and data.get("hash") == env_hash:
            return BuildSuccess(env_hash, artifact, size, 0.0, reused=True)
        return None
    if request.upload_url is not None and fetch.exists(request.upload_url):
        return BuildSuccess(env_hash, artifact, 0, 0.0, reused=True)
    return None


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def make_environment(
    normal: Mapping[str, Any], env_hash: str, prefix: Path, tools: Tools, log: Log
) -> None:
    """Run the plan into ``prefix`` (which must not exist) and add the activation files."""
    for step in build_plan(normal, prefix, tools):
        if not (isinstance(step, Command) and step.what in PREFIX_MAKERS):
            prefix.mkdir(parents=True, exist_ok=True)
        if isinstance(step, Download):
            log(f"GET {step.url} -> {step.target.name}")
            fetch.fetch(step)
        else:
            run_command(step, log)
    prefix.mkdir(parents=True, exist_ok=True)
    names = variables(normal)
    _write(prefix / activation.RUN_IN_ENV, activation.run_in_env_script(), 0o755)
    _write(prefix / activation.ENV_SCRIPT, activation.env_script(names))
    _write(prefix / activation.PONCHO_SET_ENV, activation.poncho_set_env(names))
    _write(prefix / activation.SPEC_FILE, canonical_json(normal) + "\n")
    _write(prefix / activation.HASH_FILE, env_hash + "\n")


@contextmanager
def _environment(
    request: BuildRequest, normal: Mapping[str, Any], env_hash: str, log: Log
) -> Iterator[tuple[Path, Path]]:
    """Build the environment into ``<work>/<hash>``; (work directory, prefix) while it lasts.
    The prefix (and a temporary work directory) goes afterwards."""
    own_work = request.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="poncho-build-")) if own_work else request.work_dir
    assert work is not None
    prefix = work / env_hash
    try:
        shutil.rmtree(prefix, ignore_errors=True)
        work.mkdir(parents=True, exist_ok=True)
        make_environment(normal, env_hash, prefix, request.tools, log)
        yield work, prefix
    finally:
        shutil.rmtree(work if own_work else prefix, ignore_errors=True)


def _pack(prefix: Path, output: Path, log: Log, *, under: str = "") -> int:
    try:
        packed = pack(prefix, output, under=under)
    except OSError as error:
        raise BuildError("PackFailed", f"writing {output}: {error}", ExitCode.TRANSIENT) from error
    if packed.file_times:
        log("the environment has compiled bytecode (*.pyc): packed with its file times")
    else:
        log("no compiled bytecode: packed without file times (the same files, the same bytes)")
    return packed.size


def _build(request: BuildRequest, log: Log, started: float) -> BuildSuccess:
    try:
        normal = normalize_spec(request.spec)
    except SpecError as error:
        raise BuildError("InvalidSpec", str(error), ExitCode.BAD_SPEC) from error
    env_hash = spec_hash(normal)
    if request.expect_hash is not None and request.expect_hash != env_hash:
        raise BuildError(
            "HashMismatch",
            f"the spec hashes to {env_hash} here but the operator expected "
            f"{request.expect_hash}: the builder image and the operator are different versions",
            ExitCode.BAD_SPEC,
        )
    if request.image is not None:
        return _build_image(request, normal, env_hash, log, started)
    if request.output is None and request.upload_url is None:
        raise BuildError(
            "InvalidRequest", "give an output path, an upload URL or an image", ExitCode.BAD_SPEC
        )
    artifact = request.artifact or request.upload_url or str(request.output)
    reused = _existing(request, env_hash, artifact)
    if reused is not None:
        log(f"{artifact} exists for hash {env_hash}: nothing to build")
        return reused
    log(f"building environment {env_hash}")
    with _environment(request, normal, env_hash, log) as (work, prefix):
        output = request.output or work / f"{env_hash}.tar.gz"
        size = _pack(prefix, output, log)
        if request.upload_url is not None:
            log(f"PUT {request.upload_url}")
            fetch.upload(output, request.upload_url)
        report = BuildSuccess(env_hash, artifact, size, round(time.monotonic() - started, 3))
        if request.output is not None:
            _write(record_path(request.output), report.to_json() + "\n")
        log(f"packed {size} bytes into {output} in {report.build_seconds:.1f} s")
        return report


def _build_image(
    request: BuildRequest, normal: Mapping[str, Any], env_hash: str, log: Log, started: float
) -> BuildSuccess:
    """Ask the registry for the tag; else build, pack the layer, append it to the base and
    push."""
    image = request.image
    assert image is not None
    target = image.target(env_hash)
    if not request.force:
        reused = _existing_image(image, env_hash, log)
        if reused is not None:
            return reused
    log(f"building environment {env_hash} for {target}")
    with _environment(request, normal, env_hash, log) as (work, prefix):
        layer = work / f"{env_hash}.layer.tar.gz"
        try:
            size = _pack(prefix, layer, log, under=f"{ENV_ROOT_IN_IMAGE}/{env_hash}")
            log(f"crane append {image.base} + {size} bytes -> {target}")
            digest = image.crane.append(image.base, str(layer), target)
        finally:
            layer.unlink(missing_ok=True)
        artifact = ImageArtifact(image.repository, target.rpartition(":")[2], digest)
        seconds = round(time.monotonic() - started, 3)
        log(f"pushed {artifact} (layer {size} bytes) in {seconds:.1f} s")
        return BuildSuccess(env_hash, str(artifact), size, seconds)


def build(request: BuildRequest, log: Log = print) -> tuple[BuildReport, ExitCode]:
    """Build (or find) the environment; the report and the exit code to end with."""
    started = time.monotonic()
    try:
        return _build(request, log, started), ExitCode.OK
    except BuildError as error:
        return BuildFailure(error.reason, error.message), error.exit_code
