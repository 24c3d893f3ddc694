"""``find_glitches``: the detector and its diagnosis in one call."""

import warnings

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import type_of_target

__all__ = ["find_glitches"]

# kind -> (the glitch types it keeps, the diagnosis column ranking them)
_KINDS = {
    "label": (("mislabeled", "corrupted_target"), "conflict"),
    "anomaly": (("clustered_anomaly", "outlier"), "isolation"),
    "any": (None, "glitch_score"),
}
_TASKS = ("auto", "classification", "regression")
_AUDIT_HINT = (
    "Or let skinfluence.audit(frame, target=COLUMN) encode the table (one-hot "
    "categories, imputed missing cells) and find its glitches."
)


def find_glitches(
    X,
    y,
    *,
    kind="label",
    return_="mask",
    task="auto",
    X_val=None,
    y_val=None,
    estimator=None,
    signal="auto",
    contamination="auto",
    random_state=None,
    verbose=0,
):
    """Find the glitched training rows in one call, like cleanlab's ``find_label_issues``.

    Fits an :class:`~skinfluence.InfluenceGlitchDetector` on ``X, y`` (an
    :class:`~skinfluence.InfluenceGlitchRegressor` for a continuous target)
    and keeps the rows
    :meth:`~skinfluence.InfluenceGlitchDetector.diagnose` flags with the
    asked kind. It is a shortcut for::

        det = InfluenceGlitchDetector(estimator, signal=signal,
                                      contamination=contamination).fit(X, y, X_val, y_val)
        report = det.diagnose()
        mask = report["flagged"] & (report["glitch_type"] == "mislabeled")  # kind="label"

    Use the detector itself to score new rows, tune a signal or reuse the
    captured training run; use :func:`skinfluence.audit` for a pandas table
    with missing cells and categorical columns.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Numeric training rows, raw or scaled: the detector standardises them
        (its ``standardize="auto"``). A frame with text or categorical
        columns is refused with a pointer to :func:`skinfluence.audit`,
        which encodes them.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Their given class labels, or continuous targets (see ``task``).
    kind : {"label", "anomaly", "any"}, default="label"
        ``"label"``: rows typed ``"mislabeled"`` (a wrong label; see
        ``suggested_label`` in ``diagnose()``), or ``"corrupted_target"``
        for a continuous target (see ``suggested_target``);
        ``"anomaly"``: rows typed ``"clustered_anomaly"`` or ``"outlier"``
        (rows to drop); ``"any"``: every flagged row.
    return_ : {"mask", "ranked"}, default="mask"
        ``"mask"``: a boolean mask over the rows (cleanlab's default);
        ``"ranked"``: the indices of the found rows, most suspicious first
        (ranked by ``conflict`` for labels, ``isolation`` for anomalies,
        ``glitch_score`` for any), like cleanlab's
        ``return_indices_ranked_by``.
    task : {"auto", "classification", "regression"}, default="auto"
        ``"auto"``: numbers with a fractional part (and two-dimensional
        ``y``) are a continuous target; integers, text and booleans are
        class labels. Integers that :func:`skinfluence.audit` would read as
        a count (:func:`~skinfluence.auditing.infer_task`: many distinct
        values, few rows per value) stay class labels here, with a warning
        that names ``task="regression"``: without a summary to say so, a
        silent switch would misread class codes.
    X_val, y_val : array-like, default=None
        A trusted, clean reference set; strongly recommended for anomalies.
    estimator : skorch.NeuralNetClassifier or NeuralNetRegressor, default=None
        The network template; None uses ``make_net("MLP")`` (with
        ``task="regression"`` for a continuous target).
    signal : str, default="auto"
        The detector's signal; ``"auto"`` flags label noise and anomalies.
    contamination : "auto" or float, default="auto"
        The flag threshold (see :class:`~skinfluence.InfluenceGlitchDetector`).
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Returns
    -------
    found : ndarray of bool of shape (n_samples,) or ndarray of int

    See Also
    --------
    skinfluence.InfluenceGlitchDetector : the estimator behind it.
    skinfluence.audit : the same on a pandas table, with a report.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skinfluence import find_glitches
    >>> from skinfluence.models import make_net
    >>> X, y = make_blobs(300, centers=3, cluster_std=0.6, random_state=0)
    >>> y[:10] = (y[:10] + 1) % 3  # ten flipped labels
    >>> ranked = find_glitches(X, y, return_="ranked", estimator=make_net(max_epochs=10),
    ...                        random_state=0)
    >>> bool(set(ranked[:8]) <= set(range(10)))
    True

    A continuous target trains the regressor:

    >>> from sklearn.datasets import make_friedman1
    >>> X, y = make_friedman1(300, random_state=0)
    >>> y[:10] += 15  # ten targets about three standard deviations off
    >>> found = find_glitches(X, y, estimator=make_net(task="regression"),
    ...                       random_state=0)
    >>> bool(found[:10].all()), bool(found[10:].sum() <= 10)
    (True, True)
    """
    from .._validation import check_numeric_frame
    from ..detector import InfluenceGlitchDetector
    from ..regressor import InfluenceGlitchRegressor

    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}.")
    if return_ not in ("mask", "ranked"):
        raise ValueError(f"return_ must be 'mask' or 'ranked', got {return_!r}.")
    # A frame with text or categories is the audit's input: say so up front.
    check_numeric_frame(X, "find_glitches", hint=_AUDIT_HINT)
    estimator_class = (
        InfluenceGlitchRegressor
        if _task(y, task) == "regression"
        else InfluenceGlitchDetector
    )
    detector = estimator_class(
        estimator,
        signal=signal,
        contamination=contamination,
        random_state=random_state,
        verbose=verbose,
    ).fit(X, y, X_val=X_val, y_val=y_val)
    report = detector.diagnose()
    types, rank_by = _KINDS[kind]
    found = report["flagged"].to_numpy()
    if types is not None:
        found = found & report["glitch_type"].isin(types).to_numpy()
    if return_ == "mask":
        return found
    rows = np.flatnonzero(found)
    order = np.argsort(-report[rank_by].to_numpy()[rows], kind="stable")
    return rows[order]


def _task(y, task):
    """``task``, or for ``"auto"``: fractional or several targets are continuous."""
    from ._task import infer_task

    if task not in _TASKS:
        raise ValueError(f"task must be one of {_TASKS}, got {task!r}.")
    if task != "auto":
        return task
    if np.ndim(y) == 2 and np.shape(y)[1] > 1:
        return "regression"  # several targets: no class label is a vector
    values = pd.Series(np.ravel(np.asarray(y)))
    if values.isna().any():
        return "classification"  # the estimator's validation names the missing y
    kind = type_of_target(values, input_name="y")
    if kind.startswith("continuous"):
        return "regression"
    if kind != "unknown":
        task, reason = infer_task(values, "y")
        if task == "regression":
            warnings.warn(
                f"find_glitches reads y as class labels, but {reason}. If y is a "
                "count or a measurement, pass task='regression'.",
                UserWarning,
                stacklevel=3,
            )
    return "classification"  # the estimator's validation says what is wrong
