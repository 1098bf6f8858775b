"""The builder run for real, as the build Job's container runs it: pip from PyPI through uv,
git from a local repository, http from a local server; the tarball unpacked and used through
its run-in-env wrapper. Needs PyPI (no cluster)."""

from __future__ import annotations

import functools
import gzip
import io
import json
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.harness import REPO
from workqueue_operator.envs.normalize import spec_hash

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CLI = REPO / ".venv" / "bin" / "workqueue-operator"


class Handler(SimpleHTTPRequestHandler):
    """GET/HEAD from a folder, and PUT into it (a stand-in for an object store)."""

    def do_PUT(self) -> None:
        length = int(self.headers["Content-Length"])
        target = Path(self.directory) / self.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.rfile.read(length))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "web"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose tag v1 has VERSION=1 and whose main has VERSION=2."""
    path = tmp_path / "repo"
    path.mkdir()

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@e", *args],
            cwd=path, check=True, capture_output=True,
        )  # fmt: skip

    git("init", "-q", "-b", "main")
    (path / "VERSION").write_text("1\n")
    git("add", "VERSION")
    git("commit", "-q", "-m", "one")
    git("tag", "v1")
    (path / "VERSION").write_text("2\n")
    git("commit", "-q", "-am", "two")
    return path


def build(*args: str, spec: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    command = [str(CLI), "build-env", *args]
    if spec is not None:
        command += ["--spec-json", json.dumps(spec)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    return result.returncode, json.loads(result.stdout.strip().splitlines()[-1])


def unpack(tarball: Path, where: Path) -> Path:
    where.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(where, filter="tar")
    return where


def run_in(env: Path, script: str) -> str:
    result = subprocess.run(
        [str(env / "bin" / "run-in-env"), "sh", "-c", script],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return result.stdout


def test_pip_git_and_http_parts_end_up_in_a_working_relocatable_tarball(
    tmp_path: Path, web: tuple[str, Path], repo: Path
) -> None:
    base, root = web
    (root / "db.dat").write_text("reference\n")
    (root / "notes.txt.gz").write_bytes(gzip.compress(b"compressed\n"))
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as archive:
        info = tarfile.TarInfo("inner/sample.txt")
        info.size = 7
        archive.addfile(info, io.BytesIO(b"sample\n"))
    (root / "set.tar.gz").write_bytes(data.getvalue())
    spec = {
        "pip": ["six==1.16.0"],
        "git": {"CODE": {"remote": f"file://{repo}", "ref": "v1"}},
        "http": {
            "DB": {"url": f"{base}/db.dat", "type": "file"},
            "NOTES": {"url": f"{base}/notes.txt.gz", "compression": "gzip"},
            "SET": {"url": f"{base}/set.tar.gz", "type": "tar", "compression": "gzip"},
        },
    }
    env_hash = spec_hash(spec)
    tarball = tmp_path / "pvc" / f"{env_hash}.tar.gz"
    termination = tmp_path / "termination-log"
    code, report = build(
        "--output", str(tarball), "--expect-hash", env_hash,
        "--termination-log", str(termination), spec=spec,
    )  # fmt: skip
    assert code == 0, report
    assert report["ok"] and report["hash"] == env_hash and not report["reused"]
    assert report["size_bytes"] == tarball.stat().st_size
    assert json.loads(termination.read_text()) == report

    # Unpacked somewhere else than it was built: it still works.
    env = unpack(tarball, tmp_path / "elsewhere" / "env")
    out = run_in(
        env,
        'python -c "import six; print(six.__version__)"; cat "$CODE/VERSION" "$DB" "$NOTES" '
        '"$SET/inner/sample.txt"; echo "$VIRTUAL_ENV"',
    )
    assert out.split("\n")[:5] == ["1.16.0", "1", "reference", "compressed", "sample"]
    assert out.split("\n")[5] == str(env.resolve())
    assert (env / "poncho" / "hash").read_text().strip() == env_hash
    assert "export CODE=" in (env / "poncho" / "set_env").read_text()  # Poncho's own file

    # The same spec again: the tarball is there, nothing is built.
    code, again = build("--output", str(tarball), spec=spec)
    assert code == 0 and again["reused"] is True
    assert again["size_bytes"] == report["size_bytes"]


def test_upload_to_a_url_and_reuse_it(tmp_path: Path, web: tuple[str, Path]) -> None:
    base, root = web
    spec = {"pip": ["six==1.16.0"]}
    url = f"{base}/envs/{spec_hash(spec)}.tar.gz"
    code, report = build("--upload", url, "--work-dir", str(tmp_path / "work"), spec=spec)
    assert code == 0, report
    assert report["artifact"] == url
    uploaded = root / "envs" / f"{spec_hash(spec)}.tar.gz"
    assert uploaded.stat().st_size == report["size_bytes"]
    env = unpack(uploaded, tmp_path / "env")
    assert run_in(env, "python -c 'import six'") == ""
    code, again = build("--upload", url, spec=spec)
    assert code == 0 and again["reused"] is True


def test_a_package_that_does_not_exist_fails_with_the_installer_message(tmp_path: Path) -> None:
    termination = tmp_path / "termination-log"
    code, report = build(
        "--output", str(tmp_path / "x.tar.gz"), "--termination-log", str(termination),
        spec={"pip": ["wq-operator-no-such-package-7f3a==1.0"]},
    )  # fmt: skip
    assert code == 3
    assert report["reason"] == "PipInstallFailed"
    assert (
        "wq-operator-no-such-package-7f3a was not found in the package registry"
        in (report["message"])
    )
    assert json.loads(termination.read_text()) == report
    assert not (tmp_path / "x.tar.gz").exists()


def test_a_hash_the_operator_did_not_expect_is_refused(tmp_path: Path) -> None:
    code, report = build(
        "--output", str(tmp_path / "x.tar.gz"), "--expect-hash", "0" * 64,
        spec={"pip": ["six"]},
    )  # fmt: skip
    assert code == 2 and report["reason"] == "HashMismatch"
    code, report = build("--output", str(tmp_path / "x.tar.gz"), spec={"pip": []})
    assert code == 2 and report["reason"] == "InvalidSpec"
