"""Every signal against a naive per-pair loop over explicit gradients."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skinfluence import InfluenceGlitchDetector
from skinfluence.signals import available, get_signal, register

from .conftest import REF, ROWS, small_context, tiny_net


def gradient(h, p, y):
    """Flattened last-layer gradient [e h^T, e] of one row, written out plainly."""
    e = p.copy()
    e[y] -= 1.0
    return np.concatenate([np.outer(e, h).ravel(), e])


def naive_influence(traj, rows, y_rows, ref, y_ref, epochs):
    """I[t, a, b] for rows a and reference rows b, one pair at a time."""
    h, p = (
        traj.train.h.numpy().astype(np.float64),
        traj.train.p.numpy().astype(np.float64),
    )
    out = np.zeros((len(epochs), len(rows), len(ref)))
    for s, t in enumerate(epochs):
        for a, i in enumerate(rows):
            for b, j in enumerate(ref):
                g_i = gradient(h[t, i], p[t, i], y_rows[a])
                g_j = gradient(h[t, j], p[t, j], y_ref[b])
                out[s, a, b] = traj.lrs[t] * g_i @ g_j
    return out


def naive_signal(name, influence, self_pairs, y_rows, y_ref, n_classes, selected):
    """The signal's definition applied to the explicit per-pair values."""
    total = influence[selected].sum(0)
    scores = []
    for a in range(total.shape[0]):
        keep = [b for b in range(total.shape[1]) if (a, b) not in self_pairs]
        if name == "marginal":
            scores.append(-sum(total[a, b] for b in keep))
        elif name == "absolute":
            scores.append(np.mean([abs(total[a, b]) for b in keep]))
        elif name == "gd_class":
            means = [
                np.mean([total[a, b] for b in keep if y_ref[b] == k])
                for k in range(n_classes)
                if any(y_ref[b] == k for b in keep)
            ]
            scores.append(-min(means))
    return np.array(scores)


@pytest.fixture(scope="module")
def case(fitted):
    """8 scored rows, 10 reference rows, four rows in both (self pairs left out)."""
    traj = fitted.trajectory_
    y = fitted.scoring_.y_train.numpy()
    context = small_context(traj, y)
    epochs = list(range(traj.n_epochs))
    influence = naive_influence(traj, ROWS, y[ROWS], REF, y[REF], epochs)
    self_pairs = {(4, 0), (5, 1), (6, 2), (7, 3)}
    return context, influence, self_pairs, y[ROWS], y[REF]


PER_EPOCH_SIGNALS = [
    "cnci",
    "pcid",
    "cfrank",
    "feature_support",
    "knn_distance",
    "mahalanobis",
    "own_class_help",
]


@pytest.mark.parametrize("name", PER_EPOCH_SIGNALS)
def test_epoch_scores_are_the_signal_on_one_epoch(fitted, name):
    traj = fitted.trajectory_
    context = small_context(traj, fitted.scoring_.y_train.numpy())
    result = get_signal(name)(context, np.arange(traj.n_epochs))
    assert result.scores.shape == (len(ROWS),)
    assert result.epoch_scores.shape == (len(ROWS), traj.n_epochs)
    assert np.isfinite(result.epoch_scores).all()
    for t in range(traj.n_epochs):
        alone = get_signal(name)(context, np.array([t])).scores
        assert_allclose(result.epoch_scores[:, t], alone, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ["marginal", "absolute", "gd_class"])
@pytest.mark.parametrize("selected", [[0, 1, 2, 3], [1, 3]])
def test_joint_signals_equal_naive_loop(case, name, selected):
    context, influence, self_pairs, y_rows, y_ref = case
    result = get_signal(name)(context, np.array(selected))
    expected = naive_signal(name, influence, self_pairs, y_rows, y_ref, 3, selected)
    assert_allclose(result.scores, expected, rtol=1e-4, atol=1e-6)
    for t in range(influence.shape[0]):
        alone = naive_signal(name, influence, self_pairs, y_rows, y_ref, 3, [t])
        assert_allclose(result.epoch_scores[:, t], alone, rtol=1e-4, atol=1e-6)


def test_self_influence_equals_naive_loop(fitted):
    traj, y = fitted.trajectory_, fitted.scoring_.y_train.numpy()
    h, p = (
        traj.train.h.numpy().astype(np.float64),
        traj.train.p.numpy().astype(np.float64),
    )
    for i in range(5):
        per_epoch = [
            traj.lrs[t] * np.sum(gradient(h[t, i], p[t, i], y[i]) ** 2)
            for t in range(traj.n_epochs)
        ]
        assert_allclose(fitted.epoch_scores_[i], per_epoch, rtol=1e-5)
        assert_allclose(fitted.glitch_scores_[i], sum(per_epoch), rtol=1e-5)


def test_gd_class_suggestion_is_the_most_harmed_class(case):
    context, influence, self_pairs, y_rows, y_ref = case
    result = get_signal("gd_class")(context, np.arange(influence.shape[0]))
    total = influence.sum(0)
    for a, suggested in enumerate(result.extras["suggested_class"]):
        values = {
            k: [
                total[a, b]
                for b in range(len(y_ref))
                if y_ref[b] == k and (a, b) not in self_pairs
            ]
            for k in range(3)
        }
        # A class without reference rows carries no evidence, as in the signal.
        means = {k: np.mean(v) for k, v in values.items() if v}
        assert suggested == min(means, key=means.get)


def test_detector_reference_from_training_rows_leaves_self_out(noisy_data):
    d = noisy_data
    det = InfluenceGlitchDetector(tiny_net(), signal="marginal", random_state=0)
    det.fit(d["X"], d["y"])
    assert_allclose(det.reference_indices_, np.arange(120))
    traj, y = det.trajectory_, det.scoring_.y_train.numpy()
    rows = np.arange(3)
    influence = naive_influence(
        traj, rows, y[rows], np.arange(120), y, range(traj.n_epochs)
    )
    expected = naive_signal(
        "marginal", influence, {(0, 0), (1, 1), (2, 2)}, y[rows], y, 3, slice(None)
    )
    assert_allclose(det.glitch_scores_[:3], expected, rtol=1e-4)


def test_absolute_does_not_depend_on_chunking(noisy_data):
    d = noisy_data
    small = InfluenceGlitchDetector(
        tiny_net(), signal="absolute", working_memory=0.01, random_state=0
    )
    large = InfluenceGlitchDetector(tiny_net(), signal="absolute", random_state=0)
    assert_allclose(
        small.fit(d["X"], d["y"]).glitch_scores_,
        large.fit(d["X"], d["y"]).glitch_scores_,
        rtol=1e-6,
    )


def test_unknown_signal_names_the_choices(noisy_data):
    with pytest.raises(ValueError, match="available signals"):
        InfluenceGlitchDetector(signal="nope").fit(noisy_data["X"], noisy_data["y"])


def test_register_refuses_targets_outside_the_vocabulary():
    with pytest.raises(ValueError, match="targets must be"):
        register("typo", description="x", targets=("label-noise",))
    with pytest.raises(ValueError, match="targets must be"):
        register("none", description="x", targets=())
    assert "typo" not in set(available()["name"])


@pytest.mark.parametrize("layers", [None, ["head"]], ids=["closed-form", "gradients"])
def test_total_influence_is_the_sum_of_the_class_sums(noisy_data, layers):
    # marginal's O(n K d) path against the per-class sums, self pairs left
    # out (the reference is drawn from the training rows).
    d = noisy_data
    det = InfluenceGlitchDetector(
        tiny_net(), layers=layers, reference_size=60, random_state=0
    ).fit(d["X"], d["y"])
    total = det.scoring_.context().total_influence()
    sums = det.scoring_.context().class_sums()
    assert_allclose(total, sums.sum(2).T, rtol=1e-4, atol=1e-6)
