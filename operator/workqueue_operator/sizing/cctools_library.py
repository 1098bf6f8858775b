"""CCTools' own bucketing code (``bucketing_manager_*``), loaded with ctypes.

The shared library comes from :mod:`.cctools_link`; :class:`BucketingLibrary` binds the shim's
functions (create a manager, predict, report, seed CCTools' random generator).
"""

from __future__ import annotations

import ctypes
from functools import cache

from workqueue_operator.sizing.cctools_builds import (
    CCToolsBuild,
    CCToolsUnavailableError,
    find_build,
)
from workqueue_operator.sizing.cctools_link import library_key, plan, shared_library


class BucketingLibrary:
    """ctypes bindings of the shim's functions for one CCTools build."""

    def __init__(self, build: CCToolsBuild) -> None:
        self.build = build
        self.modes = dict(build.modes)
        self.link = plan(build)
        library = ctypes.CDLL(str(shared_library(self.link)))
        double3 = ctypes.POINTER(ctypes.c_double)
        self._create = library.wqo_create
        self._create.restype = ctypes.c_void_p
        self._create.argtypes = [ctypes.c_int, ctypes.c_int]
        self._delete = library.wqo_delete
        self._delete.restype = None
        self._delete.argtypes = [ctypes.c_void_p]
        self._seed = library.wqo_seed
        self._seed.restype = None
        self._seed.argtypes = [ctypes.c_uint64]
        self._predict = library.wqo_predict
        self._predict.restype = ctypes.c_int
        self._predict.argtypes = [ctypes.c_void_p, ctypes.c_int, double3]
        self._report = library.wqo_report
        self._report.restype = None
        self._report.argtypes = [ctypes.c_void_p, ctypes.c_int, double3, ctypes.c_int, ctypes.c_int]
        self._buffer = (ctypes.c_double * 3)()

    def create(self, mode: str, sampling_points: int = 0) -> int:
        """A new bucketing manager (an opaque handle) with CCTools' defaults.

        ``sampling_points`` > 0 replaces CCTools' 10 sampling points.
        """
        handle = self._create(self.modes[mode], sampling_points)
        if not handle:
            raise CCToolsUnavailableError(f"bucketing_manager_initialize({mode}) returned NULL")
        return int(handle)

    def delete(self, handle: int) -> None:
        """Free a manager."""
        self._delete(handle)

    def seed(self, seed: int) -> None:
        """Seed CCTools' random generator (the 64-bit Mersenne twister)."""
        self._seed(seed)

    def predict(self, handle: int, task_id: int) -> tuple[float, float, float]:
        """``bucketing_manager_predict``: cores, memory and disk for a task's next attempt."""
        if self._predict(handle, task_id, self._buffer) != 0:
            raise RuntimeError(f"bucketing_manager_predict({task_id}) returned NULL")
        cores, memory, disk = self._buffer
        return (cores, memory, disk)

    def report(
        self,
        handle: int,
        task_id: int,
        use: tuple[float, float, float],
        exceeded: int,
        success: bool,
    ) -> None:
        """``bucketing_manager_add_resource_report`` with what the monitor measured.

        ``exceeded`` is a bit mask (1 cores, 2 memory, 4 disk) of the limits that were hit.
        """
        values = (ctypes.c_double * 3)(*use)
        self._report(handle, task_id, values, exceeded, int(success))


@cache
def build_digest(version: str) -> str:
    """What identifies a build's bucketing library (:func:`.cctools_link.library_key`)."""
    return library_key(plan(find_build(version)))


@cache
def load(version: str) -> BucketingLibrary:
    """The bindings of the build of a version (linked and loaded once per process)."""
    return BucketingLibrary(find_build(version))
