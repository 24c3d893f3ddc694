"""Training-dynamics signals against per-row loops over explicit gradients."""

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from skinfluence.metrics import f1_at_k
from skinfluence.signals import get_signal

from .test_signals import gradient

SELECTIONS = [[0, 1, 2, 3], [1, 2, 3], [0, 2], [3]]


@pytest.fixture(scope="module")
def context(fitted):
    return fitted.scoring_.context(
        fitted.trajectory_.train,
        fitted.scoring_.y_train,
        fitted.scoring_.train_self_index,
    )


def naive_self_influence(fitted, i):
    traj, y = fitted.trajectory_, fitted.scoring_.y_train.numpy()
    h, p = (
        traj.train.h.numpy().astype(np.float64),
        traj.train.p.numpy().astype(np.float64),
    )
    return [
        traj.lrs[t] * np.sum(gradient(h[t, i], p[t, i], y[i]) ** 2)
        for t in range(traj.n_epochs)
    ]


def naive_predictions_right(fitted, i):
    p, y = fitted.trajectory_.train.p.numpy(), fitted.scoring_.y_train.numpy()
    return [int(np.argmax(p[t, i])) == y[i] for t in range(len(p))]


@pytest.mark.parametrize("selected", SELECTIONS)
def test_si_trend_equals_naive_loop(fitted, context, selected):
    result = get_signal("si_trend")(context, np.array(selected))
    third = math.ceil(len(selected) / 3)
    for i in range(6):
        si = naive_self_influence(fitted, i)
        early = np.mean([si[t] for t in selected[:third]])
        late = np.mean([si[t] for t in selected[-third:]])
        assert_allclose(result.scores[i], math.log(late / early), rtol=1e-5, atol=1e-7)
        expected = [math.log(si[t] / early) for t in range(len(si))]
        assert_allclose(result.epoch_scores[i], expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("selected", SELECTIONS)
def test_si_centroid_equals_naive_loop(fitted, context, selected):
    result = get_signal("si_centroid")(context, np.array(selected))
    for i in range(6):
        si = naive_self_influence(fitted, i)
        positions = [s / max(len(selected) - 1, 1) for s in range(len(selected))]
        mass = [si[t] for t in selected]
        expected = sum(w * x for w, x in zip(positions, mass, strict=True)) / sum(mass)
        assert_allclose(result.scores[i], expected, rtol=1e-6)
        assert_allclose(result.epoch_scores[i], np.array(si) / sum(si), rtol=1e-6)


@pytest.mark.parametrize("selected", SELECTIONS)
def test_learning_time_equals_naive_loop(fitted, context, selected):
    result = get_signal("learning_time")(context, np.array(selected))
    for i in range(len(fitted.scoring_.y_train)):
        right = naive_predictions_right(fitted, i)
        learned = len(selected)  # never learned for good
        for s in range(len(selected)):
            if all(right[t] for t in selected[s:]):
                learned = s
                break
        assert result.scores[i] == learned / len(selected)
        assert_array_equal(result.epoch_scores[i], [not r for r in right])


def test_fully_fitted_rows_stay_finite(fitted):
    context = fitted.scoring_.context(
        fitted.trajectory_.train, fitted.scoring_.y_train, None
    )
    context.self_influence()
    context._cache["si"] = torch.zeros_like(context._cache["si"])  # p == onehot
    for name in ("si_trend", "si_centroid"):
        result = get_signal(name)(context, np.arange(fitted.trajectory_.n_epochs))
        assert np.isfinite(result.scores).all()
        assert np.isfinite(result.epoch_scores).all()


def test_label_noise_is_learned_late(fitted, noisy_data, context):
    epochs = fitted.epochs_
    mask = noisy_data["mask"]
    assert f1_at_k(mask, get_signal("learning_time")(context, epochs).scores) >= 0.7
    assert f1_at_k(mask, get_signal("si_centroid")(context, epochs).scores) >= 0.5
