"""The one table of a chaos run, and its JSON."""

from __future__ import annotations

from collections.abc import Sequence

from faults.outcome import Row, load_text

HEADERS = (
    "scenario",
    "framework",
    "faults injected",
    "submitted",
    "finished",
    "lost",
    "run twice (by design)",
    "dup/orphan pods",
    "busy deleted",
    "converge s",
    "ok",
)


def cells(row: Row) -> tuple[str, ...]:
    return (
        row.scenario,
        row.framework,
        row.faults,
        str(row.submitted),
        str(row.finished),
        str(row.lost),
        f"{row.run_twice} ({row.by_design})"
        + (f" +{row.returned_twice} returned twice" if row.returned_twice else ""),
        f"{row.duplicate_pods}/{row.orphan_pods}",
        str(row.busy_deleted),
        "-" if row.converge_s is None else f"{row.converge_s:.1f}",
        "yes" if row.ok else "NO",
    )


def render(rows: Sequence[Row]) -> str:
    table = [HEADERS, *(cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    details = []
    for row in rows:
        failed = [name for name, passed in row.checks.items() if not passed]
        details.append(
            f"{row.scenario}/{row.framework}: started {row.started}, {row.seconds:.0f} s, "
            f"load {load_text(row.load_before)} -> {load_text(row.load_after)}"
            + (f"; FAILED: {', '.join(failed)}" if failed else "")
            + (f"; ERROR: {row.error}" if row.error else "")
        )
        details += [f"    {note}" for note in row.notes]
    return "\n".join([*lines, "", *details])
