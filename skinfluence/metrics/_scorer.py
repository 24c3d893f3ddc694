"""A scorer that takes the ground-truth glitch mask through metadata routing."""

import inspect

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.utils.metadata_routing import MetadataRequest

from .._sklearn_compat import StrOptions, _num_samples, validate_params
from ._ranking import _check_mask_scores, f1_at_k, precision_at_k, recall_at_k

__all__ = ["make_glitch_scorer"]


def _roc_auc(glitch_mask, scores):
    return float(roc_auc_score(*_check_mask_scores(glitch_mask, scores)))


def _average_precision(glitch_mask, scores):
    return float(average_precision_score(*_check_mask_scores(glitch_mask, scores)))


_METRICS = {
    "f1_at_k": f1_at_k,
    "precision_at_k": precision_at_k,
    "recall_at_k": recall_at_k,
    "roc_auc": _roc_auc,
    "average_precision": _average_precision,
}


def _suspicion_scores(estimator, X, y):
    """Return ``-score_samples`` of a fitted detector (or Pipeline ending in one).

    A transductive detector (``novelty=False``) gives its training rows'
    scores instead (see :func:`_training_scores`). For a Pipeline, ``X`` goes
    through every step but the last, and the last step scores the result:
    ``Pipeline.score_samples`` would not pass ``y``, which label-dependent
    signals need. ``y`` is passed when the detector's
    ``score_samples`` accepts it; a detector without ``score_samples`` is
    scored with ``decision_function`` (a constant shift, same ranking).
    """
    if isinstance(estimator, Pipeline):
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator[-1]
    if getattr(estimator, "novelty", None) is False:
        return _training_scores(estimator, X)
    method = getattr(estimator, "score_samples", None)
    if method is None:
        method = getattr(estimator, "decision_function", None)
    if method is None:
        raise TypeError(
            f"{type(estimator).__name__} has neither score_samples nor "
            "decision_function; a glitch scorer needs one of them."
        )
    if "y" in inspect.signature(method).parameters:
        return -method(X, y)
    return -method(X)


# Training-row scores of transductive detectors (novelty=False), and their sign
# to "higher = more suspicious".
_TRAINING_SCORES = {"glitch_scores_": 1.0, "negative_outlier_factor_": -1.0}


def _training_scores(estimator, X):
    """The fitted training rows' scores of a ``novelty=False`` detector.

    Such a detector scores only the rows it was fitted on (like
    ``LocalOutlierFactor(novelty=False)``): ``X`` must be those rows, in
    order, as in a transductive split ``cv=[(rows, rows)]``.
    """
    found = [
        (sign, getattr(estimator, name))
        for name, sign in _TRAINING_SCORES.items()
        if getattr(estimator, name, None) is not None
    ]
    if not found:
        raise TypeError(
            f"{type(estimator).__name__} with novelty=False exposes no training "
            f"scores ({', '.join(_TRAINING_SCORES)})."
        )
    sign, scores = found[0]
    if _num_samples(X) != len(scores):
        raise ValueError(
            f"{type(estimator).__name__} with novelty=False scores only the "
            f"{len(scores)} rows it was fitted on, but got {_num_samples(X)} rows. "
            "Score the training rows (a transductive split cv=[(rows, rows)]), or "
            "set novelty=True to score new rows."
        )
    return sign * np.asarray(scores, dtype=np.float64)


class _GlitchScorer:
    """Callable scorer ``(estimator, X, y, glitch_mask) -> float``.

    Built by :func:`make_glitch_scorer`; it requests ``glitch_mask`` for
    ``score`` in scikit-learn's metadata routing.
    """

    def __init__(self, metric, kwargs):
        self._metric = metric
        self._kwargs = kwargs

    def __call__(self, estimator, X, y=None, glitch_mask=None):
        """Score a fitted detector against the ground-truth ``glitch_mask``.

        Parameters
        ----------
        estimator : estimator object
            A fitted detector, or a fitted Pipeline ending in one.

        X : {array-like, dataframe} of shape (n_samples, n_features)
            The rows to rank.

        y : array-like of shape (n_samples,), default=None
            Their labels, passed to ``score_samples`` when it accepts them.

        glitch_mask : array-like of shape (n_samples,), default=None
            Ground truth for the rows of ``X``. Required.

        Returns
        -------
        score : float
            The metric on ``(glitch_mask, -score_samples(X, y))``; higher is
            better.
        """
        if glitch_mask is None:
            raise ValueError(
                "The glitch scorer needs glitch_mask. Enable metadata routing "
                "(sklearn.set_config(enable_metadata_routing=True)) and pass "
                "glitch_mask=... to the search's fit."
            )
        scores = _suspicion_scores(estimator, X, y)
        if len(glitch_mask) != len(scores):
            raise ValueError(
                f"glitch_mask has {len(glitch_mask)} entries but X has {len(scores)} "
                "rows; was the mask split along with X (metadata routing enabled)?"
            )
        metric = self._metric
        if isinstance(metric, str):
            metric = _METRICS[metric]
        return float(metric(glitch_mask, scores, **self._kwargs))

    def get_metadata_routing(self):
        """Request ``glitch_mask`` for ``score``.

        Returns
        -------
        routing : MetadataRequest
            The scorer's metadata request.
        """
        request = MetadataRequest(owner=type(self).__name__)
        request.score.add_request(param="glitch_mask", alias=True)
        return request

    def __repr__(self):
        metric = (
            self._metric if isinstance(self._metric, str) else self._metric.__name__
        )
        kwargs = "".join(f", {key}={value!r}" for key, value in self._kwargs.items())
        return f"make_glitch_scorer({metric!r}{kwargs})"


@validate_params(
    {"metric": [StrOptions(set(_METRICS)), callable]},
    prefer_skip_nested_validation=True,
)
def make_glitch_scorer(metric="f1_at_k", **kwargs):
    """Make a scorer that rates a detector against a ground-truth glitch mask.

    The scorer ranks the rows by ``-estimator.score_samples(X, y)`` (the
    higher, the more suspicious) and compares the ranking with the
    ``glitch_mask`` it receives through scikit-learn's metadata routing, so
    that a search can select a detector's settings (its signal, its
    checkpoints):

    ``GridSearchCV(det, grid, scoring=make_glitch_scorer()).fit(X, y,
    glitch_mask=mask)``, with ``sklearn.set_config(enable_metadata_routing=
    True)``. The scorer always requests ``glitch_mask``; no
    ``set_score_request`` call is needed.

    The estimator may be a detector or a Pipeline whose last step is one: then
    ``X`` is transformed by the other steps and the last step's
    ``score_samples(Xt, y)`` is used, so label-dependent signals get ``y``.
    ``cv=[(idx, idx)]`` (a transductive split) scores the very rows the
    detector was trained on, which is what data debugging asks: a detector
    with ``novelty=False`` (as ``LocalOutlierFactor``) has no
    ``score_samples`` and is ranked by its fitted training scores
    (``glitch_scores_``, or ``-negative_outlier_factor_``), which requires
    ``X`` to be the rows it was fitted on.

    Parameters
    ----------
    metric : {"f1_at_k", "precision_at_k", "recall_at_k", "roc_auc", \
            "average_precision"} or callable, default="f1_at_k"
        The metric; a callable is called as ``metric(glitch_mask, scores,
        **kwargs)`` with scores higher = more suspicious, and must return a
        float where higher is better.

    **kwargs
        Passed to the metric, for example ``k=50``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, glitch_mask=None) -> float``, with a
        ``get_metadata_routing`` method.

    See Also
    --------
    f1_at_k : The default metric.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from skinfluence.metrics import make_glitch_scorer
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.normal(size=(95, 2)), rng.normal(8, 0.1, size=(5, 2))]
    >>> mask = np.r_[np.zeros(95, bool), np.ones(5, bool)]
    >>> forest = IsolationForest(random_state=0).fit(X)
    >>> scorer = make_glitch_scorer()
    >>> scorer(forest, X, None, glitch_mask=mask)
    1.0
    >>> make_glitch_scorer("precision_at_k", k=10)(forest, X, None, glitch_mask=mask)
    0.5
    """
    return _GlitchScorer(metric, kwargs)
