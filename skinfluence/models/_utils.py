"""Small helpers shared by the model modules."""

import math
from contextlib import contextmanager

from torch import nn

__all__ = ["resolve_image_shape", "running_batchnorm_stats"]


def resolve_image_shape(n_features, image_shape):
    """Return ``image_shape`` as a ``(C, H, W)`` tuple consistent with the width.

    Parameters
    ----------
    n_features : int or None
        Width of the flat input rows.
    image_shape : tuple of int or None
        ``(C, H, W)`` channels first, or ``(H, W)`` for one channel. ``None``
        infers a square image from ``n_features``: one channel when it is a
        perfect square (digits, MNIST), three channels when a third of it is
        (CIFAR). The two cases never overlap, since ``3 * m**2`` is never a
        square.

    Returns
    -------
    image_shape : tuple of int
        ``(C, H, W)``.

    Examples
    --------
    >>> from skinfluence.models._utils import resolve_image_shape
    >>> resolve_image_shape(64, None), resolve_image_shape(3072, None)
    ((1, 8, 8), (3, 32, 32))
    """
    if image_shape is None:
        if n_features is None:
            raise ValueError("Give image_shape=(C, H, W) or n_features.")
        for channels in (1, 3):
            side = math.isqrt(n_features // channels)
            if n_features % channels == 0 and channels * side * side == n_features:
                return (channels, side, side)
        raise ValueError(
            f"Cannot infer a square image from {n_features} features; "
            "give image_shape=(C, H, W)."
        )
    image_shape = tuple(int(size) for size in image_shape)
    if len(image_shape) == 2:
        image_shape = (1, *image_shape)
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise ValueError(
            f"image_shape must be (C, H, W) or (H, W), got {image_shape!r}."
        )
    if n_features is not None and math.prod(image_shape) != n_features:
        raise ValueError(
            f"image_shape {image_shape} holds {math.prod(image_shape)} values "
            f"but the rows have n_features={n_features}."
        )
    return image_shape


@contextmanager
def running_batchnorm_stats(module):
    """Run the batch-norm layers of ``module`` on their running statistics.

    skorch keeps a last batch of one row when the training set size leaves a
    remainder of one, and batch normalisation cannot estimate a variance from
    one row (PyTorch raises). Inside this context that row is normalised with
    the running statistics instead, and those statistics are left unchanged.
    """
    norms = [
        layer
        for layer in module.modules()
        if isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.training
    ]
    for layer in norms:
        layer.eval()
    try:
        yield
    finally:
        for layer in norms:
            layer.train()
