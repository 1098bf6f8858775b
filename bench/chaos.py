"""Fault injection, measured: named scenarios against the operator with real CCTools managers
and workers, each for Work Queue and TaskVine, and one table of what happened to the tasks and
the pods, every figure from the manager's own records and the apiserver (docs/reliability.md).

    .venv/bin/python bench/chaos.py [--quick] [--scenario NAME ...] [--framework WorkQueue|TaskVine]
        [--json out.json] [--workdir DIR] [--keep] [scenario size flags, see --help]

Scenarios on KWOK nodes run on a control plane of the runner's own (its own state directory and
ports, torn down at the end); manager-restart runs on the shared cluster's real node, in a
namespace of its own. Exit status 0 when every scenario met its expectations, 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for entry in (REPO, REPO / "bench"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from tests.cctools.install import missing_cctools, use_cctools_build  # noqa: E402

from faults.bed import log  # noqa: E402
from faults.context import RunContext  # noqa: E402
from faults.outcome import Row, begin, end, load_text  # noqa: E402
from faults.scenarios import ALL  # noqa: E402
from faults.table import render  # noqa: E402
from workqueue_operator.api.common import Framework  # noqa: E402

SCENARIOS: dict[str, Any] = {m.NAME: m for m in ALL}


def size_flags(parser: argparse.ArgumentParser) -> None:
    """--<scenario>-<field> for every field of every scenario's size."""
    for name, module in SCENARIOS.items():
        group = parser.add_argument_group(name)
        for f in dataclasses.fields(module.Size):
            group.add_argument(
                f"--{name}-{f.name.replace('_', '-')}",
                type=type(f.default),
                default=None,
                help=f"default {f.default}, --quick {getattr(module.QUICK, f.name)}",
            )


def chosen_size(args: argparse.Namespace, name: str, module: Any) -> Any:
    size = module.QUICK if args.quick else module.Size()
    changes = {
        f.name: value
        for f in dataclasses.fields(module.Size)
        if (value := getattr(args, f"{name}_{f.name}".replace("-", "_"))) is not None
    }
    return dataclasses.replace(size, **changes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small sizes (for tests)")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), default=[])
    parser.add_argument("--framework", action="append", choices=[str(f) for f in Framework])
    parser.add_argument("--json", type=Path, help="write the rows here as JSON")
    parser.add_argument("--workdir", type=Path, help="logs and manager files (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep namespaces and our cluster")
    size_flags(parser)
    args = parser.parse_args(argv)
    problem = missing_cctools()
    if problem:
        print(f"chaos: {problem}", file=sys.stderr)
        return 2
    use_cctools_build()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="wq-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    frameworks = [Framework(f) for f in args.framework or [str(f) for f in Framework]]
    names = args.scenario or list(SCENARIOS)
    context = RunContext(workdir, keep=args.keep)
    command = " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])])
    log(f"chaos: {command}; work directory {workdir}; load {load_text(os.getloadavg())}")
    rows: list[Row] = []
    try:
        for name in names:
            module = SCENARIOS[name]
            size = chosen_size(args, name, module)
            for framework in frameworks:
                rows.append(
                    run_one(
                        name, framework, lambda m=module, f=framework, s=size: m.run(context, f, s)
                    )
                )
                write(args.json, rows, command)
    finally:
        context.close()
    print(render(rows), flush=True)
    return 0 if all(row.ok for row in rows) else 1


def run_one(name: str, framework: Framework, run: Callable[[], Row]) -> Row:
    log(f"== {name} / {framework}")
    failed, began = begin(name, str(framework))
    try:
        row = run()
    except Exception as error:
        failed.error = f"{type(error).__name__}: {error}"
        row = end(failed, began)
        traceback.print_exc()
    log(f"== {name} / {framework}: {'ok' if row.ok else 'FAILED'} in {row.seconds:.0f} s")
    return row


def write(path: Path | None, rows: list[Row], command: str) -> None:
    if path is None:
        return
    data = {"command": command, "rows": [row.as_dict() for row in rows]}
    path.write_text(json.dumps(data, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
