"""InfluenceGlitchDetector: rank training rows by TracIn influence signals."""

import os
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._checkpoints import resolve_checkpoints
from ._diagnosis import diagnose
from ._novelty import NoveltyMixin
from ._sklearn_compat import (
    HasMethods,
    Hidden,
    Interval,
    Options,
    StrOptions,
    _fit_context,
)
from ._training import _module_params, _output_kind
from ._validation import (
    check_estimator_kind,
    check_flat_rows,
    check_numeric_frame,
    check_optimizer,
    check_raw_reference,
)
from .models import make_net
from .scoring import ScoringMixin, ScoringState
from .signals import get_signal

__all__ = ["InfluenceGlitchDetector"]


class InfluenceGlitchDetector(ScoringMixin, NoveltyMixin, OutlierMixin, BaseEstimator):
    r"""Find harmful training rows with TracIn influence signals.

    The detector trains a skorch network once, records every epoch's
    last-layer activations, softmax outputs and learning rate, and scores each
    training row with an influence *signal* computed in closed form with
    TracIn (Pruthi et al., 2020) on the final linear layer, bias included:

    .. math::

        I(i, j) = \sum_{t \in S} \eta_t \, (e_i^t \cdot e_j^t) \, (h_i^t \cdot h_j^t + 1)

    with ``h`` the input of the last ``torch.nn.Linear``, ``e = p - onehot(y)``
    the gradient of the cross-entropy with respect to the logits, ``eta_t``
    the learning rate of epoch ``t`` and ``S`` the selected checkpoints. It
    follows scikit-learn's outlier-detector conventions, like
    :class:`~sklearn.neighbors.LocalOutlierFactor` scoring its own training
    rows.

    Parameters
    ----------
    estimator : skorch.NeuralNetClassifier, default=None
        Unfitted template, cloned in ``fit``. ``None`` uses
        ``make_net("MLP", n_rows=n_samples)``: on fewer than 512 rows its
        batch shrinks so that an epoch has 8 steps. Modules whose ``__init__`` takes ``n_features``
        and ``n_classes`` get them from the data unless the template sets
        them. The detector overrides the template's ``train_split`` (every
        row is trained on; ``X_val`` becomes skorch's validation set),
        ``device`` and ``verbose``. The criterion must be softmax
        cross-entropy (``CrossEntropyLoss`` on logits, or ``NLLLoss`` on a
        module returning probabilities). TracIn assumes plain SGD; other
        optimisers are allowed and make the scores an approximation.
    signal : str, default="self"
        Name of a registered signal (see :func:`skinfluence.signals.available`):
        ``"self"``, ``"marginal"``, ``"absolute"`` or ``"gd_class"`` for the
        paper's four.
    checkpoints : {"all", "early", "late"}, slice, int or list of int, default="all"
        Which epoch checkpoints the signal sums over: ``"early"`` the first
        third, ``"late"`` the last third, or explicit (negative allowed)
        epoch indices.
    contamination : "auto" or float, default="auto"
        Sets ``offset_``. With a float in (0, 0.5], that fraction of the
        training rows is flagged. ``"auto"`` uses the signal's own threshold
        when it has one (``signal="auto"``: a threshold per glitch family,
        see :func:`skinfluence.signals._auto.auto`), and otherwise flags the
        rows whose glitch score exceeds Tukey's upper fence ``Q3 + 1.5 IQR``
        of the training scores. A fence says only which scores lie far from
        the bulk, and a signal's tail holds clean rows too: on six clean
        tables without label noise the default ``signal="self"`` flagged 9
        to 14 % of the rows (hard and high-leverage clean rows), the
        paper's other three signals 0 to 13 %, ``signal="auto"`` 0 to 5 %
        (``benchmarks/bench_default_flags.py``). To flag glitches rather
        than rank rows, use ``signal="auto"``.
    reference_size : "auto", int or float, default="auto"
        The reference set of joint signals when ``fit`` gets no ``X_val``:
        a stratified random sample of training rows (``"auto"``: all rows up
        to 5000; an int: that many; a float: that fraction; at least 2). A
        row is never scored against itself.
    working_memory : float, default=None
        MiB allowed for one block of the influence matrix when a signal has
        to stream it (e.g. ``"absolute"``); ``None`` takes scikit-learn's
        ``working_memory`` setting.
    random_state : int, RandomState instance or None, default=None
        Seeds the network's initialisation and shuffling (inside a forked
        torch RNG: the global torch and numpy states are not touched, also
        with None, which draws fresh entropy privately) and the reference
        sample.
    n_jobs : int, default=None
        Parallel row chunks for streamed signals, through joblib (so a
        ``joblib.parallel_config(backend="dask")`` context distributes them).
        ``-1`` uses every CPU; 0 is refused, as by joblib.
    verbose : int, default=0
        ``> 0`` shows tqdm progress of training and scoring; ``> 1`` also
        prints skorch's epoch table.
    device : str, default="cpu"
        Torch device for training and scoring, e.g. ``"cuda"``.
    capture : {"epoch_end", "in_pass"}, default="epoch_end"
        ``"epoch_end"`` captures exact end-of-epoch checkpoints with an extra
        inference pass over the training rows after each epoch.
        ``"in_pass"`` keeps the activations the training forward passes
        already compute (no extra pass): an approximation, since they come
        from the weights during the epoch and from train mode (dropout).
    memory : str, path-like or joblib.Memory, default=None
        Caches the training run (network and captured epochs), keyed on the
        data, the template's parameters, the seed and the capture mode, so a
        grid search over ``signal`` or ``checkpoints`` trains each fold once.
        A string or path is a cache folder. None caches nothing.
    layers : list of str, default=None
        Submodules whose parameters define the gradients, as in Captum's
        ``layers``. None uses the last ``Linear`` through its exact closed
        form. Otherwise per-sample gradients of those layers are computed at
        every captured epoch with ``torch.func`` (``vmap`` over ``grad``),
        costing ``T (n + m) P`` floats for ``P`` parameters.
    projection_dim : int, default=None
        With ``layers``, project each gradient on ``projection_dim`` random
        Gaussian directions (scaled by ``1 / sqrt(k)``), which preserves dot
        products in expectation and bounds memory at ``T (n + m) k`` floats.
    novelty : bool, default=False
        As in :class:`~sklearn.neighbors.LocalOutlierFactor`. False (the
        transductive use, ranking the training rows): ``glitch_scores_`` and
        ``fit_predict`` give the training rows' scores and flags, and
        ``score_samples``, ``decision_function`` and ``predict`` are not
        available. True (scoring new rows): ``score_samples``,
        ``decision_function`` and ``predict`` score every row they are given
        as a new row (with its label when ``y`` is given, else with the
        signal's label-free variant), also rows that were in the training
        data, and ``fit_predict`` is not available. ``fit`` is the same in
        both modes, except that True also scores the training rows without
        labels, to set ``label_free_offset_``, the cut-off of rows given
        without ``y`` (their label-free scores have a scale of their own).
    state_dir : str or path-like, default=None
        Keep each epoch's module state (needed to score new rows and for
        ``layers``) in a fresh subfolder of this folder rather than in memory,
        for large models; files are read with ``torch.load(weights_only=True)``
        and the subfolder is deleted with the fitted detector. A pickled
        detector carries its states with it.
    checkpoint_dir : str or path-like, default="deprecated"
        The former name of ``state_dir`` (``checkpoints`` selects epochs;
        this folder holds module states).

        .. deprecated:: 0.1
           ``checkpoint_dir`` was renamed ``state_dir`` in 0.1 and will be
           removed in 0.3.
    standardize : bool or "auto", default="auto"
        Standardise each feature to zero mean and unit variance with the
        training rows' statistics before training (``scaler_``, applied to
        ``X_val`` and to new rows too; constant features are centred only,
        and 0/1 indicator columns, such as one-hot codes, are left as they are).
        A network trained by plain SGD on raw features of different scales
        often learns nothing. ``"auto"`` standardises unless the module reads
        images (its ``__init__`` takes ``image_shape``, as ``SmallCNN``,
        ``ResNet20`` and ``PretrainedBackbone``), whose pixels keep their own
        scale. Already standardised features are left nearly unchanged.
    n_threads : "auto" or int, default="auto"
        Torch intra-op threads while fitting and scoring; the caller's
        setting is restored afterwards. ``"auto"`` (or None) uses one thread
        when a training batch (``batch_size`` rows of ``n_features``) has
        fewer than ``2**17`` entries: on such small matrices threads cost
        more than they save, and on a busy machine they wait for each other
        (8x slower on two loaded cores). Larger problems use torch's current
        count, capped by the CPUs the 1-minute load average leaves free. -1
        uses one thread per available CPU.

    Attributes
    ----------
    estimator_ : skorch.NeuralNetClassifier
        The fitted network.
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``.
    glitch_scores_ : ndarray of shape (n_samples,)
        The signal on the training rows; higher = more suspicious.
    epoch_scores_ : ndarray of shape (n_samples, n_epochs)
        The signal computed on each captured epoch alone.
    offset_ : float
        ``decision_function = score_samples - offset_``; negative = flagged.
    label_free_offset_ : float or None
        With ``novelty=True``, the offset of rows scored without labels
        (``decision_function(X)`` without ``y``): ``contamination`` applied to
        the training rows' label-free scores, a scale of their own. None
        with ``novelty=False``.
    suggested_labels_ : ndarray of shape (n_samples,) or None
        For signals that name a class (``"gd_class"``: the class each row
        harms most), a relabel suggestion; otherwise None.
    epochs_ : ndarray of int
        The checkpoints the signal sums over.
    learning_rates_ : ndarray of shape (n_epochs,)
        ``eta_t`` of each captured epoch.
    trajectory_ : skinfluence.tracin.Trajectory
        The captured per-epoch factors and module states.
    reference_indices_ : ndarray of int or None
        Training rows used as reference set, or None when ``X_val`` was given.
    projection_ : torch.Tensor of shape (P, projection_dim) or None
        The random projection of the gradients, when ``projection_dim`` is set.
    scoring_ : skinfluence.scoring.ScoringState
        What the signals are computed from: the captured epochs, the
        reference set, the gradients and the training labels; its
        :meth:`~skinfluence.scoring.ScoringState.context` builds the
        :class:`~skinfluence.signals.SignalContext` of any rows.
    scaler_ : sklearn.preprocessing.StandardScaler or None
        The standardisation of the inputs (see ``standardize``): the network
        ``estimator_`` was trained on ``scaler_.transform(X)``. None when the
        inputs are used as given.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when ``X`` has string column names.

    See Also
    --------
    sklearn.neighbors.LocalOutlierFactor : the scikit-learn detector whose
        conventions this one follows.

    References
    ----------
    .. [1] Pruthi, Liu, Kale, Sundararajan. "Estimating Training Data Influence
       by Tracing Gradient Descent." NeurIPS 2020.
    .. [2] Myrtakis, Tsamardinos, Christophides. "A Comparative Analysis of
       Influence Signals for Data Debugging." DMLR workshop at ICML 2024.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_blobs
    >>> from skinfluence import InfluenceGlitchDetector
    >>> from skinfluence.models import make_net
    >>> X, y = make_blobs(200, centers=3, cluster_std=0.5, random_state=0)
    >>> y[:10] = (y[:10] + 1) % 3  # ten flipped labels
    >>> det = InfluenceGlitchDetector(make_net(max_epochs=10), random_state=0)
    >>> det.fit(X, y).glitch_scores_.shape
    (200,)
    >>> int(np.isin(np.argsort(-det.glitch_scores_)[:10], np.arange(10)).sum()) >= 8
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "initialize"]), None],
        "signal": [str],
        "checkpoints": [
            StrOptions({"all", "early", "late"}),
            slice,
            Integral,
            "array-like",
        ],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "reference_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
            Interval(Real, 0, 1, closed="right"),
        ],
        "working_memory": [Interval(Real, 0, None, closed="neither"), None],
        "random_state": ["random_state"],
        # joblib's convention: 0 has no meaning, -1 is every CPU.
        "n_jobs": [
            None,
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "verbose": ["verbose"],
        "device": [str, torch.device],
        "capture": [StrOptions({"epoch_end", "in_pass"})],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        "layers": [None, list],
        "projection_dim": [None, Interval(Integral, 1, None, closed="left")],
        "state_dir": [None, str, os.PathLike],
        "checkpoint_dir": [
            None,
            str,
            os.PathLike,
            Hidden(StrOptions({"deprecated"})),
        ],
        "novelty": ["boolean"],
        "standardize": ["boolean", StrOptions({"auto"})],
        "n_threads": [
            StrOptions({"auto"}),
            None,
            Interval(Integral, 1, None, closed="left"),
            Options(Integral, {-1}),
        ],
    }

    def __init__(
        self,
        estimator=None,
        *,
        signal="self",
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
        layers=None,
        projection_dim=None,
        state_dir=None,
        novelty=False,
        checkpoint_dir="deprecated",
        standardize="auto",
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
        self.layers = layers
        self.projection_dim = projection_dim
        self.state_dir = state_dir
        self.novelty = novelty
        self.checkpoint_dir = checkpoint_dir
        self.standardize = standardize
        self.n_threads = n_threads

    # ------------------------------------------------------------------ fit

    def _validate_params(self):
        check_estimator_kind(self.estimator)  # a friendlier error than the constraint's
        super()._validate_params()

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, X_val=None, y_val=None, **fit_params):
        """Train the network once, capture every epoch and score the training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows (numeric; cast to float32).
        y : array-like of shape (n_samples,)
            Their (possibly wrong) class labels.
        X_val : array-like of shape (n_val, n_features), default=None
            A trusted reference set for joint signals (``"marginal"``,
            ``"absolute"``, ``"gd_class"``), also reported as skorch's
            validation set. Without it the reference is drawn from the
            training rows (see ``reference_size``).
        y_val : array-like of shape (n_val,), default=None
            Labels of ``X_val``; every label must occur in ``y``.
        **fit_params : dict
            None is accepted; a ``glitch_mask`` here means a search passed
            its scorer's metadata to ``fit``, and the error says how to
            enable metadata routing.

        Returns
        -------
        self : object
            Fitted detector.
        """
        _check_fit_params(fit_params)
        X, y = self._validate_fit_data(X, y)
        X_ref, y_ref = self._validate_reference(X_val, y_val)
        self._note_batch(self.estimator or make_net(n_rows=len(X)), X)
        with self._threads():
            self._fit(X, y, X_ref, y_ref)
        return self

    def _fit(self, X, y, X_ref, y_ref):
        signal = get_signal(self.signal)
        rng = self._train(
            X,
            y.numpy(),
            X_ref,
            None if y_ref is None else y_ref.numpy(),
            n_outputs=len(self.classes_),
            task="classification",
        )
        self.scoring_ = ScoringState.build(
            self.estimator_.module_,
            self.trajectory_,
            X,
            y,
            X_ref,
            y_ref,
            n_classes=len(self.classes_),
            reference_size=self.reference_size,
            layers=self.layers,
            projection_dim=self.projection_dim,
            output_kind=_output_kind(self.estimator_),
            random_state=rng,
            device=self.device,
        )
        self.reference_indices_ = self.scoring_.reference_indices
        self.projection_ = self.scoring_.projection
        _warn_if_not_learnt(
            self.trajectory_.train.p[-1], y, raw_pixels=_raw_pixels(self, X)
        )

        result = self.compute_signal(signal.name)
        self.glitch_scores_ = _check_finite(result, self.signal)
        self.epoch_scores_ = result.epoch_scores
        self.scoring_.fit_result = result
        suggested = result.extras.get("suggested_class")
        self.suggested_labels_ = None if suggested is None else self.classes_[suggested]
        self.offset_ = self._offset(
            -self.glitch_scores_, result.extras.get("threshold")
        )
        self._fit_label_free_offset(X)

    def diagnose(self):
        """One row per training row: is it a glitch, of what kind, and how to repair it.

        Rows are flagged by the detector's own signal and threshold
        (``fit_predict``); their type comes from the two family axes of the
        ``auto`` signal (see :ref:`diagnose`), label conflict and isolation,
        each less its family's flag threshold:

        - ``"mislabeled"``: unless the isolation family is present (the gate)
          and flags the row more strongly than the conflict family does, or
          the row lies beyond the reference's 99th percentile of input-space
          distance; repaired by ``suggested_label``, the given label
          excluded, the class with the largest mean predicted probability
          over training plus counterfactual gain (how much the new label
          would make the row help its nearest reference rows);
        - ``"clustered_anomaly"``: otherwise (an anomaly), and the row has
          close neighbours among the training rows (the 5th nearest training
          row is less than half as far as the 5th nearest reference row): a
          cluster of foreign rows;
        - ``"outlier"``: an anomaly isolated from the training rows too
          (corrupted, scattered rows);
        - ``"rare"``: a flagged row of a class at least twice rarer in the
          training rows than in the reference set (needs ``X_val``), or of a
          class too small for a neighbourhood to hold a majority of its label
          (at most ``k / 2`` reference rows, ``k`` the neighbours of
          ``neighbor_influence``: its flags cannot tell a wrong label from a
          rare class);
        - ``"clean"``: not flagged.

        Flag anomalies as well as label noise with ``signal="auto"``; with a
        label-noise signal such as ``"self"`` only its flags are typed.

        Returns
        -------
        report : pandas.DataFrame
            Columns ``glitch_score`` (the detector's signal, higher = more
            suspicious), ``flagged`` (bool), ``glitch_type``,
            ``suggested_label`` (for mislabeled rows, else missing),
            ``confidence`` (in [0, 1]: the probability that a clean row has
            a lower value on the row's stronger axis, estimated on the
            training rows that axis's family leaves unflagged), ``conflict``
            and
            ``isolation`` (the family axes: 0 = the family's threshold,
            positive = flagged by that family). One row per training row,
            indexed like ``X`` when ``fit`` got a pandas DataFrame (so
            ``frame.join(det.diagnose())`` matches the rows), else by a
            ``RangeIndex`` of the row positions.
        """
        check_is_fitted(self, "glitch_scores_")
        return diagnose(self)

    def compute_signal(self, signal, checkpoints=None):
        """Any registered signal on the training rows, from the captured epochs.

        No retraining: the network's epochs were captured once in ``fit``, so
        comparing signals or checkpoint selections costs only the scoring.

        Parameters
        ----------
        signal : str
            A registered signal name (see :func:`skinfluence.signals.available`).
        checkpoints : {"all", "early", "late"}, slice, int or list of int, default=None
            Epochs the signal sums over; None uses the detector's ``epochs_``.

        Returns
        -------
        result : skinfluence.signals.SignalResult
            ``scores`` (higher = more suspicious), ``epoch_scores`` and extras.

        Examples
        --------
        >>> from sklearn.datasets import make_blobs
        >>> from skinfluence import InfluenceGlitchDetector
        >>> from skinfluence.models import make_net
        >>> X, y = make_blobs(60, centers=2, random_state=0)
        >>> det = InfluenceGlitchDetector(make_net(max_epochs=2), random_state=0).fit(X, y)
        >>> det.compute_signal("marginal", checkpoints="late").scores.shape
        (60,)
        """
        check_is_fitted(self, "trajectory_")
        epochs = (
            self.epochs_
            if checkpoints is None
            else resolve_checkpoints(checkpoints, self.trajectory_.n_epochs)
        )
        with self._threads():
            return self.scoring_.compute(signal, epochs, **self._options())

    def _validate_fit_data(self, X, y):
        check_optimizer(self.estimator)
        check_numeric_frame(X, type(self).__name__)
        check_flat_rows(X, type(self).__name__)
        self._train_index = _row_index(X)
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64])
        X = _as_float32(X)
        standardize = self.standardize
        if standardize == "auto":  # images keep their pixel scale
            standardize = "image_shape" not in _module_params(
                self.estimator or make_net()
            )
        self.scaler_ = _fit_scaler(X) if standardize else None
        X = self._scale(X)
        try:
            check_classification_targets(y)
        except ValueError as error:
            if "continuous" not in str(error):
                raise
            # scikit-learn's words first (its estimator checks read them).
            raise ValueError(
                f"{error} {type(self).__name__} finds wrong class labels; for a "
                "continuous target use skinfluence.InfluenceGlitchRegressor "
                "(make_net(task='regression'))."
            ) from error
        self.classes_, y = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                "InfluenceGlitchDetector needs at least 2 classes in y; got "
                f"{len(self.classes_)} class."
            )
        return X, torch.as_tensor(y, dtype=torch.long)

    def _validate_reference(self, X_val, y_val):
        if X_val is None and y_val is None:
            return None, None
        if X_val is None or y_val is None:
            raise ValueError("Pass both X_val and y_val, or neither.")
        check_flat_rows(X_val, type(self).__name__, "X_val")
        check_raw_reference(X_val, self.n_features_in_, type(self).__name__)
        X_val = self._scale(
            validate_data(self, X_val, reset=False, dtype=[np.float32, np.float64])
        )
        y_val = np.asarray(y_val)
        if len(y_val) != len(X_val):
            raise ValueError(
                f"X_val has {len(X_val)} rows but y_val has {len(y_val)} labels."
            )
        return X_val, torch.as_tensor(self._encode(y_val, "y_val"), dtype=torch.long)

    def _scale(self, X):
        """Validated rows as the network sees them: float32, standardised."""
        X = _as_float32(X)
        if self.scaler_ is not None:  # float32 in, float32 out
            X = self.scaler_.transform(X)
        return X

    def _encode(self, y, name="y"):
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"{name} must be 1-dimensional, got shape {y.shape}.")
        try:
            codes = np.searchsorted(self.classes_, y)
        except TypeError:  # labels that do not even compare with the classes
            raise ValueError(
                f"{name} has labels of another type than the classes seen in fit: "
                f"{self.classes_.tolist()[:10]}."
            ) from None
        codes = np.clip(codes, 0, len(self.classes_) - 1)
        unknown = self.classes_[codes] != y
        if unknown.any():
            raise ValueError(
                f"{name} has labels not seen in fit: {np.unique(y[unknown]).tolist()[:10]}."
            )
        return codes

    def _offset(self, train_scores, threshold=None):
        if self.contamination == "auto" and threshold is not None:
            return -threshold  # the signal's own flag threshold (e.g. "auto")
        if self.contamination == "auto":
            q1, q3 = np.percentile(-train_scores, [25, 75])
            return -(q3 + 1.5 * (q3 - q1))
        return np.percentile(train_scores, 100.0 * self.contamination)

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
            leaving itself out of it (rows of the training data included,
            which therefore score differently than in ``glitch_scores_``).
        y : array-like of shape (n_samples,), default=None
            Labels to score the rows with. ``None`` uses the signal's
            label-free variant: for ``"self"`` (last layer) the expected
            self-influence under the model's own predictive distribution,
            ``sum_t eta_t (1 - ||p_t||^2)(||h_t||^2 + 1)``; otherwise the
            labels predicted by the final network.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "glitch_scores_")  # not classes_ of a failed fit
        with self._threads():
            return self._score_samples(X, y)

    def _score_samples(self, X, y):
        check_numeric_frame(X, type(self).__name__)
        check_flat_rows(X, type(self).__name__)
        X = self._scale(
            validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        )
        if y is not None and np.ndim(y) != 1:
            raise ValueError(f"y must be 1-dimensional, got shape {np.shape(y)}.")
        if y is not None and len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels.")
        y_rows = None if y is None else torch.as_tensor(self._encode(y))
        result = self.scoring_.score_new_rows(
            self.signal, self.epochs_, X, y_rows, **self._options()
        )
        return -_check_new_rows(result.scores)

    def score(self, X, y, glitch_mask=None, sample_weight=None):
        """Detection quality on rows with a known glitch mask.

        With metadata routing enabled and ``set_score_request(glitch_mask=True)``,
        ``GridSearchCV`` passes the ground-truth mask of each fold here.

        With ``novelty=False`` the rows are the training rows, in the order
        ``fit`` got them (a transductive split ``cv=[(rows, rows)]``), ranked
        by ``glitch_scores_``; with ``novelty=True`` they are scored as new
        rows by :meth:`score_samples`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels the rows are scored with (``novelty=True``; the training
            labels otherwise).
        glitch_mask : array-like of bool of shape (n_samples,), default=None
            True on the glitched rows. Required: without a ground truth there
            is no detection quality to report (a mean of
            :meth:`score_samples` would rank settings by nothing), so
            ``score`` raises; ``cross_val_score`` or ``GridSearchCV`` with
            their default scoring land here.
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
        tags.input_tags.allow_nan = False
        return tags


def _row_index(X):
    """The pandas index of ``X`` (``diagnose`` labels its rows with it), or None.

    The index object itself, not a copy of ``X``: ``validate_data`` turns a
    frame into an array and its row labels would be lost.
    """
    index = getattr(X, "index", None)
    return index if isinstance(index, pd.Index) else None


def _as_float32(X):
    with np.errstate(over="ignore"):  # overflow is reported below, as an error
        X = np.asarray(X, dtype=np.float32)
    if not X.flags.writeable:  # pandas copy-on-write views; torch wants writable memory
        X = X.copy()
    if not np.isfinite(X).all():
        raise ValueError(
            "Input contains values too large for float32 (the network's precision); "
            "rescale the features."
        )
    return X


def _check_new_rows(scores):
    # The network trained fine (fit checked it): non-finite scores of new rows
    # come from the rows themselves, so blame them rather than the training.
    bad = np.flatnonzero(~np.isfinite(scores))
    if len(bad):
        raise ValueError(
            f"{len(bad)} row(s) of X overflow the fitted network's float32 "
            f"computations (rows {bad[:10].tolist()}): their features lie far "
            "outside the training range; scale them as the training data was."
        )
    return scores


def _check_finite(result, signal):
    if not np.isfinite(result.scores).all():
        # Activations finite but too large for float32 maths: name the first
        # epoch whose scores overflow, as the capture does for non-finite ones.
        bad = np.flatnonzero(~np.isfinite(result.epoch_scores).all(0))
        epoch = f" at epoch {bad[0] + 1}" if len(bad) else ""
        raise FloatingPointError(
            f"Signal {signal!r} produced non-finite scores: training diverged{epoch} "
            "(values beyond float32). Lower the learning rate, scale the features, "
            "or train fewer epochs."
        )
    return result.scores


def _fit_scaler(X):
    """A StandardScaler fitted on ``X`` that leaves 0/1 indicator columns alone.

    One-hot columns are already on a unit scale; standardised, a category of
    1 % of the rows would become a feature of value 10 that dominates the
    network's input and the input-space distances. Columns constant to
    float32 resolution keep a unit scale.
    """
    scaler = StandardScaler().fit(X)
    binary = (X.min(0) >= 0) & (X.max(0) <= 1)
    for j in np.flatnonzero(binary):  # per column: no n x p boolean copies
        binary[j] = np.all((X[:, j] == 0) | (X[:, j] == 1))
    scaler.mean_[binary], scaler.scale_[binary] = 0.0, 1.0
    # A spread below float32 resolution (a constant column up to rounding,
    # or denormal values) would divide the float32 inputs by zero.
    resolution = np.finfo(np.float32)
    flat = scaler.scale_ <= np.maximum(
        resolution.eps * np.abs(scaler.mean_), 1e3 * resolution.tiny
    )
    scaler.scale_[flat] = 1.0
    return scaler


def _check_fit_params(fit_params, estimator="InfluenceGlitchDetector"):
    if "glitch_mask" in fit_params:
        # A search without metadata routing passes fit's extra arguments to
        # the estimator's fit instead of the scorer.
        raise TypeError(
            f"{estimator}.fit got glitch_mask, which only a glitch "
            "scorer reads: scikit-learn routes it to the scorer when metadata "
            "routing is enabled. Add this line before the search:\n"
            "    sklearn.set_config(enable_metadata_routing=True)"
        )
    if fit_params:
        raise TypeError(
            f"{estimator}.fit got unexpected keyword argument(s) {sorted(fit_params)}."
        )


#: How the warning on a network that has not learnt begins; the audit, whose
#: user has neither option the warning names, words its own.
NOT_LEARNT = "The network ends with a training accuracy"


def training_accuracy(p_last, y):
    """``(accuracy, majority, learnt)`` of the final epoch's predictions ``p_last``.

    ``majority`` is the accuracy of always predicting the majority class.
    """
    # A net that learnt nothing predicts (about) the majority class: its
    # scores take a handful of values and rank nothing. "Near" = it closes
    # less than a tenth of the gap between that baseline and perfection.
    y = y.cpu().numpy()
    accuracy = float((p_last.argmax(1).cpu().numpy() == y).mean())
    majority = float(np.bincount(y).max() / len(y))
    return accuracy, majority, accuracy > majority + 0.1 * (1 - majority)


def _raw_pixels(detector, X):
    """Whether an image network was trained on unscaled pixels (e.g. 0-255).

    ``standardize="auto"`` leaves the rows of image networks as given, so
    advising ``standardize=True`` would not name the usual culprit; values
    beyond 10 in magnitude are no pixel scale a network trains well on.
    """
    return (
        detector.scaler_ is None
        and "image_shape" in _module_params(detector.estimator_)
        and float(np.abs(X).max(initial=0.0)) > 10
    )


def _warn_if_not_learnt(p_last, y, raw_pixels=False):
    accuracy, majority, learnt = training_accuracy(p_last, y)
    if not learnt:
        advice = (
            "Scale the pixels to about [0, 1] (e.g. X / 255 for 8-bit images; "
            'standardize="auto" leaves the rows of image networks as given)'
            if raw_pixels
            else "Standardise the features (standardize=True, or a "
            "StandardScaler in a pipeline)"
        )
        warnings.warn(
            f"{NOT_LEARNT} of {accuracy:.2f}, about "
            f"that of always predicting the majority class ({majority:.2f}): it "
            f"has not learnt, and its influence scores rank nothing. {advice}, "
            "or train longer or with a larger step (make_net(max_epochs=..., "
            "lr=...)).",
            ConvergenceWarning,
            stacklevel=3,
        )
