"""Base class shared by the glitch injectors."""

import itertools
from abc import ABCMeta, abstractmethod

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from .._sklearn_compat import _fit_context
from .._validation import check_numeric_frame

__all__ = ["BaseGlitchInjector"]

# Salt of the injectors' random streams: the bytes of "glitch" as an integer.
_SALT = 0x676C69746368

_RANDOM_STATE_DOC = """random_state : int, RandomState instance or None, default=None
        Controls which rows are glitched and how. Pass an int for reproducible
        output across multiple calls. The draws come from a salted child
        stream of it, so they never pick the folds that a scikit-learn
        splitter draws with the same seed. See
        :term:`Glossary <random_state>`."""


def _fill_doc(cls):
    """Substitute the shared ``random_state`` text into a class docstring."""
    cls.__doc__ = cls.__doc__.replace("{random_state}", _RANDOM_STATE_DOC)
    return cls


def _glitch_rng(random_state):
    """The RandomState an injector draws its glitches from.

    ``check_random_state(seed)`` would hand the injector the very stream a
    scikit-learn splitter gets for the same seed: ``rng.choice(n, m,
    replace=False)`` is the head of ``rng.permutation(n)``, so
    ``UniformLabelNoise(random_state=0)`` would glitch exactly the first test
    fold of ``KFold(shuffle=True, random_state=0)``. One draw from that
    stream is hashed with a salt by :class:`numpy.random.SeedSequence` into
    the seed of a child stream instead: the same ``random_state`` still gives
    the same glitches, a ``RandomState`` instance is still advanced (by one
    draw), and the child is seeded through ``init_by_array`` from a hash,
    which no integer seed of a splitter reproduces.
    """
    draw = check_random_state(random_state).randint(2**32, dtype=np.uint64)
    state = np.random.SeedSequence([int(draw), _SALT]).generate_state(4)
    return np.random.RandomState(state)


def _count(ratio, n):
    """Number of glitched rows for a share ``ratio`` of ``n`` rows."""
    return int(round(ratio * n))


def _encode(y):
    """Return ``(classes, codes)`` with ``classes[codes] == y``."""
    classes, codes = np.unique(y, return_inverse=True)
    return classes, codes.ravel()


def _feature_scale(X):
    """Per-feature standard deviation, with constant features given a fallback.

    A constant feature would otherwise never move; it gets the mean standard
    deviation of the non-constant features (1.0 when every feature is
    constant).
    """
    std = X.std(axis=0)
    positive = std > 0
    fallback = std[positive].mean() if positive.any() else 1.0
    return np.where(positive, std, fallback)


def _cast_back(values, dtype):
    """Cast float ``values`` to ``dtype`` when that loses nothing.

    Integer dtypes get rounded values when they all fit in the dtype's range;
    otherwise the float array is returned so no value is silently wrapped.
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return values.astype(dtype, copy=False)
    if dtype.kind in "iu":
        rounded = np.rint(values)
        info = np.iinfo(dtype)
        if rounded.size == 0 or (
            rounded.min() >= info.min and rounded.max() <= info.max
        ):
            return rounded.astype(dtype)
    return values


def _check_regression_targets(y, owner):
    """Return ``y`` as numbers, or raise naming the injector.

    Numbers held as Python objects are accepted; anything else is refused
    with scikit-learn's "Unknown label type" wording.
    """
    values = np.asarray(y)
    try:
        numbers = values.astype(np.float64) if values.dtype.kind == "O" else values
    except (TypeError, ValueError):
        numbers = values
    if numbers.dtype.kind not in "iuf" or numbers.ndim != 1:
        raise ValueError(
            f"Unknown label type for {owner}: it needs a 1-dimensional numeric "
            f"target, got dtype {values.dtype} and shape {values.shape}."
        )
    if not np.isfinite(numbers).all():
        raise ValueError(f"{owner}: the target contains NaN or infinity.")
    return numbers


def _is_integer(dtype):
    return getattr(dtype, "kind", "O") in "iu"


def _round_integer_columns(values, dtypes):
    """Round the columns of float ``values`` whose input dtype is an integer."""
    integer = np.array([_is_integer(dtype) for dtype in dtypes], dtype=bool)
    if integer.any():
        values[:, integer] = np.rint(values[:, integer])
    return values


def _restore_column(column, dtype):
    """Cast a pandas column back to its input dtype unless the cast is lossy."""
    if column.dtype == dtype:
        return column
    kind = getattr(dtype, "kind", "O")
    if column.dtype.kind == "f" and kind in "iub":
        values = column.to_numpy()
        if not (np.isfinite(values).all() and (values == np.rint(values)).all()):
            return column
        info = np.iinfo(np.dtype(kind + str(dtype.itemsize))) if kind != "b" else None
        low, high = (0, 1) if info is None else (info.min, info.max)
        if len(values) and (values.min() < low or values.max() > high):
            return column
    try:
        return column.astype(dtype)
    except (TypeError, ValueError):
        return column


def _new_index(index, source):
    """Index of the output rows: input labels for kept rows, new ones appended.

    Appended rows (``source == -1``) continue an integer index after its
    largest label; on an index of strings (row ids) they are named
    ``"appended_0"``, ``"appended_1"``, ... (skipping names already taken),
    so the input rows keep their ids; any other index is replaced by a fresh
    ``RangeIndex``.
    """
    kept = source >= 0
    if kept.all():
        return index.take(source)
    if _is_string_index(index):
        taken = set(index)
        names = (f"appended_{k}" for k in itertools.count())
        new = (name for name in names if name not in taken)
        values = np.empty(len(source), dtype=object)
        values[kept] = index.to_numpy()[source[kept]]
        values[~kept] = list(itertools.islice(new, np.count_nonzero(~kept)))
        return pd.Index(values, name=index.name, dtype=index.dtype)
    if not pd.api.types.is_integer_dtype(index.dtype):
        return pd.RangeIndex(len(source))
    start = int(index.max()) + 1 if len(index) else 0
    values = np.empty(len(source), dtype=np.int64)
    values[kept] = index.to_numpy()[source[kept]]
    values[~kept] = np.arange(start, start + np.count_nonzero(~kept))
    if np.array_equal(values, np.arange(len(values))):
        return pd.RangeIndex(len(values), name=index.name)
    return pd.Index(values, name=index.name)


def _is_string_index(index):
    return (
        not isinstance(index, pd.MultiIndex)
        and (pd.api.types.is_object_dtype(index) or pd.api.types.is_string_dtype(index))
        and all(isinstance(label, str) for label in index)
    )


def _wrap_like(X_in, y_in, X_new, y_new, source):
    """Return ``(X_new, y_new)`` in the containers of the inputs.

    A DataFrame ``X`` gives a DataFrame with the same columns and, where the
    cast is lossless, the same dtypes; a Series ``y`` gives a Series with the
    same name and dtype. Output rows keep the index labels of the input rows
    they come from (see ``_new_index`` for appended rows).
    """
    reference = X_in if isinstance(X_in, pd.DataFrame) else y_in
    is_pandas = isinstance(reference, (pd.DataFrame, pd.Series))
    index = _new_index(reference.index, source) if is_pandas else None
    if isinstance(X_in, pd.DataFrame):
        X_out = pd.DataFrame(X_new, columns=X_in.columns, index=index)
        X_out = pd.DataFrame(
            {col: _restore_column(X_out[col], X_in[col].dtype) for col in X_out},
            index=index,
        )
    else:
        X_out = X_new
    if isinstance(y_in, pd.Series):
        y_out = _restore_column(
            pd.Series(y_new, index=index, name=y_in.name), y_in.dtype
        )
    elif isinstance(y_in, pd.DataFrame):
        y_out = pd.DataFrame(y_new, index=index, columns=y_in.columns)
        y_out = y_out.astype(y_in.dtypes.to_dict(), errors="ignore")
    else:
        y_out = y_new
    return X_out, y_out


class BaseGlitchInjector(BaseEstimator, metaclass=ABCMeta):
    """Base class for glitch injectors, in imbalanced-learn's sampler style.

    An injector has one public verb, :meth:`fit_resample`, which validates the
    data once and hands over to the private ``_fit_resample`` of each
    injector. It returns a new ``(X, y)`` and never modifies its inputs. The
    ground truth is stored as fitted attributes: ``glitch_mask_`` marks the
    glitched output rows. Because ``fit_resample`` is the only verb a
    resampling pipeline needs, injectors also drop into an
    ``imblearn.pipeline.Pipeline``.

    Subclasses set ``_glitch_kind`` (the name :class:`GlitchMixture` reports
    for their rows) and implement ``_fit_resample(X, y)``, which sets
    ``glitch_mask_`` and returns ``(X_new, y_new, source)``; ``source`` gives,
    for each output row, the input row it comes from, or -1 for an appended
    row.
    """

    _glitch_kind = None
    # "classification": y must hold class labels; "regression": numeric
    # targets; "any": the injector leaves y alone (feature corruption) or its
    # steps check it (mixtures).
    _target_kind = "classification"
    # Label noise and mixtures need no numeric X; feature injectors override.
    _validation = {"dtype": None, "ensure_all_finite": False}

    def fit(self, X, y):
        """Draw the glitches and store the ground truth.

        Use :meth:`fit_resample` to also get the glitched data.

        Parameters
        ----------
        X : {array-like, dataframe} of shape (n_samples, n_features)
            Input data.

        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : object
            The fitted injector.
        """
        self.fit_resample(X, y)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_resample(self, X, y):
        """Return a glitched copy of ``(X, y)``.

        Parameters
        ----------
        X : {array-like, dataframe} of shape (n_samples, n_features)
            Input data. It is not modified.

        y : array-like of shape (n_samples,)
            Class labels. They are not modified.

        Returns
        -------
        X_new : {ndarray, dataframe} of shape (n_samples_new, n_features)
            The glitched data: a DataFrame when ``X`` is one (same columns,
            same dtypes where the values allow, index labels of the source
            rows), an ndarray otherwise.

        y_new : {ndarray, series} of shape (n_samples_new,)
            The glitched labels: a Series when ``y`` is one, an ndarray
            otherwise.
        """
        return self._resample(X, y)

    def _resample(self, X, y):
        X_in, y_in = X, y
        if self._target_kind == "classification":
            check_classification_targets(y)
        if self._needs_numeric():
            check_numeric_frame(X, type(self).__name__)
        X, y = validate_data(self, X, y, accept_sparse=False, **self._validation)
        if self._target_kind == "regression":
            y = _check_regression_targets(y, type(self).__name__)
        # Per-column input dtypes, so float work can round integer columns.
        dtypes = getattr(X_in, "dtypes", None)
        self._input_dtypes = [X.dtype] * X.shape[1] if dtypes is None else list(dtypes)
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            X_new, y_new, source = self._fit_resample(X, y)
        if self._validation.get("ensure_all_finite") and not np.isfinite(X_new).all():
            raise ValueError(
                f"{type(self).__name__} overflowed on features as large as "
                f"{np.abs(X).max():.3g} in {X.dtype}; rescale them first."
            )
        self._source_rows = np.asarray(source, dtype=np.intp)
        return _wrap_like(X_in, y_in, X_new, y_new, self._source_rows)

    def _needs_numeric(self):
        return self._validation.get("dtype") == "numeric"

    @abstractmethod
    def _fit_resample(self, X, y):
        """Glitch validated arrays; return ``(X_new, y_new, source)``."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "sampler"
        tags.target_tags.required = True
        tags.input_tags.allow_nan = not self._validation.get("ensure_all_finite", True)
        # Without a dtype to validate, any column type passes through untouched.
        tags.input_tags.string = self._validation.get("dtype") is None
        return tags
