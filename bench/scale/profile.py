"""Where the operator's CPU goes: py-spy samples of the operator process over a window, read
into shares of the samples (only those of the thread holding the GIL, ``--gil``: Python at work,
not a thread waiting in ``epoll_wait``; time in the kernel is not sampled).

``record`` runs ``py-spy record --format raw`` (one line per distinct stack: frames separated by
``;``, then a space and the sample count); ``summarize`` reads that file into

* the share of each of the operator's own modules, inclusive (a sample counts for every module
  on its stack once) — ``k8s/pod_cache.py`` is the pods part, ``wq/`` and the probes the
  manager polls;
* the share of the parts the scale issue asks about (``PARTS``), inclusive, first match wins;
* the top frames by self samples (where the interpreter actually was).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# A frame as py-spy writes it: "function (path/to/module.py:line)".
FRAME = re.compile(r"^(?P<function>.*?) \((?P<path>[^():]+?)(?::(?P<line>\d+))?\)$")
PACKAGE = "workqueue_operator/"

# The parts of the operator's work, by a module or function on a sample's stack; the first part
# that matches a sample takes it (a probe runs inside its object's loop, so probes come first).
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pod watch and cache", ("k8s/pod_cache.py",)),
    ("metrics scrape", ("prometheus_client/",)),
    ("probes between passes", ("wait_for_next_pass",)),
    ("full passes", ("run_object", "workqueue_operator/scaling/", "workqueue_operator/sizing/")),
    ("kopf (watches, its own tasks)", ("kopf/",)),
)


@dataclass
class Profile:
    samples: int = 0
    modules: dict[str, float] = field(default_factory=dict)  # share of samples, inclusive
    parts: dict[str, float] = field(default_factory=dict)
    top_self: list[tuple[str, float]] = field(default_factory=list)


def py_spy() -> str | None:
    """py-spy beside this Python (the dev extra installs it), else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, output: Path, rate: int = 200) -> subprocess.Popen[bytes]:
    """Starts sampling ``pid`` for ``seconds``; the caller waits for the returned process."""
    binary = py_spy()
    if binary is None:
        raise RuntimeError("py-spy not found: install it with .venv/bin/pip install py-spy")
    return subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--gil",
            "--nonblocking",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def frames(stack: str) -> list[tuple[str, str]]:
    """(function, path) of each frame of one raw stack, outermost first."""
    out = []
    for raw in stack.split(";"):
        match = FRAME.match(raw.strip())
        out.append((match["function"], match["path"]) if match else (raw.strip(), ""))
    return out


def module_of(path: str) -> str | None:
    index = path.find(PACKAGE)
    return path[index + len(PACKAGE) :] if index >= 0 else None


def part_of(stack: list[tuple[str, str]]) -> str:
    """The part a sample belongs to, judged on the frames the event loop is running (those after
    its last ``_run_once``: every sample of the main thread has kopf's start-up below that)."""
    runs = [i for i, (function, _p) in enumerate(stack) if function.endswith("._run_once")]
    running = stack[runs[-1] + 1 :] if runs else stack
    for name, needles in PARTS:
        for function, path in running:
            if any(n in path or n == function for n in needles):
                return name
    if runs:
        return "event loop (I/O callbacks, timers, select)"
    if stack and stack[0][0].endswith("._bootstrap"):
        return "other threads"
    return "stack cut short (py-spy read it while it changed)"


def summarize(raw: str, top: int = 15) -> Profile:
    profile = Profile()
    modules: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    self_frames: Counter[str] = Counter()
    for line in raw.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        stack = frames(stack_text)
        profile.samples += count
        for module in {m for _f, p in stack if (m := module_of(p))}:
            modules[module] += count
        parts[part_of(stack)] += count
        function, path = stack[-1]
        self_frames[f"{function} ({path.rsplit('site-packages/', 1)[-1]})"] += count
    total = profile.samples or 1
    profile.modules = {m: c / total for m, c in modules.most_common()}
    profile.parts = {p: c / total for p, c in parts.most_common()}
    profile.top_self = [(f, c / total) for f, c in self_frames.most_common(top)]
    return profile


def report(profile: Profile, cpu_s: float, seconds: float) -> str:
    """The profile as lines, each share also as that share of the window's CPU seconds a minute
    (an estimate: the kernel's part of the CPU is spread like the Python's)."""
    per_min = cpu_s * 60 / seconds if seconds else 0.0
    lines = [f"{profile.samples} samples holding the GIL; the window's CPU {per_min:.2f} s/min"]
    lines.append("parts (inclusive, first match):")
    lines += [
        f"  {share:6.1%}  {share * per_min:5.2f} s/min  {p}" for p, share in profile.parts.items()
    ]
    lines.append("operator modules (inclusive):")
    lines += [
        f"  {share:6.1%}  {share * per_min:5.2f} s/min  {m}"
        for m, share in list(profile.modules.items())[:20]
    ]
    lines.append("top frames (self):")
    lines += [f"  {share:6.1%}  {f}" for f, share in profile.top_self]
    return "\n".join(lines)
