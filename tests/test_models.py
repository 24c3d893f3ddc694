"""The nets train through their make_net templates, with a logit Linear named."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from sklearn.base import clone
from torch import nn

from skinfluence import InfluenceGlitchDetector
from skinfluence.models import (
    MODEL_DEFAULTS,
    FTTransformer,
    PretrainedBackbone,
    ResNet20,
    SmallCNN,
    TabularResNet,
    make_net,
)
from skinfluence.models._utils import resolve_image_shape


def _backbone():
    """A small randomly initialised stand-in for a pretrained conv net."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
    )


# name -> small module parameters, so that each net trains in about a second.
SMALL = {
    "MLP": {"hidden_sizes": (8,)},
    "TabularResNet": {"n_blocks": 1, "d_block": 8},
    "FTTransformer": {"n_blocks": 1, "d_block": 8},
    "SmallCNN": {"channels": (4,), "hidden_size": 8},
    "ResNet20": {},
    "PretrainedBackbone": {"image_shape": (1, 8, 8)},
}
SLOW = {"ResNet20"}


def _small_net(name, **params):
    kwargs = dict(SMALL[name])
    if name == "PretrainedBackbone":
        kwargs["backbone"] = _backbone()
    return make_net(name, max_epochs=2, batch_size=32, **kwargs, **params)


def _params(names):
    return [
        pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
        for name in names
    ]


@pytest.fixture(scope="module")
def data():
    """65 rows of 8x8 one-channel "images" in three classes.

    65 rows in batches of 32 leave a last batch of one row, which batch
    normalisation must survive.
    """
    rng = np.random.default_rng(0)
    X = rng.random((65, 64)).astype(np.float32)
    y = np.arange(65) % 3
    X[:, :8] += y[:, None]  # a learnable signal
    return X, y.astype(np.int64)


@pytest.fixture(scope="module")
def fitted_net(data):
    """Train each net of SMALL once, when a test first asks for it."""
    X, y = data
    nets = {}

    def fit(name):
        if name not in nets:
            torch.manual_seed(0)
            net = _small_net(name)
            net.set_params(module__n_features=X.shape[1], module__n_classes=3)
            nets[name] = net.fit(X, y)
        return nets[name]

    return fit


@pytest.mark.parametrize("name", _params(SMALL))
def test_trains_and_predicts(fitted_net, data, name):
    X, y = data
    net = fitted_net(name)
    assert len(net.history) == 2
    assert np.isfinite(net.history[:, "train_loss"]).all()
    assert net.predict(X).shape == (len(X),)
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 3)
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("name", _params(SMALL))
def test_last_layer_produces_logits(fitted_net, data, name):
    X, _ = data
    module = fitted_net(name).module_.eval()
    layer = module.get_submodule(module.last_layer)
    assert isinstance(layer, nn.Linear) and layer.out_features == 3
    seen = {}
    handle = layer.register_forward_hook(
        lambda _, inputs, output: seen.update(h=inputs[0], z=output)
    )
    try:
        with torch.no_grad():
            logits = module(torch.from_numpy(X))
    finally:
        handle.remove()
    assert torch.equal(seen["z"], logits)
    assert seen["h"].shape == (len(X), layer.in_features)


def test_make_net_defaults_and_sgd():
    for name, (module, defaults) in MODEL_DEFAULTS.items():
        params = {"backbone": _backbone()} if name == "PretrainedBackbone" else {}
        net = make_net(name, **params)
        assert net.module is module
        assert net.optimizer is torch.optim.SGD and net.optimizer__momentum == 0
        assert net.train_split is None
        for key, value in defaults.items():
            assert getattr(net, key) == value
    net = make_net("TabularResNet", max_epochs=3, lr=0.5, batch_size=7, n_blocks=4)
    assert (net.max_epochs, net.lr, net.batch_size) == (3, 0.5, 7)
    assert net.module__n_blocks == 4


def test_make_net_image_shape():
    assert make_net("ResNet20", image_shape=[3, 4, 4]).module__image_shape == (3, 4, 4)
    with pytest.raises(ValueError, match="image_shape"):
        make_net("FTTransformer", image_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="backbone="):
        make_net("PretrainedBackbone")
    with pytest.raises(ValueError, match="Unknown model"):
        make_net("VGG")


def test_template_clones(data):
    X, y = data
    template = _small_net("PretrainedBackbone")
    template.set_params(module__n_classes=3)
    before = [p.clone() for p in template.module__backbone.parameters()]
    clone(template).fit(X, y)
    # Cloning copied the backbone: the template's one is untouched.
    for old, new in zip(before, template.module__backbone.parameters()):
        assert torch.equal(old, new)


@pytest.mark.parametrize(
    "n_features, image_shape, expected",
    [
        (64, None, (1, 8, 8)),
        (784, None, (1, 28, 28)),
        (3072, None, (3, 32, 32)),
        (48, (3, 4, 4), (3, 4, 4)),
        (64, (8, 8), (1, 8, 8)),
        (None, (2, 3, 5), (2, 3, 5)),
    ],
)
def test_resolve_image_shape(n_features, image_shape, expected):
    assert resolve_image_shape(n_features, image_shape) == expected


@pytest.mark.parametrize(
    "n_features, image_shape", [(50, None), (None, None), (64, (1, 4, 4)), (4, (4,))]
)
def test_resolve_image_shape_rejects(n_features, image_shape):
    with pytest.raises(ValueError):
        resolve_image_shape(n_features, image_shape)


def test_image_rows_are_channels_first():
    # A flat row is the (C, H, W) image in C order: the net sees X.reshape.
    net = SmallCNN(n_features=48, n_classes=2, image_shape=(3, 4, 4))
    seen = {}
    net.features[0].register_forward_hook(
        lambda _, inputs, output: seen.update(x=inputs[0])
    )
    X = torch.arange(96, dtype=torch.float32).reshape(2, 48)
    net(X)
    assert torch.equal(seen["x"], X.reshape(2, 3, 4, 4))


def test_resnet20_architecture():
    net = ResNet20(n_features=3072, n_classes=10)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    # 19 3x3 convolutions plus the head make 20 layers; two 1x1 projections.
    assert sum(c.kernel_size == (3, 3) for c in convs) == 19
    assert sum(c.kernel_size == (1, 1) for c in convs) == 2
    assert sum(p.numel() for p in net.parameters()) == 272_474
    keys = set(net.state_dict())
    assert {"conv1.weight", "bn1.running_mean", "fc.weight", "fc.bias"} <= keys
    assert "layer2.0.downsample.0.weight" in keys and "layer3.2.bn2.weight" in keys


@pytest.mark.parametrize(
    "module",
    [
        TabularResNet(n_features=16, n_classes=2, n_blocks=1, d_block=8),
        ResNet20(n_features=16, n_classes=2),  # 4x4 images: 1x1 in stage 3
    ],
    ids=["TabularResNet", "ResNet20"],
)
def test_batch_of_one_row(module):
    module.train()
    X = torch.rand(1, 16)
    stats = [b.running_mean.clone() for b in _norms(module)]
    assert module(X).shape == (1, 2)
    assert module.training and all(b.training for b in _norms(module))
    for old, norm in zip(stats, _norms(module)):
        assert torch.equal(old, norm.running_mean)


def _norms(module):
    return [
        m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]


def test_ft_transformer_uses_package_defaults():
    import rtdl_revisiting_models as rtdl

    net = FTTransformer(n_features=3, n_classes=2)
    defaults = rtdl.FTTransformer.get_default_kwargs(3)
    assert net.head.in_features == defaults["d_block"] == 192
    assert len(net.model.backbone.blocks) == 3
    assert net.model.backbone.output is None


def test_pretrained_backbone_frozen(data):
    X, y = data
    backbone = _backbone()
    net = make_net(
        "PretrainedBackbone", max_epochs=2, backbone=backbone, image_shape=(1, 8, 8)
    )
    net.set_params(module__n_classes=3)
    # Fit the template itself, so that the module wraps this very backbone.
    state = {k: v.clone() for k, v in backbone.state_dict().items()}
    net.fit(X, y)
    module = net.module_
    assert module.backbone is backbone and module.feature_dim == 4
    assert not any(p.requires_grad for p in backbone.parameters())
    module.train()
    assert module.training and not module.backbone.training
    # Weights and batch-norm statistics are those of the "pretrained" net.
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_pretrained_backbone_unfrozen(data):
    X, y = data
    backbone = _backbone()
    before = backbone[0].weight.detach().clone()
    net = PretrainedBackbone(backbone, 64, 3, image_shape=(8, 8), freeze=False)
    net.train()
    assert net.backbone.training
    loss = nn.functional.cross_entropy(net(torch.from_numpy(X)), torch.from_numpy(y))
    loss.backward()
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    assert not torch.equal(before, backbone[0].weight)


def test_pretrained_backbone_flat_input_and_transform():
    encoder = nn.Sequential(nn.Linear(5, 7), nn.ReLU())
    net = PretrainedBackbone(encoder, n_features=5, n_classes=2)
    assert net.feature_dim == 7 and net(torch.zeros(3, 5)).shape == (3, 2)

    def to_rgb(x):
        return x.expand(-1, 3, -1, -1)

    rgb = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())
    net = PretrainedBackbone(rgb, n_classes=2, image_shape=(1, 5, 5), transform=to_rgb)
    assert net.feature_dim == 2 * 3 * 3
    assert net(torch.zeros(4, 25)).shape == (4, 2)
    given = PretrainedBackbone(
        rgb, 25, 2, feature_dim=18, image_shape=(1, 5, 5), transform=to_rgb
    )
    assert given.head.in_features == 18
    with pytest.raises(ValueError, match="feature_dim"):
        PretrainedBackbone(encoder, n_classes=2)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        PretrainedBackbone(lambda x: x, n_features=5)


@pytest.mark.parametrize("name", _params(SMALL))
def test_detector_fits_with_each_net(data, name):
    X, y = data
    det = InfluenceGlitchDetector(_small_net(name), random_state=0).fit(X, y)
    assert det.glitch_scores_.shape == (len(X),)
    assert np.isfinite(det.glitch_scores_).all()
    again = InfluenceGlitchDetector(_small_net(name), random_state=0).fit(X, y)
    assert_array_equal(det.glitch_scores_, again.glitch_scores_)


@pytest.mark.parametrize(
    "n_rows, expected",
    [(10, 16), (120, 16), (142, 16), (300, 32), (455, 64), (10**5, 64)],
)
def test_small_table_batch_gives_an_epoch_eight_steps(n_rows, expected):
    from skinfluence.models import small_table_batch

    batch = small_table_batch(64, n_rows)
    assert batch == expected
    assert -(-n_rows // batch) >= 8 or batch == 16
    assert make_net(n_rows=n_rows).batch_size == expected
    assert make_net(n_rows=n_rows, batch_size=64).batch_size == 64  # given: kept


def test_regression_templates_keep_their_batch_on_small_tables():
    # More SGD steps let a regression net memorise corrupted targets.
    assert make_net(task="regression", n_rows=120).batch_size == 64


class _TupleBackbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(64, 16)

    def forward(self, X):
        return self.body(X), X


def test_pretrained_backbone_misuse_names_the_parameter_to_fix():
    X = torch.zeros(2, 64)
    # Before: flatten(): argument 'input' (position 1) must be Tensor, not tuple
    with pytest.raises(TypeError, match="backbone returned a tuple, not a tensor"):
        PretrainedBackbone(_TupleBackbone(), n_features=64)
    with pytest.raises(TypeError, match="backbone returned a tuple"):
        PretrainedBackbone(_TupleBackbone(), feature_dim=16)(X)
    # Before: Expected 3D (unbatched) or 4D (batched) input to conv2d, ...
    with pytest.raises(
        RuntimeError, match=r"flat rows of shape \(2, 64\).*image_shape"
    ):
        PretrainedBackbone(_backbone(), n_features=64)
    with pytest.raises(RuntimeError, match="conv2d.*image_shape=\\(C, H, W\\)"):
        PretrainedBackbone(_backbone(), feature_dim=4)(X)
    # Before: mat1 and mat2 shapes cannot be multiplied (2x4 and 99x2)
    wrong = PretrainedBackbone(_backbone(), feature_dim=99, image_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="outputs 4 features .* feature_dim=99"):
        wrong(X)


def test_pretrained_backbone_wrong_feature_dim_fails_before_training(data):
    X, y = data
    net = _small_net("PretrainedBackbone", feature_dim=99)
    with pytest.raises(ValueError, match="Give feature_dim=4"):
        InfluenceGlitchDetector(net).fit(X, y)
