"""Convolutional nets for images given as flat rows.

scikit-learn validates 2-D arrays, so images travel as flat float rows
(channels first, as ``image.reshape(n, -1)`` of a ``(n, C, H, W)`` batch
gives) and every net here reshapes them in ``forward`` from its
``image_shape``.
"""

import torch
from torch import nn
from torch.nn import functional as F

from ._utils import resolve_image_shape, running_batchnorm_stats

__all__ = ["SmallCNN", "ResNet20"]


class SmallCNN(nn.Module):
    """A small convolutional net: conv blocks, one dense layer, a linear head.

    Each conv block is a 3x3 convolution, a ReLU and a 2x2 max-pool that
    rounds up, so that odd sizes (MNIST's 7x7 after two blocks) keep their
    last row and column.

    Parameters
    ----------
    n_features : int, default=None
        Width of the flat input rows, ``C * H * W``.
    n_classes : int, default=10
        Number of logits.
    image_shape : tuple of int, default=None
        ``(C, H, W)`` (or ``(H, W)`` for one channel) of the rows.
        ``None`` infers a square image from ``n_features``: one channel if
        it is a perfect square, three if a third of it is.
    channels : tuple of int, default=(32, 64)
        Output channels of the conv blocks.
    hidden_size : int, default=128
        Width of the dense layer; the penultimate width ``d`` of the
        influence closed form.
    dropout : float, default=0.0
        Dropout before the head.

    Attributes
    ----------
    image_shape : tuple of int
        The resolved ``(C, H, W)``.
    features : torch.nn.Sequential
        The conv blocks.
    dense : torch.nn.Sequential
        Flatten, linear, ReLU (and dropout).
    head : torch.nn.Linear
        The logit layer.

    See Also
    --------
    ResNet20 : A deeper residual net for images.

    Examples
    --------
    >>> import torch
    >>> from skinfluence.models import SmallCNN
    >>> net = SmallCNN(n_features=64, n_classes=10)
    >>> net.image_shape
    (1, 8, 8)
    >>> net(torch.zeros(2, 64)).shape
    torch.Size([2, 10])
    """

    last_layer = "head"

    def __init__(
        self,
        n_features=None,
        n_classes=10,
        image_shape=None,
        channels=(32, 64),
        hidden_size=128,
        dropout=0.0,
    ):
        super().__init__()
        self.image_shape = resolve_image_shape(n_features, image_shape)
        blocks = []
        width = self.image_shape[0]
        for out in channels:
            blocks += [
                nn.Conv2d(width, out, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            width = out
        self.features = nn.Sequential(*blocks)
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, *self.image_shape)).numel()
        dense = [nn.Flatten(), nn.Linear(n_flat, hidden_size), nn.ReLU()]
        if dropout:
            dense.append(nn.Dropout(dropout))
        self.dense = nn.Sequential(*dense)
        self.head = nn.Linear(hidden_size, n_classes)

    def forward(self, X):
        X = X.reshape(-1, *self.image_shape)
        return self.head(self.dense(self.features(X)))


class _BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (He et al., 2016)."""

    def __init__(self, in_channels, channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, channels, 3, stride=stride, padding=1, bias=False
        )
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        # A 1x1 projection (option B of the paper) where the shape changes,
        # as in the widely shared CIFAR checkpoints.
        self.downsample = (
            nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(channels),
            )
            if stride != 1 or in_channels != channels
            else None
        )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        # Out-of-place additions and activations keep the block usable with
        # torch.func transforms (per-sample gradients).
        return F.relu(out + identity)


class ResNet20(nn.Module):
    """The CIFAR ResNet-20 of He et al. (2016).

    A 3x3 stem with 16 channels, three stages of three basic blocks with
    16, 32 and 64 channels (the last two stages halve the resolution),
    global average pooling and a linear head: 6 * 3 + 2 = 20 layers.

    Parameter names (``conv1``, ``bn1``, ``layer1`` to ``layer3``, ``fc``)
    follow the torchvision convention, as do the ResNet-20 CIFAR-10
    checkpoints the paper fine-tuned (``chenyaofo/pytorch-cifar-models``), so
    such a state dict loads with ``load_state_dict`` when the channel counts
    agree (three input channels, ten classes).

    Parameters
    ----------
    n_features : int, default=None
        Width of the flat input rows, ``C * H * W``.
    n_classes : int, default=10
        Number of logits.
    image_shape : tuple of int, default=None
        ``(C, H, W)`` (or ``(H, W)`` for one channel) of the rows.
        ``None`` infers a square image from ``n_features``: one channel if
        it is a perfect square, three if a third of it is.

    Attributes
    ----------
    image_shape : tuple of int
        The resolved ``(C, H, W)``.
    fc : torch.nn.Linear
        The logit layer, on the 64 pooled channels.

    See Also
    --------
    SmallCNN : A smaller, faster net for images.
    PretrainedBackbone : Fine-tune only the head of a pretrained net.

    Notes
    -----
    A training batch of a single row (skorch's last batch when the training
    set size leaves a remainder of one) is normalised with the running
    batch-norm statistics, since batch statistics of one row may not exist.

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren and J. Sun, "Deep residual learning for
       image recognition", CVPR 2016.

    Examples
    --------
    >>> import torch
    >>> from skinfluence.models import ResNet20
    >>> net = ResNet20(n_features=3 * 32 * 32, n_classes=10)
    >>> net.image_shape, net.last_layer
    ((3, 32, 32), 'fc')
    >>> net.eval()(torch.zeros(2, 3 * 32 * 32)).shape
    torch.Size([2, 10])
    """

    last_layer = "fc"

    def __init__(self, n_features=None, n_classes=10, image_shape=None):
        super().__init__()
        self.image_shape = resolve_image_shape(n_features, image_shape)
        self.conv1 = nn.Conv2d(self.image_shape[0], 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._stage(16, 16, stride=1)
        self.layer2 = self._stage(16, 32, stride=2)
        self.layer3 = self._stage(32, 64, stride=2)
        self.fc = nn.Linear(64, n_classes)
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(
                    layer.weight, mode="fan_out", nonlinearity="relu"
                )

    @staticmethod
    def _stage(in_channels, channels, stride, n_blocks=3):
        blocks = [_BasicBlock(in_channels, channels, stride)]
        blocks += [_BasicBlock(channels, channels) for _ in range(n_blocks - 1)]
        return nn.Sequential(*blocks)

    def forward(self, X):
        if self.training and X.shape[0] == 1:
            with running_batchnorm_stats(self):
                return self._forward(X)
        return self._forward(X)

    def _forward(self, X):
        x = X.reshape(-1, *self.image_shape)
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
