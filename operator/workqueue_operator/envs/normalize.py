"""The normal form of a Poncho spec and its content hash.

Two specs that install the same thing have the same normal form: key order, whitespace,
duplicate entries, the order of packages, the spelling of a pip project name (``Six`` and
``six``, ``typing_extensions`` and ``typing-extensions``) and where a pip list sits (top-level
``pip`` or ``conda.dependencies[{pip: [...]}]``) do not matter. Conda channel order does: it is
the channels' priority. Pure functions on plain JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

LAYOUT_VERSION = 1
"""Part of every hash: a change in how environments are built or packed changes every hash."""
DEFAULT_CONDA_CHANNELS = ("conda-forge",)
HTTP_FILE = "file"

_PIP_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*(.*)$")
_SPACES = re.compile(r"\s+")


class SpecError(ValueError):
    """The spec cannot be built (wrong types, nothing to build)."""


def canonical_project_name(name: str) -> str:
    """PEP 503: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def normalize_requirement(requirement: str) -> str:
    """One pip requirement in a canonical spelling. PEP 508 names get their canonical name,
    sorted extras and no blanks in the version part; anything else (a URL, a path, an option)
    only loses surrounding and repeated blanks."""
    text = requirement.strip()
    match = _PIP_NAME.match(text)
    if not match or text.startswith("-"):
        return _SPACES.sub(" ", text)
    name, extras, rest = match.groups()
    normal = canonical_project_name(name)
    if extras:
        items = sorted({e.strip().lower() for e in extras[1:-1].split(",") if e.strip()})
        normal += f"[{','.join(items)}]" if items else ""
    rest = rest.strip()
    if rest.startswith("@"):  # a direct reference: name @ url ; marker
        url, _, marker = rest[1:].partition(";")
        normal += f" @ {url.strip()}"
        return normal + (f" ; {_SPACES.sub(' ', marker.strip())}" if marker.strip() else "")
    version, _, marker = rest.partition(";")
    normal += _SPACES.sub("", version)
    if marker.strip():
        normal += f"; {_SPACES.sub(' ', marker.strip())}"
    return normal


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where} must be a list of strings")
    return [v for v in value if v.strip()]


def _unique(items: Iterable[str]) -> list[str]:
    """Items without repeats, first occurrence kept, order kept."""
    return list(dict.fromkeys(items))


def _conda(section: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """The conda section's normal form (None when it installs nothing) and its pip list."""
    if section is None:
        return None, []
    if not isinstance(section, Mapping):
        raise SpecError("conda must be an object")
    channels = _unique(c.strip() for c in _strings(section.get("channels"), "conda.channels"))
    packages: list[str] = []
    pip: list[str] = []
    dependencies = section.get("dependencies") or []
    if not isinstance(dependencies, list):
        raise SpecError("conda.dependencies must be a list")
    for dependency in dependencies:
        if isinstance(dependency, str):
            if dependency.strip():
                packages.append(_SPACES.sub(" ", dependency.strip()))
        elif isinstance(dependency, Mapping) and set(dependency) <= {"pip"}:
            pip += _strings(dependency.get("pip"), "conda.dependencies[].pip")
        else:
            raise SpecError(
                f"conda.dependencies has an entry that is neither a string nor "
                f"{{pip: [...]}}: {dependency!r}"
            )
    if not packages:
        return None, pip
    return {
        "channels": channels or list(DEFAULT_CONDA_CHANNELS),
        "dependencies": sorted(set(packages)),
    }, pip


def _sources(section: Any, where: str, fields: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """git or http: variable name -> the entry's non-empty string fields."""
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise SpecError(f"{where} must be an object")
    normal: dict[str, dict[str, str]] = {}
    for variable, entry in section.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(variable)):
            raise SpecError(f"{where}.{variable}: the key must be an environment variable name")
        if not isinstance(entry, Mapping):
            raise SpecError(f"{where}.{variable} must be an object")
        values = {
            key: str(entry[key]).strip()
            for key in fields
            if entry.get(key) is not None and str(entry[key]).strip()
        }
        normal[str(variable)] = values
    return normal


def normalize_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The normal form of a Poncho spec: only the sections that install something, each in its
    canonical order. Raises :class:`SpecError` when the spec is malformed or installs nothing."""
    if not isinstance(spec, Mapping):
        raise SpecError("the spec must be a JSON object")
    conda, conda_pip = _conda(spec.get("conda"))
    pip = sorted(
        {normalize_requirement(r) for r in [*_strings(spec.get("pip"), "pip"), *conda_pip]}
    )
    git = _sources(spec.get("git"), "git", ("remote", "ref"))
    http = _sources(spec.get("http"), "http", ("url", "type", "compression"))
    for variable, entry in git.items():
        if "remote" not in entry:
            raise SpecError(f"git.{variable} needs a remote")
    for variable, entry in http.items():
        if "url" not in entry:
            raise SpecError(f"http.{variable} needs a url")
        if entry.get("type") == HTTP_FILE:
            del entry["type"]
    clashes = set(git) & set(http)
    if clashes:
        raise SpecError(f"git and http both name {sorted(clashes)}")
    normal: dict[str, Any] = {}
    if conda is not None:
        normal["conda"] = conda
    if pip:
        normal["pip"] = pip
    if git:
        normal["git"] = git
    if http:
        normal["http"] = http
    if not normal:
        raise SpecError("the spec installs nothing: give conda dependencies, pip, git or http")
    return normal


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no blanks: one text per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def spec_hash(spec: Mapping[str, Any]) -> str:
    """The content hash (sha256, hex) of a spec's normal form and the layout version."""
    payload = canonical_json({"layout": LAYOUT_VERSION, "poncho": normalize_spec(spec)})
    return hashlib.sha256(payload.encode()).hexdigest()
