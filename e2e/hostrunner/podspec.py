"""From a pod's JSON to what the host runner executes (test harness, pure but for file writes).

The pod's first container becomes a :class:`LaunchSpec`: argv (``command`` then ``args``),
environment, working directory and hostname. Its volume mounts are materialised under the
pod's own directory, and every occurrence of a mount path in argv, env values and workingDir is
rewritten to the local directory (see :func:`rewrite_paths`).
"""

from __future__ import annotations

import base64
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

JSON = dict[str, Any]

POD_IP = "127.0.0.1"
"""What ``status.podIP``/``status.hostIP`` resolve to: the processes share the host network."""
DEFAULT_FILE_MODE = 0o644

Lookup = Callable[[str, str, str], JSON | None]
"""``lookup(kind, namespace, name)``: ``kind`` is ``secrets`` or ``configmaps``; None = missing."""
TokenSource = Callable[[str, str, JSON], str]
"""``token(namespace, service_account, source)``: a token for a projected serviceAccountToken."""


class PodSpecError(Exception):
    """The pod cannot be run as it is."""


class NotReadyError(PodSpecError):
    """Something the pod needs does not exist yet (a Secret, a ConfigMap): try again later, as
    a kubelet does (``CreateContainerConfigError``)."""


class UnsupportedError(PodSpecError):
    """The host runner cannot run this pod at all (the pod is reported Failed)."""


@dataclass(frozen=True)
class Mount:
    """A container path and the local path that stands in for it."""

    mount_path: str
    local_path: Path


@dataclass(frozen=True)
class LaunchSpec:
    """What to execute for a pod."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    hostname: str
    hosts_file: Path
    mounts: list[Mount] = field(default_factory=list)


# -- small helpers -----------------------------------------------------------------------------

_EXPANSION = re.compile(r"\$(\$|\(([^)]*)\))")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined variables are replaced, ``$$`` is a literal
    ``$``, and a reference to an undefined variable is left as it is."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "$":
            return "$"
        name = match.group(2)
        return env.get(name, match.group(0))

    return _EXPANSION.sub(replace, text)


_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def parse_quantity(text: str | int | float) -> Decimal:
    """A Kubernetes quantity (``500m``, ``1Gi``, ``2``) as a number."""
    match = _QUANTITY.match(str(text).strip())
    if not match or match.group(2) not in _SUFFIXES:
        raise PodSpecError(f"not a quantity: {text!r}")
    try:
        return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
    except InvalidOperation as exc:
        raise PodSpecError(f"not a quantity: {text!r}") from exc


def _literal(replacement: str) -> Callable[[re.Match[str]], str]:
    def replace(_match: re.Match[str]) -> str:
        return replacement

    return replace


def rewrite_paths(text: str, mounts: Sequence[Mount]) -> str:
    """Replace each mount path in ``text`` by its local path.

    A mount path matches only as a whole path prefix: not preceded by a path character (so
    ``/x/workspace`` is not ``/workspace``) and followed by ``/``, the end, or a character that
    cannot continue a path segment (``/workspace2`` is not ``/workspace``). Longer mount paths
    win. ``--workdir=/workspace`` and ``--password /etc/wq/password/password`` are rewritten.
    """
    for mount in sorted(mounts, key=lambda m: len(m.mount_path), reverse=True):
        path = mount.mount_path.rstrip("/")
        if not path:
            continue  # a mount on "/" cannot be told apart from any absolute path
        pattern = re.compile(r"(?<![\w.\-/])" + re.escape(path) + r"(?![\w.\-])")
        text = pattern.sub(_literal(str(mount.local_path)), text)
    return text


def container_ports(container: JSON) -> list[int]:
    """The TCP ports the container declares (``ports[].containerPort``)."""
    return [
        int(p["containerPort"])
        for p in container.get("ports") or []
        if p.get("protocol", "TCP") == "TCP" and "containerPort" in p
    ]


def rewrite_ports(text: str, ports: Mapping[int, int]) -> str:
    """Replace each moved container port by its host port where it stands as a port number:
    a whole word, or after ``=`` or ``:`` (``--transfer-port=9124``,
    ``--contact-hostport=127.0.0.1:9124``, ``--port 9124``); ``19124`` and ``9124x`` are left
    alone."""
    for container_port, host_port in ports.items():
        pattern = re.compile(rf"(?<![^\s=:]){container_port}(?!\S)")
        text = pattern.sub(_literal(str(host_port)), text)
    return text


def _decode(data: Mapping[str, str], binary: Mapping[str, str]) -> dict[str, bytes]:
    out = {key: base64.b64decode(value) for key, value in binary.items()}
    out.update({key: value.encode() for key, value in data.items()})
    return out


def _object_bytes(obj: JSON, kind: str) -> dict[str, bytes]:
    """Key -> bytes of a Secret (base64 ``data``, plain ``stringData`` is never stored) or a
    ConfigMap (plain ``data``, base64 ``binaryData``)."""
    if kind == "secrets":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    return _decode(obj.get("data") or {}, obj.get("binaryData") or {})


def _safe_relative(path: str) -> Path:
    relative = Path(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise UnsupportedError(f"volume item path {path!r} must be relative, without '..'")
    return relative


def _write(path: Path, content: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(content)
    tmp.chmod(mode)
    tmp.replace(path)


# -- fields (downward API) ------------------------------------------------------------------------

_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['([^']*)'\]$")


def field_value(pod: JSON, field_path: str) -> str:
    """A ``fieldRef`` of the downward API, as the kubelet resolves it (IPs are 127.0.0.1)."""
    meta = pod.get("metadata", {})
    spec = pod.get("spec", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": POD_IP,
        "status.podIPs": POD_IP,
        "status.hostIP": POD_IP,
        "status.hostIPs": POD_IP,
    }
    if field_path in simple:
        return str(simple[field_path])
    if match := _SUBSCRIPT.match(field_path):
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if field_path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(field_path.split(".")[1]) or {}
        return "".join(f'{k}="{v}"\n' for k, v in sorted(values.items()))
    raise UnsupportedError(f"fieldRef {field_path!r} is not supported by the host runner")


def resource_value(container: JSON, ref: JSON) -> str:
    """A ``resourceFieldRef``: the container's limit (or request) divided by ``divisor``,
    rounded up, as the kubelet does; an unset limit reads as its request, else 0 (a kubelet
    would give the node's allocatable)."""
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not name:
        raise UnsupportedError(f"resourceFieldRef {resource!r} is not supported")
    resources = container.get("resources") or {}
    amount = (resources.get(kind) or {}).get(name)
    if amount is None:
        amount = (resources.get("requests") or {}).get(name, "0")
    divisor = parse_quantity(ref.get("divisor") or "1")
    return str(math.ceil(parse_quantity(amount) / divisor))


# -- environment --------------------------------------------------------------------------------


def container_env(
    pod: JSON, container: JSON, lookup: Lookup, base: Mapping[str, str]
) -> dict[str, str]:
    """The container's environment over ``base``: ``envFrom`` first, then ``env`` in order,
    each value expanded against what is defined before it (``$(VAR)``)."""
    namespace = pod["metadata"]["namespace"]
    env = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for key, ref_kind in (("configMapRef", "configmaps"), ("secretRef", "secrets")):
            ref = source.get(key)
            if ref is None:
                continue
            obj = lookup(ref_kind, namespace, ref["name"])
            if obj is None:
                if ref.get("optional"):
                    continue
                raise NotReadyError(f"{ref_kind[:-1]} {namespace}/{ref['name']} not found")
            for name, value in _object_bytes(obj, ref_kind).items():
                env[prefix + name] = value.decode("utf-8", "replace")
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand(str(var.get("value", "")), env)
            continue
        source = var["valueFrom"]
        if "fieldRef" in source:
            env[name] = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            env[name] = resource_value(container, source["resourceFieldRef"])
        elif "secretKeyRef" in source or "configMapKeyRef" in source:
            key_ref_name = "secretKeyRef" if "secretKeyRef" in source else "configMapKeyRef"
            ref = source[key_ref_name]
            ref_kind = "secrets" if key_ref_name == "secretKeyRef" else "configmaps"
            obj = lookup(ref_kind, namespace, ref["name"])
            values = _object_bytes(obj, ref_kind) if obj is not None else None
            if values is None or ref["key"] not in values:
                if ref.get("optional"):
                    continue
                raise NotReadyError(
                    f"env {name}: key {ref['key']!r} of {ref_kind[:-1]} "
                    f"{namespace}/{ref['name']} not found"
                )
            env[name] = values[ref["key"]].decode("utf-8", "replace")
        else:
            raise UnsupportedError(f"env {name}: valueFrom {sorted(source)} is not supported")
    return env


# -- volumes ------------------------------------------------------------------------------------


def _key_files(
    values: Mapping[str, bytes],
    items: Sequence[JSON] | None,
    default_mode: int,
    what: str,
    optional: bool,
) -> dict[Path, tuple[bytes, int]]:
    if not items:
        return {_safe_relative(k): (v, default_mode) for k, v in values.items()}
    files: dict[Path, tuple[bytes, int]] = {}
    for item in items:
        if item["key"] not in values:
            if optional:
                continue
            raise NotReadyError(f"key {item['key']!r} of {what} not found")
        files[_safe_relative(item["path"])] = (values[item["key"]], item.get("mode", default_mode))
    return files


def _files_of(
    pod: JSON,
    volume: JSON,
    lookup: Lookup,
    token: TokenSource | None,
    container: JSON,
) -> dict[Path, tuple[bytes, int]] | None:
    """Files of a secret/configMap/downwardAPI/projected volume; None for other kinds."""
    namespace = pod["metadata"]["namespace"]

    def object_files(source: JSON, kind: str, default_mode: int) -> dict[Path, tuple[bytes, int]]:
        name = source["secretName"] if kind == "secrets" else source["name"]
        optional = bool(source.get("optional"))
        obj = lookup(kind, namespace, name)
        what = f"{kind[:-1]} {namespace}/{name}"
        if obj is None:
            if optional:
                return {}
            raise NotReadyError(f"{what} not found")
        return _key_files(
            _object_bytes(obj, kind), source.get("items"), default_mode, what, optional
        )

    def downward_files(source: JSON, default_mode: int) -> dict[Path, tuple[bytes, int]]:
        files: dict[Path, tuple[bytes, int]] = {}
        for item in source.get("items") or []:
            if "fieldRef" in item:
                value = field_value(pod, item["fieldRef"]["fieldPath"])
            elif "resourceFieldRef" in item:
                value = resource_value(container, item["resourceFieldRef"])
            else:
                raise UnsupportedError(f"downwardAPI item {item} is not supported")
            files[_safe_relative(item["path"])] = (value.encode(), item.get("mode", default_mode))
        return files

    if "secret" in volume:
        source = volume["secret"]
        return object_files(source, "secrets", source.get("defaultMode", DEFAULT_FILE_MODE))
    if "configMap" in volume:
        source = volume["configMap"]
        return object_files(source, "configmaps", source.get("defaultMode", DEFAULT_FILE_MODE))
    if "downwardAPI" in volume:
        source = volume["downwardAPI"]
        return downward_files(source, source.get("defaultMode", DEFAULT_FILE_MODE))
    if "projected" in volume:
        projected = volume["projected"]
        mode = projected.get("defaultMode", DEFAULT_FILE_MODE)
        files: dict[Path, tuple[bytes, int]] = {}
        for source in projected.get("sources") or []:
            if "secret" in source:
                files |= object_files(source["secret"], "secrets", mode)
            elif "configMap" in source:
                files |= object_files(source["configMap"], "configmaps", mode)
            elif "downwardAPI" in source:
                files |= downward_files(source["downwardAPI"], mode)
            elif "serviceAccountToken" in source:
                sat = source["serviceAccountToken"]
                account = pod.get("spec", {}).get("serviceAccountName") or "default"
                value = token(namespace, account, sat) if token is not None else ""
                files[_safe_relative(sat["path"])] = (value.encode(), mode)
            else:
                raise UnsupportedError(f"projected source {sorted(source)} is not supported")
        return files
    return None


def materialise_volumes(
    pod: JSON,
    container: JSON,
    volumes_dir: Path,
    lookup: Lookup,
    token: TokenSource | None = None,
) -> list[Mount]:
    """Create each volume mounted by ``container`` under ``volumes_dir/<volume name>`` and
    return the mounts. Files get their modes (``items[].mode``/``defaultMode``); emptyDir is an
    empty directory (kept if it exists: the same pod keeps its data); hostPath stands for
    itself. ``subPath`` selects a path inside the volume. Written again on every call (a
    kubelet refreshes Secret volumes too)."""
    volumes = {v["name"]: v for v in pod.get("spec", {}).get("volumes") or []}
    mounts: list[Mount] = []
    for mount in container.get("volumeMounts") or []:
        name = mount["name"]
        volume = volumes.get(name)
        if volume is None:
            raise UnsupportedError(f"volumeMount {name!r} names no volume of the pod")
        if "hostPath" in volume:
            root = Path(volume["hostPath"]["path"])
        else:
            root = volumes_dir / name
            files = _files_of(pod, volume, lookup, token, container)
            if files is None and "emptyDir" not in volume:
                kinds = sorted(set(volume) - {"name"})
                raise UnsupportedError(f"volume {name!r} of kind {kinds} is not supported")
            root.mkdir(parents=True, exist_ok=True)
            for relative, (content, mode) in (files or {}).items():
                _write(root / relative, content, mode)
        sub_path = mount.get("subPath") or expand(
            mount.get("subPathExpr", ""), {"POD_NAME": pod["metadata"]["name"]}
        )
        local = root / _safe_relative(sub_path) if sub_path else root
        if sub_path and "emptyDir" in volume:
            local.mkdir(parents=True, exist_ok=True)
        mounts.append(Mount(mount_path=mount["mountPath"], local_path=local))
    return mounts


def hosts_file_content(pod: JSON, hostname: str, services: Sequence[str] = ()) -> str:
    """An /etc/hosts as a kubelet writes it, with 127.0.0.1 as the pod's IP: the hostname must
    resolve (``work_queue_worker`` reports garbage as its hostname otherwise). ``services``
    (names of Services in the pod's namespace) resolve to 127.0.0.1 too, under their short and
    cluster names, standing in for cluster DNS: a process of another host-runner pod that
    listens on the Service's port answers there (port == targetPort only)."""
    spec = pod.get("spec") or {}
    namespace = pod["metadata"]["namespace"]
    names = [hostname]
    if spec.get("subdomain"):
        names.insert(0, f"{hostname}.{spec['subdomain']}.{namespace}.svc.cluster.local")
    lines = [
        "# Kubernetes-managed hosts file (written by the e2e host runner).",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        f"{POD_IP}\t{' '.join(names)}",
    ]
    for service in services:
        fqdn = f"{service}.{namespace}.svc"
        lines.append(f"127.0.0.1\t{fqdn}.cluster.local {fqdn} {service}.{namespace} {service}")
    for alias in spec.get("hostAliases") or []:
        lines.append(f"{alias.get('ip', '')}\t{' '.join(alias.get('hostnames') or [])}")
    return "\n".join(lines) + "\n"


# -- the whole launch ---------------------------------------------------------------------------


def pod_hostname(pod: JSON) -> str:
    """The container's hostname as Kubernetes sets it: ``spec.hostname`` or the pod's name,
    cut to 63 characters."""
    hostname = pod.get("spec", {}).get("hostname") or pod["metadata"]["name"]
    return str(hostname)[:63].rstrip("-.")


def launch_spec(
    pod: JSON,
    pod_dir: Path,
    lookup: Lookup,
    *,
    base_env: Mapping[str, str] | None = None,
    token: TokenSource | None = None,
    services: Sequence[str] = (),
    ports: Mapping[int, int] | None = None,
) -> LaunchSpec:
    """Everything to start the pod's first container as a local process.

    ``ports`` maps container ports the runner moved to the host ports that stand in for them
    (processes share the host's network, where two pods cannot both listen on 9124): they are
    replaced in argv and env values by :func:`rewrite_ports`.

    Layout of ``pod_dir``: ``volumes/<name>/`` (mounted volumes), ``home/`` (``HOME`` unless the
    pod sets it), ``work/`` (the working directory when ``workingDir`` is not under a mount),
    ``etc-hosts`` (the process's /etc/hosts).
    Raises :class:`NotReadyError` (retry later) or :class:`UnsupportedError`.
    """
    containers = pod.get("spec", {}).get("containers") or []
    if not containers:
        raise UnsupportedError("the pod has no containers")
    container = containers[0]
    command = [str(x) for x in container.get("command") or []]
    args = [str(x) for x in container.get("args") or []]
    if not command:
        raise UnsupportedError(
            "the first container has no command: the host runner cannot know the image's entrypoint"
        )
    hostname = pod_hostname(pod)
    home = pod_dir / "home"
    work = pod_dir / "work"
    for directory in (home, work):
        directory.mkdir(parents=True, exist_ok=True)
    hosts_file = pod_dir / "etc-hosts"
    _write(hosts_file, hosts_file_content(pod, hostname, services).encode(), DEFAULT_FILE_MODE)
    base = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOSTNAME": hostname,
        "HOME": str(home),
    }
    base.update(base_env or {})
    mounts = materialise_volumes(pod, container, pod_dir / "volumes", lookup, token)
    env = container_env(pod, container, lookup, base)
    moved = dict(ports or {})
    argv = [rewrite_ports(rewrite_paths(expand(a, env), mounts), moved) for a in command + args]
    env = {k: rewrite_ports(rewrite_paths(v, mounts), moved) for k, v in env.items()}
    cwd = work
    if container.get("workingDir"):
        candidate = Path(rewrite_paths(str(container["workingDir"]), mounts))
        if candidate.is_relative_to(pod_dir) or candidate.is_dir():
            cwd = candidate
            cwd.mkdir(parents=True, exist_ok=True)
    return LaunchSpec(
        argv=argv, env=env, cwd=cwd, hostname=hostname, hosts_file=hosts_file, mounts=mounts
    )
