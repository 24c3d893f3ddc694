"""What one training run leaves for TracIn: per-epoch factors and module states."""

import shutil
import weakref
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["Factors", "Trajectory"]


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
        The rows' network inputs (float32), for input-space signals. Captured
        by :class:`~skinfluence.tracin.TracInCapture`, it shares the memory of
        the array the network was fitted on (no copy).
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
