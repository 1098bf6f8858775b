"""The resources the handlers watch, named once."""

from __future__ import annotations

from workqueue_operator import GROUP, VERSION

MANAGERS = (GROUP, VERSION, "workqueuemanagers")
POOLS = (GROUP, VERSION, "workerpools")
ENVS = (GROUP, VERSION, "ponchoenvs")
