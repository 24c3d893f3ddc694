"""A plain multilayer perceptron returning logits."""

from torch import nn

__all__ = ["MLP"]


class MLP(nn.Module):
    """Multilayer perceptron with ReLU hidden layers and a linear logit head.

    The last module, ``head``, is the ``torch.nn.Linear`` whose input
    activations and gradients define last-layer TracIn.

    Parameters
    ----------
    n_features : int, default=64
        Width of the input.
    n_classes : int, default=2
        Number of logits.
    hidden_sizes : tuple of int, default=(128, 64)
        Widths of the hidden layers; the last one is the penultimate width
        ``d`` of the influence closed form.
    dropout : float, default=0.0
        Dropout probability after each hidden layer.

    Examples
    --------
    >>> import torch
    >>> from skinfluence.models import MLP
    >>> MLP(n_features=4, n_classes=3, hidden_sizes=(8,))(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    last_layer = "head"

    def __init__(self, n_features=64, n_classes=2, hidden_sizes=(128, 64), dropout=0.0):
        super().__init__()
        layers = []
        width = n_features
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)

    def forward(self, X):
        return self.head(self.body(X))
