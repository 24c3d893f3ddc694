"""Clustered anomalies: a downsampled rare class and an appended foreign cluster."""

from numbers import Real

import numpy as np
from sklearn.utils import check_array

from .._sklearn_compat import Interval, StrOptions
from ._base import (
    BaseGlitchInjector,
    _cast_back,
    _count,
    _encode,
    _feature_scale,
    _fill_doc,
    _glitch_rng,
    _round_integer_columns,
)

__all__ = ["RareClassAnomalies", "ForeignClusterAnomalies"]


@_fill_doc
class RareClassAnomalies(BaseGlitchInjector):
    """Make one class rare by downsampling it: near-clustered anomalies.

    The rows of ``anomaly_class`` are removed at random, without replacement,
    until they are a share ``ratio`` of the output: with ``n_other`` rows of
    the other classes, ``round(ratio * n_other / (1 - ratio))`` rows of the
    class are kept. The other rows are all kept, in their input order, so
    the output is shorter than the input. The kept rows of the rare class are
    the glitches (the paper's tabular "near clustered anomalies"): correctly
    labelled, but too few for the model to learn their class well.

    Parameters
    ----------
    ratio : float, default=0.1
        Share of the output rows that belong to the rare class, in (0, 1).

    anomaly_class : class label, default=None
        The class made rare; drawn uniformly among the classes when None.

    {random_state}

    Attributes
    ----------
    glitch_mask_ : ndarray of shape (n_samples_new,), dtype=bool
        True for the output rows of the rare class.

    sample_indices_ : ndarray of shape (n_samples_new,)
        Indices of the input rows kept, in increasing order.

    anomaly_class_ : class label
        The class made rare.

    classes_ : ndarray of shape (n_classes,)
        The classes seen in ``y``, sorted.

    n_features_in_ : int
        Number of features seen during :meth:`fit_resample`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    See Also
    --------
    ForeignClusterAnomalies : Far-clustered anomalies appended to the data.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.glitches import RareClassAnomalies
    >>> X = np.arange(40.0).reshape(20, 2)
    >>> y = np.repeat([0, 1], 10)
    >>> rare = RareClassAnomalies(ratio=0.2, anomaly_class=1, random_state=0)
    >>> X_new, y_new = rare.fit_resample(X, y)
    >>> X_new.shape, int(rare.glitch_mask_.sum())
    ((12, 2), 2)
    >>> y_new[rare.glitch_mask_].tolist()
    [1, 1]
    """

    _glitch_kind = "rare"
    _parameter_constraints = {
        "ratio": [Interval(Real, 0, 1, closed="neither")],
        "anomaly_class": "no_validation",
        "random_state": ["random_state"],
    }

    def __init__(self, ratio=0.1, *, anomaly_class=None, random_state=None):
        self.ratio = ratio
        self.anomaly_class = anomaly_class
        self.random_state = random_state

    def _fit_resample(self, X, y):
        rng = _glitch_rng(self.random_state)
        self.classes_, codes = _encode(y)
        if len(self.classes_) < 2:
            raise ValueError(
                "RareClassAnomalies needs at least two classes in y, got one class."
            )
        if self.anomaly_class is None:
            rare = int(rng.randint(len(self.classes_)))
        else:
            hits = np.flatnonzero(self.classes_ == self.anomaly_class)
            if len(hits) == 0:
                raise ValueError(
                    f"anomaly_class={self.anomaly_class!r} is not a class of y: "
                    f"{self.classes_.tolist()}."
                )
            rare = int(hits[0])
        rows = np.flatnonzero(codes == rare)
        n_other = len(y) - len(rows)
        n_keep = _count(self.ratio / (1 - self.ratio), n_other)
        if n_keep < 1:
            raise ValueError(
                f"ratio={self.ratio} keeps no row of the rare class; raise it."
            )
        if n_keep > len(rows):
            raise ValueError(
                f"Class {self.classes_[rare]!r} has {len(rows)} rows, fewer than the "
                f"{n_keep} needed to make it a share {self.ratio} of the data."
            )
        keep = np.ones(len(y), dtype=bool)
        keep[rows] = False
        keep[rng.choice(rows, size=n_keep, replace=False)] = True
        self.sample_indices_ = np.flatnonzero(keep)
        self.anomaly_class_ = self.classes_[rare]
        self.glitch_mask_ = codes[self.sample_indices_] == rare
        idx = self.sample_indices_
        return X[idx], y[idx], idx


@_fill_doc
class ForeignClusterAnomalies(BaseGlitchInjector):
    """Append a tight cluster of foreign rows: far-clustered anomalies.

    ``round(ratio * n_samples)`` rows are appended after the input rows; they
    are the glitches. They come from:

    - ``X_foreign``, when given: rows drawn without replacement from this
      pool (for example one class of another dataset, as in the paper);
    - otherwise a generated Gaussian cluster far from the data. With
      ``mu_j`` and ``s_j`` the mean and standard deviation of feature ``j``
      (constant features use the mean of the other standard deviations) and
      ``sign_j`` a random sign, the centre is
      ``c_j = mu_j + sign_j * distance * s_j`` and the rows are
      ``c_j + cluster_std * s_j * N(0, 1)``. Every feature of the centre is
      ``distance`` standard deviations from the data mean.

    The appended rows get one label drawn uniformly among the classes and
    shared by all (``label_mode="shared"``, as in the paper), or one label
    per row drawn uniformly and independently (``label_mode="random"``).

    Parameters
    ----------
    ratio : float, default=0.1
        Number of appended rows, as a share of the input rows, in (0, 1].

    X_foreign : array-like of shape (n_pool, n_features), default=None
        Pool of foreign rows; when None a cluster is generated.

    label_mode : {"shared", "random"}, default="shared"
        One shared random label, or one random label per appended row.

    distance : float, default=5.0
        Distance of the generated centre from the data mean, in standard
        deviations of each feature. Ignored when ``X_foreign`` is given.

    cluster_std : float, default=0.1
        Spread of the generated cluster, in standard deviations of each
        feature. Ignored when ``X_foreign`` is given.

    {random_state}

    Attributes
    ----------
    glitch_mask_ : ndarray of shape (n_samples_new,), dtype=bool
        True for the appended rows (the last ones).

    center_ : ndarray of shape (n_features,)
        Centre of the generated cluster; only set when ``X_foreign`` is None.

    classes_ : ndarray of shape (n_classes,)
        The classes seen in ``y``, sorted.

    n_features_in_ : int
        Number of features seen during :meth:`fit_resample`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    Notes
    -----
    A generated cluster is rounded on integer features; an integer ``X``
    (or integer DataFrame column) keeps its dtype when the cluster fits in
    it and becomes float64 otherwise. A floating ``X`` keeps its dtype. With
    ``X_foreign`` the output has the common dtype of both. For a DataFrame
    with an integer index the appended rows continue the index after its
    largest label; with an index of strings (row ids) they are named
    ``"appended_0"``, ``"appended_1"``, ...; any other index is reset.

    See Also
    --------
    RareClassAnomalies : Near-clustered anomalies from a downsampled class.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.glitches import ForeignClusterAnomalies
    >>> rng = np.random.RandomState(0)
    >>> X, y = rng.normal(size=(50, 3)), np.repeat([0, 1], 25)
    >>> far = ForeignClusterAnomalies(ratio=0.1, random_state=0)
    >>> X_new, y_new = far.fit_resample(X, y)
    >>> X_new.shape, bool(far.glitch_mask_[-5:].all()), len(set(y_new[-5:]))
    ((55, 3), True, 1)
    """

    _glitch_kind = "clustered_anomaly"
    _validation = {"dtype": "numeric", "ensure_all_finite": True}
    _parameter_constraints = {
        "ratio": [Interval(Real, 0, 1, closed="right")],
        "X_foreign": ["array-like", None],
        "label_mode": [StrOptions({"shared", "random"})],
        "distance": [Interval(Real, 0, None, closed="neither")],
        "cluster_std": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        ratio=0.1,
        *,
        X_foreign=None,
        label_mode="shared",
        distance=5.0,
        cluster_std=0.1,
        random_state=None,
    ):
        self.ratio = ratio
        self.X_foreign = X_foreign
        self.label_mode = label_mode
        self.distance = distance
        self.cluster_std = cluster_std
        self.random_state = random_state

    def _fit_resample(self, X, y):
        rng = _glitch_rng(self.random_state)
        self.classes_, _ = _encode(y)
        n_samples, n_features = X.shape
        n_new = _count(self.ratio, n_samples)
        if n_new < 1:
            raise ValueError(
                f"ratio={self.ratio} appends no row to n_samples={n_samples} rows."
            )
        if self.X_foreign is None:
            X_add, dtype = self._generate(X, n_new, rng)
        else:
            pool = check_array(self.X_foreign, dtype="numeric")
            if pool.shape[1] != n_features:
                raise ValueError(
                    f"X_foreign has {pool.shape[1]} features, X has {n_features}."
                )
            if len(pool) < n_new:
                raise ValueError(f"X_foreign has {len(pool)} rows, {n_new} are needed.")
            X_add = pool[rng.choice(len(pool), size=n_new, replace=False)]
            dtype = np.result_type(X.dtype, pool.dtype)
        if self.label_mode == "shared":
            codes = np.full(n_new, rng.randint(len(self.classes_)))
        else:
            codes = rng.randint(len(self.classes_), size=n_new)
        self.glitch_mask_ = np.r_[np.zeros(n_samples, bool), np.ones(n_new, bool)]
        X_new = np.concatenate([X.astype(dtype), X_add])
        if self.X_foreign is None:
            X_new = _cast_back(X_new, X.dtype)
        y_new = np.concatenate([y, self.classes_[codes]])
        return X_new, y_new, np.r_[np.arange(n_samples), np.full(n_new, -1)]

    def _generate(self, X, n_new, rng):
        scale = _feature_scale(X)
        signs = rng.choice([-1.0, 1.0], size=X.shape[1])
        self.center_ = X.mean(axis=0) + signs * self.distance * scale
        X_add = self.center_ + self.cluster_std * scale * rng.standard_normal(
            (n_new, X.shape[1])
        )
        X_add = _round_integer_columns(X_add, self._input_dtypes)
        return X_add, X.dtype if X.dtype.kind == "f" else np.float64
