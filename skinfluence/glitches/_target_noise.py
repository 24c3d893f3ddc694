"""Target noise for regression: large errors, swapped targets, a systematic offset."""

from numbers import Real

import numpy as np
from sklearn.utils import check_random_state

from .._sklearn_compat import Interval
from ._base import BaseGlitchInjector, _count, _fill_doc

__all__ = ["LargeTargetErrors", "SwappedTargets", "TargetOffset"]


class _BaseTargetNoise(BaseGlitchInjector):
    """Shared bookkeeping: features untouched, numeric targets, ``true_targets_``."""

    _glitch_kind = "corrupted_target"
    _target_kind = "regression"

    def _retarget(self, X, y, new_y):
        self.true_targets_ = y.copy()
        self.glitch_mask_ = new_y != y
        return X.copy(), new_y, np.arange(len(y))

    @staticmethod
    def _scale(y):
        scale = float(np.std(y))
        return scale if scale > 0 else 1.0


_ATTRIBUTES = """glitch_mask_ : ndarray of shape (n_samples,), dtype=bool
        True for the rows whose target changed.

    true_targets_ : ndarray of shape (n_samples,)
        The targets before the corruption.

    n_features_in_ : int
        Number of features seen during :meth:`fit_resample`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names."""


def _fill(cls):
    cls.__doc__ = cls.__doc__.replace("{attributes}", _ATTRIBUTES)
    return _fill_doc(cls)


@_fill
class LargeTargetErrors(_BaseTargetNoise):
    r"""Add large errors to the targets of a share of the rows.

    Exactly ``round(ratio * n_samples)`` rows, drawn without replacement, get

    .. math:: \tilde y_i = y_i + s_i \, u_i \, \sigma_y,
        \qquad s_i = \pm 1, \; u_i \sim U[\mathrm{low}, \mathrm{high}]

    with ``sigma_y`` the standard deviation of ``y`` and a random sign: a
    typing error, a unit mix-up or a faulty sensor reading. Features are
    returned unchanged; integer targets are returned as floats.

    Parameters
    ----------
    ratio : float, default=0.1
        Share of the rows whose target is corrupted, in [0, 1].

    low, high : float, default=1.0, 3.0
        Range of the error's size in standard deviations of ``y``.

    {random_state}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    SwappedTargets : Targets exchanged between rows.
    TargetOffset : One offset on a group of similar rows.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.glitches import LargeTargetErrors
    >>> X, y = np.zeros((10, 2)), np.arange(10.0)
    >>> noise = LargeTargetErrors(ratio=0.3, random_state=0)
    >>> X_new, y_new = noise.fit_resample(X, y)
    >>> int(noise.glitch_mask_.sum())
    3
    >>> bool(np.all(np.abs(y_new - y)[noise.glitch_mask_] >= y.std()))
    True
    """

    _parameter_constraints = {
        "ratio": [Interval(Real, 0, 1, closed="both")],
        "low": [Interval(Real, 0, None, closed="neither")],
        "high": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(self, ratio=0.1, *, low=1.0, high=3.0, random_state=None):
        self.ratio = ratio
        self.low = low
        self.high = high
        self.random_state = random_state

    def _fit_resample(self, X, y):
        if self.low > self.high:
            raise ValueError(f"low={self.low} must not exceed high={self.high}.")
        rng = check_random_state(self.random_state)
        y = np.asarray(y, dtype=np.float64)
        n = _count(self.ratio, len(y))
        rows = rng.choice(len(y), size=n, replace=False)
        size = rng.uniform(self.low, self.high, size=n) * self._scale(y)
        new_y = y.copy()
        new_y[rows] += np.where(rng.randint(2, size=n) == 1, size, -size)
        return self._retarget(X, y, new_y)


@_fill
class SwappedTargets(_BaseTargetNoise):
    """Exchange the targets of random pairs of rows.

    ``round(ratio * n_samples / 2)`` disjoint pairs of rows, drawn without
    replacement, swap their targets (a shifted join, rows sorted wrongly).
    Rows whose partner has the same target keep it and are not marked, so
    the mask holds the rows whose target really changed. Features are
    returned unchanged.

    Parameters
    ----------
    ratio : float, default=0.1
        Share of the rows in a swapped pair, in [0, 1].

    {random_state}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    LargeTargetErrors : Additive errors of a few standard deviations.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.glitches import SwappedTargets
    >>> X, y = np.zeros((10, 2)), np.arange(10.0)
    >>> swap = SwappedTargets(ratio=0.4, random_state=0)
    >>> X_new, y_new = swap.fit_resample(X, y)
    >>> int(swap.glitch_mask_.sum()), sorted(y_new) == sorted(y)
    (4, True)
    """

    _parameter_constraints = {
        "ratio": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    }

    def __init__(self, ratio=0.1, *, random_state=None):
        self.ratio = ratio
        self.random_state = random_state

    def _fit_resample(self, X, y):
        rng = check_random_state(self.random_state)
        y = np.asarray(y)
        n_pairs = _count(self.ratio, len(y)) // 2
        rows = rng.choice(len(y), size=2 * n_pairs, replace=False)
        first, second = rows[:n_pairs], rows[n_pairs:]
        new_y = y.copy()
        new_y[first], new_y[second] = y[second], y[first]
        return self._retarget(X, y, new_y)


@_fill
class TargetOffset(_BaseTargetNoise):
    r"""Shift the targets of a group of similar rows by one systematic offset.

    The ``round(ratio * n_samples)`` rows nearest to a randomly drawn row
    (Euclidean distance on features standardised to unit variance; the
    drawn row included) get

    .. math:: \tilde y_i = y_i + \mathrm{offset} \cdot \sigma_y

    a miscalibrated instrument at one site, a unit change for one batch.
    A hard case for any neighbour-based detector: the whole neighbourhood
    agrees on the wrong value. Features are returned unchanged.

    Parameters
    ----------
    ratio : float, default=0.1
        Share of the rows in the group, in [0, 1].

    offset : float, default=2.0
        The shift in standard deviations of ``y`` (negative shifts down).

    {random_state}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    LargeTargetErrors : Independent errors on scattered rows.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.glitches import TargetOffset
    >>> X = np.arange(20.0).reshape(10, 2); y = np.ones(10)
    >>> shift = TargetOffset(ratio=0.3, offset=1.0, random_state=0)
    >>> X_new, y_new = shift.fit_resample(X, y + np.arange(10))
    >>> np.flatnonzero(shift.glitch_mask_).tolist()
    [4, 5, 6]
    """

    _parameter_constraints = {
        "ratio": [Interval(Real, 0, 1, closed="both")],
        "offset": [Real],
        "random_state": ["random_state"],
    }
    _validation = {"dtype": "numeric", "ensure_all_finite": True}

    def __init__(self, ratio=0.1, *, offset=2.0, random_state=None):
        self.ratio = ratio
        self.offset = offset
        self.random_state = random_state

    def _fit_resample(self, X, y):
        if self.offset == 0:
            raise ValueError("offset=0 changes no target; pass a non-zero offset.")
        rng = check_random_state(self.random_state)
        y = np.asarray(y, dtype=np.float64)
        n = _count(self.ratio, len(y))
        Z = np.asarray(X, dtype=np.float64)
        std = Z.std(0)
        Z = Z / np.where(std > 0, std, 1.0)
        centre = Z[rng.randint(len(Z))]
        distance = ((Z - centre) ** 2).sum(1)
        rows = np.argsort(distance, kind="stable")[:n]
        new_y = y.copy()
        new_y[rows] += self.offset * self._scale(y)
        return self._retarget(X, y, new_y)
