"""``workqueue-operator simulate``: table, JSON, machine size, errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from workqueue_operator.commands import COMMAND_MODULES, simulate
from workqueue_operator.sizing.strategies import STRATEGIES

TRACE = """taskid -- core -- memory -- virtual_memory -- disk -- time -- average_cores -- tag
1 -- 1 -- 100 -- 0 -- 50 -- 10 -- 0 -- a
2 -- 1 -- 120 -- 0 -- 50 -- 12 -- 0 -- a
this line is broken
3 -- 2 -- 900 -- 0 -- 60 -- 30 -- 0 -- b
"""


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    simulate.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["simulate", *argv])


def run(argv: list[str]) -> int:
    args = parse(argv)
    code: int = args.func(args)
    return code


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    path = tmp_path / "resources_all.txt"
    path.write_text(TRACE)
    return path


def test_simulate_is_a_registered_command() -> None:
    assert "simulate" in COMMAND_MODULES


def test_json_has_every_strategy_and_the_documented_shape(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--trace", str(trace), "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert list(report) == list(STRATEGIES)
    for scores in report.values():
        assert set(scores) == {"cores", "memory", "disk", "failed_attempts"}
        assert 0 < scores["memory"]["efficiency"] <= 1
    assert "skipped 1 malformed line(s)" in err


def test_table_for_one_strategy_on_a_given_machine(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--trace", str(trace), "--strategy", "whole-machine", "--machine-cores", "2"]
    assert run([*argv, "--machine-memory-mb", "1000", "--machine-disk-mb", "100"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["strategy", "cores", "memory", "disk", "failed"]
    # cores: (10 + 12 + 60) / (2 x 52); memory: (1000 + 1440 + 27000) / (1000 x 52);
    # disk: (500 + 600 + 1800) / (100 x 52)
    assert row.split() == ["whole-machine", "0.788", "0.566", "0.558", "0"]


def test_errors_are_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--trace", str(tmp_path / "missing.txt")]) == 2
    empty = tmp_path / "empty.txt"
    empty.write_text("taskid -- x\n")
    assert run(["--trace", str(empty)]) == 1
    assert run(["--trace", str(empty), "--machine-cores", "0"]) == 2
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(["--trace", str(empty), "--strategy", "no-such-strategy"])
