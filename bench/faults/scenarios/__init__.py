"""One module per scenario; each has a size (its flags' defaults, and a quick one for tests)
and ``run(context, framework, size) -> Row``."""

from faults.scenarios import (
    control_plane,
    manager_restart,
    operator_kill,
    slow_start,
    telemetry_loss,
    worker_kill,
)

ALL = (worker_kill, operator_kill, control_plane, manager_restart, telemetry_loss, slow_start)
"""Every scenario, in the runner's order."""
