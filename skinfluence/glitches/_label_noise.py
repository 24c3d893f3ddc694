"""Label noise: uniform and class-dependent flips."""

from numbers import Real

import numpy as np
from sklearn.utils import check_array

from .._sklearn_compat import Interval, StrOptions
from ._base import BaseGlitchInjector, _count, _encode, _fill_doc, _glitch_rng

__all__ = ["UniformLabelNoise", "ClassDependentLabelNoise"]


class _BaseLabelNoise(BaseGlitchInjector):
    """Shared bookkeeping of the label-noise injectors (features untouched)."""

    _glitch_kind = "mislabeled"

    def _relabel(self, X, y, codes, new_codes):
        self.glitch_mask_ = new_codes != codes
        self.true_labels_ = y.copy()
        return X.copy(), self.classes_[new_codes], np.arange(len(y))


@_fill_doc
class UniformLabelNoise(_BaseLabelNoise):
    """Flip a share of the labels to another class drawn uniformly.

    Exactly ``round(ratio * n_samples)`` rows, drawn without replacement, get
    a new label drawn uniformly among the *other* classes present in ``y``:
    with ``K`` classes, a picked row of class ``c`` gets each of the ``K - 1``
    other classes with probability ``1 / (K - 1)`` and never keeps ``c``. So
    every marked row is really mislabeled (the paper's code could keep the
    true label, see the user guide). Features are returned unchanged.

    Parameters
    ----------
    ratio : float, default=0.1
        Share of the rows whose label is flipped, in [0, 1].

    {random_state}

    Attributes
    ----------
    glitch_mask_ : ndarray of shape (n_samples,), dtype=bool
        True for the rows whose label was flipped.

    true_labels_ : ndarray of shape (n_samples,)
        The labels before the flip.

    classes_ : ndarray of shape (n_classes,)
        The classes seen in ``y``, sorted.

    n_features_in_ : int
        Number of features seen during :meth:`fit_resample`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    See Also
    --------
    ClassDependentLabelNoise : Flips that depend on the true class.
    GlitchMixture : Several injectors in sequence.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.glitches import UniformLabelNoise
    >>> X = np.arange(20.0).reshape(10, 2)
    >>> y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    >>> noise = UniformLabelNoise(ratio=0.3, random_state=0)
    >>> X_new, y_new = noise.fit_resample(X, y)
    >>> int(noise.glitch_mask_.sum())
    3
    >>> bool(np.all(y_new[noise.glitch_mask_] != y[noise.glitch_mask_]))
    True
    >>> bool(np.array_equal(noise.true_labels_, y))
    True
    """

    _parameter_constraints = {
        "ratio": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    }

    def __init__(self, ratio=0.1, *, random_state=None):
        self.ratio = ratio
        self.random_state = random_state

    def _fit_resample(self, X, y):
        rng = _glitch_rng(self.random_state)
        self.classes_, codes = _encode(y)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(
                "UniformLabelNoise needs at least two classes in y, got one class."
            )
        n_flip = _count(self.ratio, len(y))
        rows = rng.choice(len(y), size=n_flip, replace=False)
        new_codes = codes.copy()
        # A shift in 1..K-1 modulo K is uniform over the other classes.
        new_codes[rows] = (
            codes[rows] + rng.randint(1, n_classes, size=n_flip)
        ) % n_classes
        return self._relabel(X, y, codes, new_codes)


def _largest_remainder(quotas):
    """Round non-negative ``quotas`` to integers that keep their total.

    Each quota is floored, then the leftover units go to the largest
    fractional parts (ties to the lower index).
    """
    floors = np.floor(quotas).astype(np.intp)
    leftover = int(round(quotas.sum())) - floors.sum()
    order = np.argsort(-(quotas - floors), kind="stable")
    floors[order[:leftover]] += 1
    return floors


@_fill_doc
class ClassDependentLabelNoise(_BaseLabelNoise):
    """Flip labels with probabilities that depend on the true class.

    Three modes, all drawing which rows flip without replacement:

    - ``"pairflip"``: with the classes sorted as in ``classes_`` and indexed
      ``0 .. K-1``, exactly ``round(ratio * n_c)`` rows of every class ``c``
      (``n_c`` its size) are relabelled to class ``(c + 1) mod K``.
    - ``"paper"``: the paper's variant. Only the ``source`` class is touched:
      ``round(ratio * n_source)`` of its rows are all relabelled to the one
      ``target`` class. A missing ``source`` is drawn uniformly among the
      classes, a missing ``target`` uniformly among the other classes.
    - ``"matrix"``: an explicit row-stochastic ``transition`` matrix ``T``
      (rows and columns in the order of ``classes_``); ``T[c, j]`` is the
      share of class ``c`` relabelled to class ``j``. The counts are
      deterministic: the quotas ``T[c] * n_c`` are rounded by the largest
      remainder method (floor, then one more row for the largest fractional
      parts, ties to the lower class index), so they sum to ``n_c``; which
      rows get which label is random. The diagonal count stays clean.
      ``ratio`` is ignored in this mode.

    Features are returned unchanged.

    Parameters
    ----------
    ratio : float, default=0.1
        Share of each touched class whose labels flip, in [0, 1]. Ignored
        when ``mode="matrix"``.

    mode : {"pairflip", "paper", "matrix"}, default="pairflip"
        How the flips depend on the class, see above.

    transition : array-like of shape (n_classes, n_classes), default=None
        Row-stochastic transition matrix; required by, and only allowed with,
        ``mode="matrix"``.

    source : class label, default=None
        Class whose rows are flipped with ``mode="paper"``; drawn at random
        when None. Only allowed with ``mode="paper"``.

    target : class label, default=None
        Class the flipped rows get with ``mode="paper"``; drawn at random
        among the other classes when None. Only allowed with ``mode="paper"``.

    {random_state}

    Attributes
    ----------
    glitch_mask_ : ndarray of shape (n_samples,), dtype=bool
        True for the rows whose label was flipped.

    true_labels_ : ndarray of shape (n_samples,)
        The labels before the flip.

    classes_ : ndarray of shape (n_classes,)
        The classes seen in ``y``, sorted.

    source_ : class label
        The source class used (``mode="paper"`` only).

    target_ : class label
        The target class used (``mode="paper"`` only).

    n_features_in_ : int
        Number of features seen during :meth:`fit_resample`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    See Also
    --------
    UniformLabelNoise : Flips to a uniformly drawn other class.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.glitches import ClassDependentLabelNoise
    >>> X = np.zeros((12, 1))
    >>> y = np.repeat(["a", "b", "c"], 4)
    >>> noise = ClassDependentLabelNoise(ratio=0.5, random_state=0)
    >>> X_new, y_new = noise.fit_resample(X, y)
    >>> sorted(zip(y[noise.glitch_mask_].tolist(), y_new[noise.glitch_mask_].tolist()))
    [('a', 'b'), ('a', 'b'), ('b', 'c'), ('b', 'c'), ('c', 'a'), ('c', 'a')]
    >>> paper = ClassDependentLabelNoise(0.5, mode="paper", source="a", target="c")
    >>> y_new = paper.fit_resample(X, y)[1]
    >>> y_new[:4].tolist().count("c")
    2
    """

    _parameter_constraints = {
        "ratio": [Interval(Real, 0, 1, closed="both")],
        "mode": [StrOptions({"pairflip", "paper", "matrix"})],
        "transition": ["array-like", None],
        "source": "no_validation",
        "target": "no_validation",
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        ratio=0.1,
        *,
        mode="pairflip",
        transition=None,
        source=None,
        target=None,
        random_state=None,
    ):
        self.ratio = ratio
        self.mode = mode
        self.transition = transition
        self.source = source
        self.target = target
        self.random_state = random_state

    def _fit_resample(self, X, y):
        if (self.transition is not None) != (self.mode == "matrix"):
            raise ValueError(
                "transition is required by, and only allowed with, mode='matrix'."
            )
        if self.mode != "paper" and (
            self.source is not None or self.target is not None
        ):
            raise ValueError("source and target are only allowed with mode='paper'.")
        rng = _glitch_rng(self.random_state)
        self.classes_, codes = _encode(y)
        if len(self.classes_) < 2:
            raise ValueError(
                "ClassDependentLabelNoise needs at least two classes in y, "
                "got one class."
            )
        flip = getattr(self, f"_flip_{self.mode}")
        new_codes = flip(codes, rng)
        return self._relabel(X, y, codes, new_codes)

    def _code_of(self, label, name):
        hits = np.flatnonzero(self.classes_ == label)
        if len(hits) == 0:
            raise ValueError(
                f"{name}={label!r} is not a class of y: {self.classes_.tolist()}."
            )
        return int(hits[0])

    def _flip_rows(self, rows, rng):
        return rng.choice(rows, size=_count(self.ratio, len(rows)), replace=False)

    def _flip_pairflip(self, codes, rng):
        n_classes = len(self.classes_)
        new_codes = codes.copy()
        for c in range(n_classes):  # one vectorised draw per class
            rows = self._flip_rows(np.flatnonzero(codes == c), rng)
            new_codes[rows] = (c + 1) % n_classes
        return new_codes

    def _flip_paper(self, codes, rng):
        n_classes = len(self.classes_)
        if self.source is None:
            source = int(rng.randint(n_classes))
        else:
            source = self._code_of(self.source, "source")
        if self.target is None:
            target = int((source + rng.randint(1, n_classes)) % n_classes)
        else:
            target = self._code_of(self.target, "target")
        if source == target:
            raise ValueError(
                f"source and target must differ, got {self.source!r} for both."
            )
        self.source_, self.target_ = self.classes_[source], self.classes_[target]
        new_codes = codes.copy()
        new_codes[self._flip_rows(np.flatnonzero(codes == source), rng)] = target
        return new_codes

    def _flip_matrix(self, codes, rng):
        n_classes = len(self.classes_)
        transition = check_array(self.transition, dtype=np.float64)
        if transition.shape != (n_classes, n_classes):
            raise ValueError(
                f"transition must have shape {(n_classes, n_classes)} (one row and "
                f"column per class of y), got {transition.shape}."
            )
        if (transition < 0).any() or not np.allclose(transition.sum(axis=1), 1.0):
            raise ValueError(
                "transition must be row-stochastic: non-negative rows summing to 1."
            )
        new_codes = codes.copy()
        for c in range(n_classes):
            rows = rng.permutation(np.flatnonzero(codes == c))
            counts = _largest_remainder(transition[c] * len(rows))
            new_codes[rows] = np.repeat(np.arange(n_classes), counts)
        return new_codes
