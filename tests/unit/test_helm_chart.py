"""The Helm chart (helm/workqueue-operator): CRDs identical to crds/, `helm lint --strict`
clean, and `helm template` rendering valid objects for each set of options. Needs the helm
binary that e2e/cluster/build.sh builds into the cache (skipped, saying so, without it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "workqueue-operator"
VERSIONS = REPO / "e2e" / "cluster" / "versions.env"
RELEASE = "wq"
NAMESPACE = "wq-system"
GROUP = "workqueue.dev"


def _versions() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in VERSIONS.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


def helm_binary() -> Path | None:
    """The helm that e2e/cluster/build.sh builds (pinned), else one on PATH."""
    versions = _versions()
    cache_root = Path(os.environ.get("WQ_CACHE_DIR", Path.home() / ".cache" / "workqueue-operator"))
    built = cache_root / versions["K8S_VERSION"] / "bin" / "helm"
    if built.is_file() and os.access(built, os.X_OK):
        return built
    found = shutil.which("helm")
    return Path(found) if found else None


@pytest.fixture(scope="module")
def helm() -> Path:
    binary = helm_binary()
    if binary is None:
        pytest.skip(
            "helm not found: run `bash e2e/cluster/build.sh`, which builds "
            f"helm.sh/helm/v3/cmd/helm@{_versions().get('HELM_VERSION')} into the cache"
        )
    return binary


def run_helm(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result


def set_args(values: dict[str, str]) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


@cache
def _render(helm: Path, options: tuple[tuple[str, str], ...], crds: bool) -> list[dict[str, Any]]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, *set_args(dict(options))]
    if crds:
        args.append("--include-crds")
    out = run_helm(helm, *args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def render(helm: Path, *layers: dict[str, str], crds: bool = False) -> list[dict[str, Any]]:
    """`helm template` with ``--set key=value`` for each item of ``layers`` (keys with dots
    written ``a__b``), as objects."""
    values = {k: v for layer in layers for k, v in layer.items()}
    options = tuple(sorted((k.replace("__", "."), v) for k, v in values.items()))
    return _render(helm, options, crds)


def kinds(objects: list[dict[str, Any]]) -> Counter[str]:
    return Counter(obj["kind"] for obj in objects)


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


NAMESPACED = {"rbac__namespaced": "true", "rbac__namespaces": "{team-a,team-b}"}
MONITORS = {"metrics__serviceMonitor__enabled": "true", "metrics__podMonitor__enabled": "true"}
ALERTS = {"metrics__prometheusRule__enabled": "true"}
DASHBOARDS = {"dashboards__enabled": "true"}
NETWORK_POLICY = {"networkPolicy__enabled": "true"}
EVERYTHING = NAMESPACED | MONITORS | ALERTS | DASHBOARDS | NETWORK_POLICY

BASE_KINDS = {"ServiceAccount": 1, "Deployment": 1, "Service": 1}
CASES: dict[str, tuple[dict[str, str], dict[str, int]]] = {
    "default": ({}, BASE_KINDS | {"ClusterRole": 1, "ClusterRoleBinding": 1}),
    "namespaced": (
        NAMESPACED,
        # A Role and RoleBinding per namespace, and the small discovery ClusterRole.
        BASE_KINDS | {"Role": 2, "RoleBinding": 2, "ClusterRole": 1, "ClusterRoleBinding": 1},
    ),
    "namespaced-no-discovery": (
        NAMESPACED | {"rbac__discovery": "false"},
        BASE_KINDS | {"Role": 2, "RoleBinding": 2},
    ),
    "monitors": (
        MONITORS,
        BASE_KINDS
        | {"ClusterRole": 1, "ClusterRoleBinding": 1, "ServiceMonitor": 2, "PodMonitor": 2},
    ),
    "alerts": (
        ALERTS,
        BASE_KINDS | {"ClusterRole": 1, "ClusterRoleBinding": 1, "PrometheusRule": 1},
    ),
    "dashboards": (
        DASHBOARDS,
        BASE_KINDS | {"ClusterRole": 1, "ClusterRoleBinding": 1, "ConfigMap": 1},
    ),
    "network-policy": (
        NETWORK_POLICY,
        BASE_KINDS | {"ClusterRole": 1, "ClusterRoleBinding": 1, "NetworkPolicy": 1},
    ),
    "everything": (
        EVERYTHING,
        BASE_KINDS
        | {
            "Role": 2,
            "RoleBinding": 2,
            "ClusterRole": 1,
            "ClusterRoleBinding": 1,
            "ServiceMonitor": 2,
            "PodMonitor": 2,
            "PrometheusRule": 1,
            "ConfigMap": 1,
            "NetworkPolicy": 2,
        },
    ),
}


# --- CRDs -------------------------------------------------------------------------------------
def test_chart_crds_are_byte_identical_to_crds_dir() -> None:
    repo = {p.name: p.read_bytes() for p in sorted((REPO / "crds").glob("*.yaml"))}
    chart = {p.name: p.read_bytes() for p in sorted((CHART / "crds").glob("*.yaml"))}
    assert repo, "crds/ is empty"
    assert chart.keys() == repo.keys(), "helm/workqueue-operator/crds/ lists other files"
    stale = [name for name in repo if chart[name] != repo[name]]
    assert not stale, (
        f"chart CRDs differ from crds/: {stale}; refresh them with "
        "`cp crds/*.yaml helm/workqueue-operator/crds/` (see docs/helm.md)"
    )


def test_template_include_crds_renders_the_three_crds(helm: Path) -> None:
    crds = [o for o in render(helm, crds=True) if o["kind"] == "CustomResourceDefinition"]
    assert sorted(c["metadata"]["name"] for c in crds) == [
        f"ponchoenvs.{GROUP}",
        f"workerpools.{GROUP}",
        f"workqueuemanagers.{GROUP}",
    ]


# --- lint -------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(CASES))
def test_helm_lint_strict_is_clean(helm: Path, case: str) -> None:
    values, _ = CASES[case]
    result = run_helm(
        helm,
        "lint",
        "--strict",
        str(CHART),
        *set_args({k.replace("__", "."): v for k, v in values.items()}),
    )
    assert "0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


# --- template ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(CASES))
def test_template_renders_the_expected_kinds(helm: Path, case: str) -> None:
    values, expected = CASES[case]
    objects = render(helm, values)
    assert kinds(objects) == Counter(expected)
    for obj in objects:
        assert obj["apiVersion"] and obj["metadata"]["name"]
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"], obj["kind"]


def test_deployment_runs_one_restricted_operator_cluster_wide(helm: Path) -> None:
    deployment = one(render(helm), "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == one(render(helm), "ServiceAccount")["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["image"] == "workqueue-operator/operator:0.1.0"
    assert container["args"] == [
        "run",
        "--all-namespaces",
        "--liveness=http://0.0.0.0:8081/healthz",
        "--log-format=json",
    ]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8081, "metrics": 8080}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["WORKQUEUE_OPERATOR_METRICS_PORT"] == "8080"
    assert env["WORKQUEUE_OPERATOR_IMAGE"] == "workqueue-operator/operator:0.1.0"
    service = one(render(helm), "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]


def test_namespaced_mode_watches_only_its_namespaces(helm: Path) -> None:
    objects = render(helm, NAMESPACED)
    (container,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert "--all-namespaces" not in container["args"]
    assert [a for a in container["args"] if a.startswith("--namespace")] == [
        "--namespace=team-a",
        "--namespace=team-b",
    ]
    roles = [o for o in objects if o["kind"] == "Role"]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    for binding in (o for o in objects if o["kind"] == "RoleBinding"):
        (subject,) = binding["subjects"]
        assert subject["namespace"] == NAMESPACE
    discovery = one(objects, "ClusterRole")
    assert {r for rule in discovery["rules"] for r in rule["resources"]} == {
        "namespaces",
        "customresourcedefinitions",
    }


def test_namespaced_mode_defaults_to_the_release_namespace(helm: Path) -> None:
    objects = render(helm, {"rbac__namespaced": "true"})
    (container,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert f"--namespace={NAMESPACE}" in container["args"]
    assert one(objects, "Role")["metadata"]["namespace"] == NAMESPACE


def _rules(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _expand(rules: dict[tuple[str, str], str]) -> set[tuple[str, str, str]]:
    return {(g, r, v) for (g, r), verbs in rules.items() for v in verbs.split()}


KINDS = ("workqueuemanagers", "workerpools", "ponchoenvs")
NAMESPACED_RULES = _expand(
    {
        **{(GROUP, k): "get list watch patch" for k in KINDS},
        **{(GROUP, f"{k}/status"): "get patch" for k in KINDS},
        **{(GROUP, f"{k}/finalizers"): "update" for k in KINDS},
        ("", "pods"): "get list watch create patch delete",
        ("", "pods/log"): "get",
        ("", "pods/resize"): "patch",
        ("apps", "deployments"): "get list watch create patch",
        ("", "services"): "get list watch create patch",
        ("", "secrets"): "get create patch",
        ("", "configmaps"): "get",
        ("cert-manager.io", "certificates"): "create patch",
        ("", "persistentvolumeclaims"): "get",
        ("", "events"): "create patch",
        ("batch", "jobs"): "get list watch create patch delete",
    }
)
CLUSTER_RULES = _expand(
    {
        ("", "namespaces"): "list watch",
        ("apiextensions.k8s.io", "customresourcedefinitions"): "list watch",
    }
)


def test_rbac_grants_exactly_what_the_operator_does(helm: Path) -> None:
    cluster = render(helm)
    assert _rules(one(cluster, "ClusterRole")) == NAMESPACED_RULES | CLUSTER_RULES
    binding = one(cluster, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == one(cluster, "ClusterRole")["metadata"]["name"]
    (subject,) = binding["subjects"]
    assert subject == {
        "kind": "ServiceAccount",
        "name": one(cluster, "ServiceAccount")["metadata"]["name"],
        "namespace": NAMESPACE,
    }
    namespaced = render(helm, NAMESPACED)
    for role in (o for o in namespaced if o["kind"] == "Role"):
        assert _rules(role) == NAMESPACED_RULES
    assert _rules(one(namespaced, "ClusterRole")) == CLUSTER_RULES
    assert not any("*" in rule for rule in NAMESPACED_RULES | _rules(one(cluster, "ClusterRole")))


def test_monitors_scrape_the_operator_and_the_managers_agents(helm: Path) -> None:
    objects = render(helm, MONITORS)
    service_labels = one(objects, "Service")["metadata"]["labels"]
    for kind, endpoints in (("ServiceMonitor", "endpoints"), ("PodMonitor", "podMetricsEndpoints")):
        operator = one(objects, kind, f"{RELEASE}-workqueue-operator")
        selector = operator["spec"]["selector"]["matchLabels"]
        assert selector.items() <= service_labels.items()
        assert operator["spec"][endpoints][0]["port"] == "metrics"
        agents = one(objects, kind, f"{RELEASE}-workqueue-operator-agents")
        keys = {e["key"] for e in agents["spec"]["selector"]["matchExpressions"]}
        assert "workqueue.dev/manager" in keys
        assert agents["spec"]["namespaceSelector"] == {"any": True}
    namespaced = render(helm, MONITORS, NAMESPACED)
    agents = one(namespaced, "ServiceMonitor", f"{RELEASE}-workqueue-operator-agents")
    assert agents["spec"]["namespaceSelector"] == {"matchNames": ["team-a", "team-b"]}


def test_dashboards_configmap_carries_both_dashboards_for_the_sidecar(helm: Path) -> None:
    configmap = one(render(helm, DASHBOARDS), "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    data = configmap["data"]
    assert sorted(data) == ["overview.json", "sizing.json"]
    for name, text in data.items():
        assert json.loads(text) == json.loads((CHART / "dashboards" / name).read_text())


def test_network_policy_admits_only_workers_and_the_operator(helm: Path) -> None:
    objects = render(helm, NETWORK_POLICY)
    policy = one(objects, "NetworkPolicy")
    spec = policy["spec"]
    assert policy["metadata"]["namespace"] == NAMESPACE
    assert spec["podSelector"] == {
        "matchExpressions": [{"key": "workqueue.dev/manager", "operator": "Exists"}]
    }
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    workers, operator = rule["from"]
    assert workers == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "workqueue-worker"}}
    }
    operator_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert operator["podSelector"]["matchLabels"].items() <= operator_labels.items()
    assert operator["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}
    }
    assert "ports" not in rule  # every port of the manager pods: manager and agent
    policies = [o for o in render(helm, NETWORK_POLICY, NAMESPACED) if o["kind"] == "NetworkPolicy"]
    assert sorted(p["metadata"]["namespace"] for p in policies) == ["team-a", "team-b"]
    (rule,) = one(
        render(helm, NETWORK_POLICY, {"networkPolicy__ports": "{9123}"}), "NetworkPolicy"
    )["spec"]["ingress"]
    assert rule["ports"] == [{"port": 9123, "protocol": "TCP"}]


def test_metrics_off_sets_port_zero_and_drops_the_service(helm: Path) -> None:
    objects = render(helm, {"metrics__enabled": "false"}, MONITORS, ALERTS)
    assert "PrometheusRule" not in kinds(objects)
    assert "Service" not in kinds(objects)
    (container,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["WORKQUEUE_OPERATOR_METRICS_PORT"] == "0"
    assert [p["name"] for p in container["ports"]] == ["health"]
    # Only the managers' agents remain to be scraped.
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "ServiceMonitor"] == [
        f"{RELEASE}-workqueue-operator-agents"
    ]


def test_image_tag_and_pull_secrets_are_configurable(helm: Path) -> None:
    objects = render(
        helm,
        {
            "image__repository": "registry.example/wq/operator",
            "image__tag": "1.2.3",
            "imagePullSecrets[0].name": "pull",
        },
    )
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.example/wq/operator:1.2.3"
    assert pod["imagePullSecrets"] == [{"name": "pull"}]


@pytest.mark.parametrize(
    "values",
    [
        {"rbac.namespaced": "maybe"},
        {"operator.logFormat": "xml"},
        {"metrics.port": "70000"},
        {"unknownKey": "1"},
        {"rbac.namespaces": "{Not_A_Namespace}"},
    ],
    ids=["bool", "enum", "port", "unknown-key", "namespace-name"],
)
def test_values_schema_rejects_bad_values(helm: Path, values: dict[str, str]) -> None:
    result = run_helm(helm, "template", RELEASE, str(CHART), *set_args(values), check=False)
    assert result.returncode != 0
    assert "schema" in result.stderr
