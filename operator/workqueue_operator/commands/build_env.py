"""``workqueue-operator build-env``: build a Poncho spec into an environment tarball.

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

from workqueue_operator.envs.builder import BuildRequest, build
from workqueue_operator.envs.plan import Tools
from workqueue_operator.envs.result import BuildFailure, BuildReport, ExitCode

TERMINATION_LOG = Path("/dev/termination-log")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "build-env",
        help="build a Poncho spec into a relocatable environment tarball (the build Job)",
        description="Build a Poncho JSON spec (conda via micromamba, pip via uv, git, http) into "
        "a tarball with a bin/run-in-env wrapper. A tarball already there for the same hash is "
        "reused.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec", metavar="FILE|-", help="the Poncho spec (JSON), - for stdin")
    source.add_argument("--spec-json", metavar="JSON", help="the Poncho spec as a JSON string")
    parser.add_argument("--output", type=Path, metavar="DIR/HASH.tar.gz", help="tarball path")
    parser.add_argument("--upload", metavar="URL", help="PUT the tarball to this http(s) URL")
    parser.add_argument("--artifact", help="location to report (default: --output or --upload)")
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
    parser.add_argument("--force", action="store_true", help="build even if the tarball exists")
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


def run(args: argparse.Namespace) -> int:
    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    report: BuildReport
    try:
        spec = read_spec(args)
    except (OSError, ValueError) as error:
        report = BuildFailure("InvalidSpec", f"cannot read the spec: {error}")
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
