"""Target-noise injectors for regression, and feature corruption on regression targets."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_friedman1
from sklearn.utils.estimator_checks import parametrize_with_checks

from skinfluence.glitches import (
    FeatureCorruption,
    GlitchMixture,
    LargeTargetErrors,
    SwappedTargets,
    TargetOffset,
    UniformLabelNoise,
)


@pytest.fixture(scope="module")
def friedman():
    X, y = make_friedman1(100, n_features=5, random_state=0)
    return X, y


INJECTORS = [
    LargeTargetErrors(0.1, random_state=0),
    SwappedTargets(0.1, random_state=0),
    TargetOffset(0.1, random_state=0),
]
IDS = [type(injector).__name__ for injector in INJECTORS]


@pytest.mark.parametrize("injector", INJECTORS, ids=IDS)
def test_common_contract(injector, friedman):
    X, y = friedman
    X_before, y_before = X.copy(), y.copy()
    X_new, y_new = injector.fit_resample(X, y)
    assert np.array_equal(X, X_before) and np.array_equal(y, y_before)
    assert np.array_equal(X_new, X) and y_new.shape == y.shape
    assert injector.glitch_mask_.sum() == 10
    assert np.array_equal(injector.glitch_mask_, y_new != y)
    assert np.array_equal(injector.true_targets_, y)
    again = type(injector)(**injector.get_params()).fit_resample(X, y)[1]
    assert np.array_equal(again, y_new)


@pytest.mark.parametrize("injector", INJECTORS, ids=IDS)
def test_pandas_in_pandas_out(injector, friedman):
    X, y = friedman
    frame = pd.DataFrame(X, columns=list("abcde"), index=np.arange(100) + 50)
    series = pd.Series(y, name="target", index=frame.index)
    X_new, y_new = injector.fit_resample(frame, series)
    assert list(X_new.columns) == list("abcde") and y_new.name == "target"
    assert X_new.index.equals(frame.index) and y_new.index.equals(frame.index)


@parametrize_with_checks(
    [
        LargeTargetErrors(random_state=0),
        SwappedTargets(random_state=0),
        TargetOffset(random_state=0),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_large_errors_have_the_requested_size(friedman):
    X, y = friedman
    noise = LargeTargetErrors(0.3, low=1.5, high=2.0, random_state=1)
    _, y_new = noise.fit_resample(X, y)
    size = np.abs(y_new - y)[noise.glitch_mask_] / y.std()
    assert size.min() >= 1.5 - 1e-12 and size.max() <= 2.0 + 1e-12
    signs = np.sign((y_new - y)[noise.glitch_mask_])
    assert {-1.0, 1.0} <= set(signs)
    with pytest.raises(ValueError, match="must not exceed"):
        LargeTargetErrors(low=3.0, high=1.0).fit_resample(X, y)


def test_integer_targets_get_float_errors():
    X, y = np.zeros((20, 2)), np.arange(20)
    _, y_new = LargeTargetErrors(0.5, random_state=0).fit_resample(X, y)
    assert y_new.dtype.kind == "f" and (y_new != y).sum() == 10


def test_swapped_targets_are_a_permutation(friedman):
    X, y = friedman
    swap = SwappedTargets(0.3, random_state=0)
    _, y_new = swap.fit_resample(X, y)
    assert np.array_equal(np.sort(y_new), np.sort(y))
    changed = np.flatnonzero(swap.glitch_mask_)
    assert set(y_new[changed]) == set(y[changed])


def test_swapped_equal_targets_are_not_marked():
    X, y = np.zeros((10, 1)), np.ones(10)
    swap = SwappedTargets(1.0, random_state=0)
    _, y_new = swap.fit_resample(X, y)
    assert not swap.glitch_mask_.any() and np.array_equal(y_new, y)


def test_offset_hits_one_neighbourhood(friedman):
    X, y = friedman
    shift = TargetOffset(0.2, offset=-1.5, random_state=3)
    _, y_new = shift.fit_resample(X, y)
    assert_shift = (y_new - y)[shift.glitch_mask_]
    assert np.allclose(assert_shift, -1.5 * y.std())
    Z = X / X.std(0)
    inside, outside = Z[shift.glitch_mask_], Z[~shift.glitch_mask_]
    centre = inside.mean(0)
    # The group is the rows nearest one centre: tighter than the rest.
    assert (
        np.linalg.norm(inside - centre, axis=1).mean()
        < np.linalg.norm(outside - centre, axis=1).mean()
    )
    with pytest.raises(ValueError, match="offset=0"):
        TargetOffset(offset=0).fit_resample(X, y)


def test_non_numeric_targets_are_rejected(friedman):
    X, _ = friedman
    with pytest.raises(ValueError, match="Unknown label type.*numeric"):
        LargeTargetErrors().fit_resample(X, np.array(["a", "b"] * 50))
    with pytest.raises(ValueError, match="NaN"):
        LargeTargetErrors().fit_resample(X, np.full(100, np.nan))


def test_feature_corruption_and_mixtures_take_regression_targets(friedman):
    X, y = friedman
    corruption = FeatureCorruption(0.1, random_state=0)
    X_new, y_new = corruption.fit_resample(X, y)
    assert np.array_equal(y_new, y) and corruption.glitch_mask_.sum() == 10
    mixture = GlitchMixture(
        [LargeTargetErrors(0.1), FeatureCorruption(0.1)], random_state=0
    )
    _, y_mixed = mixture.fit_resample(X, y)
    assert set(mixture.glitch_kind_) <= {"clean", "corrupted_target", "outlier"}
    assert (mixture.glitch_kind_ == "corrupted_target").sum() >= 9
    # Label noise inside a mixture still refuses a continuous target.
    with pytest.raises(ValueError, match="Unknown label type"):
        GlitchMixture([UniformLabelNoise(0.1)]).fit_resample(X, y)
