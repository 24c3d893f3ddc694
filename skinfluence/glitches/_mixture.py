"""Several injectors applied in sequence."""

import numpy as np
from sklearn.base import clone

from .._sklearn_compat import _fit_context
from ._base import BaseGlitchInjector, _fill_doc, _glitch_rng

__all__ = ["GlitchMixture"]


def _step_sources(step, n_in, n_out):
    """Input row of each output row of a fitted step (-1 for appended rows)."""
    source = getattr(step, "_source_rows", None)
    if source is None:
        source = getattr(step, "sample_indices_", None)
    if source is None and n_in == n_out:
        source = np.arange(n_out)
    if source is None or len(source) != n_out:
        raise ValueError(
            f"Cannot tell which input rows {type(step).__name__} kept; an injector "
            "that changes the number of rows must expose sample_indices_."
        )
    return np.asarray(source, dtype=np.intp)


@_fill_doc
class GlitchMixture(BaseGlitchInjector):
    """Apply several glitch injectors in sequence.

    Each injector is cloned and applied to the *output of the previous one*,
    so its ratio counts the rows of the data it receives (for example a 10 %
    label noise after appending 50 anomalies to 500 rows flips 55 labels,
    and may flip appended rows). The ground truth is combined:

    - ``glitch_kind_`` names the kind of each output row: ``"mislabeled"``
      (label noise), ``"clustered_anomaly"`` (appended foreign rows),
      ``"rare"`` (rows of a downsampled class), ``"outlier"`` (corrupted
      features), or ``"clean"``. A row glitched by several injectors gets the
      kind of the *last* one. An injector without a kind is named by its
      class name. A row whose label a later flip sets back to its true label
      is clean again.
    - ``glitch_mask_`` is ``glitch_kind_ != "clean"``.
    - ``true_labels_`` holds, for each output row, its label before any
      injector ran (label flips do not change it); appended rows keep the
      label they were given.

    Parameters
    ----------
    injectors : list of injector objects
        Estimators with ``fit_resample`` and a fitted ``glitch_mask_``, such
        as the injectors of this module. An injector that changes the number
        of rows must say which input rows it kept.

    {random_state}
        When not None, each injector whose own ``random_state`` is None gets
        a seed drawn from it, so the whole mixture is reproducible; an
        injector with its own ``random_state`` keeps it.

    Attributes
    ----------
    injectors_ : list of injector objects
        The fitted clones, in order.

    glitch_mask_ : ndarray of shape (n_samples_new,), dtype=bool
        True for the rows glitched by any injector.

    glitch_kind_ : ndarray of shape (n_samples_new,), dtype=object
        Kind of each output row, see above.

    true_labels_ : ndarray of shape (n_samples_new,)
        Label of each output row before any flip.

    n_features_in_ : int
        Number of features seen during :meth:`fit_resample`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when ``X`` has string column names.

    See Also
    --------
    UniformLabelNoise, ForeignClusterAnomalies, FeatureCorruption

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.glitches import (
    ...     FeatureCorruption,
    ...     ForeignClusterAnomalies,
    ...     GlitchMixture,
    ...     UniformLabelNoise,
    ... )
    >>> rng = np.random.RandomState(0)
    >>> X, y = rng.normal(size=(100, 4)), np.repeat([0, 1], 50)
    >>> mixture = GlitchMixture(
    ...     [UniformLabelNoise(0.1), ForeignClusterAnomalies(0.1), FeatureCorruption()],
    ...     random_state=0,
    ... )
    >>> X_new, y_new = mixture.fit_resample(X, y)
    >>> X_new.shape
    (110, 4)
    >>> kinds, counts = np.unique(mixture.glitch_kind_, return_counts=True)
    >>> dict(zip(kinds.tolist(), counts.tolist()))  # doctest: +SKIP
    {'clean': 73, 'clustered_anomaly': 9, 'mislabeled': 9, 'outlier': 11}
    >>> bool(np.array_equal(mixture.glitch_mask_, mixture.glitch_kind_ != "clean"))
    True
    """

    _target_kind = "any"  # each step checks the targets it needs

    _parameter_constraints = {
        "injectors": [list],
        "random_state": ["random_state"],
    }

    def __init__(self, injectors, *, random_state=None):
        self.injectors = injectors
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit_resample(self, X, y):
        """Return ``(X, y)`` glitched by every injector in turn.

        Parameters
        ----------
        X : {array-like, dataframe} of shape (n_samples, n_features)
            Input data. It is not modified.

        y : array-like of shape (n_samples,)
            Class labels. They are not modified.

        Returns
        -------
        X_new : {ndarray, dataframe} of shape (n_samples_new, n_features)
            The glitched data, in the container of ``X``.

        y_new : {ndarray, series} of shape (n_samples_new,)
            The glitched labels, in the container of ``y``.
        """
        return self._resample(X, y)

    def _needs_numeric(self):
        # Checked here, where a DataFrame still names its columns.
        return any(
            getattr(step, "_needs_numeric", lambda: False)() for step in self.injectors
        )

    def _fit_resample(self, X, y):
        if len(self.injectors) == 0:
            raise ValueError("GlitchMixture needs at least one injector.")
        rng = _glitch_rng(self.random_state)
        kinds = np.full(len(y), "clean", dtype=object)
        true_labels = y.copy()
        source = np.arange(len(y))
        self.injectors_ = []
        for injector in self.injectors:
            if not hasattr(injector, "fit_resample"):
                raise TypeError(f"{injector!r} has no fit_resample method.")
            step = clone(injector)
            params = step.get_params(deep=False)
            if self.random_state is not None and params.get("random_state", 0) is None:
                step.set_params(random_state=rng.randint(np.iinfo(np.int32).max))
            n_in = len(y)
            X, y = step.fit_resample(X, y)
            X, y = np.asarray(X), np.asarray(y)
            src = _step_sources(step, n_in, len(y))
            kinds = _carry(kinds, src, "clean")
            true_labels = _carry(true_labels, src, y)
            source = _carry(source, src, -1)
            kinds[np.asarray(step.glitch_mask_, dtype=bool)] = (
                getattr(step, "_glitch_kind", None) or type(step).__name__
            )
            # A later flip can restore the true label: that row is clean again.
            kinds[(kinds == "mislabeled") & (y == true_labels)] = "clean"
            self.injectors_.append(step)
        self.glitch_kind_ = kinds
        self.glitch_mask_ = kinds != "clean"
        self.true_labels_ = true_labels
        return X, y, source


def _carry(values, src, fill):
    """Move per-row ``values`` to the output rows; appended rows get ``fill``."""
    kept = src >= 0
    out = np.array(np.broadcast_to(fill, src.shape), dtype=values.dtype)
    out[kept] = values[src[kept]]
    return out
