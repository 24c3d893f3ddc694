"""One training run of a skorch template with TracIn capture.

Kept apart from the estimators so that it is a pure function of its inputs:
``joblib.Memory`` can cache it, and a grid search over signals or checkpoints
then trains each fold's network once. Classification and regression share
it: a regression run captures the last linear layer's raw output (the
prediction) instead of the softmax.
"""

import inspect

import torch
from sklearn.base import clone
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from .models import make_net
from .tracin import EpochSampler, TracInCapture, regression_loss

__all__ = ["train_and_capture"]

_CAPTURE = "skinfluence_capture"


def train_and_capture(
    template,
    X,
    y,
    X_ref,
    y_ref,
    *,
    n_classes,
    seed,
    device,
    capture,
    verbose,
    state_dir=None,
    task="classification",
    needs_bias=True,
):
    """Clone ``template``, train it on ``(X, y)`` and capture every epoch.

    Parameters
    ----------
    template : skorch.NeuralNetClassifier, skorch.NeuralNetRegressor or None
        Unfitted template; None for ``make_net("MLP", task=task,
        n_rows=len(X))``.
    X : ndarray of shape (n, n_features), float32
    y : ndarray of shape (n,), int64 class codes, or (n, n_outputs) float32
        Class codes, or the (standardised) regression targets.
    X_ref, y_ref : ndarray or None
        Reference rows, also used as skorch's validation set.
    n_classes : int
        Classes, or regression outputs: the width of the last layer.
    seed : int
        Seed of a forked torch RNG (the global torch state is not touched).
    device : str or torch.device
    capture : {"epoch_end", "in_pass"}
        See :class:`skinfluence.tracin.TracInCapture`.
    verbose : int
        ``> 0`` shows tqdm progress, ``> 1`` also skorch's epoch table.
    state_dir : str, default=None
        Keep epoch states on disk under this folder instead of memory.
    task : {"classification", "regression"}, default="classification"
        ``"regression"`` captures the predictions (``p`` is the raw output
        of the last linear layer) and checks the loss is one the regression
        closed form supports before training.
    needs_bias : bool, default=True
        Refuse a last layer without a bias (see
        :class:`~skinfluence.tracin.TracInCapture`).

    Returns
    -------
    net : skorch.NeuralNetClassifier or skorch.NeuralNetRegressor
        The fitted network (its capture callback emptied).
    trajectory : skinfluence.tracin.Trajectory
    """
    regression = task == "regression"
    net = (
        make_net("MLP", task=task, n_rows=len(X))
        if template is None
        else clone(template)
    )
    if regression:
        regression_loss(net.criterion)  # fail before training on an unsupported loss
    _size_module(net, X.shape[1], n_classes)
    shuffle = net.get_params(deep=False).get("iterator_train__shuffle", False)
    # Its own generator: the row order does not depend on the global torch RNG,
    # which threads training side by side would share.
    generator = torch.Generator().manual_seed(int(seed))
    sampler = EpochSampler(len(X), shuffle=bool(shuffle), generator=generator)
    callback = TracInCapture(
        X,
        X_ref,
        mode=capture,
        sampler=sampler,
        output_kind="logits" if regression else _output_kind(net),
        progress=verbose > 0,
        state_dir=state_dir,
        needs_bias=needs_bias,
        **({"outputs": "identity"} if regression else {}),
    )
    callbacks = [cb for cb in (net.callbacks or []) if _callback_name(cb) != _CAPTURE]
    net.set_params(
        callbacks=[*callbacks, (_CAPTURE, callback)],
        train_split=None if X_ref is None else predefined_split(Dataset(X_ref, y_ref)),
        device=device,
        verbose=int(verbose > 1),
    )
    # Our sampler replaces the loader's shuffling (same semantics), so both
    # capture modes train on identical batches.
    net.set_params(iterator_train__shuffle=False, iterator_train__sampler=sampler)
    device = torch.device(device)
    devices = [device.index or 0] if device.type == "cuda" else []
    # A private torch RNG stream: the user's global state is left as it was.
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        net.fit(X, y)
    return net, callback.trajectory(0.0 if regression else _label_smoothing(net))


def _callback_name(callback):
    return callback[0] if isinstance(callback, tuple) else None


def _module_params(net):
    module = net.module
    if not inspect.isclass(module):
        return set()
    return set(inspect.signature(module.__init__).parameters)


def _size_module(net, n_features, n_classes):
    params = net.get_params(deep=False)
    accepted = _module_params(net)
    sizes = {"n_features": n_features, "n_classes": n_classes}
    net.set_params(
        **{
            f"module__{key}": value
            for key, value in sizes.items()
            if key in accepted and f"module__{key}" not in params
        }
    )


def _criterion(net):
    criterion = net.criterion
    return criterion if inspect.isclass(criterion) else type(criterion)


def _output_kind(net):
    criterion = _criterion(net)
    if issubclass(criterion, torch.nn.CrossEntropyLoss):
        if net.get_params(deep=False).get("criterion__weight") is not None:
            raise TypeError(
                "Class-weighted criteria are not supported by the TracIn closed form."
            )
        return "logits"
    if issubclass(criterion, torch.nn.NLLLoss):
        return "proba"
    regression = (
        torch.nn.MSELoss,
        torch.nn.HuberLoss,
        torch.nn.SmoothL1Loss,
        torch.nn.L1Loss,
    )
    hint = (
        " A regression criterion: for a continuous target use "
        "skinfluence.InfluenceGlitchRegressor."
        if issubclass(criterion, regression)
        else ""
    )
    raise TypeError(
        f"criterion {criterion.__name__} is not softmax cross-entropy; last-layer "
        f"TracIn needs torch.nn.CrossEntropyLoss (or NLLLoss on probabilities).{hint}"
    )


def _label_smoothing(net):
    return float(getattr(net.criterion_, "label_smoothing", 0.0))
