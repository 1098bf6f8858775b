"""What every scenario run shares: the chaos runner's own control plane (started on first use,
torn down at the end), the shared cluster for the real-node scenario, a work directory."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness import Cluster, running_cluster

from faults.bed import apply_crds, log
from faults.controlplane import OwnControlPlane


@dataclass
class RunContext:
    workdir: Path
    keep: bool = False
    nodes: int = 4
    pods_per_node: int = 300
    own: OwnControlPlane | None = None
    _own_cluster: Cluster | None = None
    _shared: Cluster | None = None
    crds_on: set[Path] = field(default_factory=set)

    def own_cluster(self) -> Cluster:
        """A control plane of this run's own (KWOK nodes, delayed-ready stages)."""
        if self._own_cluster is None:
            state = Path(tempfile.mkdtemp(prefix="wq-chaos-cluster-"))
            self.own = OwnControlPlane(state, nodes=self.nodes, pods_per_node=self.pods_per_node)
            log(f"starting a control plane of our own in {state}")
            self._own_cluster = self.own.up()
        self._crds(self._own_cluster)
        return self._own_cluster

    def shared_cluster(self) -> Cluster:
        """The shared local control plane, as it runs (never started, stopped or restarted
        here, and its CRDs left as they are: other checkouts' tests use it)."""
        if self._shared is None:
            self._shared = running_cluster()
        return self._shared

    def _crds(self, cluster: Cluster) -> None:
        if cluster.kubeconfig not in self.crds_on:
            apply_crds(cluster)
            self.crds_on.add(cluster.kubeconfig)

    def close(self) -> None:
        if self.own is not None and not self.keep:
            log(f"stopping our control plane ({self.own.state_dir})")
            self.own.down(purge=True)
