"""The files that let a task run inside an unpacked environment (pure text).

``bin/run-in-env COMMAND ARGS...`` finds the environment from its own path (so the tarball
can be unpacked anywhere), puts ``bin/`` first on ``PATH``, sets ``VIRTUAL_ENV`` (a venv) or
``CONDA_PREFIX`` (a conda prefix), clears ``PYTHONHOME``/``PYTHONPATH``, sets each git/http
variable to its path, and ``exec``s the command. A venv's ``bin/python`` links to the builder's
interpreter; where that path does not exist, the wrapper links the venv to the ``python3`` of
the machine's ``PATH`` instead, if its version is the venv's (``pyvenv.cfg``), and refuses
(exit 127) when it cannot (another version, or a directory it may not write): never a task
outside the environment.

``poncho/set_env`` is Poncho's own variable file (``. set_env DIR``), for poncho_package_run.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

RUN_IN_ENV = "bin/run-in-env"
ENV_SCRIPT = "poncho/env.sh"
PONCHO_SET_ENV = "poncho/set_env"
SPEC_FILE = "poncho/spec.json"
HASH_FILE = "poncho/hash"

_RUN_IN_ENV = r"""#!/bin/sh
# run-in-env: run a command inside this environment (written by workqueue-operator build-env).
# Usage: run-in-env COMMAND [ARGS...]
if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi
env_dir=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd -P) || exit 1
if [ -f "$env_dir/pyvenv.cfg" ]; then
    py="$env_dir/bin/python"
    cfg="$env_dir/pyvenv.cfg"
    if [ -L "$py" ] && [ ! -e "$py" ]; then
        want=$(sed -n 's/^version_info *= *\([0-9]*\.[0-9]*\).*/\1/p' "$cfg")
        host=$(command -v python3 || true)
        have=$([ -n "$host" ] && "$host" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
        if [ -z "$host" ] || [ "$have" != "$want" ]; then
            echo "run-in-env: needs python $want; found '${host:-none}' ($have)" >&2
            exit 127
        fi
        home=$(dirname -- "$host")
        if ! { ln -sfn "$host" "$py.$$" && mv -f "$py.$$" "$py" &&
            sed "s|^home *=.*|home = $home|" "$cfg" > "$cfg.$$" && mv -f "$cfg.$$" "$cfg"; }
        then
            echo "run-in-env: cannot link $py to $host: $env_dir is not writable" >&2
            exit 127
        fi
    fi
    VIRTUAL_ENV="$env_dir"
    export VIRTUAL_ENV
elif [ -d "$env_dir/conda-meta" ]; then
    CONDA_PREFIX="$env_dir"
    export CONDA_PREFIX
fi
PATH="$env_dir/bin:$PATH"
export PATH
unset PYTHONHOME PYTHONPATH
PONCHO_ENV_DIR="$env_dir"
export PONCHO_ENV_DIR
. "$env_dir/poncho/env.sh"
exec "$@"
"""


def run_in_env_script() -> str:
    return _RUN_IN_ENV


def env_script(names: Iterable[str]) -> str:
    """``poncho/env.sh``: the git/http variables, relative to ``$PONCHO_ENV_DIR``."""
    lines = ["# Sourced by run-in-env: one variable per git/http entry of the spec."]
    lines += [f'export {name}="$PONCHO_ENV_DIR"/{shlex.quote(name)}' for name in names]
    return "\n".join(lines) + "\n"


def poncho_set_env(names: Iterable[str]) -> str:
    """Poncho's ``poncho/set_env`` (sourced with the environment directory as ``$1``)."""
    return "".join(f'export {name}="$1"/{shlex.quote(name)}\n' for name in names)
