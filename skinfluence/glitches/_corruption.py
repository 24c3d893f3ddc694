"""Scattered outliers: corrupted features, labels kept."""

from numbers import Integral, Real

import numpy as np

from .._sklearn_compat import Interval, StrOptions
from ._base import (
    BaseGlitchInjector,
    _cast_back,
    _count,
    _feature_scale,
    _fill_doc,
    _glitch_rng,
    _round_integer_columns,
)

__all__ = ["FeatureCorruption"]

_DEFAULT_SEVERITY = {
    "brightness": 0.3,
    "stripe": 0.25,
    "noise": 1.0,
    "out_of_range": 3.0,
}


@_fill_doc
class FeatureCorruption(BaseGlitchInjector):
    """Corrupt the features of a share of the rows: scattered outliers.

    Exactly ``round(ratio * n_samples)`` rows, drawn without replacement, are
    corrupted; their labels are kept. With ``lo`` and ``hi`` the smallest and
    largest value of ``X`` (the data range of images), ``s_j`` the standard
    deviation of feature ``j`` (constant features use the mean of the other
    standard deviations) and ``severity`` defaulting per kind, the kinds are:

    - ``"brightness"`` (images, MNIST-C style): every pixel is raised by
      ``severity * (hi - lo)`` and clipped to ``[lo, hi]``. Default 0.3.
    - ``"stripe"`` (images, MNIST-C style): the ``floor(severity * W)``
      leftmost and rightmost pixel columns (``W`` the image width, at least
      one column) are inverted, ``x -> lo + hi - x``. Default 0.25, which is
      MNIST-C's 7 of 28 columns on each side; at most 0.5.
    - ``"noise"``: Gaussian noise of standard deviation ``severity * s_j`` is
      added to feature ``j``; clipped to ``[lo, hi]`` for images. Default 1.0.
    - ``"out_of_range"`` (tables): in each corrupted row,
      ``max(1, ceil(0.1 * n_features))`` features drawn at random are set
      ``severity * s_j`` beyond the observed range of the feature, above its
      maximum or below its minimum (side drawn at random). Default 3.0.
    - ``"auto"``: ``"brightness"`` when ``image_shape`` is given,
      ``"out_of_range"`` otherwise.

    Corrupted values of integer features are rounded. An integer ``X`` (or
    integer DataFrame column) keeps its dtype when the corrupted values fit
    in it, and becomes float64 otherwise.

    Parameters
    ----------
    ratio : float, default=0.1
        Share of the rows corrupted, in [0, 1].

    kind : {"auto", "brightness", "stripe", "noise", "out_of_range"}, \
            default="auto"
        The corruption, see above.

    image_shape : tuple of int, default=None
        Shape of one image, ``(height, width)`` or channels-first
        ``(channels, height, width)``, whose product is ``n_features``.
        Required by ``"brightness"`` and ``"stripe"``.

    severity : float, default=None
        Strength of the corruption; None takes the kind's default above.

    {random_state}

    Attributes
    ----------
    glitch_mask_ : ndarray of shape (n_samples,), dtype=bool
        True for the corrupted rows.

    kind_ : str
        The corruption applied (``"auto"`` resolved).

    n_features_in_ : int
        Number of features seen during :meth:`fit_resample`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    See Also
    --------
    ForeignClusterAnomalies : Appended far-clustered anomalies.

    References
    ----------
    .. [1] N. Mu and J. Gilmer, "MNIST-C: A Robustness Benchmark for Computer
       Vision", arXiv:1906.02337, 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.glitches import FeatureCorruption
    >>> X = np.zeros((10, 16))  # ten blank 4 x 4 images
    >>> X[:, 5] = 1.0
    >>> y = np.arange(10) % 2
    >>> stripe = FeatureCorruption(
    ...     0.2, kind="stripe", image_shape=(4, 4), random_state=0
    ... )
    >>> X_new, y_new = stripe.fit_resample(X, y)
    >>> X_new[stripe.glitch_mask_][0].reshape(4, 4)
    array([[1., 0., 0., 1.],
           [1., 1., 0., 1.],
           [1., 0., 0., 1.],
           [1., 0., 0., 1.]])
    >>> bool(np.array_equal(y_new, y))
    True
    """

    _glitch_kind = "outlier"
    _validation = {"dtype": "numeric", "ensure_all_finite": True}
    _target_kind = "any"  # the target is returned untouched: regression works too
    _parameter_constraints = {
        "ratio": [Interval(Real, 0, 1, closed="both")],
        "kind": [StrOptions({"auto", "brightness", "stripe", "noise", "out_of_range"})],
        "image_shape": [tuple, list, None],
        "severity": [Interval(Real, 0, None, closed="neither"), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        ratio=0.1,
        *,
        kind="auto",
        image_shape=None,
        severity=None,
        random_state=None,
    ):
        self.ratio = ratio
        self.kind = kind
        self.image_shape = image_shape
        self.severity = severity
        self.random_state = random_state

    def _fit_resample(self, X, y):
        kind = self.kind
        if kind == "auto":
            kind = "out_of_range" if self.image_shape is None else "brightness"
        if self.image_shape is not None:
            shape = tuple(self.image_shape)
            if not (
                len(shape) in (2, 3)
                and all(isinstance(d, Integral) and d > 0 for d in shape)
                and np.prod(shape) == X.shape[1]
            ):
                raise ValueError(
                    f"image_shape must be (height, width) or (channels, height, width) "
                    f"with product n_features={X.shape[1]}, got {self.image_shape!r}."
                )
        elif kind in ("brightness", "stripe"):
            raise ValueError(f"kind={kind!r} needs image_shape.")
        severity = _DEFAULT_SEVERITY[kind] if self.severity is None else self.severity
        if kind == "stripe" and severity > 0.5:
            raise ValueError(
                "severity is the share of columns inverted on each side of a "
                f"stripe, at most 0.5, got {severity}."
            )
        self.kind_ = kind

        rng = _glitch_rng(self.random_state)
        rows = np.sort(
            rng.choice(len(X), size=_count(self.ratio, len(X)), replace=False)
        )
        X_float = X.astype(np.float64)
        corrupt = getattr(self, f"_{kind}")
        block = corrupt(X_float, X_float[rows], severity, rng)
        X_float[rows] = _round_integer_columns(block, self._input_dtypes)
        self.glitch_mask_ = np.zeros(len(X), dtype=bool)
        self.glitch_mask_[rows] = True
        return _cast_back(X_float, X.dtype), y.copy(), np.arange(len(X))

    def _brightness(self, X, block, severity, rng):
        lo, hi = X.min(), X.max()
        return np.clip(block + severity * (hi - lo), lo, hi)

    def _stripe(self, X, block, severity, rng):
        lo, hi = X.min(), X.max()
        images = block.reshape(len(block), *self.image_shape)
        width = images.shape[-1]
        n_cols = max(1, int(np.floor(severity * width)))
        for cols in (slice(0, n_cols), slice(width - n_cols, width)):
            images[..., cols] = lo + hi - images[..., cols]
        return images.reshape(block.shape)

    def _noise(self, X, block, severity, rng):
        block = block + severity * _feature_scale(X) * rng.standard_normal(block.shape)
        if self.image_shape is not None:
            block = np.clip(block, X.min(), X.max())
        return block

    def _out_of_range(self, X, block, severity, rng):
        n_rows, n_features = block.shape
        scale = _feature_scale(X)
        n_cols = max(1, int(np.ceil(0.1 * n_features)))
        # k distinct random features per row: the first k of a random order.
        cols = np.argsort(rng.random_sample((n_rows, n_features)), axis=1)[:, :n_cols]
        above = rng.randint(2, size=(n_rows, n_cols)).astype(bool)
        high = X.max(axis=0)[cols] + severity * scale[cols]
        low = X.min(axis=0)[cols] - severity * scale[cols]
        block = block.copy()
        block[np.arange(n_rows)[:, None], cols] = np.where(above, high, low)
        return block
