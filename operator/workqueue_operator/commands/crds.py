"""``workqueue-operator crds``: print the CRDs, or write them into a folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from workqueue_operator.api.crd import KINDS, render, write_all


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "crds",
        help="print the CustomResourceDefinitions (or write them with --write DIR)",
        description="Print the CRDs generated from the API models as one YAML stream.",
    )
    parser.add_argument(
        "--write", metavar="DIR", type=Path, help="write one file per CRD into DIR instead"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.write is not None:
        for path in write_all(args.write):
            print(f"wrote {path}")
        return 0
    sys.stdout.write("---\n".join(render(kind) for kind in KINDS))
    return 0
