"""Rows scored without labels (targets) are cut at an offset of their own scale."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skinfluence import InfluenceGlitchDetector, InfluenceGlitchRegressor

from .conftest import tiny_net, tiny_regression_net


@pytest.fixture(scope="module")
def mixed_data():
    """300 rows: two Gaussian features and a one-hot category, a learnable label."""
    rng = np.random.RandomState(0)
    a, b, c = rng.normal(size=300), rng.normal(size=300), rng.choice(3, 300)
    X = np.c_[a, b, c == 0, c == 1, c == 2].astype(np.float32)
    return X, ((a + (c == 0)) > 0.5).astype(int)


def _flagged(det, X, y=None):
    return float(np.mean(det.predict(X, y) == -1))


@pytest.mark.parametrize("contamination", ["auto", 0.05])
def test_training_rows_flagged_as_often_without_labels(mixed_data, contamination):
    # The label-free "self" score (expected self-influence) runs about
    # 2 (1 - p_y) where the labelled one runs (1 - p_y)^2: cut at offset_,
    # 28 % ("auto") and 39 % (0.05) of the training rows came back flagged.
    X, y = mixed_data
    det = InfluenceGlitchDetector(
        tiny_net(), novelty=True, contamination=contamination, random_state=0
    ).fit(X, y)
    assert np.isfinite(det.label_free_offset_)
    assert det.label_free_offset_ != det.offset_
    with_labels, without = _flagged(det, X, y), _flagged(det, X)
    if contamination == "auto":
        assert without <= 0.1 and abs(without - with_labels) <= 0.05
    else:
        assert abs(with_labels - 0.05) <= 0.02 and abs(without - 0.05) <= 0.02
    decision = det.decision_function(X)
    assert_array_equal(det.predict(X) == -1, decision < 0)
    assert np.allclose(decision, det.score_samples(X) - det.label_free_offset_)


def test_regressor_training_rows_flagged_as_often_without_targets(regression_data):
    d = regression_data
    det = InfluenceGlitchRegressor(
        tiny_regression_net(), novelty=True, contamination=0.05, random_state=0
    ).fit(d["X"], d["y"])
    assert abs(_flagged(det, d["X"]) - 0.05) <= 0.02


def test_label_free_offset_pickles(mixed_data):
    X, y = mixed_data
    det = InfluenceGlitchDetector(tiny_net(), novelty=True, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(det))
    assert restored.label_free_offset_ == det.label_free_offset_
    assert_array_equal(restored.predict(X[:50]), det.predict(X[:50]))


def test_without_novelty_there_is_no_label_free_offset(mixed_data):
    # fit does not pay for label-free scores it will not use; switching
    # novelty on afterwards scores rows with labels only.
    X, y = mixed_data
    det = InfluenceGlitchDetector(tiny_net(), random_state=0).fit(X, y)
    assert det.label_free_offset_ is None
    det.set_params(novelty=True)
    assert det.predict(X[:10], y[:10]).shape == (10,)
    assert det.score_samples(X[:10]).shape == (10,)
    with pytest.raises(ValueError, match="Refit it with novelty=True"):
        det.predict(X[:10])
