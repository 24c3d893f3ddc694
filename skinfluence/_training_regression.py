"""One training run of a skorch regression template with TracIn capture.

The regression twin of :func:`skinfluence._training.train_and_capture`: a
pure function of its inputs (so ``joblib.Memory`` caches it), which clones a
``NeuralNetRegressor`` template, trains it once on standardised targets and
captures, at every epoch, the penultimate activations and the *predictions*
(the raw output of the last linear layer, not a softmax).
"""

import torch
from sklearn.base import clone
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from ._training import _CAPTURE, _callback_name, _size_module
from .models import make_net
from .tracin import EpochSampler, TracInCapture, regression_loss

__all__ = ["train_regressor_and_capture"]


def train_regressor_and_capture(
    template,
    X,
    y,
    X_ref,
    y_ref,
    *,
    seed,
    device,
    capture,
    verbose,
    state_dir=None,
):
    """Clone ``template``, train it on ``(X, y)`` and capture every epoch.

    Parameters
    ----------
    template : skorch.NeuralNetRegressor or None
        Unfitted template; None for
        ``make_net("MLP", task="regression", n_rows=len(X))``.
    X : ndarray of shape (n, n_features), float32
    y : ndarray of shape (n, n_outputs), float32
    X_ref, y_ref : ndarray or None
        Reference rows, also used as skorch's validation set.
    seed : int
        Seed of a forked torch RNG (the global torch state is not touched).
    device : str or torch.device
    capture : {"epoch_end", "in_pass"}
    verbose : int
    state_dir : str, default=None

    Returns
    -------
    net : skorch.NeuralNetRegressor
        The fitted network (its capture callback emptied).
    trajectory : skinfluence.tracin.Trajectory
        With ``p`` holding the per-epoch predictions, shape ``(T, n, n_outputs)``.
    """
    net = (
        make_net("MLP", task="regression", n_rows=len(X))
        if template is None
        else clone(template)
    )
    regression_loss(net.criterion)  # fail before training on an unsupported loss
    _size_module(net, X.shape[1], y.shape[1])
    shuffle = net.get_params(deep=False).get("iterator_train__shuffle", False)
    generator = torch.Generator().manual_seed(int(seed))
    sampler = EpochSampler(len(X), shuffle=bool(shuffle), generator=generator)
    callback = TracInCapture(
        X,
        X_ref,
        mode=capture,
        sampler=sampler,
        output_kind="logits",
        progress=verbose > 0,
        state_dir=state_dir,
        outputs="identity",
    )
    callbacks = [cb for cb in (net.callbacks or []) if _callback_name(cb) != _CAPTURE]
    net.set_params(
        callbacks=[*callbacks, (_CAPTURE, callback)],
        train_split=None if X_ref is None else predefined_split(Dataset(X_ref, y_ref)),
        device=device,
        verbose=int(verbose > 1),
    )
    net.set_params(iterator_train__shuffle=False, iterator_train__sampler=sampler)
    device = torch.device(device)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        net.fit(X, y)
    trajectory = callback.trajectory()
    trajectory.train.x = torch.tensor(X)
    if trajectory.reference is not None:
        trajectory.reference.x = torch.tensor(X_ref)
    return net, trajectory
