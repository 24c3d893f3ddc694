"""The outlier-detector verbs shared by the detectors, with LocalOutlierFactor's novelty switch."""

import warnings

import numpy as np
from sklearn.utils.metaestimators import available_if

__all__ = ["NoveltyMixin"]


class NoveltyMixin:
    """``decision_function``, ``predict`` and ``fit_predict`` under a ``novelty`` switch.

    As in :class:`~sklearn.neighbors.LocalOutlierFactor`: with
    ``novelty=False`` (transductive) the training rows' scores are
    ``glitch_scores_`` and :meth:`fit_predict` flags them, and the verbs on
    new rows are unavailable; with ``novelty=True`` every row passed in is a
    new row, and :meth:`fit_predict` is unavailable. The host class defines
    ``fit``, ``score_samples``, ``glitch_scores_``, ``offset_``, ``novelty``,
    ``state_dir`` and ``checkpoint_dir``.
    """

    def _state_dir(self):
        if self.checkpoint_dir == "deprecated":
            return self.state_dir
        warnings.warn(
            "checkpoint_dir was renamed state_dir in 0.1 and will be removed in "
            "0.3; pass state_dir instead.",
            FutureWarning,
            stacklevel=3,
        )
        if self.state_dir is not None:
            raise ValueError("Pass state_dir only (checkpoint_dir is its old name).")
        return self.checkpoint_dir

    def _suspicion(self, X, y=None):
        """Higher = more suspicious, for ``score``: the rows of ``X`` as ``novelty`` says.

        New rows by :meth:`score_samples` with ``novelty=True``; otherwise
        ``X`` are the training rows (a transductive split) and their
        ``glitch_scores_`` are read back.
        """
        from sklearn.utils.validation import check_is_fitted, validate_data

        from ._validation import check_numeric_frame
        from .metrics._scorer import _training_scores

        if self.novelty:
            return -self.score_samples(X, y)
        check_is_fitted(self, "glitch_scores_")
        check_numeric_frame(X, type(self).__name__)
        validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        return _training_scores(self, X)

    def _glitch_quality(self, X, y, glitch_mask):
        """F1 at k of the rows' suspicion against ``glitch_mask``, for ``score``.

        Refuses without a mask: there is no detection quality without a ground
        truth, and a mean of :meth:`score_samples` would rank settings by
        nothing. ``cross_val_score`` and ``GridSearchCV`` with their default
        scoring land here, so the error names the scorer and the routing line.
        """
        from sklearn.utils.validation import check_is_fitted, validate_data

        from .metrics import f1_at_k

        if glitch_mask is None:
            check_is_fitted(self, "glitch_scores_")
            validate_data(self, X, reset=False)  # a wrong width is said first
            raise TypeError(
                f"{type(self).__name__}.score needs the ground-truth glitch_mask: "
                "there is no default detection quality. In cross_val_score or "
                "GridSearchCV, pass scoring=skinfluence.metrics.make_glitch_scorer() "
                "and glitch_mask=... to the search's fit, with "
                "sklearn.set_config(enable_metadata_routing=True)."
            )
        return float(f1_at_k(glitch_mask, self._suspicion(X, y)))

    def _check_novelty(self, method):
        if not self.novelty:
            raise AttributeError(
                f"{method} is not available when novelty=False: the training rows' "
                "scores are glitch_scores_, and fit_predict flags them. Use "
                f"novelty=True to call {method} on new rows."
            )
        return True

    @available_if(lambda self: self._check_novelty("decision_function"))
    def decision_function(self, X, y=None):
        """``score_samples(X, y) - offset_``: negative for flagged rows.

        **Only available when** ``novelty=True``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like, default=None
            As in :meth:`score_samples`.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
        """
        return self.score_samples(X, y) - self.offset_

    @available_if(lambda self: self._check_novelty("predict"))
    def predict(self, X, y=None):
        """Flag new rows: -1 for a suspected glitch, +1 for a clean row.

        **Only available when** ``novelty=True``; with ``novelty=False`` use
        :meth:`fit_predict` to flag the training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like, default=None
            As in :meth:`score_samples`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return np.where(self.decision_function(X, y) < 0, -1, 1)

    def _check_not_novelty(self):
        if self.novelty:
            raise AttributeError(
                "fit_predict is not available when novelty=True. Use novelty=False "
                "to flag the training rows."
            )
        return True

    @available_if(_check_not_novelty)
    def fit_predict(self, X, y, X_val=None, y_val=None):
        """Fit, then flag the training rows (-1 suspected glitch, +1 clean).

        **Not available when** ``novelty=True``.

        Parameters
        ----------
        X, y, X_val, y_val
            As in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        self.fit(X, y, X_val=X_val, y_val=y_val)
        return np.where(-self.glitch_scores_ - self.offset_ < 0, -1, 1)
