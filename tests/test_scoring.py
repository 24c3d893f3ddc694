"""The fitted scoring state: reference sampling, contexts, new rows."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal

from skinfluence.scoring import ScoringState


def test_reference_drawn_from_training_rows_knows_each_rows_place(fitted):
    state = fitted.scoring_
    index = state.reference_indices
    assert_array_equal(index, fitted.reference_indices_)
    inside = state.train_self_index >= 0
    assert_array_equal(np.flatnonzero(inside.numpy()), index)
    assert_array_equal(state.train_self_index[index].numpy(), np.arange(len(index)))
    factors, y_ref = state.reference()
    assert torch.equal(factors.h, fitted.trajectory_.train.h[:, index])
    assert torch.equal(y_ref, state.y_train[index])


def test_trusted_reference_has_no_self_pairs(fitted_val, noisy_data):
    state = fitted_val.scoring_
    assert state.reference_indices is None and state.train_self_index is None
    factors, y_ref = state.reference()
    assert factors is fitted_val.trajectory_.reference
    assert_array_equal(y_ref.numpy(), noisy_data["y_val"])


@pytest.mark.parametrize("size, expected", [(0.25, 30), (7, 7), (1, 2), ("auto", 120)])
def test_reference_size_is_a_stratified_sample(fitted, noisy_data, size, expected):
    d = noisy_data
    state = ScoringState.build(
        fitted.estimator_.module_,
        fitted.trajectory_,
        d["X"],
        fitted.scoring_.y_train,
        n_classes=3,
        reference_size=size,
        random_state=0,
    )
    assert len(state.reference_indices) == expected
    assert np.all(np.diff(state.reference_indices) > 0)
    if expected >= 30:  # stratified: every class in proportion
        counts = np.bincount(d["y"][state.reference_indices], minlength=3)
        assert_allclose(counts / expected, np.bincount(d["y"]) / 120, atol=0.05)


def test_compute_is_compute_signal(fitted_val):
    state = fitted_val.scoring_
    assert_array_equal(
        state.compute("marginal", fitted_val.epochs_).scores,
        fitted_val.compute_signal("marginal").scores,
    )
    assert state.fit_result.scores is fitted_val.glitch_scores_


def test_new_rows_are_replayed_and_labelled_by_the_network(fitted, noisy_data):
    X = noisy_data["X"][:6] + 0.5
    context = fitted.scoring_.new_rows_context(X)
    assert context.rows.h.shape == (len(fitted.learning_rates_), 6, 16)
    assert not context.in_reference().any()
    predicted = fitted.estimator_.predict(X)  # class codes: labels are 0, 1, 2
    assert_array_equal(context.y_rows.numpy(), predicted)
    labelled = fitted.scoring_.score_new_rows(
        "self", fitted.epochs_, X, torch.as_tensor(predicted)
    )
    label_free = fitted.scoring_.score_new_rows("self", fitted.epochs_, X)
    assert_allclose(-fitted.score_samples(X), label_free.scores)
    assert not np.allclose(labelled.scores, label_free.scores)


@pytest.mark.parametrize("fixture", ["fitted", "fitted_regressor"])
def test_scoring_follows_the_device_set_after_fit(request, fixture, monkeypatch):
    """``set_params(device=...)`` after ``fit`` moves the scoring, not only training.

    Every context (training rows, new rows, diagnosis) is built on the
    estimator's current device: the device each factor tensor is sent to is
    recorded (``"cpu:0"`` stands for an accelerator on a machine without one).
    """
    from sklearn.base import clone

    from skinfluence.tracin import Factors

    fitted = request.getfixturevalue(fixture)
    data = request.getfixturevalue(
        "regression_data" if fixture == "fitted_regressor" else "noisy_data"
    )
    det = clone(fitted).set_params(novelty=True)
    det.fit(data["X"], data["y"])
    expected = fitted.compute_signal("self").scores
    sent = []
    to = Factors.to
    monkeypatch.setattr(
        Factors, "to", lambda self, d: sent.append(str(d)) or to(self, d)
    )
    det.set_params(device="cpu:0")
    assert_allclose(det.compute_signal("self").scores, expected, rtol=1e-6)
    assert sent and set(sent) == {"cpu:0"}
    sent.clear()
    det.score_samples(data["X"][:3], data["y"][:3])
    det.diagnose()
    assert sent and set(sent) == {"cpu:0"}
