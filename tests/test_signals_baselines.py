"""Baselines against replayed logits, per-row loops, scikit-learn and cleanlab."""

import copy
import sys

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.neighbors import NearestNeighbors

from skinfluence import InfluenceGlitchDetector
from skinfluence.metrics import f1_at_k
from skinfluence.signals import get_signal

from .conftest import tiny_net

SELECTIONS = [[0, 1, 2, 3], [0, 2, 3], [2]]


@pytest.fixture(scope="module")
def context(fitted):
    return fitted.scoring_.context(
        fitted.trajectory_.train,
        fitted.scoring_.y_train,
        fitted.scoring_.train_self_index,
    )


@pytest.fixture(scope="module")
def logits(fitted, noisy_data):
    """Logits of every epoch, replayed from the stored module states."""
    module = copy.deepcopy(fitted.estimator_.module_)  # the fixture's stays as it is
    X = torch.as_tensor(noisy_data["X"])
    out = []
    with torch.no_grad():
        for state in fitted.trajectory_.states:
            module.load_state_dict(state)
            out.append(module(X).double().numpy())
    return np.stack(out)  # (T, n, K)


def labels(fitted):
    return fitted.scoring_.y_train.numpy()


@pytest.mark.parametrize("selected", SELECTIONS)
def test_aum_is_minus_the_mean_logit_margin(fitted, context, logits, selected):
    y = labels(fitted)
    result = get_signal("aum")(context, np.array(selected))
    for i in range(len(y)):
        margins = [
            logits[t, i, y[i]] - max(z for k, z in enumerate(logits[t, i]) if k != y[i])
            for t in range(len(logits))
        ]
        assert_allclose(
            result.epoch_scores[i], -np.array(margins), rtol=1e-4, atol=1e-4
        )
        expected = -np.mean([margins[t] for t in selected])
        assert_allclose(result.scores[i], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("selected", SELECTIONS)
def test_loss_is_the_mean_cross_entropy(fitted, context, logits, selected):
    y = torch.as_tensor(labels(fitted))
    result = get_signal("loss")(context, np.array(selected))
    per_epoch = np.stack(
        [
            torch.nn.functional.cross_entropy(torch.as_tensor(z), y, reduction="none")
            for z in logits
        ],
        axis=1,
    )
    assert_allclose(result.epoch_scores, per_epoch, rtol=1e-4, atol=1e-5)
    assert_allclose(result.scores, per_epoch[:, selected].mean(1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("selected", SELECTIONS)
def test_data_maps_equal_naive_loop(fitted, context, selected):
    p, y = fitted.trajectory_.train.p.numpy().astype(np.float64), labels(fitted)
    conf = get_signal("confidence")(context, np.array(selected))
    var = get_signal("variability")(context, np.array(selected))
    for i in range(len(y)):
        given = [p[t, i, y[i]] for t in selected]
        assert_allclose(conf.scores[i], -np.mean(given), rtol=1e-7)
        assert_allclose(var.scores[i], np.std(given), rtol=1e-7, atol=1e-12)
        assert_allclose(conf.epoch_scores[i], -p[:, i, y[i]], rtol=1e-7)


@pytest.mark.parametrize("selected", SELECTIONS)
def test_forgetting_equals_naive_loop(fitted, context, selected):
    p, y = fitted.trajectory_.train.p.numpy(), labels(fitted)
    result = get_signal("forgetting")(context, np.array(selected))
    for i in range(len(y)):
        right = [int(np.argmax(p[t, i])) == y[i] for t in range(len(p))]
        events = sum(right[a] and not right[b] for a, b in zip(selected, selected[1:]))
        never = not any(right[t] for t in selected)
        assert result.scores[i] == (len(selected) if never else events)
        expected = [0] + [int(right[t - 1] and not right[t]) for t in range(1, len(p))]
        assert_array_equal(result.epoch_scores[i], expected)


def test_knn_disagreement_matches_sklearn_with_a_held_out_reference(
    fitted_val, noisy_data
):
    det = fitted_val  # reference = X_val: no self pairs
    context = det.scoring_.context(det.trajectory_.train, det.scoring_.y_train, None)
    y, y_ref = det.scoring_.y_train.numpy(), det._encode(noisy_data["y_val"])
    for t in (0, det.trajectory_.n_epochs - 1):
        h = det.trajectory_.train.h[t].numpy().astype(np.float64)
        h_ref = det.trajectory_.reference.h[t].numpy().astype(np.float64)
        _, neighbors = NearestNeighbors(n_neighbors=10).fit(h_ref).kneighbors(h)
        expected = (y_ref[neighbors] != y[:, None]).mean(1)
        result = get_signal("knn_disagreement")(context, np.array([0, t]))
        assert_allclose(result.scores, expected)
        assert_allclose(result.epoch_scores[:, t], expected)


def test_knn_disagreement_leaves_the_row_itself_out(fitted, context):
    h, y = fitted.trajectory_.train.h[-1].numpy().astype(np.float64), labels(fitted)
    result = get_signal("knn_disagreement")(context, fitted.epochs_)
    for i in range(5):
        distances = np.linalg.norm(h - h[i], axis=1)
        distances[i] = np.inf
        nearest = np.argsort(distances, kind="stable")[:10]
        assert result.scores[i] == np.mean(y[nearest] != y[i])


def test_cleanlab_bridge_scores_mean_probabilities(fitted, context):
    rank = pytest.importorskip("cleanlab.rank")
    p, y = fitted.trajectory_.train.p.numpy().astype(np.float64), labels(fitted)
    result = get_signal("cleanlab")(context, np.array([1, 3]))
    mean = p[[1, 3]].mean(0)
    quality = rank.get_label_quality_scores(
        y, mean / mean.sum(1, keepdims=True), method="normalized_margin"
    )
    assert_allclose(result.scores, 1 - quality, rtol=1e-6)
    assert result.epoch_scores.shape == p.shape[1::-1]


def test_cleanlab_missing_names_the_extra(context, monkeypatch):
    monkeypatch.setitem(sys.modules, "cleanlab", None)
    monkeypatch.setitem(sys.modules, "cleanlab.rank", None)
    with pytest.raises(ImportError, match=r"pip install skinfluence\[cleanlab\]"):
        get_signal("cleanlab")(context, np.array([0]))


@pytest.mark.parametrize(
    "name", ["loss", "aum", "confidence", "forgetting", "knn_disagreement"]
)
def test_label_noise_baselines_find_flipped_labels(fitted, context, noisy_data, name):
    scores = get_signal(name)(context, fitted.epochs_).scores
    assert f1_at_k(noisy_data["mask"], scores) >= 0.8


def test_a_baseline_drives_the_detector(noisy_data):
    d = noisy_data
    det = InfluenceGlitchDetector(
        tiny_net(), signal="aum", random_state=0, novelty=True
    )
    det.fit(d["X"], d["y"])
    assert det.epoch_scores_.shape == (len(d["y"]), 4)
    # aum reads no reference: the training rows score the same as new rows.
    assert_allclose(det.score_samples(d["X"], d["y"]), -det.glitch_scores_)
    assert f1_at_k(d["mask"], det.glitch_scores_) >= 0.8


PER_EPOCH = ["loss", "aum", "confidence", "knn_disagreement", "cleanlab"]


@pytest.mark.parametrize("name", PER_EPOCH)
def test_epoch_scores_are_the_signal_on_one_epoch(fitted, context, name):
    if name == "cleanlab":
        pytest.importorskip("cleanlab")
    result = get_signal(name)(context, fitted.epochs_)
    for t in range(fitted.trajectory_.n_epochs):
        alone = get_signal(name)(context, np.array([t])).scores
        assert_allclose(result.epoch_scores[:, t], alone, rtol=1e-6, atol=1e-9)
