"""The table: one row per figure, a column per system and size, and the slopes (least squares
over the sizes: per pool, and per 1,000 pods)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from bench.scale.common import SizeResult

Figure = Callable[[SizeResult], float | None]


def phase_figure(phase: str, attr: str) -> Figure:
    def get(result: SizeResult) -> float | None:
        found = result.phases.get(phase)
        return None if found is None else float(getattr(found, attr))

    return get


def per_min(phase: str, attr: str) -> Figure:
    def get(result: SizeResult) -> float | None:
        found = result.phases.get(phase)
        if found is None:
            return None
        return float(getattr(found, attr)) * 60 / found.seconds

    return get


def requests_matching(phase: str, test: Callable[[str], bool], rate: bool = True) -> Figure:
    def get(result: SizeResult) -> float | None:
        found = result.phases.get(phase)
        if found is None:
            return None
        count = sum(n for key, n in found.requests.items() if test(key))
        return count * 60 / found.seconds if rate else float(count)

    return get


def prom(phase: str, key: str, rate: bool = False) -> Figure:
    def get(result: SizeResult) -> float | None:
        found = result.phases.get(phase)
        if found is None or found.prometheus.get(key) is None:
            return None
        value = float(found.prometheus[key] or 0.0)
        return value * 60 / found.seconds if rate else value

    return get


def peak_rss(result: SizeResult) -> float | None:
    peaks = [p.rss_peak_mb for p in result.phases.values()]
    return max(peaks) if peaks else None


def ramp_time(result: SizeResult) -> float | None:
    return None if result.ramp is None else result.ramp.all_exist_s


def ramp_running(result: SizeResult) -> float | None:
    return None if result.ramp is None else result.ramp.all_running_s


def reaction(q: float) -> Figure:
    def get(result: SizeResult) -> float | None:
        values = sorted(v for v in result.reaction_s if v is not None)
        if not values:
            return None
        if q == 0.5:
            return statistics.median(values)
        return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]

    return get


def is_write(key: str) -> bool:
    return key.split(maxsplit=1)[0] in ("create", "update", "patch", "delete", "deletecollection")


def is_pod(key: str) -> bool:
    return key.split()[1].startswith("pods")


def is_status_write(key: str) -> bool:
    return is_write(key) and key.endswith("/status")


FIGURES: list[tuple[str, Figure]] = [
    ("RSS peak (MB)", peak_rss),
    ("RSS steady (MB)", phase_figure("steady", "rss_end_mb")),
    ("CPU idle (s/min)", per_min("idle", "cpu_s")),
    ("CPU ramp (s)", phase_figure("ramp", "cpu_s")),
    ("CPU steady (s/min)", per_min("steady", "cpu_s")),
    ("API requests idle (/min)", requests_matching("idle", lambda _k: True)),
    ("API requests ramp", requests_matching("ramp", lambda _k: True, rate=False)),
    ("API requests steady (/min)", requests_matching("steady", lambda _k: True)),
    ("  of which pods (/min)", requests_matching("steady", is_pod)),
    ("API writes steady (/min)", requests_matching("steady", is_write)),
    ("status writes steady (/min)", requests_matching("steady", is_status_write)),
    ("status writes idle (/min)", requests_matching("idle", is_status_write)),
    ("passes steady (/min)", prom("steady", "passes", rate=True)),
    ("passes idle (/min)", prom("idle", "passes", rate=True)),
    ("probes, pools and managers, steady (/min)", prom("steady", "probes", rate=True)),
    ("probes, pools and managers, idle (/min)", prom("idle", "probes", rate=True)),
    ("  of which changed, steady (/min)", prom("steady", "probes_changed", rate=True)),
    ("0 -> all pods exist (s)", ramp_time),
    ("0 -> all pods Running (s)", ramp_running),
    ("reaction median (s)", reaction(0.5)),
    ("reaction p90 (s)", reaction(0.9)),
]


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x."""
    if len(points) < 2:
        return None
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    den = sum((x - mx) ** 2 for x, _ in points)
    if den == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / den


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(results: Sequence[SizeResult]) -> str:
    """The figures of every system and size, with each system's slope per pool (over the
    sizes) and the peer's slope over ours."""
    systems = sorted({r.system for r in results}, key=lambda s: s != "workqueue-operator")
    sizes = sorted({r.pools for r in results})
    by = {(r.system, r.pools): r for r in results}
    short = {"workqueue-operator": "ours", "dask-kubernetes": "peer"}
    header = ["figure"]
    for size in sizes:
        header += [f"{short.get(s, s)} {size}" for s in systems]
    header += [f"{short.get(s, s)} /pool" for s in systems]
    if len(systems) == 2:
        header.append("peer/ours slope")
    rows = [header]
    for name, figure in FIGURES:
        row = [name]
        slopes: list[float | None] = []
        for size in sizes:
            row += [fmt(figure(by[(s, size)])) if (s, size) in by else "-" for s in systems]
        for system in systems:
            points = []
            for size in sizes:
                if (system, size) in by:
                    value = figure(by[(system, size)])
                    if value is not None:
                        points.append((float(size), value))
            slopes.append(slope(points))
            row.append(fmt(slopes[-1]))
        if len(systems) == 2:
            ours, theirs = slopes
            row.append(f"{theirs / ours:.1f}x" if ours and theirs and ours > 0 else "-")
        if any(cell != "-" for cell in row[1:]):
            rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        lines.append(
            "| "
            + " | ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
            + " |"
        )
        if index == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
