"""Link CCTools' bucketing code into a shared library that ctypes can load.

The static ``libdttools.a`` cannot be loaded as it is, so a shared library is linked from it
with a small C shim (:data:`SHIM_SOURCE`, which only moves numbers in and out of
``struct rmsummary``)::

    gcc -O2 -shared -fPIC -I PREFIX/include/cctools -o libwqo_bucketing.so shim.c \\
        [bucketing*.c list.c] -Wl,-u,<each needed symbol> PREFIX/lib/libdttools.a \\
        -lssl -lcrypto -lz -lm

(``--whole-archive`` would drag in objects with unresolved symbols.) CCTools' own build
compiles without optimisation (``-g`` only), and its greedy modes rebucket every point after
every task, so when the build's source archive is found the files of the bucketing code
(``dttools/src/bucketing*.c`` and the ``list.c`` they walk, unchanged) are compiled in with
``-O2``, the rest still coming from ``libdttools.a``: the same code and the same results (no
fast-math), about 3.5 times faster. Without the archive the library's own objects are used.
The result is cached under ``${WQ_CACHE_DIR}/cctools-bucketing/<version>-<key>/``, keyed by
the static library's and the source archive's content, the shim and the command.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from workqueue_operator.sizing.cctools_builds import (
    CCToolsBuild,
    CCToolsUnavailableError,
    cache_dir,
    source_archive,
)

SHIM_SOURCE = r"""
#include <stdint.h>
#include "bucketing_manager.h"
#include "rmsummary.h"

void twister_init_genrand64(uint64_t seed);

static const char *NAMES[3] = {"cores", "memory", "disk"};

/* A manager with CCTools' defaults; sampling_points > 0 overrides the sampling points of
 * cores, memory and disk. The traces have no GPUs, so that resource type is removed. */
void *wqo_create(int mode, int sampling_points)
{
	bucketing_manager_t *m = bucketing_manager_initialize((bucketing_mode_t)mode);
	bucketing_manager_remove_resource_type(m, "gpus");
	for (int i = 0; sampling_points > 0 && i < 3; i++)
		bucketing_manager_tune_by_resource(m, NAMES[i], "num_sampling_points", &sampling_points);
	return m;
}

void wqo_delete(void *m) { bucketing_manager_delete((bucketing_manager_t *)m); }

void wqo_seed(uint64_t seed) { twister_init_genrand64(seed); }

int wqo_predict(void *m, int task_id, double *out)
{
	struct rmsummary *r = bucketing_manager_predict((bucketing_manager_t *)m, task_id);
	if (!r)
		return -1;
	for (int i = 0; i < 3; i++)
		out[i] = rmsummary_get(r, NAMES[i]);
	rmsummary_delete(r);
	return 0;
}

/* What the monitor measured; exceeded is a bit mask of the resources over their limit. */
void wqo_report(void *m, int task_id, const double *use, int exceeded, int success)
{
	struct rmsummary *r = rmsummary_create(-1);
	for (int i = 0; i < 3; i++)
		rmsummary_set(r, NAMES[i], use[i]);
	if (exceeded) {
		r->limits_exceeded = rmsummary_create(-1);
		for (int i = 0; i < 3; i++)
			if (exceeded & (1 << i))
				rmsummary_set(r->limits_exceeded, NAMES[i], use[i]);
	}
	bucketing_manager_add_resource_report((bucketing_manager_t *)m, task_id, r, success);
	rmsummary_delete(r);
}
"""
NEEDED_SYMBOLS = (
    "bucketing_manager_initialize",
    "bucketing_manager_remove_resource_type",
    "bucketing_manager_tune_by_resource",
    "bucketing_manager_delete",
    "bucketing_manager_predict",
    "bucketing_manager_add_resource_report",
    "twister_init_genrand64",
    "rmsummary_create",
    "rmsummary_delete",
    "rmsummary_get",
    "rmsummary_set",
)
LINK_LIBRARIES = ("-lssl", "-lcrypto", "-lz", "-lm")


COMPILE_FLAGS = ("-O2", "-shared", "-fPIC")
SOURCE_NAMES = ("bucketing", "list.")
"""Files of ``dttools/src`` compiled in when the source archive is found."""


@dataclass(frozen=True, slots=True)
class LinkPlan:
    """What goes into a build's shared library."""

    build: CCToolsBuild
    sources: Path | None
    """The source archive whose bucketing files are compiled in, or None."""

    @property
    def description(self) -> str:
        """One line on where the code comes from, for reports."""
        if self.sources is None:
            return f"CCTools {self.build.version}: libdttools.a as built (no optimisation)"
        return (
            f"CCTools {self.build.version}: bucketing*.c and list.c from {self.sources.name} "
            "compiled with -O2, the rest from libdttools.a"
        )


def plan(build: CCToolsBuild) -> LinkPlan:
    """The link plan of a build (its sources compiled in when the archive is here)."""
    return LinkPlan(build, source_archive(build))


def file_digest(path: Path, digest: hashlib._Hash) -> None:
    """Feed a file's content to a digest."""
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def library_key(link: LinkPlan) -> str:
    """Cache key of a shared library: the archives' content, the shim, the command."""
    digest = hashlib.sha256()
    file_digest(link.build.archive, digest)
    if link.sources is not None:
        file_digest(link.sources, digest)
    for part in (SHIM_SOURCE, *COMPILE_FLAGS, *SOURCE_NAMES, *NEEDED_SYMBOLS, *LINK_LIBRARIES):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:16]


def extract_sources(archive: Path, directory: Path) -> list[Path]:
    """Extract ``dttools/src``'s headers, bucketing files and ``list.c``; the C files to compile."""
    wanted = []
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            name = parts[-1]
            in_dttools = member.isfile() and parts[-3:-1] == ["dttools", "src"]
            compiled = name.startswith(SOURCE_NAMES) and name.endswith(".c")
            if in_dttools and (compiled or name.endswith(".h")):
                member.name = name
                tar.extract(member, directory, filter="data")
                wanted.append(directory / name)
    return sorted(p for p in wanted if p.suffix == ".c" and not p.stem.endswith("_test"))


def link_command(link: LinkPlan, shim: Path, sources: list[Path], output: Path) -> list[str]:
    """The gcc command that builds the shared library."""
    include = [f"-I{shim.parent / 'src'}"] if sources else []
    return [
        "gcc",
        *COMPILE_FLAGS,
        *include,
        f"-I{link.build.include}",
        "-o",
        str(output),
        str(shim),
        *map(str, sources),
        *(f"-Wl,-u,{symbol}" for symbol in NEEDED_SYMBOLS),
        str(link.build.archive),
        *LINK_LIBRARIES,
    ]


def shared_library(link: LinkPlan) -> Path:
    """The shared library of a link plan, built once and cached."""
    directory = cache_dir() / "cctools-bucketing" / f"{link.build.version}-{library_key(link)}"
    output = directory / "libwqo_bucketing.so"
    if output.is_file():
        return output
    if shutil.which("gcc") is None:
        raise CCToolsUnavailableError(
            "gcc is not installed: it links CCTools' static libdttools.a into a shared library"
        )
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "shim.c"
    shim.write_text(SHIM_SOURCE)
    sources = [] if link.sources is None else extract_sources(link.sources, directory / "src")
    partial = directory / f"libwqo_bucketing.so.{os.getpid()}.part"
    command = link_command(link, shim, sources, partial)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise CCToolsUnavailableError(
            f"linking CCTools {link.build.version}'s bucketing code failed (gcc exit "
            f"{done.returncode}):\n{tail}"
        )
    partial.replace(output)
    return output
