"""http(s) transfers of the build: the spec's http entries in, the tarball out (PUT)."""

from __future__ import annotations

import gzip
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from workqueue_operator.envs.execute import BuildError
from workqueue_operator.envs.plan import Download
from workqueue_operator.envs.result import ExitCode

TIMEOUT_S = 60.0
CHUNK = 1 << 20
CLIENT_ERROR = 400
SERVER_ERROR = 500


def _failure(what: str, url: str, error: Exception, reason: str) -> BuildError:
    """4xx answers are the spec's fault (a wrong URL); the rest may pass next time."""
    status = getattr(error, "code", None)
    permanent = isinstance(status, int) and CLIENT_ERROR <= status < SERVER_ERROR
    code = ExitCode.INSTALL_FAILED if permanent else ExitCode.TRANSIENT
    return BuildError(reason, f"{what} {url}: {error}", code)


def download_to(url: str, path: Path) -> None:
    """The body of a GET of ``url`` into the file ``path``."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, path.open("wb") as out:
            shutil.copyfileobj(response, out, CHUNK)
    except (urllib.error.URLError, OSError) as error:
        raise _failure("GET", url, error, "HttpFetchFailed") from error


def fetch(download: Download) -> None:
    """One http entry of the spec into the environment, unpacked or decompressed as asked."""
    target = download.target
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        fetched = Path(scratch) / "download"
        download_to(download.url, fetched)
        try:
            if download.unpack:
                target.mkdir()
                with tarfile.open(fetched, "r:*") as archive:
                    archive.extractall(target, filter="data")
            elif download.gunzip:
                with gzip.open(fetched, "rb") as source, target.open("wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
            else:
                fetched.replace(target)
        except (tarfile.TarError, OSError, EOFError) as error:
            raise BuildError(
                "HttpUnpackFailed", f"{download.url}: {error}", ExitCode.INSTALL_FAILED
            ) from error


def upload(path: Path, url: str) -> None:
    """PUT the file at ``url`` (on a WebDAV share, in an open object-store bucket)."""
    size = path.stat().st_size
    with path.open("rb") as body:
        request = urllib.request.Request(
            url,
            data=body,
            method="PUT",
            headers={"Content-Type": "application/gzip", "Content-Length": str(size)},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S):
                pass
        except (urllib.error.URLError, OSError) as error:
            raise _failure("PUT", url, error, "UploadFailed") from error


def exists(url: str) -> bool:
    """Whether a HEAD of ``url`` succeeds (the tarball is there already)."""
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S):
            return True
    except (urllib.error.URLError, OSError):
        return False
