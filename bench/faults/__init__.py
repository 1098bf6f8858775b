"""The fault-injection runner behind ``bench/chaos.py``: a control plane of its own, real CCTools
managers and workers, the operator as a process, faults injected, and every figure read back
from the manager's own records and the apiserver (see docs/reliability.md)."""
