"""Kubernetes quantities to bytes, cores and CCTools megabytes (2**20 bytes), and back."""

from __future__ import annotations

from decimal import Decimal

import pytest

from workqueue_operator.values.quantities import (
    MB_BYTES,
    QuantityError,
    bytes_to_mb,
    bytes_to_quantity,
    cores_to_quantity,
    mb_to_quantity,
    parse_quantity,
    quantity_to_bytes,
    quantity_to_cores,
    quantity_to_mb,
    quantity_to_millicores,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1Gi", Decimal(2**30)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("1500M", Decimal(1_500_000_000)),
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("1k", Decimal(1000)),
        ("1Ki", Decimal(1024)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("2E", Decimal(2 * 10**18)),
        ("1Ei", Decimal(2**60)),
        (".5", Decimal("0.5")),
        ("100u", Decimal("0.0001")),
        ("-1", Decimal(-1)),
    ],
)
def test_parse_quantity_reads_every_suffix_exactly(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "Gi", "1GB", "1 Gi", "1gi", "1.2.3", "0x10", "1Mi "])
def test_parse_quantity_rejects_what_is_not_a_quantity(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


def test_memory_quantities_to_bytes_round_up_to_whole_bytes() -> None:
    assert quantity_to_bytes("1Gi") == 2**30
    assert quantity_to_bytes("1500M") == 1_500_000_000
    assert quantity_to_bytes("1500m") == 2  # 1.5 bytes
    with pytest.raises(QuantityError):
        quantity_to_bytes("-1Gi")


def test_cpu_quantities_to_cores_and_millicores() -> None:
    assert quantity_to_cores("500m") == 0.5
    assert quantity_to_cores("2") == 2.0
    assert quantity_to_millicores("1.5") == 1500
    assert quantity_to_millicores("1m") == 1


def test_a_cctools_megabyte_is_a_mebibyte() -> None:
    assert MB_BYTES == 2**20
    assert quantity_to_mb("1Gi") == 1024
    assert quantity_to_mb("1.5Gi") == 1536
    assert quantity_to_mb("1500M") == 1430  # 1.5e9 / 2**20 = 1430.5
    assert quantity_to_mb("1G") == 953
    assert quantity_to_mb("1G", round_up=True) == 954
    assert quantity_to_mb("1Gi", round_up=True) == 1024
    assert bytes_to_mb(2**20 - 1) == 0
    assert bytes_to_mb(2**20 - 1, round_up=True) == 1


def test_back_to_quantities_is_exact_and_short() -> None:
    assert mb_to_quantity(1024) == "1Gi"
    assert mb_to_quantity(1536) == "1536Mi"
    assert mb_to_quantity(2 * 1024 * 1024) == "2Ti"
    assert bytes_to_quantity(0) == "0"
    assert bytes_to_quantity(1000) == "1000"
    assert bytes_to_quantity(3 * 1024) == "3Ki"
    for mb in (1, 953, 1024, 4097, 16384):
        assert quantity_to_mb(mb_to_quantity(mb)) == mb


def test_cores_to_quantity() -> None:
    assert cores_to_quantity(4) == "4"
    assert cores_to_quantity(4.0) == "4"
    assert cores_to_quantity(1.5) == "1500m"
    assert cores_to_quantity(0.0005) == "1m"
    assert cores_to_quantity(Decimal("0.25")) == "250m"
    with pytest.raises(QuantityError):
        cores_to_quantity(-1)
