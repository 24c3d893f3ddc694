"""Ranking metrics for glitch detection: precision, recall and F1 at k."""

from numbers import Integral

import numpy as np
from sklearn.utils.validation import column_or_1d

from .._sklearn_compat import Interval, validate_params

__all__ = ["f1_at_k", "precision_at_k", "recall_at_k", "relabel_accuracy"]


def _check_mask(glitch_mask, n_samples=None, name="glitch_mask"):
    """Return ``glitch_mask`` as a 1-D bool array with at least one glitch."""
    mask = column_or_1d(glitch_mask)
    if n_samples is not None and len(mask) != n_samples:
        raise ValueError(f"{name} has {len(mask)} entries, expected {n_samples}.")
    if mask.dtype != bool:
        if mask.dtype.kind not in "iuf" or not np.isin(mask, (0, 1)).all():
            raise ValueError(f"{name} must be boolean or hold only 0 and 1.")
        mask = mask.astype(bool)
    if not mask.any():
        raise ValueError(
            f"{name} marks no glitch; the metric is undefined without one."
        )
    return mask


def _check_mask_scores(glitch_mask, scores):
    """Validate ``(glitch_mask, scores)``; return a bool mask and float scores."""
    scores = column_or_1d(scores)
    glitch_mask = column_or_1d(glitch_mask)
    if len(glitch_mask) != len(scores):
        raise ValueError(
            "glitch_mask and scores have different lengths: "
            f"{len(glitch_mask)} != {len(scores)}."
        )
    mask = _check_mask(glitch_mask)
    try:
        scores = scores.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("scores must be numeric.") from exc
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; rank metrics need a score for every row.")
    return mask, scores


def _hits_at_k(glitch_mask, scores, k):
    r"""Validate; return ``(hits in the top k, k, number of glitches)``.

    Rows tied with the ``k``-th score share its remaining places:

    .. math:: \text{hits} = |G \cap \{s > s_{(k)}\}|
        + \big(k - |\{s > s_{(k)}\}|\big)
          \frac{|G \cap \{s = s_{(k)}\}|}{|\{s = s_{(k)}\}|}

    with ``G`` the glitches and ``s_(k)`` the ``k``-th largest score: the
    expected hits when the tie is broken at random, so the value does not
    depend on the row order (constant scores read the glitch share, not 1 or
    0 as the glitches come first or last).
    """
    mask, scores = _check_mask_scores(glitch_mask, scores)
    n_glitches = int(mask.sum())
    k = n_glitches if k is None else k
    if k > len(mask):
        raise ValueError(f"k={k} is larger than the number of rows, {len(mask)}.")
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]
    above, tied = scores > kth, scores == kth
    places = k - int(above.sum())
    hits = int(mask[above].sum()) + places * mask[tied].sum() / tied.sum()
    return float(hits), k, n_glitches


_PARAMS = {
    "glitch_mask": ["array-like"],
    "scores": ["array-like"],
    "k": [Interval(Integral, 1, None, closed="left"), None],
}


@validate_params(_PARAMS, prefer_skip_nested_validation=True)
def precision_at_k(glitch_mask, scores, k=None):
    """Share of true glitches among the ``k`` highest-scored rows.

    The rows are ranked by decreasing ``scores``; rows tied with the
    ``k``-th score share its remaining places (the expected value when ties
    are broken at random), so the value does not depend on the row order.

    Parameters
    ----------
    glitch_mask : array-like of shape (n_samples,)
        Ground truth: True (or 1) for the glitched rows.

    scores : array-like of shape (n_samples,)
        Suspicion scores: the higher, the more suspicious (for example a
        detector's ``glitch_scores_``, or ``-score_samples(X, y)`` of new rows).

    k : int, default=None
        Number of top-ranked rows flagged; None uses the number of true
        glitches.

    Returns
    -------
    precision : float
        Number of glitches among the top ``k`` rows, divided by ``k``.

    See Also
    --------
    recall_at_k : Share of the glitches found in the top ``k``.
    f1_at_k : Their harmonic mean.

    Examples
    --------
    >>> from skinfluence.metrics import precision_at_k
    >>> mask = [True, False, True, False, False]
    >>> scores = [0.9, 0.8, 0.1, 0.3, 0.2]
    >>> precision_at_k(mask, scores, k=2)
    0.5
    >>> precision_at_k(mask, scores, k=3)
    0.3333333333333333
    """
    hits, k, _ = _hits_at_k(glitch_mask, scores, k)
    return hits / k


@validate_params(_PARAMS, prefer_skip_nested_validation=True)
def recall_at_k(glitch_mask, scores, k=None):
    """Share of the true glitches found among the ``k`` highest-scored rows.

    Ranking and ties as in :func:`precision_at_k`.

    Parameters
    ----------
    glitch_mask : array-like of shape (n_samples,)
        Ground truth: True (or 1) for the glitched rows.

    scores : array-like of shape (n_samples,)
        Suspicion scores: the higher, the more suspicious.

    k : int, default=None
        Number of top-ranked rows flagged; None uses the number of true
        glitches.

    Returns
    -------
    recall : float
        Number of glitches among the top ``k`` rows, divided by the number
        of glitches.

    See Also
    --------
    precision_at_k : Share of the top ``k`` that are glitches.
    f1_at_k : Their harmonic mean.

    Examples
    --------
    >>> from skinfluence.metrics import recall_at_k
    >>> mask = [True, False, True, False, False]
    >>> scores = [0.9, 0.8, 0.1, 0.3, 0.2]
    >>> recall_at_k(mask, scores, k=2)
    0.5
    >>> recall_at_k(mask, scores, k=5)
    1.0
    """
    hits, _, n_glitches = _hits_at_k(glitch_mask, scores, k)
    return hits / n_glitches


@validate_params(_PARAMS, prefer_skip_nested_validation=True)
def f1_at_k(glitch_mask, scores, k=None):
    """F1 score of flagging the ``k`` highest-scored rows as glitches.

    The paper's detection metric: flag the top ``k`` rows by decreasing
    ``scores`` and compare with the ground truth. With the default ``k``,
    the number of true glitches, precision and recall at ``k`` are equal and
    so is their harmonic mean. Rows tied with the ``k``-th score share its
    remaining places, as in :func:`precision_at_k`.

    scikit-learn's threshold-free ranking metrics take the same inputs:
    ``roc_auc_score(glitch_mask, scores)`` and
    ``average_precision_score(glitch_mask, scores)``.

    Parameters
    ----------
    glitch_mask : array-like of shape (n_samples,)
        Ground truth: True (or 1) for the glitched rows.

    scores : array-like of shape (n_samples,)
        Suspicion scores: the higher, the more suspicious (for example a
        detector's ``glitch_scores_``, or ``-score_samples(X, y)`` of new rows).

    k : int, default=None
        Number of top-ranked rows flagged; None uses the number of true
        glitches.

    Returns
    -------
    f1 : float
        ``2 * precision * recall / (precision + recall)`` at ``k``; 0.0 when
        no glitch is in the top ``k``.

    Raises
    ------
    ValueError
        If the inputs differ in length, the mask marks no glitch or is not
        binary, the scores contain NaN, or ``k`` exceeds the number of rows.

    See Also
    --------
    precision_at_k, recall_at_k
    sklearn.metrics.roc_auc_score : Area under the ROC curve.
    sklearn.metrics.average_precision_score : Area under the PR curve.

    References
    ----------
    .. [1] N. Myrtakis, I. Tsamardinos and V. Christophides, "A Comparative
       Analysis of Influence Signals for Data Debugging", DMLR workshop at
       ICML, 2024.

    Examples
    --------
    >>> from sklearn.metrics import average_precision_score, roc_auc_score
    >>> from skinfluence.metrics import f1_at_k
    >>> mask = [True, False, True, False, False]
    >>> scores = [0.9, 0.8, 0.1, 0.3, 0.2]
    >>> f1_at_k(mask, scores)  # k = 2 glitches: one of the top two is right
    0.5
    >>> f1_at_k(mask, scores, k=3)
    0.4
    >>> float(roc_auc_score(mask, scores))
    0.5
    >>> float(average_precision_score(mask, scores))
    0.7
    >>> round(f1_at_k(mask, [0.5] * 5), 6)  # ties: the glitch share, any order
    0.4
    """
    hits, k, n_glitches = _hits_at_k(glitch_mask, scores, k)
    if hits == 0:
        return 0.0
    precision, recall = hits / k, hits / n_glitches
    return 2 * precision * recall / (precision + recall)


@validate_params(
    {
        "true_labels": ["array-like"],
        "suggested_labels": ["array-like"],
        "mask": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def relabel_accuracy(true_labels, suggested_labels, mask=None):
    """Share of rows whose suggested label equals the true label.

    Measures a detector's suggested fixes, for example on the rows a label
    noise injector flipped: ``relabel_accuracy(noise.true_labels_,
    suggestions, mask=noise.glitch_mask_)``.

    Parameters
    ----------
    true_labels : array-like of shape (n_samples,)
        The clean labels.

    suggested_labels : array-like of shape (n_samples,)
        The labels suggested for each row.

    mask : array-like of shape (n_samples,), default=None
        Rows to evaluate (True or 1); None evaluates every row.

    Returns
    -------
    accuracy : float
        Share of the evaluated rows with ``suggested == true``.

    Examples
    --------
    >>> from skinfluence.metrics import relabel_accuracy
    >>> relabel_accuracy([0, 1, 2, 2], [0, 1, 1, 2])
    0.75
    >>> relabel_accuracy([0, 1, 2, 2], [0, 1, 1, 2], mask=[False, False, True, True])
    0.5
    """
    true_labels = column_or_1d(true_labels)
    suggested_labels = column_or_1d(suggested_labels)
    if len(true_labels) != len(suggested_labels):
        raise ValueError(
            "true_labels and suggested_labels have different lengths: "
            f"{len(true_labels)} != {len(suggested_labels)}."
        )
    if len(true_labels) == 0:
        raise ValueError("relabel_accuracy needs at least one row.")
    if mask is not None:
        mask = _check_mask(mask, len(true_labels), name="mask")
        true_labels, suggested_labels = true_labels[mask], suggested_labels[mask]
    return float(np.mean(true_labels == suggested_labels))
