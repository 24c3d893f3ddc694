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
    ``fit``, ``score_samples``, ``glitch_scores_``, ``offset_``, ``_offset``,
    ``scoring_``, ``novelty``, ``state_dir`` and ``checkpoint_dir``.

    Rows scored without labels (targets) get a score of another scale than
    with them, so they are cut at their own offset, ``label_free_offset_``,
    which :meth:`_fit_label_free_offset` sets in ``fit``.
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

    def _fit_label_free_offset(self, X):
        """Set ``label_free_offset_``, from the training rows ``X`` scored without labels.

        ``X`` as the network sees them (validated, scaled), scored as
        :meth:`score_samples` scores rows without ``y``; ``contamination``
        sets the offset on these scores as it sets ``offset_`` on
        ``glitch_scores_``. Only with ``novelty=True``, the one mode that
        scores rows without labels; None otherwise.
        """
        # A label-free score has a scale of its own: for "self", the expected
        # self-influence of a row fitted with probability p_y is about
        # 2 (1 - p_y), its self-influence with the label of order (1 - p_y)^2.
        # Cut at offset_, 28-39 % of the training rows were flagged where
        # contamination flagged 3.7-5 % with their labels.
        from .detector import _check_finite

        self.label_free_offset_ = None
        if not self.novelty:
            return
        result = self.scoring_.score_new_rows(
            self.signal, self.epochs_, X, None, **self._options()
        )
        self.label_free_offset_ = self._offset(
            -_check_finite(result, self.signal), result.extras.get("threshold")
        )

    def _label_free_offset(self):
        offset = getattr(self, "label_free_offset_", None)  # None: novelty=False
        if offset is None:
            raise ValueError(
                f"This {type(self).__name__} was fitted with novelty=False (or by "
                "an older skinfluence), which does not set label_free_offset_, "
                "the cut-off of rows scored without labels. Refit it with "
                "novelty=True, or pass y."
            )
        return offset

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

        **Only available when** ``novelty=True``. Without ``y`` the rows are
        scored label-free, and ``label_free_offset_`` replaces ``offset_``:
        the same ``contamination`` rule applied in ``fit`` to the training
        rows' label-free scores, so that about as many training rows are
        flagged with their labels as without.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like, default=None
            As in :meth:`score_samples`.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
        """
        scores = self.score_samples(X, y)
        return scores - (self.offset_ if y is not None else self._label_free_offset())

    @available_if(lambda self: self._check_novelty("predict"))
    def predict(self, X, y=None):
        """Flag new rows: -1 for a suspected glitch, +1 for a clean row.

        **Only available when** ``novelty=True``; with ``novelty=False`` use
        :meth:`fit_predict` to flag the training rows. Rows without ``y``
        are cut at ``label_free_offset_`` (see :meth:`decision_function`).

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
