"""Torch intra-op threads: chosen by problem size, the caller's count restored."""

import os

import joblib
import pytest
import torch
from skorch.callbacks import Callback

from skinfluence import InfluenceGlitchDetector, InfluenceGlitchRegressor
from skinfluence._threads import (
    SMALL_OPERAND,
    default_threads,
    resolve_threads,
    torch_threads,
)
from skinfluence.cli import main

from .conftest import tiny_net, tiny_regression_net

# Both estimators, with their template and the data fixture they fit.
ESTIMATORS = {
    "detector": (InfluenceGlitchDetector, tiny_net, "noisy_data"),
    "regressor": (InfluenceGlitchRegressor, tiny_regression_net, "regression_data"),
}


@pytest.fixture
def two_threads():
    """torch runs on 2 threads during the test (the suite runs on 1)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def test_the_count_is_restored_even_when_the_block_raises(two_threads):
    with pytest.raises(RuntimeError, match="boom"), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_auto_uses_one_thread_on_small_operands(two_threads):
    assert resolve_threads("auto", SMALL_OPERAND - 1) == 1
    assert resolve_threads(None, 64 * 64) == 1
    assert resolve_threads(3, 10) == 3
    assert resolve_threads(-1, 10) >= 1


@pytest.mark.parametrize("load, expected", [(0.0, 2), (1.0, 2), (50.0, 1)])
def test_auto_keeps_torch_count_on_large_operands_unless_the_cores_are_busy(
    two_threads, monkeypatch, load, expected
):
    monkeypatch.setattr(joblib, "cpu_count", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert resolve_threads("auto", SMALL_OPERAND) == expected


class _RecordThreads(Callback):
    def initialize(self):
        self.seen_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.seen_.append(torch.get_num_threads())


@pytest.mark.parametrize("kind", ESTIMATORS)
@pytest.mark.parametrize("n_threads, expected", [("auto", 1), (3, 3)])
def test_fit_runs_on_the_chosen_count_and_restores_it(
    request, two_threads, kind, n_threads, expected
):
    estimator, net, data = ESTIMATORS[kind]
    data = request.getfixturevalue(data)
    record = _RecordThreads()
    det = estimator(
        net(max_epochs=2, callbacks=[("threads", record)]),
        n_threads=n_threads,
        random_state=0,
        novelty=True,
    ).fit(data["X"], data["y"])
    assert dict(det.estimator_.callbacks_)["threads"].seen_ == [expected, expected]
    assert torch.get_num_threads() == 2
    det.score_samples(data["X"][:5] + 1)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_default_threads_sets_what_auto_means(request, two_threads, kind):
    estimator, net, data = ESTIMATORS[kind]
    data = request.getfixturevalue(data)
    record = _RecordThreads()
    det = estimator(net(max_epochs=1, callbacks=[("threads", record)]), random_state=0)
    with default_threads(3):
        det.fit(data["X"], data["y"])
    assert dict(det.estimator_.callbacks_)["threads"].seen_ == [3]
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("command", ["demo", "audit"])
def test_the_command_line_checks_threads(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--threads", "0"])
    assert "expected 'auto', a positive count or -1" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["demo", "audit"])
def test_the_command_line_passes_threads_on(command, monkeypatch):
    seen = []

    def run(args, *parser):
        seen.append(resolve_threads("auto", SMALL_OPERAND - 1))
        return 0

    monkeypatch.setattr(f"skinfluence.cli._{command}", run)
    assert main([command, "--threads", "3"]) == 0
    assert main([command]) == 0
    assert seen == [3, 1]
