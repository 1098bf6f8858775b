"""Parts of ``bench/bench_scale.py``: the control plane instance and what measures it
(``infra``), this operator's phases (``ours``), the dask-kubernetes operator's (``peer``), the
table (``report``)."""
