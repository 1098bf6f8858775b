"""``workqueue-operator simulate``: tables, JSON, rule sets, machine size, formats, bad input."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from workqueue_operator.commands import COMMAND_MODULES, simulate
from workqueue_operator.sizing.strategies import STRATEGIES
from workqueue_operator.sizing.strategies.cctools import cctools_strategies

TRACE = """taskid -- core -- memory -- virtual_memory -- disk -- time -- average_cores -- tag
1 -- 1 -- 100 -- 0 -- 50 -- 10 -- 0 -- a
2 -- 1 -- 120 -- 0 -- 50 -- 12 -- 0 -- a
this line is broken
3 -- 2 -- 900 -- 0 -- 60 -- 30 -- 0 -- b
"""
CSV = """category,cores,memory,disk,cpu_time,wall_time
a,1,100,50,5,10
a,1,120,50,6,12
b,2,900,60,20,30
"""
ONE = ["--strategy", "whole-machine", "--machine-cores", "2"]
SMALL_MACHINE = [*ONE, "--machine-memory-mb", "1000", "--machine-disk-mb", "100"]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    simulate.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["simulate", *argv])


def run(argv: list[str]) -> int:
    args = parse(argv)
    code: int = args.func(args)
    return code


def written(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    return written(tmp_path, "resources_all.txt", TRACE)


def test_simulate_is_a_registered_command() -> None:
    assert "simulate" in COMMAND_MODULES


def test_json_has_every_strategy_under_both_rule_sets(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--trace", str(trace), "--json", "--no-cache"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert list(report)[:2] == ["papers", "operator"]
    for rules in ("papers", "operator"):
        assert list(report[rules])[: len(STRATEGIES)] == list(STRATEGIES)
        for scores in report[rules].values():
            assert set(scores) == {"cores", "memory", "disk", "failed_attempts"}
            assert 0 < scores["memory"]["efficiency"] <= 1
    assert "skipped 1 malformed line(s)" in err
    assert "line 4: expected 8 fields separated by '--', found 1" in err


def test_table_for_one_strategy_on_a_given_machine(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--trace", str(trace), *SMALL_MACHINE, "--rules", "papers"]) == 0
    title, header, row = capsys.readouterr().out.splitlines()
    assert title.startswith("papers' rules")
    assert header.split() == ["strategy", "cores", "memory", "disk", "failed"]
    # cores: (10 + 12 + 60) / (2 x 52); memory: (1000 + 1440 + 27000) / (1000 x 52);
    # disk: (500 + 600 + 1800) / (100 x 52)
    assert row.split() == ["whole-machine", "0.788", "0.566", "0.558", "0"]


def test_hindsight_adds_the_best_fixed_ladder_under_each_rule_set(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--trace", str(trace), "--strategy", "adaptive-ladder", "--json", "--no-cache"]
    assert run([*argv, "--hindsight"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["papers"]) == ["adaptive-ladder", simulate.HINDSIGHT]
    assert list(report["operator"]) == ["adaptive-ladder", simulate.HINDSIGHT]
    assert simulate.HINDSIGHT not in report["cctools"]
    # Per category, the ladders of a (100, 120 MB) and b (900 MB) are known before their first
    # tasks, but those run on the whole machine (the rules' cold start): only a's second task,
    # at a's ladder 120, gets less. Memory: (1000 + 1440 + 27000) / (64,000 x 52 - 63,880 x 12).
    memory = report["operator"][simulate.HINDSIGHT]["memory"]["efficiency"]
    assert memory == pytest.approx((1000 + 1440 + 27000) / (64_000 * 52 - 63_880 * 12))
    assert run(argv) == 0
    assert simulate.HINDSIGHT not in json.loads(capsys.readouterr().out)["operator"]


def test_the_papers_csv_gives_the_same_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = written(tmp_path, "tasks.csv", CSV)
    assert run(["--trace", str(path), *SMALL_MACHINE, "--rules", "operator"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split()[1:] == ["0.788", "0.566", "0.558", "0"]


def test_a_csv_without_a_needed_column_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = written(tmp_path, "tasks.csv", CSV.replace("wall_time", "walltime"))
    assert run(["--trace", str(path)]) == 2
    assert "lacks the column(s) wall_time" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-3"])
def test_a_machine_size_that_is_not_positive_and_finite_is_an_error(
    trace: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--trace", str(trace), f"--machine-memory-mb={value}"]) == 2
    err = capsys.readouterr().err
    assert "--machine-memory-mb must be a positive, finite number" in err


def test_a_trace_of_zero_wall_times_is_an_error_not_efficiency_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zeros = "1 -- 0 -- 0 -- 0 -- 0 -- 0 -- 0 -- a\n2 -- 0 -- 0 -- 0 -- 0 -- 0 -- 0 -- a\n"
    path = written(tmp_path, "zeros.txt", zeros)
    assert run(["--trace", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "all 2 task(s) have wall time 0" in err


def test_a_resource_nobody_used_is_a_warning_and_scores_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = written(tmp_path, "t.txt", "1 -- 1 -- 10 -- 0 -- 0 -- 5 -- 0 -- a\n")
    assert run(["--trace", str(path), *ONE, "--rules", "papers"]) == 0
    out, err = capsys.readouterr()
    assert "no task used any disk for any time" in err
    assert out.splitlines()[-1].split()[3] == "0.000"


def test_a_use_above_the_machine_is_capped_with_a_warning(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--trace", str(trace), *ONE, "--machine-memory-mb", "500"]) == 0
    err = capsys.readouterr().err
    assert "1 task(s) used more memory than the machine has (first: task 3, 900 MB > 500 MB)" in err


def test_errors_are_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--trace", str(tmp_path / "missing.txt")]) == 2
    empty = written(tmp_path, "empty.txt", "taskid -- x\n")
    assert run(["--trace", str(empty)]) == 1
    assert run(["--trace", str(empty), "--machine-cores", "0"]) == 2
    assert run(["--trace", str(empty), "--strategy", "no-such-strategy"]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err
    assert "no strategy 'no-such-strategy': choose among whole-machine" in err


def test_without_a_cctools_build_it_says_how_to_get_one(
    trace: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WQ_CACHE_DIR", str(tmp_path / "empty"))
    cctools_strategies.cache_clear()
    try:
        assert run(["--trace", str(trace), "--rules", "papers"]) == 0
        assert run(["--trace", str(trace), "--strategy", "cctools-greedy"]) == 2
    finally:
        cctools_strategies.cache_clear()
    out, err = capsys.readouterr()
    assert "cctools-" not in out
    assert "no CCTools build found" in err
    assert "scripts/cctools.sh devel" in err


@pytest.mark.skipif(not cctools_strategies(), reason="no CCTools build found")
def test_cctools_is_left_out_above_its_task_limit_with_the_reason(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--trace", str(trace), "--cctools-max-tasks", "2", "--no-cache"]) == 0
    out, err = capsys.readouterr()
    assert "cctools-" not in out
    assert "CCTools' modes left out: a learner would see 3 tasks" in err
    argv = ["--trace", str(trace), "--rules", "operator", "--cctools-max-tasks", "2", "--no-cache"]
    assert run(argv) == 0
    assert "cctools-greedy " in capsys.readouterr().out  # per category: 2 tasks at most
