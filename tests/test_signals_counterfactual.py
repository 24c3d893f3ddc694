"""CNCI, PCID and CFRank against explicit relabelled per-pair loops."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import rankdata

from skinfluence import InfluenceGlitchDetector
from skinfluence.metrics import f1_at_k
from skinfluence.signals import get_signal
from skinfluence.tracin import errors, influence_block

from .conftest import REF, ROWS, small_context, tiny_net
from .test_signals import naive_influence

SELF_PAIRS = {(4, 0), (5, 1), (6, 2), (7, 3)}


@pytest.fixture(scope="module")
def case(fitted):
    """8 scored rows, 10 reference rows, four rows in both (self pairs left out)."""
    traj = fitted.trajectory_
    y = fitted.scoring_.y_train.numpy()
    return small_context(traj, y), traj, y


def relabelled_influence(traj, y, labels, epochs):
    """Per-pair influence, row ``a`` carrying ``labels[a]``, summed over ``epochs``."""
    return np.stack(
        [
            naive_influence(traj, [i], [c], REF, y[REF], epochs).sum(0)[0]
            for i, c in zip(ROWS, labels, strict=True)
        ]
    )


def class_sums(total, y_ref, part):
    """``sum_{j in V_k, j != i} part(I(i, j))`` per row and class, pair by pair."""
    out = np.zeros((total.shape[0], 3))
    for a in range(total.shape[0]):
        for b in range(total.shape[1]):
            if (a, b) not in SELF_PAIRS:
                out[a, y_ref[b]] += part(total[a, b])
    return out


def negative(value):
    return min(value, 0.0)


def positive(value):
    return max(value, 0.0)


def naive_cnci(traj, y, epochs):
    total = naive_influence(traj, ROWS, y[ROWS], REF, y[REF], epochs).sum(0)
    label = class_sums(total, y[REF], negative).argmin(1)
    counter = class_sums(relabelled_influence(traj, y, label, epochs), y[REF], negative)
    return counter[np.arange(len(ROWS)), y[ROWS]], label


def naive_pcid(traj, y, epochs):
    total = naive_influence(traj, ROWS, y[ROWS], REF, y[REF], epochs).sum(0)
    profile = class_sums(total, y[REF], positive)
    second = np.array([np.argsort(-row, kind="stable")[1] for row in profile])
    counter = class_sums(
        relabelled_influence(traj, y, second, epochs), y[REF], positive
    )
    change = np.abs(profile - counter).max(1)
    # The published 1 / (MPI * change), as -log(MPI * change) floored at the
    # smallest double: ranked identically, finite.
    return -np.log(np.maximum(profile.sum(1) * change, np.finfo(float).tiny))


def test_counterfactual_label_is_a_change_of_error_identity_c(fitted):
    # I_c(i, j) = I(i, j) + eta (e_j[y_i] - e_j[c]) (h_i . h_j + 1)
    traj, y = fitted.trajectory_, fitted.scoring_.y_train
    h, p, lr = traj.train.h[2].double(), traj.train.p[2].double(), traj.lrs[2]
    e = errors(p, y)
    counter = (y + 1) % 3
    relabelled = influence_block(h, errors(p, counter), h, e, lr)
    shift = (e[:, y] - e[:, counter]).T  # [i, j] = e_j[y_i] - e_j[c_i]
    expected = influence_block(h, e, h, e, lr) + lr * shift * (h @ h.T + 1)
    assert_allclose(relabelled.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)
    assert not torch.allclose(relabelled, influence_block(h, e, h, e, lr))


@pytest.mark.parametrize("selected", [[0, 1, 2, 3], [1, 3]])
def test_cnci_equals_relabelled_naive_loop(case, selected):
    context, traj, y = case
    result = get_signal("cnci")(context, np.array(selected))
    expected, label = naive_cnci(traj, y, selected)
    assert_allclose(result.scores, expected, rtol=1e-4, atol=1e-7)
    assert_array_equal(result.extras["suggested_class"], label)
    assert (result.scores <= 0).all()
    for t in range(traj.n_epochs):
        alone, _ = naive_cnci(traj, y, [t])
        assert_allclose(result.epoch_scores[:, t], alone, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("selected", [[0, 1, 2, 3], [2]])
def test_pcid_equals_relabelled_naive_loop(case, selected):
    context, traj, y = case
    result = get_signal("pcid")(context, np.array(selected))
    assert_allclose(result.scores, naive_pcid(traj, y, selected), rtol=1e-4)
    for t in range(traj.n_epochs):
        assert_allclose(result.epoch_scores[:, t], naive_pcid(traj, y, [t]), rtol=1e-4)


def test_cfrank_is_the_larger_rank_and_types_the_winner(case):
    context, traj, _ = case
    epochs = np.arange(traj.n_epochs)
    result = get_signal("cfrank")(context, epochs)
    rank_cnci = rankdata(get_signal("cnci")(context, epochs).scores) / len(ROWS)
    rank_pcid = rankdata(get_signal("pcid")(context, epochs).scores) / len(ROWS)
    assert_allclose(result.scores, np.maximum(rank_cnci, rank_pcid))
    assert_array_equal(
        result.extras["glitch_type"] == "mislabeled", rank_cnci > rank_pcid
    )
    assert set(result.extras["glitch_type"]) <= {"mislabeled", "anomaly"}
    assert result.epoch_scores.shape == (len(ROWS), traj.n_epochs)
    assert ((result.epoch_scores > 0) & (result.epoch_scores <= 1)).all()


def test_cnci_finds_label_noise_and_suggests_the_true_class(noisy_data):
    d = noisy_data
    det = InfluenceGlitchDetector(tiny_net(), signal="cnci", random_state=0)
    det.fit(d["X"], d["y"], X_val=d["X_val"], y_val=d["y_val"])
    assert f1_at_k(d["mask"], det.glitch_scores_) >= 0.6
    assert np.isfinite(det.epoch_scores_).all()
    flagged = np.argsort(-det.glitch_scores_)[: d["mask"].sum()]
    found = flagged[d["mask"][flagged]]
    assert np.mean(det.suggested_labels_[found] == d["y_true"][found]) >= 0.8
