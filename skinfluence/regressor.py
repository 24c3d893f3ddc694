"""InfluenceGlitchRegressor: rank training rows of a regression task by TracIn signals."""

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._checkpoints import resolve_checkpoints
from ._diagnosis_regression import diagnose_regression
from ._novelty import NoveltyMixin
from ._sklearn_compat import _fit_context
from ._training import _criterion, _module_params
from ._validation import check_flat_rows, check_numeric_frame
from .detector import (
    InfluenceGlitchDetector,
    _as_float32,
    _check_finite,
    _check_fit_params,
    _check_new_rows,
    _fit_scaler,
    _row_index,
)
from .models import make_net
from .scoring import RegressionScoringState, ScoringMixin
from .signals import get_regression_signal
from .tracin import regression_loss

__all__ = ["InfluenceGlitchRegressor"]


class InfluenceGlitchRegressor(ScoringMixin, NoveltyMixin, OutlierMixin, BaseEstimator):
    r"""Find corrupted targets and anomalies in regression data with TracIn signals.

    The regression sibling of :class:`~skinfluence.InfluenceGlitchDetector`:
    it trains a skorch ``NeuralNetRegressor`` once on standardised targets,
    records every epoch's last-layer activations ``h``, predictions
    ``\hat y`` and learning rate, and scores each training row with a
    regression influence signal. For a final linear layer and a squared
    error, the per-sample gradient is ``e_i \otimes [h_i, 1]`` with
    ``e_i = 2 (\hat y_i - y_i) / K``, so TracIn keeps the classifier's
    closed form

    .. math::

        I(i, j) = \sum_{t \in S} \eta_t \, (e_i^t \cdot e_j^t) \, (h_i^t \cdot h_j^t + 1)

    (:func:`skinfluence.tracin.regression_errors` also gives ``e`` for the
    Huber, smooth L1 and L1 losses).

    A sibling class rather than a mode of the classifier, because the two
    differ in every part a user sees: the classifier encodes labels
    (``classes_``, ``check_classification_targets``) and suggests labels,
    this one standardises targets and suggests values with an interval;
    their signal registries differ (no class sums, GD-class or AUM here); and
    scikit-learn's estimator checks and tags feed each one the targets of its
    task. Both are outlier detectors in scikit-learn's sense (``"Regressor"``
    names the task of the network, not a ``predict`` of the target):
    ``fit_predict`` returns -1 for suspected glitches and +1 for clean rows.

    Parameters
    ----------
    estimator : skorch.NeuralNetRegressor, default=None
        Unfitted template, cloned in ``fit``. ``None`` uses
        ``make_net("MLP", task="regression")``. Modules whose ``__init__``
        takes ``n_features`` and ``n_classes`` get them from the data (the
        number of features and of targets) unless the template sets them.
        The module's last ``torch.nn.Linear`` must output the prediction.
        The criterion must be ``MSELoss``, ``HuberLoss``, ``SmoothL1Loss`` or
        ``L1Loss``. The detector overrides ``train_split``, ``device`` and
        ``verbose``. TracIn assumes plain SGD; other optimisers make the
        scores an approximation.
    signal : str, default="auto"
        A registered regression signal (see
        :func:`skinfluence.signals.available_regression_signals`).
    checkpoints : {"all", "early", "late"}, slice, int or list of int, default="all"
        Which epoch checkpoints the signal uses.
    contamination : "auto" or float, default="auto"
        Sets ``offset_``: a float in (0, 0.5] flags that fraction of the
        training rows. ``"auto"`` with ``signal="auto"`` flags the rows whose
        calibrated score exceeds 1, the 99th percentile of an exponential
        bulk fitted to the training rows' median and upper quartile, and
        whose mean loss also stands out of their neighbourhood (``auto``'s
        local gate; measured: 0.8 % of the rows of fully clean tables, up to
        3.3 %, and precision 0.96 with recall 0.75 on 10 % corrupted
        targets; a group-wise offset is its own neighbourhood and is mostly
        left unflagged: read the ranking); with another
        signal, the scores above Tukey's upper fence ``Q3 + 1.5 IQR`` of the
        training scores. The fence is conservative on rank-based scores
        (``"self_rank"``, ``"self_excess"``: a row's score is bounded by its
        ranks, so 10 % of glitches cannot stand far above the bulk; 2 of 16
        corrupted targets flagged, both truly corrupted, on the tests' Friedman
        fixture): give it the share you expect.
    reference_size : "auto", int or float, default="auto"
        Without ``X_val``, the reference rows of joint signals are a random
        sample of the training rows (``"auto"``: all rows up to 5000; an int:
        that many; a float: that fraction; at least 2). A row is never
        scored against itself.
    working_memory : float, default=None
        MiB for one block of the influence matrix when a signal streams it.
    random_state : int, RandomState instance or None, default=None
        Seeds the network and shuffling (in a forked torch RNG) and the
        reference sample.
    n_jobs : int, default=None
        Parallel row chunks for streamed signals (joblib); ``-1`` uses every
        CPU, 0 is refused.
    verbose : int, default=0
        ``> 0`` shows tqdm progress, ``> 1`` also skorch's epoch table.
    device : str, default="cpu"
        Torch device for training and scoring.
    capture : {"epoch_end", "in_pass"}, default="epoch_end"
        As in :class:`~skinfluence.InfluenceGlitchDetector`.
    memory : str, path-like or joblib.Memory, default=None
        Caches the training run, so a grid search over ``signal`` or
        ``checkpoints`` trains each fold once.
    state_dir : str or path-like, default=None
        Keep the epochs' module states on disk under this folder.
    standardize : bool or "auto", default="auto"
        As in :class:`~skinfluence.InfluenceGlitchDetector`: standardise each
        feature with the training rows' statistics before training
        (``scaler_``, applied to ``X_val`` and to new rows too; constant
        features centred only, 0/1 indicator columns left alone). A network
        trained by plain SGD on raw features of different scales diverges or
        learns nothing. ``"auto"`` standardises unless the module reads
        images.
    novelty : bool, default=False
        As in :class:`~skinfluence.InfluenceGlitchDetector` (and
        :class:`~sklearn.neighbors.LocalOutlierFactor`). False: the training
        rows' scores are ``glitch_scores_`` and ``fit_predict`` flags them;
        ``score_samples``, ``decision_function`` and ``predict`` are not
        available. True: those three score every row they are given as a new
        row (with its target when ``y`` is given, else target-free, cut at
        ``label_free_offset_``, which only ``fit`` with True sets), also rows
        that were in the training data, and ``fit_predict`` is not available.
    n_threads : "auto" or int, default="auto"
        Torch intra-op threads while fitting and scoring, as in
        :class:`~skinfluence.InfluenceGlitchDetector`: ``"auto"`` (or None)
        uses one thread when a training batch has fewer than ``2**17``
        entries, else torch's current count capped by the free CPUs; -1
        uses one thread per available CPU. The caller's setting is restored
        afterwards.
    checkpoint_dir : str or path-like, default="deprecated"
        The former name of ``state_dir``.

        .. deprecated:: 0.1
           ``checkpoint_dir`` was renamed ``state_dir`` in 0.1 and will be
           removed in 0.3.

    Attributes
    ----------
    estimator_ : skorch.NeuralNetRegressor
        The fitted network (on standardised targets).
    glitch_scores_ : ndarray of shape (n_samples,)
        The signal on the training rows; higher = more suspicious.
    epoch_scores_ : ndarray of shape (n_samples, n_epochs)
        The signal at each captured epoch alone.
    offset_ : float
        ``decision_function = score_samples - offset_``; negative = flagged.
    label_free_offset_ : float or None
        With ``novelty=True``, the offset of rows scored without targets
        (``decision_function(X)`` without ``y``): ``contamination`` applied to
        the training rows' target-free scores. None with ``novelty=False``.
    scaler_ : sklearn.preprocessing.StandardScaler or None
        The standardisation of the inputs (see ``standardize``); None when
        they are used as given.
    target_mean_, target_scale_ : ndarray of shape (n_outputs,)
        The standardisation of the targets: the network is trained on
        ``(y - target_mean_) / target_scale_``.
    n_outputs_ : int
        Number of targets.
    epochs_ : ndarray of int
        The checkpoints the signal uses.
    learning_rates_ : ndarray of shape (n_epochs,)
    trajectory_ : skinfluence.tracin.Trajectory
        Captured per-epoch activations and predictions (standardised units).
    reference_indices_ : ndarray of int or None
        Training rows used as reference, or None with ``X_val``.
    scoring_ : skinfluence.scoring.RegressionScoringState
        What the signals are computed from (captured epochs, reference set,
        loss); its ``compute`` scores any regression signal.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when ``X`` has string column names.

    See Also
    --------
    InfluenceGlitchDetector : the classification sibling.
    skinfluence.signals.cleanlab_regression_scores : cleanlab's regression
        label quality on cross-validated predictions, a baseline.

    References
    ----------
    .. [1] Pruthi, Liu, Kale, Sundararajan. "Estimating Training Data Influence
       by Tracing Gradient Descent." NeurIPS 2020.
    .. [2] Zhou, Mueller. "Detecting Errors in Numerical Data via any
       Regression Model." 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_friedman1
    >>> from skinfluence import InfluenceGlitchRegressor
    >>> from skinfluence.models import make_net
    >>> X, y = make_friedman1(300, random_state=0)
    >>> y[:15] += 15  # fifteen corrupted targets
    >>> net = make_net(task="regression", max_epochs=20)
    >>> det = InfluenceGlitchRegressor(net, random_state=0).fit(X, y)
    >>> top = np.argsort(-det.glitch_scores_)[:15]
    >>> int(np.isin(top, np.arange(15)).sum()) >= 12
    True
    """

    # The detector's parameters, less those the regressor does not have
    # (per-sample gradients of chosen layers, their projection).
    _parameter_constraints = {
        key: value
        for key, value in InfluenceGlitchDetector._parameter_constraints.items()
        if key not in ("layers", "projection_dim")
    }

    def __init__(
        self,
        estimator=None,
        *,
        signal="auto",
        checkpoints="all",
        contamination="auto",
        reference_size="auto",
        working_memory=None,
        random_state=None,
        n_jobs=None,
        verbose=0,
        device="cpu",
        capture="epoch_end",
        memory=None,
        state_dir=None,
        standardize="auto",
        novelty=False,
        checkpoint_dir="deprecated",
        n_threads="auto",
    ):
        self.estimator = estimator
        self.signal = signal
        self.checkpoints = checkpoints
        self.contamination = contamination
        self.reference_size = reference_size
        self.working_memory = working_memory
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.device = device
        self.capture = capture
        self.memory = memory
        self.state_dir = state_dir
        self.standardize = standardize
        self.novelty = novelty
        self.checkpoint_dir = checkpoint_dir
        self.n_threads = n_threads

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, X_val=None, y_val=None, **fit_params):
        """Train the network once, capture every epoch and score the training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows (numeric; cast to float32). Scale them as for any
            network (e.g. ``StandardScaler`` in a ``Pipeline``).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Their (possibly corrupted) numeric targets; standardised
            internally.
        X_val : array-like of shape (n_val, n_features), default=None
            A trusted reference set for joint signals, also skorch's
            validation set. Without it the reference is drawn from the
            training rows (see ``reference_size``).
        y_val : array-like of shape (n_val,) or (n_val, n_outputs), default=None
            Targets of ``X_val``.
        **fit_params : dict
            None is accepted; a ``glitch_mask`` here means a search passed
            its scorer's metadata to ``fit``, and the error says how to
            enable metadata routing (as
            :meth:`InfluenceGlitchDetector.fit <skinfluence.InfluenceGlitchDetector.fit>`).

        Returns
        -------
        self : object
            Fitted detector.
        """
        _check_fit_params(fit_params, type(self).__name__)
        X, y = self._validate_fit_data(X, y)
        X_ref, y_ref = self._validate_reference(X_val, y_val)
        self._note_batch(
            self.estimator or make_net(task="regression", n_rows=len(X)), X
        )
        with self._threads():
            self._fit(X, y, X_ref, y_ref)
        return self

    def _fit(self, X, y, X_ref, y_ref):
        signal = get_regression_signal(self.signal)
        rng = self._train(X, y, X_ref, y_ref, n_outputs=y.shape[1], task="regression")
        self.scoring_ = RegressionScoringState.build(
            self.estimator_.module_,
            self.trajectory_,
            X,
            torch.as_tensor(y),
            X_ref,
            None if y_ref is None else torch.as_tensor(y_ref),
            n_classes=self.n_outputs_,
            reference_size=self.reference_size,
            random_state=rng,
            device=self.device,
            loss=regression_loss(self.estimator_.criterion_),
        )
        self.reference_indices_ = self.scoring_.reference_indices
        result = self.compute_signal(signal.name)
        self.glitch_scores_ = _check_finite(result, self.signal)
        self.epoch_scores_ = result.epoch_scores
        self.scoring_.fit_result = result
        self.offset_ = self._offset(-self.glitch_scores_)
        self._fit_label_free_offset(X)

    def _validate_fit_data(self, X, y):
        _check_regression_criterion(self.estimator)
        check_numeric_frame(X, type(self).__name__)
        check_flat_rows(X, type(self).__name__)
        self._train_index = _row_index(X)
        X, y = validate_data(
            self,
            X,
            y,
            dtype=[np.float32, np.float64],
            y_numeric=True,
            multi_output=True,
        )
        X = _as_float32(X)
        standardize = self.standardize
        if standardize == "auto":  # images keep their pixel scale
            standardize = "image_shape" not in _module_params(
                self.estimator or make_net(task="regression")
            )
        self.scaler_ = _fit_scaler(X) if standardize else None
        X = self._scale(X)
        if len(X) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 training rows (got 1 sample): "
                "a row is scored against the other rows, never against itself."
            )
        y = np.asarray(y, dtype=np.float64)
        y = y.reshape(len(y), -1)
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity.")
        if (np.ptp(y, axis=0) == 0).all():
            raise ValueError(
                f"y has one value ({y[0, 0]:g}) in every row: there is no target "
                "to fit, and no row can be corrupted against the others."
            )
        self.n_outputs_ = y.shape[1]
        self.target_mean_ = y.mean(0)
        scale = y.std(0)
        self.target_scale_ = np.where(scale > 0, scale, 1.0)
        return X, self._standardise(y)

    def _standardise(self, y):
        return ((y - self.target_mean_) / self.target_scale_).astype(np.float32)

    def _check_targets(self, y, n_rows, name="y"):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2) or len(y) != n_rows:
            raise ValueError(
                f"{name} must have {n_rows} rows (one per row of X), got shape {y.shape}."
            )
        y = y.reshape(n_rows, -1)
        if y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"{name} has {y.shape[1]} target(s); fit saw {self.n_outputs_}."
            )
        if not np.isfinite(y).all():
            raise ValueError(f"{name} contains NaN or infinity.")
        return self._standardise(y)

    def _validate_reference(self, X_val, y_val):
        if X_val is None and y_val is None:
            return None, None
        if X_val is None or y_val is None:
            raise ValueError("Pass both X_val and y_val, or neither.")
        check_numeric_frame(X_val, type(self).__name__, "X_val")
        check_flat_rows(X_val, type(self).__name__, "X_val")
        X_val = self._scale(
            validate_data(self, X_val, reset=False, dtype=[np.float32, np.float64])
        )
        return X_val, self._check_targets(y_val, len(X_val), "y_val")

    def _scale(self, X):
        """``X`` as float32, standardised with ``scaler_`` when there is one."""
        X = _as_float32(X)
        if self.scaler_ is not None:  # float32 in, float32 out
            X = self.scaler_.transform(X)
        return X

    def _offset(self, train_scores, threshold=None):
        # No regression signal carries a threshold of its own: ``threshold``
        # is there for the call the novelty mixin shares with the classifier.
        if self.contamination == "auto" and self.signal == "auto":
            # The calibrated score is 1 at the training bulk's 99th percentile.
            return -1.0
        if self.contamination == "auto":
            q1, q3 = np.percentile(-train_scores, [25, 75])
            return -(q3 + 1.5 * (q3 - q1))
        return np.percentile(train_scores, 100.0 * self.contamination)

    def compute_signal(self, signal, checkpoints=None):
        """Any registered regression signal on the training rows, without retraining.

        Parameters
        ----------
        signal : str
            A regression signal name (see
            :func:`skinfluence.signals.available_regression_signals`).
        checkpoints : {"all", "early", "late"}, slice, int or list of int, default=None
            Epochs the signal uses; None uses ``epochs_``.

        Returns
        -------
        result : skinfluence.signals.SignalResult
        """
        check_is_fitted(self, "trajectory_")
        epochs = (
            self.epochs_
            if checkpoints is None
            else resolve_checkpoints(checkpoints, self.trajectory_.n_epochs)
        )
        with self._threads():
            return self.scoring_.compute(signal, epochs, **self._options())

    def diagnose(self, *, interval=0.9):
        """One row per training row: is it a glitch, of what kind, and which target fits.

        Rows are flagged by the detector's own signal and threshold; their
        type comes from the calibrated components of the regression ``auto``
        signal:

        - ``"corrupted_target"``: the target conflict (self-influence and
          mean loss, calibrated: the ``auto`` score) is more than twice the
          isolation (kNN distance of ``h`` or of the inputs, calibrated);
        - ``"clustered_anomaly"``: isolated from the reference but with close
          training neighbours (the 5th nearest training row less than half
          as far as the 5th nearest reference row);
        - ``"outlier"``: isolated from the training rows too;
        - ``"clean"``: not flagged.

        For ``"corrupted_target"`` rows, ``suggested_target`` is the median
        target of the row's 10 nearest reference rows in the trained
        network's representation (final ``h``), and ``[target_low,
        target_high]`` a split-conformal interval around it: its half-width
        is the ``interval`` quantile of the same suggestion's absolute error
        on the reference rows (each left out of its own neighbours), which
        covers the truth with that probability when the reference is clean
        and exchangeable with the row (a trusted ``X_val``).

        Parameters
        ----------
        interval : float, default=0.9
            Coverage of the suggested-target interval, in (0, 1).

        Returns
        -------
        report : pandas.DataFrame
            Columns ``glitch_score``, ``flagged``, ``glitch_type``,
            ``suggested_target``, ``target_low``, ``target_high`` (original
            units; NaN unless ``"corrupted_target"``; with several targets,
            the first one), ``confidence`` (the probability that a clean row
            has a lower target conflict, under the exponential bulk ``auto``
            calibrates with), ``conflict`` and ``isolation``. One row per
            training row, indexed like ``X`` when ``fit`` got a pandas
            DataFrame, else by a ``RangeIndex`` of the row positions.
        """
        check_is_fitted(self, "glitch_scores_")
        if not 0 < interval < 1:
            raise ValueError(f"interval must be in (0, 1), got {interval!r}.")
        with self._threads():
            return diagnose_regression(self, interval)

    # -------------------------------------------------------------- scoring

    @available_if(lambda self: self._check_novelty("score_samples"))
    def score_samples(self, X, y=None):
        """Normality of new rows: the opposite of their glitch score (lower = more abnormal).

        **Only available when** ``novelty=True``; with ``novelty=False`` the
        training rows' scores are ``-glitch_scores_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score, each as a new row: passed through the captured
            epochs' networks and compared with the reference set, without
            leaving itself out of it (rows of the training data included).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Targets to score the rows with. ``None`` uses the final
            network's predictions, a target-free variant that measures how
            far the network's view of the row moved during training.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "glitch_scores_")
        check_numeric_frame(X, type(self).__name__)
        check_flat_rows(X, type(self).__name__)
        X = self._scale(
            validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        )
        y_rows = None if y is None else torch.as_tensor(self._check_targets(y, len(X)))
        with self._threads():
            result = self.scoring_.score_new_rows(
                self.signal, self.epochs_, X, y_rows, **self._options()
            )
        return -_check_new_rows(result.scores)

    def score(self, X, y, glitch_mask=None, sample_weight=None):
        """Detection quality on rows with a known glitch mask (F1 at k).

        With metadata routing and ``set_score_request(glitch_mask=True)``,
        ``GridSearchCV`` passes each fold's ground-truth mask here.

        With ``novelty=False`` the rows are the training rows, in the order
        ``fit`` got them (a transductive split ``cv=[(rows, rows)]``), ranked
        by ``glitch_scores_``; with ``novelty=True`` they are scored as new
        rows by :meth:`score_samples`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        glitch_mask : array-like of bool of shape (n_samples,), default=None
            True on the glitched rows. Required, as for
            :meth:`InfluenceGlitchDetector.score`: without a ground truth
            ``score`` raises a ``TypeError`` that names
            :func:`~skinfluence.metrics.make_glitch_scorer` (``cross_val_score``
            and ``GridSearchCV`` with their default scoring land here).
        sample_weight : None
            Accepted for ``Pipeline.score`` under metadata routing; ignored.

        Returns
        -------
        score : float
            F1 at k (k = number of true glitches) of the glitch scores.
        """
        return self._glitch_quality(X, y, glitch_mask)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.input_tags.allow_nan = False
        return tags


#: Criteria of a classification network (``make_net`` without ``task``).
_CLASSIFICATION_LOSSES = (
    torch.nn.CrossEntropyLoss,
    torch.nn.NLLLoss,
    torch.nn.BCELoss,
    torch.nn.BCEWithLogitsLoss,
)


def _check_regression_criterion(estimator):
    # Before training: the regression gradient of the criterion is only
    # needed after it, and "no closed-form gradient" does not say that the
    # template is a classifier.
    if getattr(estimator, "criterion", None) is None:
        return
    criterion = _criterion(estimator)
    if issubclass(criterion, _CLASSIFICATION_LOSSES):
        raise TypeError(
            "InfluenceGlitchRegressor needs a regression network, but the "
            f"estimator's criterion {criterion.__name__} is a classification loss: "
            "build it with make_net(..., task='regression'), or use "
            "InfluenceGlitchDetector for class labels."
        )
