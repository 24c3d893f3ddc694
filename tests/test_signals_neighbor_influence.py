"""Neighbour influence against a naive per-pair loop over explicit gradients."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from skinfluence import InfluenceGlitchDetector
from skinfluence.metrics import f1_at_k
from skinfluence.signals import get_signal

from .conftest import REF, ROWS, small_context, tiny_net
from .test_signals import gradient, naive_influence

SELF = {4: 0, 5: 1, 6: 2, 7: 3}  # scored row -> its own position in REF


@pytest.fixture(scope="module")
def case(fitted):
    traj, y = fitted.trajectory_, fitted.scoring_.y_train.numpy()
    return small_context(traj, y), traj, y


def naive_neighbors(traj, k):
    """The k reference rows nearest to each scored row at the last epoch, one by one."""
    h = traj.train.h[-1].numpy().astype(np.float64)
    found = []
    for a, i in enumerate(ROWS):
        distances = np.array([np.linalg.norm(h[i] - h[j]) for j in REF])
        if a in SELF:
            distances[SELF[a]] = np.inf  # a row is never its own neighbour
        found.append(np.argsort(distances, kind="stable")[:k])
    return np.array(found)


def naive_norms(traj, y, t):
    """``||g_j^t||`` of each reference row, from its explicit last-layer gradient."""
    h, p = traj.train.h[t].numpy().astype(np.float64), traj.train.p[t].numpy()
    return np.array([np.linalg.norm(gradient(h[j], p[j], y[j])) for j in REF])


def naive_neighbor_influence(traj, y, selected):
    """The signal's definition, per row, per epoch, per neighbour."""
    k = len(REF) - 1
    neighbors = naive_neighbors(traj, k)
    balances = np.zeros((len(ROWS), traj.n_epochs))
    for t in range(traj.n_epochs):
        influence = naive_influence(traj, ROWS, y[ROWS], REF, y[REF], [t])[0]
        norms = naive_norms(traj, y, t)
        prior = 0.01 * k * norms.mean()
        for a in range(len(ROWS)):
            # I_t(i, j) / (eta_t ||g_j||): each neighbour by its gradient's direction.
            near = [influence[a, b] / (traj.lrs[t] * norms[b]) for b in neighbors[a]]
            balances[a, t] = -sum(near) / (sum(abs(v) for v in near) + prior)
    return balances[:, selected].mean(1), balances


@pytest.mark.parametrize("selected", [[0, 1, 2, 3], [0], [1, 3]])
def test_neighbor_influence_equals_naive_loop(case, selected):
    context, traj, y = case
    result = get_signal("neighbor_influence")(context, np.array(selected))
    expected, per_epoch = naive_neighbor_influence(traj, y, selected)
    assert_allclose(result.scores, expected, rtol=1e-5, atol=1e-9)
    assert_allclose(result.epoch_scores, per_epoch, rtol=1e-5, atol=1e-9)
    assert (np.abs(result.epoch_scores) < 1).all()


def test_neighbors_come_from_the_final_checkpoint_and_skip_the_row_itself(case):
    from skinfluence.signals._neighbor_influence import final_neighbors

    context, traj, _ = case
    k = len(REF) - 1
    assert_array_equal(final_neighbors(context).numpy(), naive_neighbors(traj, k))


def test_final_neighbors_reuse_the_every_epoch_cache(fitted):
    from skinfluence.signals._isolation import reference_neighbors
    from skinfluence.signals._neighbor_influence import final_neighbors

    traj, y = fitted.trajectory_, fitted.scoring_.y_train.numpy()
    fresh, primed = small_context(traj, y), small_context(traj, y)
    _, every_epoch = reference_neighbors(primed, "euclidean")
    assert_array_equal(final_neighbors(primed), every_epoch[-1])
    assert_array_equal(final_neighbors(fresh), every_epoch[-1])


def test_chunking_does_not_change_the_scores(fitted):
    traj, y = fitted.trajectory_, fitted.scoring_.y_train.numpy()
    epochs = np.arange(traj.n_epochs)
    tiny = get_signal("neighbor_influence")(small_context(traj, y), epochs)
    roomy = get_signal("neighbor_influence")(
        small_context(traj, y, working_memory=64), epochs
    )
    assert_allclose(tiny.epoch_scores, roomy.epoch_scores, rtol=1e-12)


def test_a_reference_of_one_row_is_refused(fitted):
    traj, y = fitted.trajectory_, fitted.scoring_.y_train.numpy()
    context = small_context(traj, y, ref=REF[:1], self_index=torch.full((8,), -1))
    with pytest.raises(ValueError, match="at least 2 rows"):
        get_signal("neighbor_influence")(context, np.arange(traj.n_epochs))


def test_gradient_path_equals_closed_form(fitted, noisy_data):
    d = noisy_data
    generic = InfluenceGlitchDetector(
        tiny_net(), layers=["head"], random_state=0, standardize=False
    )
    generic.fit(d["X"], d["y"])
    assert_allclose(
        generic.compute_signal("neighbor_influence").epoch_scores,
        fitted.compute_signal("neighbor_influence").epoch_scores,
        rtol=1e-4,
        atol=1e-6,
    )


def test_neighbor_influence_finds_label_noise(noisy_data):
    d = noisy_data
    det = InfluenceGlitchDetector(tiny_net(), signal="neighbor_influence")
    det.set_params(random_state=0).fit(
        d["X"], d["y"], X_val=d["X_val"], y_val=d["y_val"]
    )
    loss = f1_at_k(d["mask"], det.compute_signal("loss").scores)
    assert f1_at_k(d["mask"], det.glitch_scores_) >= max(0.6, loss - 0.05)


def naive_counterfactual_gain(traj, y):
    """``G_i^t[c]``, normalised, from relabelled per-pair influences on the neighbours.

    ``S_c = sum_{j in N(i)} I_t^c(i, j) / (eta_t ||g_j^t||)`` is ``G[c]`` plus
    a term that does not depend on ``c``; ``G`` sums to 0 over the classes,
    so ``G[c] = S_c - mean_k S_k``.
    """
    neighbors = naive_neighbors(traj, k=len(REF) - 1)
    gain = np.zeros((traj.n_epochs, len(ROWS), 3))
    for t in range(traj.n_epochs):
        norms = naive_norms(traj, y, t)
        for a, i in enumerate(ROWS):
            near = neighbors[a]
            relabelled = [
                sum(
                    naive_influence(traj, [i], [c], REF[[b]], y[REF[[b]]], [t])[0, 0, 0]
                    / (traj.lrs[t] * norms[b])
                    for b in near
                )
                for c in range(3)
            ]
            centred = np.array(relabelled) - np.mean(relabelled)
            gain[t, a] = centred / np.abs(centred).sum()
    return gain


def test_counterfactual_gain_equals_relabelled_naive_loop(case):
    from skinfluence.signals._neighbor_influence import counterfactual_gain

    context, traj, y = case
    expected = naive_counterfactual_gain(traj, y)
    assert_allclose(counterfactual_gain(context).numpy(), expected, atol=1e-6)
    selected = [1, 3]
    result = get_signal("neighbor_influence")(context, np.array(selected))
    vote = expected[selected].mean(0)
    vote[np.arange(len(ROWS)), y[ROWS]] = -np.inf
    assert_array_equal(result.extras["suggested_class"], vote.argmax(1))
    assert (result.extras["suggested_class"] != y[ROWS]).all()


def test_renormalised_balance_holds_with_a_reference_drawn_from_training(
    fitted, noisy_data
):
    # fitted: no X_val, so the reference rows are training rows, glitches included.
    assert fitted.reference_indices_ is not None
    scores = fitted.compute_signal("neighbor_influence").scores
    assert f1_at_k(noisy_data["mask"], scores) >= 0.8


def naive_cleaned_neighbor_influence(det):
    """The cleaned balance, per row, per neighbour, per round, from explicit gradients.

    Every training row against the training-row reference it belongs to:
    neighbours at the final epoch (the row itself left out); a reference row
    is left out of its neighbours' balances while its own balance, averaged
    over the selected epochs, is positive, recomputed round after round
    until the trusted set stops changing (or the round limit).
    """
    from skinfluence.signals._neighbor_influence import (
        _CLEANING_ROUNDS,
        neighborhood_size,
    )

    traj, y = det.trajectory_, det.scoring_.y_train.numpy()
    ref, epochs = det.reference_indices_, det.epochs_
    k = neighborhood_size(det.scoring_.context())
    h = traj.train.h.numpy().astype(np.float64)
    p = traj.train.p.numpy().astype(np.float64)
    n, m, T = len(y), len(ref), traj.n_epochs
    grads = np.array(
        [[gradient(h[t, i], p[t, i], y[i]) for i in range(n)] for t in range(T)]
    )
    neighbors = []
    for i in range(n):
        distances = np.array([np.linalg.norm(h[-1, i] - h[-1, j]) for j in ref])
        distances[ref == i] = np.inf  # never its own neighbour
        neighbors.append(np.argsort(distances, kind="stable")[:k])
    norms = np.linalg.norm(grads[:, ref], axis=2)  # (T, m)

    def balances(weights):
        out = np.zeros((n, T))
        for t in range(T):
            prior = 0.01 * k * norms[t].mean()
            for i in range(n):
                terms = [
                    weights[b] * grads[t, i] @ grads[t, ref[b]] / norms[t, b]
                    for b in neighbors[i]
                ]
                out[i, t] = -sum(terms) / (sum(abs(v) for v in terms) + prior)
        return out

    per_epoch, weights = balances(np.ones(m)), None
    for _ in range(_CLEANING_ROUNDS):
        new = (per_epoch[ref][:, epochs].mean(1) <= 0).astype(float)
        if weights is not None and np.array_equal(new, weights):
            break
        weights = new
        per_epoch = balances(weights)
    return per_epoch[:, epochs].mean(1), weights


@pytest.mark.parametrize("data", ["fitted", "heavy_noise"])
def test_cleaned_reference_equals_naive_loop(data, request):
    # No X_val: the reference rows are training rows, and those that harm
    # their own neighbours are left out of the others' balances. At 40 %
    # noise (heavy_noise, 30 neighbours) the cleaning takes several rounds.
    if data == "fitted":
        det = request.getfixturevalue("fitted")
    else:
        X, y, _, _ = request.getfixturevalue("heavy_noise")
        det = InfluenceGlitchDetector(tiny_net(max_epochs=6), random_state=0)
        det.fit(X, y)
    scores = det.compute_signal("neighbor_influence").scores
    expected, weights = naive_cleaned_neighbor_influence(det)
    assert_allclose(scores, expected, rtol=1e-5, atol=1e-8)
    trust = det.scoring_.reference_trust.numpy()
    assert_array_equal(trust, weights)
    assert 0 < trust.mean() < 1  # the cleaning left some reference rows out


def test_per_row_intermediates_are_released(fitted):
    # T x n x k tensors that no other signal reads: on a million rows they
    # would stay resident while auto scores its other components.
    traj, y = fitted.trajectory_, fitted.scoring_.y_train.numpy()
    context = small_context(traj, y)
    first = get_signal("neighbor_influence")(context, np.arange(traj.n_epochs))
    assert not {"renormalised_blocks", "counterfactual_gain"} & (set(context._cache))
    again = get_signal("neighbor_influence")(context, np.arange(traj.n_epochs))
    assert_array_equal(again.scores, first.scores)


@pytest.fixture(scope="module")
def heavy_noise():
    """400 rows in two classes, 40 % of the labels flipped, 100 clean X_val rows."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        500, 8, n_informative=5, class_sep=2.0, random_state=0
    )  # fmt: skip
    X = X.astype(np.float32)
    y_noisy = y[:400].copy()
    flipped = np.random.default_rng(0).random(400) < 0.4
    y_noisy[flipped] = 1 - y_noisy[flipped]
    return X[:400], y_noisy, X[400:], y[400:]


def test_a_training_reference_gets_a_tenth_of_its_rows_as_neighbours(heavy_noise):
    """``k = min(30, max(10, m // 10))`` against a reference drawn from the training rows."""
    from skinfluence.signals._neighbor_influence import (
        final_neighbors,
        neighborhood_size,
    )

    X, y, X_val, y_val = heavy_noise
    det = InfluenceGlitchDetector(tiny_net(max_epochs=6), random_state=0).fit(X, y)
    m = len(det.scoring_.context().y_ref)
    expected = min(30, max(10, m // 10))
    context = det.scoring_.context()
    assert expected > 10
    assert neighborhood_size(context) == expected
    assert final_neighbors(context).shape == (400, expected)
    # Consistent within a context: the signal reads the same neighbourhood.
    score = get_signal("neighbor_influence")(context, np.arange(6)).scores
    again = get_signal("neighbor_influence")(det.scoring_.context(), np.arange(6))
    assert_array_equal(score, again.scores)

    # Decided once per fit: the scoring state seeds later training contexts
    # (diagnose's repairs read the same neighbourhoods, without a second pass).
    assert det.scoring_.neighborhood_size is None
    det.compute_signal("neighbor_influence")
    assert det.scoring_.neighborhood_size == expected
    assert det.scoring_.context().peek("neighborhood_size") == expected
    new_rows = det.scoring_.new_rows_context(X[:5])  # novelty: same neighbourhoods
    assert new_rows.peek("neighborhood_size") == expected
    assert final_neighbors(new_rows).shape == (5, expected)

    # ... against the reference the training rows cleaned: new rows read
    # their trust (they cannot clean a reference they are not part of).
    from skinfluence.signals._neighbor_influence import _balance

    trust = det.scoring_.reference_trust
    assert trust is not None and 0 < float(trust.mean()) < 1
    epochs = np.arange(6)
    scored = get_signal("neighbor_influence")(new_rows, epochs).scores
    plain = det.scoring_.new_rows_context(X[:40])
    plain.release("reference_trust")  # the uncleaned reference, for contrast
    weighted = _balance(det.scoring_.new_rows_context(X[:40]), trust)
    unweighted = _balance(plain, None)
    # The 5 rows' float32 features, read in a batch of 5 rather than 40, may
    # differ in the last bits (BLAS kernels by batch size): 1e-9 seen in CI.
    assert_allclose(scored, weighted[:5].mean(1).numpy(), rtol=1e-6)
    assert not torch.allclose(weighted, unweighted)

    # A trusted reference is clean: its neighbourhoods stay at 10.
    trusted = InfluenceGlitchDetector(tiny_net(max_epochs=6), random_state=0)
    trusted.fit(X, y, X_val=X_val, y_val=y_val)
    assert neighborhood_size(trusted.scoring_.context()) == 10
    # ... and so does the reference scored as rows, auto's null, whose every
    # row is a reference row: it reads the neighbourhood of the rows it nulls
    # (500 trusted rows, where a training-row reference would read 30).
    large = InfluenceGlitchDetector(tiny_net(max_epochs=6), random_state=0)
    large.fit(X, y, X_val=np.r_[X_val, X], y_val=np.r_[y_val, y])
    assert neighborhood_size(large.scoring_.context().reference_as_rows()) == 10
    untrusted = det.scoring_.context().reference_as_rows()
    assert neighborhood_size(untrusted) == expected


def test_regression_neighborhoods_stay_at_ten(regression_data):
    """Even against a training-row reference: residuals have no majority vote."""
    from skinfluence import InfluenceGlitchRegressor
    from skinfluence.signals._neighbor_influence import neighborhood_size

    from .conftest import tiny_regression_net

    d = regression_data
    det = InfluenceGlitchRegressor(tiny_regression_net(), random_state=0)
    det.fit(d["X"], d["y"])
    assert det.reference_indices_ is not None
    assert neighborhood_size(det.scoring_.context()) == 10
