"""Capture what last-layer TracIn needs while skorch trains.

:class:`TracInCapture` is a skorch callback with one job: at every epoch it
records, for the training rows (and the reference rows), the input activations
``h`` of the final ``torch.nn.Linear`` and the softmax of its output ``p``,
together with the learning rate used during the epoch and a snapshot of the
module's state (to score new rows later). Storage for all epochs is allocated
once, so memory is ``T (n + m) (d + K)`` floats with no transient copies.
"""

import os
import tempfile
import warnings

import numpy as np
import torch
from skorch.callbacks import Callback
from tqdm.auto import tqdm

from ._replay import _all_finite, _forward_factors, find_last_layer
from ._trajectory import Factors, Trajectory

__all__ = ["EpochSampler", "TracInCapture"]


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
    state_dir : str, default=None
        Save each epoch's module state in a fresh subfolder of this folder
        instead of memory (for large models). The subfolder is deleted when
        the trajectory is garbage collected.
    outputs : {"softmax", "identity"}, default="softmax"
        What the captured ``p`` holds: the softmax of the last layer's output
        (classification), or the output itself (regression predictions).
    needs_bias : bool, default=True
        Refuse a last layer without a bias before training: the closed form
        (``h~ = [h, 1]``) assumes one. False when the influences come from
        autograd gradients (the detectors' ``layers``).
    checkpoint_dir : str, default=None
        The former name of ``state_dir``.

        .. deprecated:: 0.1
           Renamed ``state_dir``; will be removed in 0.3.
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
        state_dir=None,
        checkpoint_dir=None,
        outputs="softmax",
        needs_bias=True,
    ):
        self.X = X
        self.X_ref = X_ref
        self.mode = mode
        self.sampler = sampler
        self.output_kind = output_kind
        self.batch_size = batch_size
        self.progress = progress
        self.state_dir = state_dir
        self.checkpoint_dir = checkpoint_dir
        self.outputs = outputs
        self.needs_bias = needs_bias

    def _state_dir(self):
        if self.checkpoint_dir is None:
            return self.state_dir
        warnings.warn(
            "checkpoint_dir was renamed state_dir in 0.1 and will be removed in "
            "0.3; pass state_dir instead.",
            FutureWarning,
            stacklevel=2,
        )
        return self.checkpoint_dir

    def initialize(self):
        self.train_, self.ref_ = None, None
        self.lrs_, self.states_, self._batch_lrs = [], [], []
        self._handle, self._bar, self._folder = None, None, None
        self._order = self._epoch_factors = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.layer_name_, self._layer = find_last_layer(net.module_)
        if self.needs_bias and self._layer.bias is None:
            # The closed form's h~ = [h, 1] is the bias's gradient factor:
            # without a bias every influence gained a spurious (e.e) term.
            raise TypeError(
                f"The last layer {self.layer_name_!r} has no bias (bias=False); "
                "last-layer TracIn's closed form assumes one. Give it a bias, or "
                f"compute the gradients with autograd (layers=[{self.layer_name_!r}])."
            )
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
        self._state_root = self._state_dir()
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
        if self._state_root is not None:
            if self._folder is None:
                os.makedirs(self._state_root, exist_ok=True)
                self._folder = tempfile.mkdtemp(
                    prefix="skinfluence-", dir=self._state_root
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

        def trim(storage, X):
            h, p = storage
            if n_epochs < len(h):  # stopped early: do not keep unused storage
                h, p = h[:n_epochs].clone(), p[:n_epochs].clone()
            return Factors(h, p, _as_inputs(X))

        trajectory = Trajectory(
            lrs=np.asarray(self.lrs_, dtype=np.float64),
            train=trim(self.train_, self.X),
            reference=None if self.ref_ is None else trim(self.ref_, self.X_ref),
            states=self.states_,
            layer=self.layer_name_,
            label_smoothing=label_smoothing,
            folder=self._folder,
        )
        self.X = self.X_ref = self.sampler = None
        self._layer = self._group = None
        self.initialize()
        return trajectory


def _as_inputs(X):
    """The rows' inputs as a tensor for input-space signals, sharing ``X``'s memory.

    Not a copy: on a million-row table the inputs are as large as the
    captured epochs, and the fit's own matrix (the detector's validated,
    float32 rows) lives as long as the detector anyway. Like a fitted
    scikit-learn neighbours estimator, the scores then assume that the
    caller does not change ``X`` in place after ``fit``.
    """
    if isinstance(X, torch.Tensor):
        return X.detach()
    X = np.asarray(X)
    if not (X.flags.c_contiguous and X.flags.writeable):
        X = np.array(X, order="C")  # torch needs writable memory
    return torch.from_numpy(X)
