"""K-means bucketing (Phung et al.'s simulator): 1-D k-means per resource, seeded.

Each resource's distinct values are clustered by weighted 1-D k-means (weighted by how many
tasks had each value): two clusters exactly (:func:`two_means_ladder`), more with
scikit-learn's ``KMeans`` (``random_state`` = the strategy seed); a bucket is a cluster, its
value the cluster's largest member and its share the cluster's weight. The cluster count is
``DEFAULT_CLUSTERS`` (the published simulator's configuration), at most the number of distinct
values. Allocation draws and retries are the published per-resource scheme.

Fitting is the costly part, so the replay refits after every task for the first
``EXACT_REFITS`` tasks and then whenever the history has grown by 1 %.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from workqueue_operator.sizing.buckets import Ladder, Ladders, Rung
from workqueue_operator.sizing.strategies.base import StrategyConfig
from workqueue_operator.sizing.strategies.history import (
    FloatArray,
    History,
    grown_by_one_percent,
)
from workqueue_operator.sizing.strategies.per_resource import (
    PerResourceBucketing,
    compute_ladders,
)

DEFAULT_CLUSTERS = 2


def kmeans_ladder(
    values: FloatArray, weights: FloatArray, clusters: int = DEFAULT_CLUSTERS, seed: int = 0
) -> Ladder:
    """Buckets of sorted distinct values by weighted 1-D k-means."""
    count = min(max(1, clusters), len(values))
    if count == 1:
        return (Rung(float(values[-1]), 1.0),)
    if count == 2:
        return two_means_ladder(values, weights)
    # Imported here: scikit-learn takes over a second to import, and only k-means needs it.
    from sklearn.cluster import KMeans  # noqa: PLC0415
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # noqa: PLC0415

    with threadpool_limits(limits=1):
        model = KMeans(n_clusters=count, n_init=1, random_state=seed, algorithm="lloyd")
        labels = model.fit_predict(values.reshape(-1, 1), sample_weight=weights)
    total = float(weights.sum())
    rungs = []
    for label in np.unique(labels):
        members = labels == label
        rungs.append(Rung(float(values[members].max()), float(weights[members].sum()) / total))
    return tuple(sorted(rungs, key=lambda rung: rung.value))


def two_means_ladder(values: FloatArray, weights: FloatArray) -> Ladder:
    """The weighted 2-means partition of sorted distinct values, found exactly.

    In one dimension a k-means cluster is a run of sorted values, so the best 2-partition is
    the split with the least within-cluster sum of squares, from prefix sums in O(n). This is
    the partition Lloyd's algorithm (scikit-learn's KMeans) converges to from a good start;
    computing it directly is deterministic and a thousand times cheaper, which matters when
    k-means is refitted over and over in a 30,000-task replay. Ties take the lowest split.
    """
    left_w = np.cumsum(weights)[:-1]
    left_vw = np.cumsum(values * weights)[:-1]
    left_vvw = np.cumsum(values * values * weights)[:-1]
    total_w, total_vw = float(weights.sum()), float(values @ weights)
    total_vvw = float((values * values) @ weights)
    right_w = total_w - left_w
    sse = (
        left_vvw
        - left_vw**2 / left_w
        + (total_vvw - left_vvw)
        - (total_vw - left_vw) ** 2 / right_w
    )
    split = int(np.argmin(sse))
    low = float(left_w[split]) / total_w
    return (Rung(float(values[split]), low), Rung(float(values[-1]), 1.0 - low))


def counts(size: int) -> FloatArray:
    """Every task weighs 1 (k-means bucketing has no significance)."""
    return np.ones(size, dtype=np.float64)


def kmeans_ladders(history: History, config: StrategyConfig) -> Ladders:
    """K-means ladders of a non-empty history (at most ``config.max_buckets`` clusters)."""
    clusters = min(DEFAULT_CLUSTERS, config.max_buckets)
    ladder = partial(kmeans_ladder, clusters=clusters, seed=config.seed)
    return compute_ladders(history, ladder, counts)


def kmeans_bucketing(config: StrategyConfig) -> PerResourceBucketing:
    """The k-means bucketing strategy (pooled, random draws, cold start on the machine)."""
    ladder = partial(kmeans_ladder, clusters=DEFAULT_CLUSTERS, seed=config.seed)
    return PerResourceBucketing(config, ladder, counts, refresh=grown_by_one_percent)
