"""Test harness: a real registry that refuses, for the environment-image tests. Debian's
docker-registry 2.8 with htpasswd auth (bcrypt through glibc's libxcrypt), on a free port of
the given address, taking only ``pusher`` / ``right``."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REGISTRY_BIN = "/usr/bin/docker-registry"


def answers(url: str) -> int | None:
    """The HTTP status of GET url (no proxy), None when nothing answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class AuthRegistry:
    address: str
    user: str = "pusher"
    password: str = "right"

    def docker_config(self, password: str | None = None) -> str:
        """A Docker config (``.dockerconfigjson``) for this registry, with ``password`` or the
        right one."""
        secret = f"{self.user}:{password or self.password}"
        auth = base64.b64encode(secret.encode()).decode()
        return json.dumps({"auths": {self.address: {"auth": auth}}})


@contextmanager
def auth_registry(directory: Path, host: str = "127.0.0.1") -> Iterator[AuthRegistry]:
    """A registry with htpasswd auth on ``host``:<free port>, storing into ``directory``."""
    if not Path(REGISTRY_BIN).exists():
        pytest.skip(f"no {REGISTRY_BIN} (Debian's docker-registry; scripts/setup.sh installs it)")
    registry = AuthRegistry(f"{host}:{free_port(host)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # noqa: PLC0415

        hashed = crypt.crypt(registry.password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "htpasswd").write_text(f"{registry.user}:{hashed}\n")
    config = directory / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {directory / 'data'}}}}}\n"
        f"http: {{addr: {registry.address}}}\n"
        f"auth: {{htpasswd: {{realm: test, path: {directory / 'htpasswd'}}}}}\n"
    )
    log_path = directory / "registry.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while answers(f"http://{registry.address}/v2/") != 401:
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "the auth registry did not answer"
                time.sleep(0.1)
            yield registry
        finally:
            process.terminate()
            process.wait(timeout=10)
