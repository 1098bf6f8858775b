"""The build plan's commands (micromamba, uv, git) and downloads, without running them."""

from __future__ import annotations

from pathlib import Path

from workqueue_operator.envs.execute import failure_code
from workqueue_operator.envs.normalize import normalize_spec
from workqueue_operator.envs.plan import Command, Download, Tools, build_plan, variables
from workqueue_operator.envs.result import ExitCode

PREFIX = Path("/opt/poncho/h")
TOOLS = Tools(uv="/bin/uv", micromamba="/bin/micromamba", git="/bin/git", python="/bin/python3")


def commands(spec: dict[str, object]) -> list[Command]:
    return [s for s in build_plan(normalize_spec(spec), PREFIX, TOOLS) if isinstance(s, Command)]


def test_conda_part_is_one_micromamba_create_with_only_the_spec_channels_in_order() -> None:
    spec = {
        "conda": {
            "channels": ["conda-forge", "bioconda"],
            "dependencies": ["python=3.11", "numpy=1.26", {"pip": ["six==1.16.0"]}],
        }
    }
    conda, pip = commands(spec)
    assert conda.argv == (
        "/bin/micromamba", "create", "--yes", "--prefix", "/opt/poncho/h", "--override-channels",
        "--channel", "conda-forge", "--channel", "bioconda", "numpy=1.26", "python=3.11",
    )  # fmt: skip
    assert conda.permanent and conda.reason == "CondaInstallFailed"
    # pip goes into the conda prefix's own Python: no venv.
    assert pip.argv == (
        "/bin/uv", "pip", "install", "--python", "/opt/poncho/h/bin/python", "six==1.16.0"
    )  # fmt: skip


def test_pip_only_is_a_relocatable_uv_venv_then_uv_pip_install() -> None:
    venv, pip = commands({"pip": ["tomli", "six==1.16.0"]})
    assert venv.argv == (
        "/bin/uv", "venv", "--relocatable", "--python", "/bin/python3", "/opt/poncho/h"
    )  # fmt: skip
    assert not venv.permanent
    assert pip.argv[-2:] == ("six==1.16.0", "tomli")
    assert pip.env["UV_PYTHON_DOWNLOADS"] == "never"


def test_caches_go_where_the_tools_say() -> None:
    tools = Tools(cache_dir=Path("/cache"))
    steps = build_plan(
        normalize_spec({"conda": {"dependencies": ["x"]}, "pip": ["y"]}), PREFIX, tools
    )
    conda, pip = (s for s in steps if isinstance(s, Command))
    assert conda.env["MAMBA_ROOT_PREFIX"] == "/cache/mamba"
    assert pip.env["UV_CACHE_DIR"] == "/cache/uv"


def test_git_clones_into_the_variable_and_checks_out_the_ref() -> None:
    clone, checkout = commands({"git": {"DATA": {"remote": "https://e.org/r.git", "ref": "v1"}}})
    assert clone.argv == (
        "/bin/git",
        "clone",
        "--quiet",
        "https://e.org/r.git",
        "/opt/poncho/h/DATA",
    )
    assert checkout.argv == ("/bin/git", "-C", "/opt/poncho/h/DATA", "checkout", "--quiet", "v1")
    assert not clone.permanent and checkout.permanent


def test_http_entries_are_downloads_unpacked_or_decompressed_as_poncho_does() -> None:
    spec = {
        "http": {
            "TAR": {"url": "https://e.org/a.tar.gz", "type": "tar", "compression": "gzip"},
            "GZ": {"url": "https://e.org/b.dat.gz", "compression": "gzip"},
            "FILE": {"url": "https://e.org/c.dat", "type": "file"},
        }
    }
    steps = build_plan(normalize_spec(spec), PREFIX, TOOLS)
    downloads = {s.variable: s for s in steps if isinstance(s, Download)}
    assert (downloads["TAR"].unpack, downloads["TAR"].gunzip) == (True, False)
    assert (downloads["GZ"].unpack, downloads["GZ"].gunzip) == (False, True)
    assert (downloads["FILE"].unpack, downloads["FILE"].gunzip) == (False, False)
    assert downloads["FILE"].target == PREFIX / "FILE"
    assert variables(normalize_spec(spec)) == ["FILE", "GZ", "TAR"]


def test_installer_failures_are_permanent_unless_the_network_failed() -> None:
    pip = commands({"pip": ["x"]})[-1]
    assert failure_code(pip, "x was not found in the package registry") is ExitCode.INSTALL_FAILED
    assert failure_code(pip, "error: Failed to fetch: `https://pypi.org/simple/x/`") is (
        ExitCode.TRANSIENT
    )
    venv = commands({"pip": ["x"]})[0]
    assert failure_code(venv, "anything") is ExitCode.TRANSIENT
