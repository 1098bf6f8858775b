"""Subcommands of the ``workqueue-operator`` CLI, one module each.

Each module defines ``register(subparsers) -> None``, which adds its parser and sets
``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit code).
"""

# Modules listed here become subcommands, in this order in --help.
COMMAND_MODULES: tuple[str, ...] = ("run", "crds", "agent", "simulate", "build_env")
