"""``workqueue-operator build-env``: build a Poncho spec into an environment tarball or image.

What the PonchoEnv build Job runs (in the builder image); also usable by hand. It ends by
writing its report (JSON) to stdout and to the termination-message file, and exits 0 (built or
found), 1 (may pass on retry), 2 (bad spec) or 3 (an installer refused the spec).
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from workqueue_operator.envs.builder import BuildRequest, ImageRequest, build
from workqueue_operator.envs.plan import Tools
from workqueue_operator.envs.registry import Crane, default_platform
from workqueue_operator.envs.result import BuildFailure, BuildReport, ExitCode

TERMINATION_LOG = Path("/dev/termination-log")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "build-env",
        help="build a Poncho spec into an environment tarball or image (the build Job)",
        description="Build a Poncho JSON spec (conda via micromamba, pip via uv, git, http) into "
        "a tarball with a bin/run-in-env wrapper, or into an image: the base image plus one "
        "layer holding the environment at /opt/poncho/HASH, pushed with crane to "
        "REPOSITORY:HASH-BASEID. A tarball or image already there for the same hash is reused.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec", metavar="FILE|-", help="the Poncho spec (JSON), - for stdin")
    source.add_argument("--spec-json", metavar="JSON", help="the Poncho spec as a JSON string")
    parser.add_argument("--output", type=Path, metavar="DIR/HASH.tar.gz", help="tarball path")
    parser.add_argument("--upload", metavar="URL", help="PUT the tarball to this http(s) URL")
    parser.add_argument("--artifact", help="location to report (default: --output or --upload)")
    parser.add_argument(
        "--image-repository",
        metavar="REPOSITORY",
        help="push an image to REPOSITORY:HASH-BASEID instead of writing a tarball "
        "(credentials: $DOCKER_CONFIG/config.json)",
    )
    parser.add_argument("--base-image", metavar="REF", help="the image's base (with --image-...)")
    parser.add_argument(
        "--insecure-registry",
        action="store_true",
        help="allow plain HTTP or an unverified certificate (crane --insecure)",
    )
    parser.add_argument("--crane", default="crane", help="crane executable")
    parser.add_argument(
        "--platform",
        default=None,
        help=f"platform picked from a manifest-list base (default: {default_platform()})",
    )
    parser.add_argument("--expect-hash", metavar="HASH", help="fail unless the spec has this hash")
    parser.add_argument(
        "--work-dir", type=Path, help="build in WORK_DIR/HASH (default: a temporary directory)"
    )
    parser.add_argument("--python", default="python3", help="interpreter of pip-only envs")
    parser.add_argument("--uv", default=None, help="uv executable (default: the uv package's)")
    parser.add_argument("--micromamba", default="micromamba", help="micromamba executable")
    parser.add_argument("--cache-dir", type=Path, help="package caches (uv, micromamba)")
    parser.add_argument(
        "--termination-log",
        type=Path,
        default=None,
        help=f"where to write the report for Kubernetes (default: {TERMINATION_LOG} if present)",
    )
    parser.add_argument(
        "--force", action="store_true", help="build even if the tarball or image exists"
    )
    parser.set_defaults(func=run)


def find_uv() -> str:
    """uv from the ``uv`` package when it is installed (the builder extra), else from PATH."""
    try:
        module = importlib.import_module("uv")
    except ImportError:
        return shutil.which("uv") or "uv"
    return str(module.find_uv_bin())


def read_spec(args: argparse.Namespace) -> Any:
    if args.spec_json is not None:
        return json.loads(args.spec_json)
    if args.spec == "-":
        return json.load(sys.stdin)
    return json.loads(Path(args.spec).read_text())


def write_termination_log(path: Path | None, text: str) -> None:
    """The report where Kubernetes reads it: the given path, or /dev/termination-log when the
    kubelet made one (never created elsewhere)."""
    target = path if path is not None else TERMINATION_LOG if TERMINATION_LOG.exists() else None
    if target is None:
        return
    try:
        target.write_text(text)
    except OSError as error:
        print(f"build-env: cannot write {target}: {error}", file=sys.stderr)


def image_request(args: argparse.Namespace) -> ImageRequest | None:
    """The image to push, from --image-repository and --base-image."""
    if args.image_repository is None:
        return None
    if not args.base_image:
        raise ValueError("--image-repository needs --base-image")
    crane = Crane(program=args.crane, insecure=args.insecure_registry, platform=args.platform)
    return ImageRequest(repository=args.image_repository, base=args.base_image, crane=crane)


def run(args: argparse.Namespace) -> int:
    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    report: BuildReport
    try:
        spec = read_spec(args)
        image = image_request(args)
    except (OSError, ValueError) as error:
        report = BuildFailure("InvalidSpec", f"cannot read the request: {error}")
        code = ExitCode.BAD_SPEC
    else:
        tools = Tools(
            uv=args.uv or find_uv(),
            micromamba=args.micromamba,
            python=args.python,
            cache_dir=args.cache_dir,
        )
        request = BuildRequest(
            spec=spec,
            output=args.output,
            upload_url=args.upload,
            image=image,
            artifact=args.artifact,
            expect_hash=args.expect_hash,
            work_dir=args.work_dir,
            tools=tools,
            force=args.force,
        )
        try:
            report, code = build(request, log)
        except Exception as error:  # any crash still leaves a report
            report = BuildFailure("BuilderError", f"{type(error).__name__}: {error}")
            code = ExitCode.TRANSIENT
    text = report.to_json()
    write_termination_log(args.termination_log, text)
    print(text, flush=True)
    return int(code)
