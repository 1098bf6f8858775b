"""Build time of a pip environment: the PonchoEnv builder (uv venv + uv pip install + tarball)
against a plain ``python -m venv`` + ``pip install`` of the same packages, in the same run.

Each round runs both, in alternating order, with cold caches (a fresh cache directory for uv,
``--no-cache-dir`` for pip) and then with warm ones (the same cache directory again; pip's
cache filled by a first warm-up install). Wall time of the whole command, so the builder pays
for its CLI start and for packing the tarball, which plain pip does not do.

    .venv/bin/python bench/bench_env_build.py [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = REPO / ".venv" / "bin" / "workqueue-operator"
PACKAGES = [
    "requests==2.32.3",
    "six==1.16.0",
    "tomli==2.0.1",
    "attrs==23.2.0",
    "packaging==24.1",
]


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return elapsed, result.stdout


def builder(work: Path, cache: Path) -> tuple[float, float]:
    """(wall seconds, the builder's own build_seconds)."""
    output = work / "env.tar.gz"
    spec = json.dumps({"pip": PACKAGES})
    command = [str(CLI), "build-env", "--spec-json", spec, "--output", str(output), "--force",
               "--work-dir", str(work / "build"), "--cache-dir", str(cache)]  # fmt: skip
    elapsed, stdout = timed(command)
    report = json.loads(stdout.strip().splitlines()[-1])
    return elapsed, float(report["build_seconds"])


def plain_pip(work: Path, cache: Path | None) -> float:
    venv = work / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    cache_args = ["--no-cache-dir"] if cache is None else ["--cache-dir", str(cache)]
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
         *cache_args, *PACKAGES],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - started


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    args = parser.parse_args()
    results: dict[str, list[float]] = {
        "builder cold (wall)": [],
        "builder cold (build_seconds)": [],
        "pip cold": [],
        "builder warm (wall)": [],
        "builder warm (build_seconds)": [],
        "pip warm": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-env-") as scratch:
        root = Path(scratch)
        pip_cache = root / "pip-cache"
        plain_pip(root / "warmup", pip_cache)  # fills pip's warm cache
        uv_cache = root / "uv-warm"
        builder(root / "warmup-b", uv_cache)  # fills uv's warm cache
        for index in range(args.rounds):
            order = ["builder", "pip"] if index % 2 == 0 else ["pip", "builder"]
            for which in order:
                work = root / f"{which}-{index}"
                work.mkdir()
                if which == "builder":
                    wall, own = builder(work, root / f"uv-cold-{index}")
                    results["builder cold (wall)"].append(wall)
                    results["builder cold (build_seconds)"].append(own)
                    wall, own = builder(work, uv_cache)
                    results["builder warm (wall)"].append(wall)
                    results["builder warm (build_seconds)"].append(own)
                else:
                    results["pip cold"].append(plain_pip(work, None))
                    results["pip warm"].append(plain_pip(work, pip_cache))
                shutil.rmtree(work)
    print(f"packages: {' '.join(PACKAGES)}; rounds: {args.rounds}; python {sys.version.split()[0]}")
    for name, values in results.items():
        print(f"  {name:30s} {summary(values)}")
    if args.json is not None:
        args.json.write_text(json.dumps({"packages": PACKAGES, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
