"""Regression last-layer TracIn against autograd, a naive loop and Captum's TracInCP."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from skinfluence import InfluenceGlitchRegressor
from skinfluence.tracin import (
    influence_block,
    regression_errors,
    regression_loss,
)
from skinfluence.tracin._captum import captum_tracin

from .conftest import tiny_regression_net


@pytest.mark.parametrize(
    "criterion",
    [
        torch.nn.MSELoss(),
        torch.nn.MSELoss(reduction="sum"),
        torch.nn.HuberLoss(delta=0.7),
        torch.nn.SmoothL1Loss(beta=0.5),
        torch.nn.L1Loss(),
    ],
    ids=["mse", "mse-sum", "huber", "smooth-l1", "l1"],
)
def test_regression_errors_are_the_per_row_loss_gradient(criterion):
    torch.manual_seed(0)
    pred = torch.randn(7, 2, requires_grad=True)
    y = torch.randn(7, 2)
    # The per-row loss, as TracIn differentiates it: one criterion call per row.
    sum(criterion(pred[i : i + 1], y[i : i + 1]) for i in range(len(y))).backward()
    name, threshold, reduction = regression_loss(criterion)
    e = regression_errors(pred.detach(), y, name, threshold, reduction)
    assert_allclose(e.numpy(), pred.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_unsupported_criteria_are_rejected():
    with pytest.raises(TypeError, match="no closed-form"):
        regression_loss(torch.nn.PoissonNLLLoss)
    with pytest.raises(TypeError, match="reduction='none'"):
        regression_loss(torch.nn.MSELoss(reduction="none"))


def _closed_form(det, X_ref_rows=None):
    """Summed I(i, j) over epochs, training rows on reference rows, from the factors."""
    traj = det.trajectory_
    name, threshold, reduction = det.scoring_.loss
    ref, y_ref = det.scoring_.reference()
    total = 0
    for t in range(traj.n_epochs):
        e = regression_errors(
            traj.train.p[t], det.scoring_.y_train, name, threshold, reduction
        )
        e_ref = regression_errors(ref.p[t], y_ref, name, threshold, reduction)
        total = total + influence_block(
            traj.train.h[t], e, ref.h[t], e_ref, traj.lrs[t]
        )
    return total


def test_mse_influence_and_self_influence_equal_captum(
    fitted_regressor, regression_data
):
    d, det = regression_data, fitted_regressor
    y_val = det.scoring_.y_reference.numpy()
    influence, self_influence = captum_tracin(
        det.estimator_.module_,
        det.trajectory_,
        d["X"],
        det.scoring_.y_train.numpy(),
        d["X_val"],
        y_val,
        loss_fn=torch.nn.MSELoss(reduction="sum"),
    )
    assert_allclose(_closed_form(det).numpy(), influence.numpy(), rtol=1e-4, atol=1e-6)
    assert_allclose(
        det.compute_signal("self").scores, self_influence.numpy(), rtol=1e-4
    )
    # Marginal and absolute are reductions of that same matrix.
    assert_allclose(
        det.compute_signal("marginal").scores,
        -influence.sum(1).numpy(),
        rtol=1e-4,
        atol=1e-5,
    )
    assert_allclose(
        det.compute_signal("absolute").scores,
        influence.abs().mean(1).numpy(),
        rtol=1e-4,
        atol=1e-6,
    )


def test_huber_self_influence_equals_captum(regression_data):
    d = regression_data
    net = tiny_regression_net(criterion=torch.nn.HuberLoss, criterion__delta=0.5)
    det = InfluenceGlitchRegressor(
        net, signal="self", random_state=0, standardize=False
    )
    det.fit(d["X"], d["y"])
    assert det.scoring_.loss == ("HuberLoss", 0.5, "mean")
    _, self_influence = captum_tracin(
        det.estimator_.module_,
        det.trajectory_,
        d["X"],
        det.scoring_.y_train.numpy(),
        loss_fn=torch.nn.HuberLoss(delta=0.5, reduction="sum"),
    )
    assert_allclose(det.glitch_scores_, self_influence.numpy(), rtol=1e-4)


def test_influence_equals_a_naive_per_sample_loop(fitted_regressor, regression_data):
    """Autograd on five rows, one at a time, at every stored checkpoint."""
    d, det = regression_data, fitted_regressor
    module = det.estimator_.module_
    rows, refs = [0, 3, 7, 11, 19], [1, 2, 5]
    X = torch.as_tensor(d["X"])
    X_val = torch.as_tensor(d["X_val"])
    y, y_val = det.scoring_.y_train, det.scoring_.y_reference

    def gradient(x, target):
        module.zero_grad()
        torch.nn.functional.mse_loss(module(x[None]), target[None]).backward()
        return torch.cat([module.head.weight.grad.ravel(), module.head.bias.grad])

    expected = np.zeros((len(rows), len(refs)))
    for t, lr in enumerate(det.trajectory_.lrs):
        module.load_state_dict(det.trajectory_.state(t))
        module.eval()
        for a, i in enumerate(rows):
            g_i = gradient(X[i], y[i])
            for b, j in enumerate(refs):
                expected[a, b] += lr * float(g_i @ gradient(X_val[j], y_val[j]))
    ours = _closed_form(det)[rows][:, refs]
    assert_allclose(ours.numpy(), expected, rtol=1e-4, atol=1e-7)
