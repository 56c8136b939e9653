"""Session 14: the paper's stopping rule for variable-length training (PAPER.md, "Success
criterion": Figure 7 stopped below 100 of 10,000 wrong; variable-length training stopped at 0 of
10,000) is the default, on the command line and in TrainConfig.for_task."""
from __future__ import annotations

import pytest

from tasks.cli import _config, build_parser
from tasks.train import TrainConfig


@pytest.mark.parametrize("argv, target", [
    (["train", "temporal-order", "--length", "50"], 0.01),                          # fixed length: < 1%
    (["train", "temporal-order", "--length", "50", "--max-length", "201"], 0.0),    # variable: 0 errors
    (["train", "addition", "--length", "50", "--max-length", "201", "--target-error", "0.02"], 0.02),
    (["train", "memorization", "--length", "50", "--target-error", "0"], 0.0),
])
def test_target_error_default_follows_the_papers_rule(argv, target):
    assert _config(build_parser().parse_args(argv)).target_error == target


def test_for_task_gives_variable_length_runs_the_zero_error_target():
    assert TrainConfig.for_task("temporal_order", length=50, max_length=201).target_error == 0.0
    assert TrainConfig.for_task("temporal_order", length=50).target_error == 0.01
    assert TrainConfig.for_task("temporal_order", length=50, max_length=201, target_error=0.05).target_error == 0.05


def test_a_bad_target_is_still_refused_in_one_line():
    from tasks.runfiles import RunError
    with pytest.raises(RunError, match="--target-error is a fraction"):
        _config(build_parser().parse_args(["train", "temporal-order", "--target-error", "1.5"]))
