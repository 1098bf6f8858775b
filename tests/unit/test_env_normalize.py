"""The normal form and hash of a Poncho spec: what must not change the hash, and what must."""

from __future__ import annotations

import json
from typing import Any

import pytest

from workqueue_operator.envs.normalize import (
    SpecError,
    normalize_requirement,
    normalize_spec,
    spec_hash,
)

BASE: dict[str, Any] = {
    "conda": {
        "channels": ["conda-forge", "bioconda"],
        "dependencies": ["python=3.11", "numpy=1.26", {"pip": ["uproot==5.0.5"]}],
    },
    "pip": ["six==1.16.0"],
    "git": {"DATA_DIR": {"remote": "https://example.org/repo.git", "ref": "v1"}},
    "http": {"DB": {"url": "https://example.org/db.dat", "type": "file"}},
}


def test_key_order_whitespace_duplicates_and_spelling_do_not_change_the_hash() -> None:
    same = json.loads(
        """
        {"http": {"DB": {"type": "file", "url": " https://example.org/db.dat "}},
         "git": {"DATA_DIR": {"ref": "v1", "remote": "https://example.org/repo.git"}},
         "pip": ["Six == 1.16.0", "six==1.16.0", "uproot==5.0.5"],
         "conda": {"dependencies": ["numpy=1.26", "python=3.11", "numpy=1.26",
                                    {"pip": ["uproot ==5.0.5"]}],
                   "channels": ["conda-forge", "bioconda", "conda-forge"]}}
        """
    )
    assert spec_hash(same) == spec_hash(BASE)
    assert normalize_spec(same) == normalize_spec(BASE)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["pip"].__setitem__(0, "six==1.15.0"),
        lambda s: s["conda"]["dependencies"].append("scipy"),
        lambda s: s["conda"].__setitem__("channels", ["bioconda", "conda-forge"]),
        lambda s: s["git"]["DATA_DIR"].__setitem__("ref", "v2"),
        lambda s: s["http"]["DB"].__setitem__("type", "tar"),
        lambda s: s["http"].__setitem__("OTHER", {"url": "https://example.org/x"}),
        lambda s: s["pip"].append("tomli"),
    ],
    ids=[
        "pip version",
        "conda package",
        "channel priority",
        "git ref",
        "http type",
        "http",
        "+pip",
    ],
)
def test_every_real_change_changes_the_hash(change: Any) -> None:
    changed = json.loads(json.dumps(BASE))
    change(changed)
    assert spec_hash(changed) != spec_hash(BASE)


def test_pip_lists_merge_and_empty_sections_vanish() -> None:
    normal = normalize_spec(
        {"conda": {"channels": ["x"], "dependencies": [{"pip": ["B", "a"]}]}, "git": {}, "pip": []}
    )
    assert normal == {"pip": ["a", "b"]}
    assert normalize_spec({"conda": {"dependencies": ["numpy"]}})["conda"]["channels"] == [
        "conda-forge"
    ]


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("Typing_Extensions >= 4.0 , < 5", "typing-extensions>=4.0,<5"),
        ("requests[Socks, security]==2.32.3", "requests[security,socks]==2.32.3"),
        ("tomli ; python_version  <  '3.11'", "tomli; python_version < '3.11'"),
        ("pkg @ https://example.org/pkg.whl", "pkg @ https://example.org/pkg.whl"),
        ("  git+https://example.org/r.git  ", "git+https://example.org/r.git"),
        ("--index-url  https://x", "--index-url https://x"),
    ],
)
def test_requirement_spelling(text: str, normal: str) -> None:
    assert normalize_requirement(text) == normal


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"pip": []},
        {"pip": "six"},
        {"conda": {"dependencies": [3]}},
        {"git": {"X": {"ref": "main"}}},
        {"http": {"bad name": {"url": "https://x"}}},
        {"git": {"X": {"remote": "r"}}, "http": {"X": {"url": "u"}}},
    ],
)
def test_malformed_or_empty_specs_are_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(SpecError):
        normalize_spec(spec)
