"""What ``fit`` leaves for scoring: the captured epochs, the reference set, the gradients.

:class:`ScoringState` is the one object between training and signals. The
detector builds it in ``fit`` (sampling the reference set, computing the
per-sample gradients of ``layers`` when asked) and keeps it as its
``scoring_`` attribute; ``compute_signal``, ``score_samples`` and
``diagnose`` build their :class:`~skinfluence.signals.SignalContext` through
it, and so can a user's own analysis or benchmark.
:class:`RegressionScoringState` is the same for
:class:`~skinfluence.InfluenceGlitchRegressor`: float targets, a regression
loss, the regression signals. ``ScoringMixin`` gives both estimators their
thread count and streaming settings.
"""

import io
import os
import warnings
from numbers import Integral

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from ._threads import resolve_threads, torch_threads
from ._validation import check_device, check_folder, device_available
from .signals import (
    RegressionContext,
    SignalContext,
    get_regression_signal,
    get_signal,
)
from .signals._base import training_fit_key
from .tracin import layer_parameter_names, per_sample_gradients, replay_factors

__all__ = ["RegressionScoringState", "ScoringState"]


class ScoringState:
    """The fitted state every signal is computed from.

    Built by :meth:`build` (``InfluenceGlitchDetector.fit`` does it and
    keeps the result as ``scoring_``); read-only afterwards.

    Parameters
    ----------
    module : torch.nn.Module
        The fitted network's module (its states per epoch are in
        ``trajectory``), to replay new rows and take gradients.
    trajectory : skinfluence.tracin.Trajectory
        The captured epochs.
    y_train : torch.Tensor of shape (n,)
        Class codes of the training rows.
    n_classes : int
        Classes (targets, for :class:`RegressionScoringState`).
    reference_indices : ndarray of int or None
        Training rows drawn as the reference set, or None when the reference
        is the trusted ``X_val`` (``trajectory.reference``).
    y_reference : torch.Tensor of shape (m,)
        Class codes of the reference rows.
    gradients : tuple of torch.Tensor or None
        ``(g_train, g_ref)``, per-sample gradients of ``layers`` of shapes
        ``(n_epochs, n, P)`` and ``(n_epochs, m, P)``; None for the last
        layer's closed form.
    layers : list of str or None
    projection : torch.Tensor of shape (P, k) or None
        The random projection applied to the gradients.
    output_kind : {"logits", "proba"}, default="logits"
        What the module returns.
    device : str or torch.device, default="cpu"
        Where contexts are built unless a call names another ``device``
        (the estimators pass their current ``device``, so that
        ``set_params(device="cuda")`` after a CPU fit scores on the GPU).

    Attributes
    ----------
    train_self_index : torch.Tensor of shape (n,) or None
        Position of each training row in the reference set (-1 if absent);
        None when the reference is ``X_val``.
    fit_result : skinfluence.signals.SignalResult or None
        The detector's own signal on the training rows, set by ``fit``.
    neighborhood_size : int or None
        The training rows' neighbourhood size for the neighbour-influence
        signals, once a signal has decided it
        (:func:`~skinfluence.signals._neighbor_influence.neighborhood_size`);
        later contexts against the reference (training or new rows) reuse it.
    reference_trust : torch.Tensor of shape (m,) or None
        Which reference rows the neighbour-influence cleaning trusted (1) or
        left out (0), when the reference is drawn from the training rows;
        new rows are scored against the same cleaned reference.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skinfluence import InfluenceGlitchDetector
    >>> from skinfluence.models import make_net
    >>> X, y = make_blobs(60, centers=2, random_state=0)
    >>> det = InfluenceGlitchDetector(make_net(max_epochs=2), random_state=0).fit(X, y)
    >>> state = det.scoring_
    >>> context = state.context()             # training rows against the reference
    >>> state.compute("marginal", det.epochs_).scores.shape
    (60,)
    """

    def __init__(
        self,
        module,
        trajectory,
        y_train,
        n_classes,
        reference_indices,
        y_reference,
        *,
        gradients=None,
        layers=None,
        projection=None,
        output_kind="logits",
        device="cpu",
    ):
        self.module = module
        self.trajectory = trajectory
        self.y_train = y_train
        self.n_classes = n_classes
        self.reference_indices = reference_indices
        self.y_reference = y_reference
        self.gradients = gradients
        self.layers = layers
        self.projection = projection
        self.output_kind = output_kind
        self.device = device
        self.train_self_index = _self_index(len(y_train), reference_indices)
        self.fit_result = None
        self.neighborhood_size = None
        self.reference_trust = None

    @classmethod
    def build(
        cls,
        module,
        trajectory,
        X,
        y,
        X_ref=None,
        y_ref=None,
        *,
        n_classes,
        reference_size="auto",
        layers=None,
        projection_dim=None,
        output_kind="logits",
        random_state=None,
        device="cpu",
        **options,
    ):
        """Sample the reference set and set up the gradients after training.

        Parameters
        ----------
        module : torch.nn.Module
        trajectory : skinfluence.tracin.Trajectory
        X : ndarray of shape (n, n_features), float32
            The training rows (for ``layers``' gradients).
        y : torch.Tensor of shape (n,)
            Their class codes.
        X_ref, y_ref : ndarray and torch.Tensor, default=None
            A trusted reference set; None draws one from the training rows.
        n_classes : int
        reference_size : "auto", int or float, default="auto"
            Without ``X_ref``: a stratified sample of the training rows
            (``"auto"``: all up to 5000; an int: that many; a float: that
            fraction; at least 2), stratified by class when ``y`` holds
            class codes.
        layers : list of str, default=None
            Submodules whose per-sample gradients define the influence; None
            uses the last layer's closed form.
        projection_dim : int, default=None
            Random Gaussian projection of the gradients on that many
            directions.
        output_kind : {"logits", "proba"}, default="logits"
        random_state : int, RandomState instance or None, default=None
            Draws the reference sample and the projection.
        device : str or torch.device, default="cpu"
        **options
            More parameters of the class (``loss`` of
            :class:`RegressionScoringState`).

        Returns
        -------
        state : ScoringState
        """
        rng = check_random_state(random_state)
        if y_ref is None:
            index = _reference_sample(y, reference_size, rng)
            y_ref = y[index]
        else:
            index = None
        state = cls(
            module,
            trajectory,
            y,
            n_classes,
            index,
            y_ref,
            layers=layers,
            output_kind=output_kind,
            device=device,
            **options,
        )
        if layers is not None:
            state.projection = _projection(module, layers, projection_dim, rng, device)
            g_train = state.layer_gradients(X, y)
            if X_ref is None:
                g_ref = g_train[:, torch.as_tensor(index)]
            else:
                g_ref = state.layer_gradients(X_ref, y_ref)
            state.gradients = (g_train, g_ref)
        return state

    # ------------------------------------------------------------ reference

    def reference(self):
        """``(factors, y)`` of the reference rows.

        Drawn from the training rows, the factors are gathered on each call
        rather than kept: a copy held by the state would cost every fit (and
        every pickle) for signals that never read it.
        """
        if self.reference_indices is None:
            return self.trajectory.reference, self.y_reference
        index = torch.as_tensor(self.reference_indices)
        return self.trajectory.train.take(slice(None), index), self.y_reference

    def layer_gradients(self, X, y, device=None):
        """Per-sample gradients of ``layers`` for rows ``X`` with codes ``y``.

        Computed on ``device`` (None: the state's).

        Returns
        -------
        gradients : torch.Tensor of shape (n_epochs, n, P or k)
        """
        device = self.device if device is None else device
        projection = self.projection
        return per_sample_gradients(
            self.module,
            self.trajectory,
            self.layers,
            X,
            y,
            output_kind=self.output_kind,
            projection=None if projection is None else projection.to(device),
            device=device,
        )

    # ------------------------------------------------------------- contexts

    def context(
        self,
        rows=None,
        y_rows=None,
        self_index=None,
        gradients=None,
        *,
        reference=True,
        working_memory=None,
        n_jobs=None,
        progress=False,
        device=None,
    ):
        """A :class:`~skinfluence.signals.SignalContext` of rows against the reference.

        Parameters
        ----------
        rows : skinfluence.tracin.Factors, default=None
            Factors of the rows to score; None scores the training rows (with
            their labels, self pairs and gradients).
        y_rows : torch.Tensor of shape (n,), default=None
            Their class codes (required with ``rows``).
        self_index : torch.Tensor of shape (n,), default=None
            Position of each row in the reference set, or -1.
        gradients : tuple of torch.Tensor, default=None
            ``(g_rows, g_ref)`` with ``layers``.
        reference : bool, default=True
            False leaves the reference empty, for signals that declare they
            never read it (``needs_reference=False``).
        working_memory, n_jobs, progress
            As in :class:`~skinfluence.signals.SignalContext`.
        device : str or torch.device, default=None
            Where the context's tensors live and its blocks are computed;
            None uses the state's ``device``.

        Returns
        -------
        context : skinfluence.signals.SignalContext
        """
        training = rows is None
        if training:
            rows, y_rows = self.trajectory.train, self.y_train
            self_index, gradients = self.train_self_index, self.gradients
        if reference:
            ref, y_ref = self.reference()
        else:
            empty = torch.zeros(0, dtype=torch.long)
            ref, y_ref, self_index = rows.take(slice(None), empty), y_rows[:0], None
        device = self.device if device is None else device
        context = self._new_context(
            rows.to(device),
            y_rows.to(device),
            ref.to(device),
            y_ref.to(device),
            self_index=None if self_index is None else self_index.to(device),
            working_memory=working_memory,
            n_jobs=n_jobs,
            progress=progress,
            gradients=None
            if gradients is None
            else tuple(g.to(device) for g in gradients),
        )
        # The neighbourhood size, decided on the training rows by the first
        # neighbour signal (a pass over the reference): not decided again,
        # and new rows read the same neighbourhoods of the same reference.
        if reference:
            origin = self.train_self_index is not None
            context.cached("reference_from_training", lambda: origin)
        decided = getattr(self, "neighborhood_size", None)
        if reference and decided is not None:
            context.cached("neighborhood_size", lambda: decided)
        # New rows are scored against the reference the training rows cleaned.
        trust = getattr(self, "reference_trust", None)
        if reference and not training and trust is not None:
            context.cached("reference_trust", lambda: trust)
        return context

    def _new_context(self, rows, y_rows, reference, y_ref, **options):
        return SignalContext(
            rows,
            y_rows,
            reference,
            y_ref,
            self.trajectory.lrs,
            self.n_classes,
            label_smoothing=self.trajectory.label_smoothing,
            **options,
        )

    # What the module's last layer outputs, and what stands for a new row's
    # missing label: softmax probabilities, the predicted class.
    _outputs = "softmax"

    def _predicted_targets(self, rows):
        return rows.p[-1].argmax(1).cpu()

    def _signal(self, name):
        return get_signal(name)

    def new_rows_context(self, X, y=None, device=None, **options):
        """A context of new rows ``X``, replayed through every captured epoch.

        Parameters
        ----------
        X : ndarray of shape (n, n_features), float32
        y : torch.Tensor of shape (n,), default=None
            Class codes; None uses the final network's predictions (which a
            signal's label-free variant may ignore).
        device : str or torch.device, default=None
            Where the rows are replayed and scored; None uses the state's.
        **options
            ``working_memory``, ``n_jobs``, ``progress``.

        Returns
        -------
        context : skinfluence.signals.SignalContext
            New rows are never left out of the reference (no self pairs).
        """
        device = self.device if device is None else device
        rows = replay_factors(
            self.module,
            self.trajectory,
            X,
            range(self.trajectory.n_epochs),
            device=device,
            outputs=self._outputs,
        )
        if y is None:
            y = self._predicted_targets(rows)
        gradients = None
        if self.layers is not None:
            gradients = (self.layer_gradients(X, y, device), self.gradients[1])
        return self.context(rows, y, None, gradients, device=device, **options)

    # -------------------------------------------------------------- signals

    def compute(self, signal, epochs, **options):
        """A registered signal on the training rows.

        Parameters
        ----------
        signal : str
        epochs : array-like of int
            The selected checkpoints.
        **options
            ``working_memory``, ``n_jobs``, ``progress``, ``device``.

        Returns
        -------
        result : skinfluence.signals.SignalResult
        """
        signal = self._signal(signal)
        context = self.context(reference=signal.needs_reference, **options)
        result = signal(context, epochs)
        if signal.fits_on_training:
            self._training_fits()[training_fit_key(signal.name, epochs)] = (
                result.extras.get("fit")
            )
        if getattr(self, "neighborhood_size", None) is None:
            self.neighborhood_size = context.peek("neighborhood_size")
        if getattr(self, "reference_trust", None) is None:
            self.reference_trust = context.peek("reference_trust")
        return result

    def score_new_rows(self, signal, epochs, X, y=None, **options):
        """A registered signal on new rows, with their labels or label-free.

        Without ``y`` the signal's label-free variant scores the rows
        (:meth:`~skinfluence.signals.Signal.without_labels`).

        Returns
        -------
        result : skinfluence.signals.SignalResult
        """
        signal = self._signal(signal)
        context = self.new_rows_context(X, y, **options)
        if signal.fits_on_training:
            fit = self.training_fit(signal.name, epochs, **options)
            context.cached(training_fit_key(signal.name, epochs), lambda: fit)
        if y is None:
            return signal.without_labels(context, epochs)
        return signal(context, epochs)

    def training_fit(self, signal, epochs, **options):
        """What ``signal`` read off the training rows over ``epochs``, to score new rows with.

        ``extras["fit"]`` of its result on the training rows (empirical
        nulls, gate, thresholds: see ``Signal.fits_on_training``), computed
        once per signal and epochs and kept with the state.
        """
        key = training_fit_key(signal, epochs)
        fits = self._training_fits()
        if key not in fits:
            self.compute(signal, epochs, **options)
        return fits[key]

    def _training_fits(self):
        # Set on first use: states pickled before it existed load without it.
        return self.__dict__.setdefault("training_fits", {})


class RegressionScoringState(ScoringState):
    """The :class:`ScoringState` of :class:`~skinfluence.InfluenceGlitchRegressor`.

    The same reference set, contexts and verbs, with float targets:
    ``y_train`` and ``y_reference`` of shape ``(n, K)`` (standardised),
    ``n_classes`` the number of targets ``K``, contexts that are
    :class:`~skinfluence.signals.RegressionContext` (``e`` the loss gradient
    with respect to the prediction), the regression signal registry, and new
    rows replayed to their predictions, which stand for a missing target.
    No ``layers``: the regressor uses the last layer's closed form.

    Parameters
    ----------
    *args
        As for :class:`ScoringState`.
    loss : tuple, default=("MSELoss", 1.0, "mean")
        ``(name, threshold, reduction)`` of the criterion, from
        :func:`skinfluence.tracin.regression_loss`.
    **kwargs
        As for :class:`ScoringState`.

    Examples
    --------
    >>> from sklearn.datasets import make_friedman1
    >>> from skinfluence import InfluenceGlitchRegressor
    >>> from skinfluence.models import make_net
    >>> X, y = make_friedman1(60, random_state=0)
    >>> det = InfluenceGlitchRegressor(make_net(task="regression", max_epochs=2),
    ...                                random_state=0).fit(X, y)
    >>> det.scoring_.compute("marginal", det.epochs_).scores.shape
    (60,)
    """

    _outputs = "identity"

    def __init__(self, *args, loss=("MSELoss", 1.0, "mean"), **kwargs):
        super().__init__(*args, **kwargs)
        self.loss = loss

    def _new_context(self, rows, y_rows, reference, y_ref, **options):
        name, threshold, reduction = self.loss
        return RegressionContext(
            rows,
            y_rows,
            reference,
            y_ref,
            self.trajectory.lrs,
            loss=name,
            threshold=threshold,
            reduction=reduction,
            **options,
        )

    def _predicted_targets(self, rows):
        return rows.p[-1].cpu().clone()

    def _signal(self, name):
        return get_regression_signal(name)


class ScoringMixin:
    """Training, torch threads and streaming settings shared by both estimators.

    Also how a fitted estimator pickles: one fitted on an accelerator stores
    its fitted attributes (captured epochs, scoring state, network) through
    ``torch.save``, so that it loads on a machine without one, as skorch's
    nets do: tensors land on the CPU and ``device`` falls back to ``"cpu"``
    with a warning. A CPU fit pickles as any estimator.
    """

    def __getstate__(self):
        # A copy: BaseEstimator hands back the instance's own __dict__.
        state = dict(super().__getstate__())
        trajectory = state.get("trajectory_")
        if trajectory is None or trajectory.train.h.device.type == "cpu":
            return state
        fitted = {k: state.pop(k) for k in list(state) if _is_fitted_attribute(k)}
        buffer = io.BytesIO()
        torch.save(fitted, buffer)
        state["_fitted_torch_state"] = buffer.getvalue()
        return state

    def __setstate__(self, state):
        blob = state.pop("_fitted_torch_state", None)
        device = torch.device(state.get("device", "cpu"))
        available = device_available(device)
        if blob is not None:
            state.update(
                torch.load(
                    io.BytesIO(blob),
                    map_location=None if available else "cpu",
                    weights_only=False,
                )
            )
        if not available:
            warnings.warn(
                f"{type(self).__name__} was saved with device={str(device)!r}, "
                "which torch cannot use here: it was loaded on the CPU and "
                'scores with device="cpu".',
                UserWarning,
                stacklevel=2,
            )
            state["device"] = "cpu"
            if "scoring_" in state:
                state["scoring_"].device = "cpu"
        super().__setstate__(state)

    def _train(self, X, y, X_ref, y_ref, *, n_outputs, task):
        """Train the template once with capture; set ``estimator_``, ``trajectory_``.

        Also ``learning_rates_`` and ``epochs_``. Returns the random state
        the rest of ``fit`` draws from: ``random_state=None`` draws fresh
        entropy without advancing numpy's global RNG, which ``fit`` promises
        to leave as it found it.
        """
        from sklearn.utils.validation import check_memory

        from ._checkpoints import resolve_checkpoints
        from ._training import train_and_capture

        check_device(self.device, type(self).__name__)
        # Folders are checked before training, which would fail on a file
        # with a bare FileExistsError; paths reach joblib and torch as str.
        state_dir = check_folder(
            self._state_dir(),
            "state_dir" if self.checkpoint_dir == "deprecated" else "checkpoint_dir",
        )
        memory = self.memory
        if isinstance(memory, (str, os.PathLike)):
            memory = check_folder(memory, "memory")
        rng = (
            np.random.RandomState()
            if self.random_state is None
            else check_random_state(self.random_state)
        )
        train = check_memory(memory).cache(
            train_and_capture, ignore=["verbose", "state_dir"]
        )
        self.estimator_, self.trajectory_ = train(
            self.estimator,
            X,
            y,
            X_ref,
            y_ref,
            n_classes=n_outputs,
            seed=int(rng.randint(np.iinfo(np.int32).max)),
            device=self.device,
            capture=self.capture,
            verbose=self.verbose,
            state_dir=state_dir,
            task=task,
            # Autograd gradients of ``layers`` need no closed form, nor its bias.
            needs_bias=getattr(self, "layers", None) is None,
        )
        self.learning_rates_ = self.trajectory_.lrs
        self.epochs_ = resolve_checkpoints(self.checkpoints, self.trajectory_.n_epochs)
        return rng

    def _note_batch(self, template, X):
        """Entries of one training batch, which sets ``n_threads="auto"``."""
        batch = getattr(template, "batch_size", len(X))
        self._batch_entries = (batch if 0 < batch < len(X) else len(X)) * X.shape[1]

    def _threads(self):
        """Torch's thread count for this problem while fitting or scoring."""
        # Detectors pickled before n_threads existed score on torch's setting.
        size = getattr(self, "_batch_entries", None)
        return torch_threads(
            None if size is None else resolve_threads(self.n_threads, size)
        )

    def _options(self):
        """How and where contexts stream: the estimator's current settings.

        ``device`` is read at each call, not frozen at ``fit``: a detector
        fitted on the CPU scores on the GPU after ``set_params(device="cuda")``
        (and back), from the same captured epochs.
        """
        check_device(self.device, type(self).__name__)
        return {
            "working_memory": self.working_memory,
            "n_jobs": self.n_jobs,
            "progress": self.verbose > 0,
            "device": self.device,
        }


def _is_fitted_attribute(name):
    return name.endswith("_") and not name.startswith("__")


def _reference_sample(y, size, rng):
    n = len(y)
    if size == "auto":
        size = min(n, 5000)
    elif not isinstance(size, Integral):
        size = round(size * n)
    # A reference row is never scored against itself: it needs another one.
    size = min(max(int(size), 2), n)
    if size == n:
        return np.arange(n)
    stratify = None
    if not torch.is_floating_point(y):  # class codes; never a continuous target
        counts = np.bincount(y.numpy())
        stratify = y.numpy() if counts.min() >= 2 and size >= len(counts) else None
    index, _ = train_test_split(
        np.arange(n), train_size=size, stratify=stratify, random_state=rng
    )
    return np.sort(index)


def _self_index(n, reference_indices):
    if reference_indices is None:
        return None
    self_index = torch.full((n,), -1, dtype=torch.long)
    self_index[torch.as_tensor(reference_indices)] = torch.arange(
        len(reference_indices)
    )
    return self_index


def _projection(module, layers, projection_dim, rng, device):
    if projection_dim is None:
        return None
    n_params = sum(
        module.get_parameter(name).numel()
        for name in layer_parameter_names(module, layers)
    )
    generator = torch.Generator().manual_seed(int(rng.randint(np.iinfo(np.int32).max)))
    projection = torch.randn(n_params, projection_dim, generator=generator)
    return (projection / np.sqrt(projection_dim)).to(device)
