"""CCTools builds on this machine, and the bucketing modes each one has.

A CCTools build is an install prefix made by ``scripts/cctools.sh`` (7.17.1) or
``scripts/cctools.sh devel`` (the devel head): ``${WQ_CACHE_DIR:-~/.cache/workqueue-operator}
/cctools-<version>/`` with ``lib/libdttools.a`` and ``include/cctools/bucketing*.h``. The modes
are read from its ``bucketing.h``. Its source archive, when one is found beside the clone
(``../shared/vendor/cctools-<version>-src.tar.gz``, or in ``WQ_VENDOR_DIR``), lets the
bucketing code be compiled with optimisation (:mod:`.cctools_link`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
HOW_TO_BUILD = (
    "build CCTools with scripts/cctools.sh (7.17.1) and scripts/cctools.sh devel (the devel "
    "head, which adds det-greedy, det-exhaustive and quantized)"
)
MODE_NAMES = {
    "BUCKETING_MODE_GREEDY": "greedy",
    "BUCKETING_MODE_EXHAUSTIVE": "exhaustive",
    "BUCKETING_MODE_DET_GREEDY": "det-greedy",
    "BUCKETING_MODE_DET_EXHAUSTIVE": "det-exhaustive",
    "BUCKETING_MODE_QUANTIZED": "quantized",
}
"""CCTools' enum names -> the mode names used here."""


class CCToolsUnavailableError(RuntimeError):
    """No usable CCTools build; the message says why and how to get one."""


@dataclass(frozen=True, slots=True)
class CCToolsBuild:
    """One CCTools install prefix and the bucketing modes its headers declare."""

    version: str
    prefix: Path
    modes: tuple[tuple[str, int], ...]
    """(mode name, enum value) in declaration order."""

    @property
    def archive(self) -> Path:
        """The static library holding the bucketing code."""
        return self.prefix / "lib" / "libdttools.a"

    @property
    def include(self) -> Path:
        """Where CCTools' headers are."""
        return self.prefix / "include" / "cctools"

    @property
    def is_devel(self) -> bool:
        """Whether this is a development head rather than a release."""
        return self.version.startswith("devel")


def cache_dir() -> Path:
    """``WQ_CACHE_DIR``, else ``~/.cache/workqueue-operator`` (as ``scripts/cctools.sh``)."""
    configured = os.environ.get("WQ_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "workqueue-operator"


def bucketing_modes(header: str) -> tuple[tuple[str, int], ...]:
    """The modes of ``bucketing_mode_t`` in the text of ``bucketing.h``, with their values."""
    match = re.search(r"typedef\s+enum\s*\{([^}]*)\}\s*bucketing_mode_t\s*;", header)
    if match is None:
        return ()
    body = re.sub(r"/\*.*?\*/|//[^\n]*", "", match.group(1), flags=re.DOTALL)
    modes = []
    value = 0
    for entry in (item.strip() for item in body.split(",")):
        if not entry:
            continue
        name, _, explicit = (part.strip() for part in entry.partition("="))
        value = int(explicit, 0) if explicit else value
        if name in MODE_NAMES:
            modes.append((MODE_NAMES[name], value))
        value += 1
    return tuple(modes)


def find_builds(root: Path | None = None) -> list[CCToolsBuild]:
    """CCTools builds under ``root`` (default :func:`cache_dir`): releases first, devel last."""
    builds = []
    for archive in sorted((root or cache_dir()).glob("cctools-*/lib/libdttools.a")):
        prefix = archive.parents[1]
        header = prefix / "include" / "cctools" / "bucketing.h"
        if not (prefix / "include" / "cctools" / "bucketing_manager.h").is_file():
            continue
        modes = bucketing_modes(header.read_text(errors="replace")) if header.is_file() else ()
        if modes:
            builds.append(CCToolsBuild(prefix.name.removeprefix("cctools-"), prefix, modes))
    return sorted(builds, key=lambda b: (b.is_devel, b.version))


def find_build(version: str) -> CCToolsBuild:
    """The build of a version (:class:`CCToolsUnavailableError` when there is none)."""
    for build in find_builds():
        if build.version == version:
            return build
    raise CCToolsUnavailableError(f"no CCTools {version} build under {cache_dir()}: {HOW_TO_BUILD}")


def vendor_dirs() -> list[Path]:
    """Where source archives may be: ``WQ_VENDOR_DIR``, then ``../shared/vendor``."""
    configured = os.environ.get("WQ_VENDOR_DIR")
    return [Path(configured)] if configured else [REPO.parent / "shared" / "vendor"]


def source_archive(build: CCToolsBuild) -> Path | None:
    """The source archive the build was made from, if it is on this machine."""
    for directory in vendor_dirs():
        path = directory / f"cctools-{build.version}-src.tar.gz"
        if path.is_file():
            return path
    return None
