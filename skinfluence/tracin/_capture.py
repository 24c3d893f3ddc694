"""Capture what last-layer TracIn needs while skorch trains.

:class:`TracInCapture` is a skorch callback with one job: at every epoch it
records, for the training rows (and the reference rows), the input activations
``h`` of the final ``torch.nn.Linear`` and the softmax of its output ``p``,
together with the learning rate used during the epoch and a snapshot of the
module's state (to score new rows later). Storage for all epochs is allocated
once, so memory is ``T (n + m) (d + K)`` floats with no transient copies.
"""

import copy
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field

import numpy as np
import torch
from skorch.callbacks import Callback
from tqdm.auto import tqdm

__all__ = [
    "EpochSampler",
    "Factors",
    "TracInCapture",
    "Trajectory",
    "find_last_layer",
    "replay_factors",
]


@dataclass
class Factors:
    """Per-epoch last-layer factors of a set of rows.

    Attributes
    ----------
    h : torch.Tensor of shape (n_epochs, n_rows, d)
        Input activations of the last linear layer.
    p : torch.Tensor of shape (n_epochs, n_rows, n_classes)
        Softmax of the layer's output (the logits).
    x : torch.Tensor of shape (n_rows, n_features) or None
        The rows' network inputs (float32), for input-space signals.
    """

    h: torch.Tensor
    p: torch.Tensor
    x: torch.Tensor | None = None

    @classmethod
    def stack(cls, hs, ps, x=None):
        return cls(torch.stack(hs), torch.stack(ps), x)

    def __len__(self):
        return self.h.shape[1]

    def take(self, epochs, rows=None):
        """Factors restricted to some epochs (and rows)."""
        h, p, x = self.h[epochs], self.p[epochs], self.x
        if rows is not None:
            h, p = h[:, rows], p[:, rows]
            x = None if x is None else x[rows]
        return Factors(h, p, x)

    def to(self, device):
        x = None if self.x is None else self.x.to(device)
        return Factors(self.h.to(device), self.p.to(device), x)


@dataclass
class Trajectory:
    """Everything captured during one training run.

    Attributes
    ----------
    lrs : ndarray of shape (n_epochs,)
        ``eta_t``: the mean learning rate of the last layer's parameter group
        over the training steps of epoch ``t`` (the constant rate under plain
        SGD or an epoch-wise scheduler).
    train : Factors
        Factors of the training rows, in the order they were given to ``fit``.
    reference : Factors or None
        Factors of the reference rows (``X_val``) when given.
    states : list of dict or str
        Module state after each epoch: in memory (tensors unchanged between
        epochs are shared, so a frozen backbone is stored once), or paths of
        files on disk, read back with ``torch.load(weights_only=True)``.
    layer : str
        Dotted name of the last linear layer in the module.
    label_smoothing : float
        The criterion's label smoothing, needed to form ``e = p - q``.
    """

    lrs: np.ndarray
    train: Factors
    reference: Factors | None
    states: list = field(repr=False)
    layer: str = ""
    label_smoothing: float = 0.0

    folder: str | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.folder is not None:
            # Checkpoint files live as long as the trajectory that reads them.
            weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)

    @property
    def n_epochs(self):
        return len(self.lrs)

    def state(self, epoch):
        """The module state after ``epoch`` (loaded from disk when stored there)."""
        state = self.states[epoch]
        if isinstance(state, str):
            return torch.load(state, weights_only=True)
        return state

    def __getstate__(self):
        # A pickled trajectory is self-contained: states stored on disk are
        # read into memory, and the copy owns no folder.
        attributes = dict(self.__dict__)
        attributes["states"] = [self.state(t) for t in range(len(self.states))]
        attributes["folder"] = None
        return attributes


def find_last_layer(module):
    """Return ``(name, layer)`` of the final ``torch.nn.Linear`` of ``module``.

    A module names it explicitly with a class or instance attribute
    ``last_layer`` (a dotted path such as ``"head"``); otherwise the last
    ``torch.nn.Linear`` in registration order is taken.

    Raises
    ------
    TypeError
        If there is no such layer.
    """
    name = getattr(module, "last_layer", None)
    if name is not None:
        layer = module.get_submodule(name)
        if not isinstance(layer, torch.nn.Linear):
            raise TypeError(
                f"{type(module).__name__}.last_layer={name!r} names a "
                f"{type(layer).__name__}, not a torch.nn.Linear."
            )
        return name, layer
    linears = [
        (n, m) for n, m in module.named_modules() if isinstance(m, torch.nn.Linear)
    ]
    if not linears:
        raise TypeError(
            f"{type(module).__name__} has no torch.nn.Linear layer. Last-layer "
            "TracIn needs a final Linear producing the logits; add one, or name "
            "it with a `last_layer` attribute on the module."
        )
    return linears[-1]


def _forward_factors(
    module, layer, X, batch_size, device, output_kind, out=None, outputs="softmax"
):
    """Run ``module`` in eval mode over ``X``; return ``(h, p)`` on ``device``.

    With ``out=(h, p)`` preallocated tensors, the factors are written there
    instead of being concatenated (no transient second copy). ``outputs``
    says what ``p`` holds: ``"softmax"`` of the last layer's output
    (classification) or its ``"identity"`` (regression: the prediction).
    """
    link = _LINKS[outputs]
    captured = {}

    def hook(_, inputs, output):
        captured["h"], captured["z"] = inputs[0].detach(), output.detach()

    handle = layer.register_forward_hook(hook)
    was_training = module.training
    module.eval()
    hs, ps = [], []
    try:
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                batch = torch.as_tensor(X[start : start + batch_size], device=device)
                output = module(batch)
                h, z = captured["h"], captured["z"]
                if start == 0 and output_kind != "any":
                    _check_logits(module, layer, z, output, output_kind)
                if out is None:
                    hs.append(h)
                    ps.append(link(z))
                else:
                    rows = slice(start, start + len(batch))
                    out[0][rows] = h
                    out[1][rows] = link(z)
    finally:
        handle.remove()
        module.train(was_training)
    return out if out is not None else (torch.cat(hs), torch.cat(ps))


# What the factors keep of the last layer's output z: softmax probabilities
# for classification, z itself (the prediction) for regression.
_LINKS = {"softmax": lambda z: torch.softmax(z, dim=1), "identity": lambda z: z}


def _all_finite(tensor):
    # One read, no boolean copy: a float64 sum of float32 values cannot
    # overflow, so it is finite exactly when every value is.
    return bool(torch.isfinite(tensor.sum(dtype=torch.float64)))


def _check_logits(module, layer, z, out, output_kind):
    if z.ndim != 2:
        raise TypeError(
            f"The last Linear layer of {type(module).__name__} outputs shape "
            f"{tuple(z.shape)}; last-layer TracIn needs (n_samples, n_classes) logits."
        )
    if not torch.isfinite(z).all():
        return  # divergence: reported with its epoch by the caller
    expected = torch.softmax(z, 1) if output_kind == "proba" else z
    if out.shape != z.shape or not torch.allclose(out, expected, rtol=1e-4, atol=1e-5):
        name = type(module).__name__
        if output_kind == "proba" and out.shape == z.shape and torch.allclose(out, z):
            # skorch's default criterion is NLLLoss, which takes the log of
            # the module's output: it expects probabilities, not logits.
            raise TypeError(
                f"{name} returns logits, but the net's criterion is NLLLoss "
                "(skorch's default), which expects probabilities. Pass "
                "criterion=torch.nn.CrossEntropyLoss to the NeuralNetClassifier."
            )
        what = "its softmax" if output_kind == "proba" else "the logits"
        raise TypeError(
            f"The output of {name} is not {what} of its last Linear layer "
            f"({layer}), as last-layer TracIn needs. If the module ends with a "
            "softmax, return the logits and use criterion="
            "torch.nn.CrossEntropyLoss; if another Linear layer produces the "
            "logits, name it with a `last_layer` attribute on the module."
        )


def replay_factors(
    module,
    trajectory,
    X,
    epochs,
    *,
    batch_size=1024,
    device="cpu",
    outputs="softmax",
):
    """Factors of new rows ``X`` at the given epochs, from the stored states.

    Parameters
    ----------
    module : torch.nn.Module
        A module of the fitted architecture; it is copied, not modified.
    trajectory : Trajectory
    X : ndarray of shape (n, n_features), float32
    epochs : array-like of int
    batch_size : int, default=1024
    device : str or torch.device, default="cpu"
    outputs : {"softmax", "identity"}, default="softmax"
        What ``p`` holds: softmax probabilities, or the raw output of the last
        layer (regression predictions).

    Returns
    -------
    factors : Factors
        With ``len(epochs)`` epochs, in the order given.
    """
    module = copy.deepcopy(module).to(device)
    layer = module.get_submodule(trajectory.layer)
    hs, ps = [], []
    for t in epochs:
        module.load_state_dict(trajectory.state(t))
        h, p = _forward_factors(
            module, layer, X, batch_size, device, "any", outputs=outputs
        )
        hs.append(h)
        ps.append(p)
    return Factors.stack(hs, ps, torch.tensor(X))


class EpochSampler(torch.utils.data.Sampler):
    """Row order of one epoch that remembers itself.

    In-pass capture needs to know which training row each batch activation
    belongs to. Both capture modes train with it, so they see the same
    batches. The permutations come from the sampler's own generator, so
    concurrent trainings in threads cannot disturb each other's order.

    Parameters
    ----------
    n : int
        Number of training rows.
    shuffle : bool, default=True
        Draw a new permutation each epoch; False keeps the data order.
    generator : torch.Generator, default=None
        Source of the permutations; None uses torch's global generator.
    """

    def __init__(self, n, shuffle=True, generator=None):
        self.n = n
        self.shuffle = shuffle
        self.generator = generator
        self.order = None

    def __len__(self):
        return self.n

    def __iter__(self):
        if self.shuffle:
            self.order = torch.randperm(self.n, generator=self.generator)
        else:
            self.order = torch.arange(self.n)
        return iter(self.order.tolist())


class TracInCapture(Callback):
    """skorch callback recording last-layer factors at every epoch.

    Parameters
    ----------
    X : ndarray of shape (n, n_features), float32
        The training rows, in the order their scores are wanted.
    X_ref : ndarray of shape (m, n_features), default=None
        Reference rows captured alongside (always at the epoch end).
    mode : {"epoch_end", "in_pass"}, default="epoch_end"
        ``"epoch_end"``: an extra eval-mode forward pass over ``X`` after each
        epoch gives exact end-of-epoch checkpoints. ``"in_pass"``: the
        activations of the training forward passes are kept instead (no extra
        pass); they come from the weights *during* the epoch and from train
        mode (dropout, batch statistics), so the scores are an approximation.
        Requires ``sampler`` (an :class:`EpochSampler` used by the net).
    sampler : EpochSampler, default=None
        The training sampler, for ``mode="in_pass"``.
    output_kind : {"logits", "proba"}, default="logits"
        What the module returns: logits (``CrossEntropyLoss``) or
        probabilities (skorch's ``NLLLoss`` convention). Checked against the
        last layer's output.
    batch_size : int, default=1024
        Rows per forward pass during capture.
    progress : bool, default=False
        Show a tqdm bar over epochs.
    checkpoint_dir : str, default=None
        Save each epoch's module state in a fresh subfolder of this folder
        instead of memory (for large models). The subfolder is deleted when
        the trajectory is garbage collected.
    outputs : {"softmax", "identity"}, default="softmax"
        What the captured ``p`` holds: the softmax of the last layer's output
        (classification), or the output itself (regression predictions).
    """

    def __init__(
        self,
        X,
        X_ref=None,
        *,
        mode="epoch_end",
        sampler=None,
        output_kind="logits",
        batch_size=1024,
        progress=False,
        checkpoint_dir=None,
        outputs="softmax",
    ):
        self.X = X
        self.X_ref = X_ref
        self.mode = mode
        self.sampler = sampler
        self.output_kind = output_kind
        self.batch_size = batch_size
        self.progress = progress
        self.checkpoint_dir = checkpoint_dir
        self.outputs = outputs

    def initialize(self):
        self.train_, self.ref_ = None, None
        self.lrs_, self.states_, self._batch_lrs = [], [], []
        self._handle, self._bar, self._folder = None, None, None
        self._order = self._epoch_factors = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.layer_name_, self._layer = find_last_layer(net.module_)
        weight = self._layer.weight
        groups = [
            g
            for g in net.optimizer_.param_groups
            if any(q is weight for q in g["params"])
        ]
        if not groups:
            raise TypeError(
                f"The optimizer does not train the last layer {self.layer_name_!r}; "
                "TracIn needs its parameters to be trained."
            )
        self._group = groups[0]
        self._max_epochs = net.max_epochs
        self._bar = tqdm(
            total=net.max_epochs,
            desc="training",
            unit="epoch",
            disable=not self.progress,
        )
        # Fail before training if the last Linear does not produce the logits.
        _forward_factors(
            net.module_, self._layer, self.X[:2], 2, net.device, self.output_kind
        )
        if self.mode == "in_pass":
            self._handle = self._layer.register_forward_hook(self._keep_training_batch)

    def _storage(self, n, h, z):
        """Preallocate (max_epochs, n, .) for the factors: no copies at the end."""
        shape = (self._max_epochs, n)
        return (
            torch.empty(*shape, h.shape[1], dtype=h.dtype, device=h.device),
            torch.empty(*shape, z.shape[1], dtype=z.dtype, device=z.device),
        )

    def _keep_training_batch(self, layer, inputs, output):
        if not layer.training or not torch.is_grad_enabled():
            return  # validation or capture passes, not a training step
        h, z = inputs[0].detach(), output.detach()
        if self._order is None:  # first batch: the loader has drawn the order
            if self.train_ is None:
                self.train_ = self._storage(len(self.X), h, z)
            epoch = len(self.lrs_)
            self._order = self.sampler.order.to(h.device)
            self._epoch_factors = (self.train_[0][epoch], self.train_[1][epoch])
        # Written straight to the rows' places (the sampler's order of this
        # epoch says which rows the batch holds): no reordering pass at the
        # end. The softmax is taken once per epoch, in place, at the end.
        start = self._position
        rows = self._order[start : start + len(h)]
        self._epoch_factors[0].index_copy_(0, rows, h)
        self._epoch_factors[1].index_copy_(0, rows, z)
        self._position = start + len(h)

    def on_epoch_begin(self, net, **kwargs):
        self._position = 0
        self._order = self._epoch_factors = None

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            self._batch_lrs.append(float(self._group["lr"]))

    def on_epoch_end(self, net, **kwargs):
        epoch = len(self.lrs_)
        device = net.device
        if self.mode == "epoch_end":
            self.train_ = self._capture(net, self.X, self.train_, epoch, device)
        elif self._position != len(self.X):
            raise RuntimeError(
                f"In-pass capture saw {self._position} of {len(self.X)} training rows "
                "in an epoch; it needs every row once per epoch (no drop_last)."
            )
        elif self.outputs == "softmax":
            logits = self.train_[1][epoch]
            logits.copy_(torch.softmax(logits, 1))
        if self.X_ref is not None:
            self.ref_ = self._capture(net, self.X_ref, self.ref_, epoch, device)
        # p is the softmax of z = W h + b: a non-finite entry of h makes every
        # logit non-finite (0 * inf is nan too) and so p, which is 50 times
        # smaller to check.
        if not _all_finite(self.train_[1][epoch]):
            raise FloatingPointError(
                f"Training diverged at epoch {epoch + 1}: the network produced "
                f"non-finite activations (learning rate {self._group['lr']:g}). Lower "
                "the learning rate, scale the features, or train fewer epochs."
            )
        lrs = self._batch_lrs or [float(self._group["lr"])]
        self.lrs_.append(float(np.mean(lrs)))
        self._batch_lrs = []
        self.states_.append(self._snapshot(net.module_))
        self._bar.update()

    def _capture(self, net, X, storage, epoch, device):
        if storage is None:
            h, p = _forward_factors(
                net.module_, self._layer, X[:1], 1, device, self.output_kind
            )
            storage = self._storage(len(X), h, p)
        _forward_factors(
            net.module_,
            self._layer,
            X,
            self.batch_size,
            device,
            self.output_kind,
            out=(storage[0][epoch], storage[1][epoch]),
            outputs=self.outputs,
        )
        return storage

    def on_train_end(self, net, **kwargs):
        self._bar.close()
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _snapshot(self, module):
        if self.checkpoint_dir is not None:
            if self._folder is None:
                os.makedirs(self.checkpoint_dir, exist_ok=True)
                self._folder = tempfile.mkdtemp(
                    prefix="skinfluence-", dir=self.checkpoint_dir
                )
            path = os.path.join(self._folder, f"epoch-{len(self.states_)}.pt")
            torch.save(
                {k: v.detach().cpu() for k, v in module.state_dict().items()}, path
            )
            return path
        previous = self.states_[-1] if self.states_ else {}
        state = {}
        for key, value in module.state_dict().items():
            old = previous.get(key)
            if (
                old is not None
                and old.shape == value.shape
                and torch.equal(old, value.cpu())
            ):
                state[key] = old  # unchanged (e.g. frozen backbone): share, don't copy
            else:
                state[key] = value.detach().to("cpu", copy=True)
        return state

    def trajectory(self, label_smoothing=0.0):
        """Return the captured :class:`Trajectory` and release the callback's data."""
        n_epochs = len(self.lrs_)
        if not n_epochs:
            raise RuntimeError("No epoch was captured; did training run?")

        def trim(storage):
            h, p = storage
            if n_epochs < len(h):  # stopped early: do not keep unused storage
                h, p = h[:n_epochs].clone(), p[:n_epochs].clone()
            return Factors(h, p)

        trajectory = Trajectory(
            lrs=np.asarray(self.lrs_, dtype=np.float64),
            train=trim(self.train_),
            reference=None if self.ref_ is None else trim(self.ref_),
            states=self.states_,
            layer=self.layer_name_,
            label_smoothing=label_smoothing,
            folder=self._folder,
        )
        self.X = self.X_ref = self.sampler = None
        self._layer = self._group = None
        self.initialize()
        return trajectory
