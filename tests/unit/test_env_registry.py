"""Reading crane's answers (pure): which failures are "no such tag", which are the registry
refusing (permanent), which may pass on retry; and the commands the builder runs. The messages
are crane v0.22.1's own, as it printed them against Debian's docker-registry 2.8 here."""

from __future__ import annotations

import pytest

from workqueue_operator.envs.artifact import ImageArtifact, parse_artifact, parse_image
from workqueue_operator.envs.registry import (
    Crane,
    append_failure,
    check_failure,
    crane_error,
    default_platform,
    last_layer_size,
    not_found,
)
from workqueue_operator.envs.result import ExitCode

HEAD_FALLBACK = (
    "2026/12/06 10:51:07 HEAD request failed, falling back on GET: HEAD "
    "http://10.88.0.1:5055/v2/envs/x/manifests/t1: unexpected status code 401 Unauthorized "
    "(HEAD responses have no body, use GET for details)\n"
)
UNAUTHORIZED = HEAD_FALLBACK + (
    "Error: GET http://10.88.0.1:5055/v2/envs/x/manifests/t1: UNAUTHORIZED: authentication "
    "required; [map[Action:pull Class: Name:envs/x Type:repository]]\n"
)
MISSING_TAG = (
    "Error: GET http://10.88.0.1:5055/v2/envs/x/manifests/t2: MANIFEST_UNKNOWN: manifest "
    "unknown; map[Tag:t2]\n"
)
REFUSED_CONNECTION = (
    'Error: Get "https://10.88.0.1:5059/v2/": dial tcp 10.88.0.1:5059: connect: connection '
    'refused; Get "http://10.88.0.1:5059/v2/": dial tcp 10.88.0.1:5059: connect: connection '
    "refused\n"
)


def test_crane_error_keeps_the_registry_s_own_words() -> None:
    assert crane_error(UNAUTHORIZED) == (
        "GET http://10.88.0.1:5055/v2/envs/x/manifests/t1: UNAUTHORIZED: authentication "
        "required; [map[Action:pull Class: Name:envs/x Type:repository]]"
    )
    assert crane_error("panic: something\n") == "panic: something"


def test_a_missing_tag_is_an_answer_and_refusals_are_permanent() -> None:
    assert not_found(crane_error(MISSING_TAG))
    assert not not_found(crane_error(UNAUTHORIZED))
    refused = check_failure("r/e:t", crane_error(UNAUTHORIZED))
    assert (refused.reason, refused.exit_code) == ("RegistryRefused", ExitCode.REGISTRY_REFUSED)
    assert "UNAUTHORIZED: authentication required" in refused.message
    unreachable = check_failure("r/e:t", crane_error(REFUSED_CONNECTION))
    assert (unreachable.reason, unreachable.exit_code) == (
        "RegistryUnreachable",
        ExitCode.TRANSIENT,
    )
    assert "connect: connection refused" in unreachable.message


@pytest.mark.parametrize(
    ("error", "reason", "code"),
    [
        (
            "pulling r/worker:9: GET http://r/v2/worker/manifests/9: MANIFEST_UNKNOWN: manifest "
            "unknown; map[Tag:9]",
            "BaseImageNotFound",
            ExitCode.REGISTRY_REFUSED,
        ),
        (
            "pushing image r/e:t: POST http://r/v2/e/blobs/uploads/: UNAUTHORIZED: "
            "authentication required; [map[Action:push Class: Name:e Type:repository]]",
            "RegistryRefused",
            ExitCode.REGISTRY_REFUSED,
        ),
        (
            "pushing image r/e:t: HEAD http://r/v2/e/manifests/t: unexpected status code 403 "
            "Forbidden (HEAD responses have no body, use GET for details)",
            "RegistryRefused",
            ExitCode.REGISTRY_REFUSED,
        ),
        (
            "pushing image r/e:t: PUT http://r/v2/e/blobs/uploads/x: unexpected EOF",
            "PushFailed",
            ExitCode.TRANSIENT,
        ),
    ],
)
def test_append_failures(error: str, reason: str, code: ExitCode) -> None:
    failure = append_failure("r/worker:9", "r/e:t", error)
    assert (failure.reason, failure.exit_code) == (reason, code)
    assert failure.message.endswith(error)


def test_commands() -> None:
    crane = Crane(program="/usr/local/bin/crane", insecure=True, platform="linux/arm64")
    assert crane.digest_argv("r/e:t") == ["/usr/local/bin/crane", "digest", "r/e:t", "--insecure"]
    assert crane.append_argv("r/w:1", "/l.tar.gz", "r/e:t") == [
        "/usr/local/bin/crane", "append", "--base", "r/w:1", "--new_layer", "/l.tar.gz",
        "--new_tag", "r/e:t", "--platform", "linux/arm64", "--insecure",
    ]  # fmt: skip
    assert Crane().manifest_argv("r/e@sha256:x") == ["crane", "manifest", "r/e@sha256:x"]
    assert default_platform("x86_64") == "linux/amd64"
    assert default_platform("aarch64") == "linux/arm64"
    assert last_layer_size({"layers": [{"size": 5}, {"size": 18275}]}) == 18275
    assert last_layer_size({}) == 0


def test_image_artifacts_name_repository_tag_and_digest() -> None:
    digest = "sha256:" + "0f" * 32
    text = f"10.88.0.1:5000/envs/six:{'a' * 64}-0123456789ab@{digest}"
    artifact = parse_artifact(text)
    assert artifact == ImageArtifact("10.88.0.1:5000/envs/six", f"{'a' * 64}-0123456789ab", digest)
    assert str(artifact) == text
    assert artifact.by_digest == f"10.88.0.1:5000/envs/six@{digest}"
    assert artifact.tagged == f"10.88.0.1:5000/envs/six:{'a' * 64}-0123456789ab"
    for bad in (f"10.88.0.1:5000/envs@{digest}", "r/e:t@sha256:short", f"r/e:@{digest}"):
        with pytest.raises(ValueError, match="not an image reference"):
            parse_image(bad)
