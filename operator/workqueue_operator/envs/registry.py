"""The registry side of an environment image, through ``crane``
(github.com/google/go-containerregistry, in the builder image): is the tag there already, and
append the environment's layer to the base image and push it.

Why crane and not this package: appending a layer and pushing takes only the registry API, but
that API's edges (token and basic auth from a Docker config, manifest lists resolved to one
platform, cross-repository blob mounts, Docker and OCI media types, HTTP fallback) are what
go-containerregistry exists for, and tested against every public registry. The builder runs it
as a program and keeps its last words: they hold the registry's own error (``UNAUTHORIZED:
authentication required``, ``MANIFEST_UNKNOWN``...).

Credentials: crane reads ``$DOCKER_CONFIG/config.json`` (the build Job mounts the push Secret
there). Trust: Go reads ``SSL_CERT_FILE`` (the Job's caBundle). ``insecure``: crane's
``--insecure`` (plain HTTP, or TLS without verification).

The argument lists and the reading of crane's errors are pure; :class:`Crane` runs them.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workqueue_operator.envs.execute import BuildError
from workqueue_operator.envs.result import ExitCode, tail

NOT_FOUND = ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "404 Not Found")
"""What a registry says (through crane) when a tag or repository does not exist."""
REFUSED = ("UNAUTHORIZED", "DENIED", "401 Unauthorized", "403 Forbidden")
"""What a registry says when it refuses the credentials or the access: retrying at once gives
the same answer."""
QUERY_TIMEOUT_S = 120.0
PUSH_TIMEOUT_S = 3600.0

MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def default_platform(machine: str | None = None) -> str:
    """``linux/<arch>`` of this machine, as images name it: the platform picked from a base
    image that is a manifest list (a single-platform base is used as it is)."""
    machine = machine or platform.machine()
    return f"linux/{MACHINES.get(machine, machine)}"


def crane_error(stderr: str) -> str:
    """What crane says went wrong: its ``Error:`` lines (the registry's own message is in
    them), else the tail of its output."""
    errors = [
        line.removeprefix("Error:").strip()
        for line in stderr.splitlines()
        if line.startswith("Error:")
    ]
    return "\n".join(errors) if errors else tail(stderr)


def not_found(message: str) -> bool:
    return any(marker in message for marker in NOT_FOUND)


def refused(message: str) -> bool:
    return any(marker in message for marker in REFUSED)


def check_failure(target: str, message: str) -> BuildError:
    """A failed look-up of ``target`` that is not "no such tag": refused (permanent) or the
    registry could not be reached (transient)."""
    what = f"crane digest {target}: {message}"
    if refused(message):
        return BuildError("RegistryRefused", what, ExitCode.REGISTRY_REFUSED)
    return BuildError("RegistryUnreachable", what, ExitCode.TRANSIENT)


def append_failure(base: str, target: str, message: str) -> BuildError:
    """A failed ``crane append``: the base image is missing, the registry refused, or the push
    failed on the way (transient)."""
    what = f"crane append {base} -> {target}: {message}"
    pulling_base = message.startswith("pulling ")
    if pulling_base and not_found(message):
        return BuildError("BaseImageNotFound", what, ExitCode.REGISTRY_REFUSED)
    if refused(message):
        return BuildError("RegistryRefused", what, ExitCode.REGISTRY_REFUSED)
    return BuildError("PushFailed", what, ExitCode.TRANSIENT)


@dataclass(frozen=True)
class Crane:
    """How to run crane against one registry."""

    program: str = "crane"
    insecure: bool = False
    platform: str | None = None
    """The platform picked from a manifest-list base (``default_platform()`` when None)."""

    def argv(self, *args: str) -> list[str]:
        flags = ["--insecure"] if self.insecure else []
        return [self.program, *args, *flags]

    def digest_argv(self, reference: str) -> list[str]:
        return self.argv("digest", reference)

    def manifest_argv(self, reference: str) -> list[str]:
        return self.argv("manifest", reference)

    def append_argv(self, base: str, layer: str, target: str) -> list[str]:
        chosen = self.platform or default_platform()
        return self.argv(
            "append", "--base", base, "--new_layer", layer, "--new_tag", target,
            "--platform", chosen,
        )  # fmt: skip

    def _run(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
                env=dict(os.environ),
            )
        except FileNotFoundError as error:
            raise BuildError(
                "BuilderWithoutCrane",
                f"cannot run {argv[0]}: {error} (output.image needs a builder image with crane)",
                ExitCode.BAD_SPEC,
            ) from error
        except subprocess.TimeoutExpired as error:
            raise BuildError(
                "RegistryUnreachable",
                f"{' '.join(argv[:2])} gave no answer in {timeout:.0f} s",
                ExitCode.TRANSIENT,
            ) from error

    def digest(self, reference: str) -> str | None:
        """The manifest digest of ``reference`` (``repository:tag``), None when the registry
        has no such tag; BuildError when it refuses or cannot be reached."""
        done = self._run(self.digest_argv(reference), QUERY_TIMEOUT_S)
        if done.returncode == 0:
            return done.stdout.strip()
        message = crane_error(done.stderr)
        if not_found(message) and not refused(message):
            return None
        raise check_failure(reference, message)

    def manifest(self, reference: str) -> dict[str, Any]:
        """The manifest of ``reference``."""
        done = self._run(self.manifest_argv(reference), QUERY_TIMEOUT_S)
        if done.returncode != 0:
            raise check_failure(reference, crane_error(done.stderr))
        data: dict[str, Any] = json.loads(done.stdout)
        return data

    def append(self, base: str, layer: str, target: str) -> str:
        """Push ``base`` + the ``layer`` tarball as ``target`` (``repository:tag``); the
        digest of what was pushed."""
        done = self._run(self.append_argv(base, layer, target), PUSH_TIMEOUT_S)
        if done.returncode != 0:
            raise append_failure(base, target, crane_error(done.stderr))
        _, _, digest = done.stdout.strip().rpartition("@")
        if not digest.startswith("sha256:"):
            raise BuildError(
                "PushFailed",
                f"crane append printed no digest: {tail(done.stdout + done.stderr)}",
                ExitCode.TRANSIENT,
            )
        return digest


def last_layer_size(manifest: dict[str, Any]) -> int:
    """The compressed size of an image's last layer (the environment's), 0 when unknown."""
    layers = manifest.get("layers") or []
    return int(layers[-1].get("size", 0)) if layers else 0
