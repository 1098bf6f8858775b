"""The build plan: the commands and downloads that turn a normal-form spec into an
environment directory (the prefix). Pure: it runs nothing.

* conda part: ``micromamba create`` of the prefix from the spec's channels (in priority order,
  no others) and packages;
* pip part: into that prefix's Python when there is a conda part, else into a relocatable
  ``uv venv`` made with the builder's Python; always ``uv pip install``;
* git part: a clone into ``<prefix>/<VARIABLE>``, checked out at ``ref`` when given;
* http part: a download into ``<prefix>/<VARIABLE>`` (unpacked when ``type`` is ``tar``).

Each git/http entry's variable is set to its path when a task runs (see activation), as Poncho
does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Tools:
    """The programs a build runs, and where they keep their caches."""

    uv: str = "uv"
    micromamba: str = "micromamba"
    git: str = "git"
    python: str = "python3"
    """The interpreter of a pip-only environment (a venv links to it)."""
    cache_dir: Path | None = None
    """uv's and micromamba's package caches (their defaults when None)."""


@dataclass(frozen=True)
class Command:
    """A program to run; a non-zero exit fails the build with ``reason``."""

    what: str
    argv: tuple[str, ...]
    reason: str
    permanent: bool
    """Whether a failure is the spec's fault (the same spec fails again), not the moment's."""
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Download:
    """An http(s) file fetched to ``target`` (a directory when it is unpacked)."""

    variable: str
    url: str
    target: Path
    unpack: bool
    """``type: tar``: ``target`` is a directory holding the archive's contents."""
    gunzip: bool
    """``compression: gzip`` on a plain file: ``target`` is the decompressed file."""


Step = Command | Download


def conda_commands(conda: Mapping[str, Any], prefix: Path, tools: Tools) -> list[Command]:
    argv = [tools.micromamba, "create", "--yes", "--prefix", str(prefix), "--override-channels"]
    for channel in conda["channels"]:
        argv += ["--channel", channel]
    argv += list(conda["dependencies"])
    env = {"MAMBA_NO_BANNER": "1"}
    if tools.cache_dir is not None:
        env["MAMBA_ROOT_PREFIX"] = str(tools.cache_dir / "mamba")
    return [Command("conda", tuple(argv), "CondaInstallFailed", permanent=True, env=env)]


def pip_commands(
    requirements: list[str], prefix: Path, tools: Tools, *, has_conda: bool
) -> list[Command]:
    # COLUMNS: uv wraps its diagnostics at the terminal's width; a report wants whole lines.
    env = {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1", "COLUMNS": "10000"}
    if tools.cache_dir is not None:
        env["UV_CACHE_DIR"] = str(tools.cache_dir / "uv")
    commands = []
    if not has_conda:
        venv = (tools.uv, "venv", "--relocatable", "--python", tools.python, str(prefix))
        commands.append(Command("venv", venv, "VenvFailed", permanent=False, env=env))
    install = (tools.uv, "pip", "install", "--python", str(prefix / "bin" / "python"))
    commands.append(
        Command("pip", (*install, *requirements), "PipInstallFailed", permanent=True, env=env)
    )
    return commands


def git_commands(
    variable: str, entry: Mapping[str, str], prefix: Path, tools: Tools
) -> list[Command]:
    target = str(prefix / variable)
    env = {"GIT_TERMINAL_PROMPT": "0"}
    commands = [
        Command(
            "git",
            (tools.git, "clone", "--quiet", entry["remote"], target),
            "GitFetchFailed",
            permanent=False,
            env=env,
        )
    ]
    if "ref" in entry:
        checkout = (tools.git, "-C", target, "checkout", "--quiet", entry["ref"])
        commands.append(Command("git", checkout, "GitRefNotFound", permanent=True, env=env))
    return commands


def http_download(variable: str, entry: Mapping[str, str], prefix: Path) -> Download:
    unpack = entry.get("type") == "tar"
    return Download(
        variable=variable,
        url=entry["url"],
        target=prefix / variable,
        unpack=unpack,
        gunzip=not unpack and entry.get("compression") == "gzip",
    )


def build_plan(spec: Mapping[str, Any], prefix: Path, tools: Tools) -> list[Step]:
    """The steps that make ``prefix`` from a normal-form spec, in order. Without conda or pip
    parts the prefix is a plain directory made by the builder."""
    steps: list[Step] = []
    conda = spec.get("conda")
    if conda is not None:
        steps += conda_commands(conda, prefix, tools)
    if spec.get("pip"):
        steps += pip_commands(list(spec["pip"]), prefix, tools, has_conda=conda is not None)
    for variable, entry in sorted((spec.get("git") or {}).items()):
        steps += git_commands(variable, entry, prefix, tools)
    for variable, entry in sorted((spec.get("http") or {}).items()):
        steps.append(http_download(variable, entry, prefix))
    return steps


def variables(spec: Mapping[str, Any]) -> list[str]:
    """The environment variables a task sees, each naming a git/http entry's path."""
    return sorted({*(spec.get("git") or {}), *(spec.get("http") or {})})
