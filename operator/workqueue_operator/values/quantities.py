"""Kubernetes resource quantities, and the megabytes Work Queue counts in.

A quantity is what users write in pod resources: ``"1Gi"``, ``"1500M"``, ``"500m"``, ``"2"``,
``"1.5Gi"``, ``"1e3"``. :func:`parse_quantity` reads one exactly (as a ``Decimal``), and the
helpers turn it into bytes, cores or Work Queue megabytes, and back.

Work Queue's megabyte is a mebibyte. ``work_queue_worker --memory``/``--disk`` and every
memory/disk figure of the manager (``worker_status``, ``task_status``, resource_monitor
summaries) are in CCTools "MB", and CCTools defines ``MEGA`` as ``KILO*KILO`` with ``KILO`` 1024
(``dttools/src/macros.h``); the worker measures its host as ``total / MEGA``
(``work_queue_resources_measure_locally`` in ``work_queue_resources.c``). So 1 MB here is
2**20 bytes, and a worker with ``--memory=1024`` fits a pod whose limit is ``1Gi``.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

MB_BYTES = 2**20
"""Bytes in one CCTools megabyte (``MEGA`` in CCTools' ``macros.h``)."""

_BINARY_SUFFIXES: dict[str, int] = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_DECIMAL_SUFFIXES: dict[str, Decimal] = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>[eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|)$"
)


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity, or one out of range for its use."""


def parse_quantity(text: str) -> Decimal:
    """The exact value of a Kubernetes quantity (``"1.5Gi"`` -> 1610612736, ``"500m"`` -> 0.5).

    Accepts the apiserver's grammar: an optional sign, a decimal number, and one suffix that is
    binary (``Ki`` .. ``Ei``), decimal (``n u m k M G T P E``) or an exponent (``e3``, ``E-2``).
    """
    match = _QUANTITY.match(text)
    if match is None:
        raise QuantityError(f"{text!r} is not a Kubernetes quantity")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as error:  # pragma: no cover - the pattern only admits numbers
        raise QuantityError(f"{text!r} is not a Kubernetes quantity") from error
    suffix = match["suffix"]
    if suffix in _BINARY_SUFFIXES:
        value = number * _BINARY_SUFFIXES[suffix]
    elif suffix in _DECIMAL_SUFFIXES:
        value = number * _DECIMAL_SUFFIXES[suffix]
    else:
        value = number.scaleb(int(suffix[1:]))
    return -value if match["sign"] == "-" else value


def _non_negative(text: str, what: str) -> Decimal:
    value = parse_quantity(text)
    if value < 0:
        raise QuantityError(f"{what} {text!r} is negative")
    return value


def quantity_to_bytes(text: str) -> int:
    """Bytes of a memory or storage quantity, rounded up to a whole byte as the apiserver does
    (``"1Gi"`` -> 1073741824, ``"1500M"`` -> 1500000000)."""
    return math.ceil(_non_negative(text, "size"))


def quantity_to_cores(text: str) -> float:
    """Cores of a CPU quantity (``"500m"`` -> 0.5, ``"2"`` -> 2.0)."""
    return float(_non_negative(text, "cpu"))


def quantity_to_millicores(text: str) -> int:
    """Millicores of a CPU quantity, rounded up as Kubernetes does (``"1.5"`` -> 1500)."""
    return math.ceil(_non_negative(text, "cpu") * 1000)


def bytes_to_mb(size_bytes: int, *, round_up: bool = False) -> int:
    """Bytes as CCTools megabytes (2**20 bytes).

    Rounds down by default, so that a worker told ``--memory`` of the result never claims more
    than the bytes given; ``round_up`` rounds up instead (a worker at least that large).
    """
    if size_bytes < 0:
        raise QuantityError(f"size {size_bytes} is negative")
    whole, rest = divmod(size_bytes, MB_BYTES)
    return whole + 1 if round_up and rest else whole


def quantity_to_mb(text: str, *, round_up: bool = False) -> int:
    """A memory or storage quantity as CCTools megabytes (``"1Gi"`` -> 1024,
    ``"1G"`` -> 953, or 954 with ``round_up``)."""
    return bytes_to_mb(quantity_to_bytes(text), round_up=round_up)


def mb_to_bytes(mb: int) -> int:
    """CCTools megabytes as bytes."""
    if mb < 0:
        raise QuantityError(f"size {mb} MB is negative")
    return mb * MB_BYTES


def bytes_to_quantity(size_bytes: int) -> str:
    """Bytes as the shortest exact binary quantity (``1073741824`` -> ``"1Gi"``,
    ``1536 * 2**20`` -> ``"1536Mi"``, ``1000`` -> ``"1000"``)."""
    if size_bytes < 0:
        raise QuantityError(f"size {size_bytes} is negative")
    if size_bytes == 0:
        return "0"
    for suffix, factor in reversed(_BINARY_SUFFIXES.items()):
        if size_bytes % factor == 0:
            return f"{size_bytes // factor}{suffix}"
    return str(size_bytes)


def mb_to_quantity(mb: int) -> str:
    """CCTools megabytes as an exact quantity for a pod's requests and limits
    (``1024`` -> ``"1Gi"``, ``1500`` -> ``"1500Mi"``)."""
    return bytes_to_quantity(mb_to_bytes(mb))


def cores_to_quantity(cores: float | int | Decimal) -> str:
    """Cores as a CPU quantity: whole cores plainly (``4`` -> ``"4"``), fractions in
    millicores rounded up (``1.5`` -> ``"1500m"``)."""
    value = Decimal(str(cores)) if isinstance(cores, float) else Decimal(cores)
    if value < 0:
        raise QuantityError(f"cpu {cores} is negative")
    if value == value.to_integral_value():
        return str(int(value))
    return f"{math.ceil(value * 1000)}m"
