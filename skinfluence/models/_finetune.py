"""Fine-tune a new linear head on a user's pretrained backbone."""

import math

import torch
from torch import nn

from ._utils import resolve_image_shape

__all__ = ["PretrainedBackbone"]


class PretrainedBackbone(nn.Module):
    """A user's pretrained backbone with a new, trainable linear head.

    The paper fine-tunes foundation models (ResNet-20, ConvNeXt, ViT) on
    each dataset by training a new classification head on their features.
    This module does that for any ``torch.nn.Module`` the user loads (a
    timm or torchvision model whose own classifier was replaced by
    ``torch.nn.Identity()``, a saved encoder, ...): the backbone maps a
    batch to features, the features are flattened, and ``head`` maps them
    to the logits. Last-layer TracIn then sees exactly the trained part.

    Parameters
    ----------
    backbone : torch.nn.Module
        Maps a batch of inputs to a tensor of features, ``(n, ...)``; it
        must not end in the pretrained classifier. It is used (and, when
        ``freeze=True``, frozen) in place, not copied; cloning a skorch
        template copies it.
    n_features : int, default=None
        Width of the flat input rows. Needed to infer ``feature_dim`` when
        ``image_shape`` is ``None``.
    n_classes : int, default=2
        Number of logits.
    feature_dim : int, default=None
        Number of features the backbone outputs per row (after
        flattening). ``None`` infers it with one forward pass on zeros.
    image_shape : tuple of int, default=None
        ``(C, H, W)`` (or ``(H, W)``) to reshape flat rows to before the
        backbone; ``None`` passes the rows as they are.
    freeze : bool, default=True
        Freeze the backbone: its parameters get ``requires_grad=False`` and
        it stays in evaluation mode even while the head trains, so that
        batch norm uses (and keeps) the pretrained running statistics,
        dropout is off, and the features of a row do not depend on the other
        rows of its batch. ``False`` fine-tunes the whole net.
    transform : callable, default=None
        Applied to the (reshaped) batch before the backbone, e.g. resizing
        to the backbone's resolution, repeating a grey channel three times
        or normalising with the pretraining statistics.

    Attributes
    ----------
    backbone : torch.nn.Module
        The backbone.
    feature_dim : int
        Width of the flattened features, the penultimate width ``d`` of the
        influence closed form.
    head : torch.nn.Linear
        The logit layer, the only trained layer when ``freeze=True``.

    See Also
    --------
    ResNet20 : The CIFAR ResNet-20, trained from scratch or from a checkpoint.

    Notes
    -----
    The paper's code kept the frozen backbone in training mode, so its
    batch-norm statistics drifted during fine-tuning; here they do not.

    Examples
    --------
    A small randomly initialised backbone stands in for a pretrained one
    (``torchvision.models.resnet18(weights=...)`` with ``fc = Identity()``,
    say):

    >>> import torch
    >>> from torch import nn
    >>> from skinfluence.models import PretrainedBackbone
    >>> backbone = nn.Sequential(
    ...     nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
    ...     nn.AdaptiveAvgPool2d(1))
    >>> net = PretrainedBackbone(backbone, n_classes=3, image_shape=(1, 8, 8))
    >>> net.feature_dim
    4
    >>> net(torch.rand(5, 64)).shape
    torch.Size([5, 3])
    >>> net.train().backbone.training
    False
    """

    last_layer = "head"

    def __init__(
        self,
        backbone,
        n_features=None,
        n_classes=2,
        *,
        feature_dim=None,
        image_shape=None,
        freeze=True,
        transform=None,
    ):
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise TypeError(
                f"backbone must be a torch.nn.Module, got {type(backbone).__name__}."
            )
        self.backbone = backbone
        self.freeze = freeze
        self.transform = transform
        self.image_shape = (
            None
            if image_shape is None
            else resolve_image_shape(n_features, image_shape)
        )
        for param in backbone.parameters():
            param.requires_grad_(not freeze)
        self.feature_dim = (
            self._infer_feature_dim(n_features) if feature_dim is None else feature_dim
        )
        self.head = nn.Linear(self.feature_dim, n_classes)
        self.train()

    def _infer_feature_dim(self, n_features):
        if self.image_shape is not None:
            input_shape = self.image_shape
        elif n_features is not None:
            input_shape = (n_features,)
        else:
            raise ValueError(
                "Give feature_dim, image_shape or n_features so that the "
                "backbone's output width can be inferred."
            )
        param = next(self.backbone.parameters(), None)
        device = None if param is None else param.device
        # Evaluation mode, so the dummy batch leaves the running batch-norm
        # statistics untouched.
        was_training = self.backbone.training
        self.backbone.eval()
        try:
            with torch.no_grad():
                dummy = torch.zeros(2, math.prod(input_shape), device=device)
                features = self._features(dummy)
        finally:
            self.backbone.train(was_training)
        return features.shape[1]

    def train(self, mode=True):
        super().train(mode)
        if self.freeze:
            self.backbone.eval()
        return self

    def _features(self, X):
        if self.image_shape is not None:
            X = X.reshape(-1, *self.image_shape)
        if self.transform is not None:
            X = self.transform(X)
        try:
            features = self.backbone(X)
        except RuntimeError as err:
            # Only a plain RuntimeError on flat rows (a convolution's "Expected
            # 3D or 4D input"), not out-of-memory and the like.
            if X.ndim != 2 or type(err) is not RuntimeError:
                raise
            raise RuntimeError(
                f"The backbone failed on flat rows of shape {tuple(X.shape)}: "
                f"{str(err).rstrip('.')}. If it takes images, give PretrainedBackbone "
                "image_shape=(C, H, W) (or make_net(..., image_shape=...)) to "
                "reshape the rows before the backbone."
            ) from err
        # Cheap checks on every batch (no extra pass) that turn torch's
        # errors in flatten or the head into ones naming what to fix.
        if not isinstance(features, torch.Tensor):
            raise TypeError(
                f"The backbone returned a {type(features).__name__}, not a "
                "tensor of features. PretrainedBackbone needs a backbone whose "
                "forward returns one (n, ...) tensor: wrap it in a module that "
                "returns the features alone (e.g. `outputs[0]` of a tuple)."
            )
        if features.ndim < 2:
            raise ValueError(
                f"The backbone returned features of shape {tuple(features.shape)}; "
                "PretrainedBackbone needs (n_samples, ...) features, one row per input."
            )
        return torch.flatten(features, 1)

    def forward(self, X):
        features = self._features(X)
        if features.shape[1] != self.head.in_features:
            raise ValueError(
                f"The backbone outputs {features.shape[1]} features per row (after "
                f"flattening), but feature_dim={self.head.in_features}. Give "
                f"feature_dim={features.shape[1]}, or leave it None to infer it."
            )
        return self.head(features)
