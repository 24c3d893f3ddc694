"""Optional bridge to cleanlab's regression label-quality scores, as a baseline.

cleanlab scores the label of each row from an *out-of-sample* prediction:
``cleanlab.regression.rank.get_label_quality_scores(labels, predictions)``.
:func:`cleanlab_regression_scores` produces those predictions by K-fold
cross-validation of any scikit-learn regressor (by default the same MLP the
:class:`~skinfluence.InfluenceGlitchRegressor` trains), which is cleanlab's
recommended protocol and the baseline the regression benchmark compares
influence signals with.

References
----------
.. [1] Zhou, Mueller. "Detecting Errors in Numerical Data via any Regression
   Model." 2023 (cleanlab's ``"outre"`` method).
"""

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import KFold, cross_val_predict

__all__ = ["cleanlab_regression_scores", "label_quality"]


def label_quality(labels, predictions, method="outre"):
    """cleanlab's regression label quality in [0, 1] (1 = clean), imported lazily.

    cleanlab scores each row against the others (``"outre"``: its residual
    among its neighbours'), so the score of a row depends on the rows
    scored with it, and one row alone has none.
    """
    labels = np.asarray(labels, dtype=np.float64)
    if labels.size < 2:
        raise ValueError(
            "cleanlab's regression label quality scores rows against each other: "
            f"it needs at least 2 rows, got {labels.size}."
        )
    try:
        from cleanlab.regression.rank import get_label_quality_scores
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "cleanlab's regression scores need the optional dependency cleanlab; "
            "install it with `pip install skinfluence[cleanlab]`."
        ) from exc
    return get_label_quality_scores(
        labels, np.asarray(predictions, dtype=np.float64), method=method
    )


class _StandardisedNet(RegressorMixin, BaseEstimator):
    """A skorch regression template fitted on float32, standardised 2-D targets.

    skorch's ``NeuralNetRegressor`` wants float32 ``(n, 1)`` targets, and
    plain SGD at the templates' learning rates wants them of unit scale,
    as :class:`~skinfluence.InfluenceGlitchRegressor` trains them.
    """

    def __init__(self, net=None, random_state=None):
        self.net = net
        self.random_state = random_state

    def fit(self, X, y):
        import torch

        from ..models import make_net

        net = make_net("MLP", task="regression") if self.net is None else self.net
        self.net_ = clone(net).set_params(
            module__n_features=X.shape[1], module__n_classes=1
        )
        y = np.asarray(y, dtype=np.float64)
        self.mean_, self.scale_ = y.mean(), y.std() or 1.0
        target = ((y - self.mean_) / self.scale_).astype(np.float32)[:, None]
        with torch.random.fork_rng():
            torch.manual_seed(0 if self.random_state is None else self.random_state)
            self.net_.fit(np.asarray(X, dtype=np.float32), target)
        return self

    def predict(self, X):
        pred = self.net_.predict(np.asarray(X, dtype=np.float32))[:, 0]
        return pred * self.scale_ + self.mean_


def cleanlab_regression_scores(
    X, y, estimator=None, *, cv=5, method="outre", random_state=None
):
    """cleanlab's regression label issues from cross-validated predictions.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        The (possibly corrupted) targets.
    estimator : regressor, default=None
        Any scikit-learn regressor. None trains the default skorch MLP of
        ``make_net("MLP", task="regression")`` on standardised targets, the
        network :class:`~skinfluence.InfluenceGlitchRegressor` trains by
        default.
    cv : int or cross-validation generator, default=5
        Folds of the out-of-sample predictions (shuffled ``KFold`` for an int).
    method : {"outre", "residual"}, default="outre"
        cleanlab's scoring method.
    random_state : int, default=None
        Seeds the folds (and the default network).

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        ``1 - label quality``: higher = more suspicious, in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from skinfluence.signals import cleanlab_regression_scores
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(100, 3)); y = X @ [1.0, 2.0, 3.0]
    >>> y[:5] += 10
    >>> scores = cleanlab_regression_scores(X, y, LinearRegression(), random_state=0)
    >>> sorted(np.argsort(-scores)[:5].tolist())
    [0, 1, 2, 3, 4]
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-dimensional, got shape {y.shape}.")
    if estimator is None:
        estimator = _StandardisedNet(random_state=random_state)
    if isinstance(cv, int):
        cv = KFold(cv, shuffle=True, random_state=random_state)
    predictions = cross_val_predict(estimator, X, y, cv=cv)
    return 1.0 - label_quality(y, predictions, method=method)
