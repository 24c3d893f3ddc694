"""Last-layer TracIn against Captum's TracInCP and against autograd."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from skorch import NeuralNetClassifier
from skorch.callbacks import LRScheduler

from skinfluence import InfluenceGlitchDetector
from skinfluence.tracin import errors, find_last_layer, influence_block
from skinfluence.tracin._captum import captum_tracin

from .conftest import tiny_net


def closed_form_matrix(trajectory, y_rows, y_ref, reference):
    y_rows, y_ref = torch.as_tensor(y_rows), torch.as_tensor(y_ref)
    rows = trajectory.train
    return sum(
        influence_block(
            rows.h[t],
            errors(rows.p[t], y_rows, trajectory.label_smoothing),
            reference.h[t],
            errors(reference.p[t], y_ref, trajectory.label_smoothing),
            trajectory.lrs[t],
        )
        for t in range(trajectory.n_epochs)
    )


def test_influence_and_self_influence_equal_captum(fitted_val, noisy_data):
    d, det = noisy_data, fitted_val
    y, y_val = det.scoring_.y_train.numpy(), np.searchsorted(det.classes_, d["y_val"])
    influence, self_influence = captum_tracin(
        det.estimator_.module_, det.trajectory_, d["X"], y, d["X_val"], y_val
    )
    ours = closed_form_matrix(det.trajectory_, y, y_val, det.trajectory_.reference)
    assert_allclose(ours.numpy(), influence.numpy(), rtol=1e-4, atol=1e-6)
    per_epoch = det.scoring_.context(
        det.trajectory_.train, det.scoring_.y_train, None
    ).self_influence()
    assert_allclose(per_epoch.sum(1).numpy(), self_influence.numpy(), rtol=1e-4)


def test_learning_rate_schedule_is_honoured(noisy_data):
    d = noisy_data
    net = tiny_net(
        max_epochs=4,
        callbacks=[
            (
                "lr",
                LRScheduler(
                    policy=torch.optim.lr_scheduler.StepLR, step_size=2, gamma=0.5
                ),
            )
        ],
    )
    det = InfluenceGlitchDetector(net, random_state=0, standardize=False)
    det.fit(d["X"], d["y"])
    assert_allclose(det.learning_rates_, [0.1, 0.1, 0.05, 0.05])
    _, self_influence = captum_tracin(
        det.estimator_.module_, det.trajectory_, d["X"], det.scoring_.y_train.numpy()
    )
    assert_allclose(det.glitch_scores_, self_influence.numpy(), rtol=1e-4)


def test_label_smoothing_gradient_matches_autograd():
    torch.manual_seed(0)
    z = torch.randn(6, 4, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    torch.nn.functional.cross_entropy(
        z, y, label_smoothing=0.2, reduction="sum"
    ).backward()
    assert_allclose(
        errors(torch.softmax(z, 1).detach(), y, 0.2).numpy(), z.grad.numpy(), atol=1e-6
    )


class ProbaModule(torch.nn.Module):
    """Returns probabilities, skorch's NLLLoss convention."""

    def __init__(self, n_features=5, n_classes=3):
        super().__init__()
        self.hidden = torch.nn.Linear(n_features, 8)
        self.out = torch.nn.Linear(8, n_classes)

    def forward(self, X):
        return torch.softmax(self.out(torch.relu(self.hidden(X))), 1)


def test_nll_template_on_probabilities_matches_captum(noisy_data):
    d = noisy_data
    net = NeuralNetClassifier(
        ProbaModule,
        max_epochs=3,
        lr=0.1,
        batch_size=32,
        train_split=None,
        optimizer=torch.optim.SGD,
    )
    det = InfluenceGlitchDetector(net, random_state=0, standardize=False)
    det.fit(d["X"], d["y"])
    assert det.trajectory_.layer == "out"
    # Captum on the logit layer of the same module, with softmax cross-entropy
    # written on the logits: strip the softmax for the reference computation.
    logits = torch.nn.Sequential()
    module = det.estimator_.module_
    logits.hidden, logits.act, logits.out = module.hidden, torch.nn.ReLU(), module.out
    _, self_influence = captum_tracin(
        logits, det.trajectory_, d["X"], det.scoring_.y_train.numpy()
    )
    assert_allclose(det.glitch_scores_, self_influence.numpy(), rtol=1e-4)


class NoLinear(torch.nn.Module):
    def __init__(self, n_features=5, n_classes=3):
        super().__init__()
        self.conv = torch.nn.Conv1d(1, n_classes, n_features)

    def forward(self, X):
        return self.conv(X.unsqueeze(1)).squeeze(2)


class LinearThenScale(torch.nn.Module):
    def __init__(self, n_features=5, n_classes=3):
        super().__init__()
        self.head = torch.nn.Linear(n_features, n_classes)

    def forward(self, X):
        return 2 * self.head(X)


@pytest.mark.parametrize(
    "module, match",
    [(NoLinear, "has no torch.nn.Linear"), (LinearThenScale, "is not the logits")],
)
def test_modules_without_a_logit_layer_get_a_clear_error(noisy_data, module, match):
    d = noisy_data
    net = NeuralNetClassifier(
        module, criterion=torch.nn.CrossEntropyLoss, max_epochs=2, train_split=None
    )
    with pytest.raises(TypeError, match=match):
        InfluenceGlitchDetector(net).fit(d["X"], d["y"])


class BiasFreeHead(torch.nn.Module):
    def __init__(self, n_features=5, n_classes=3):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(n_features, 8), torch.nn.ReLU())
        self.head = torch.nn.Linear(8, n_classes, bias=False)

    def forward(self, X):
        return self.head(self.body(X))


def test_a_bias_free_last_layer_needs_autograd_gradients(noisy_data):
    # The closed form adds the bias's factor (h~ = [h, 1]): on a head without
    # a bias, self-influence read up to 2.2 times the exact value, silently.
    d = noisy_data
    net = NeuralNetClassifier(
        BiasFreeHead,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.SGD,
        max_epochs=2,
        train_split=None,
    )
    with pytest.raises(TypeError, match=r"'head' has no bias.*layers=\['head'\]"):
        InfluenceGlitchDetector(net, signal="self").fit(d["X"], d["y"])
    det = InfluenceGlitchDetector(net, signal="self", layers=["head"], random_state=0)
    det.fit(d["X"], d["y"])
    # Autograd's exact value: sum_t eta_t ||e||^2 ||h||^2, no bias term.
    trajectory = det.trajectory_
    h, p = trajectory.train.h.double(), trajectory.train.p.double()
    e = p - torch.nn.functional.one_hot(det.scoring_.y_train, p.shape[2]).double()
    lrs = torch.as_tensor(trajectory.lrs, dtype=torch.float64)
    exact = (lrs[:, None] * (e**2).sum(2) * (h**2).sum(2)).sum(0)
    assert_allclose(det.glitch_scores_, exact.numpy(), rtol=1e-4)


def test_last_layer_can_be_named():
    class Named(torch.nn.Module):
        last_layer = "first"

        def __init__(self):
            super().__init__()
            self.first, self.second = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)

    assert find_last_layer(Named())[0] == "first"
    Named.last_layer = "missing"
    with pytest.raises(AttributeError):
        find_last_layer(Named())


def test_non_cross_entropy_criterion_is_rejected(noisy_data):
    net = tiny_net(criterion=torch.nn.MSELoss)
    with pytest.raises(TypeError, match="not softmax cross-entropy"):
        InfluenceGlitchDetector(net).fit(noisy_data["X"], noisy_data["y"])


def test_divergence_is_reported_with_the_epoch(noisy_data):
    X = noisy_data["X"] * 1e4
    with pytest.raises(FloatingPointError, match="diverged at epoch"):
        InfluenceGlitchDetector(tiny_net(lr=1e6), random_state=0).fit(
            X, noisy_data["y"]
        )


@pytest.mark.parametrize("layers", [["body.0"], ["body.0", "head"]])
def test_other_layers_equal_captum(noisy_data, layers):
    d = noisy_data
    det = InfluenceGlitchDetector(
        tiny_net(max_epochs=3), signal="marginal", layers=layers, standardize=False
    )
    det.set_params(random_state=0).fit(
        d["X"], d["y"], X_val=d["X_val"], y_val=d["y_val"]
    )
    y, y_val = det.scoring_.y_train.numpy(), det.scoring_.reference()[1].numpy()
    influence, self_influence = captum_tracin(
        det.estimator_.module_,
        det.trajectory_,
        d["X"],
        y,
        d["X_val"],
        y_val,
        layers=layers,
    )
    assert_allclose(
        det.compute_signal("self").scores, self_influence.numpy(), rtol=1e-4
    )
    assert_allclose(det.glitch_scores_, -influence.sum(1).numpy(), rtol=1e-4, atol=1e-5)
    absolute = det.compute_signal("absolute").scores
    assert_allclose(absolute, influence.abs().mean(1).numpy(), rtol=1e-4, atol=1e-6)


def test_projection_preserves_influence_approximately(noisy_data):
    d = noisy_data
    exact = InfluenceGlitchDetector(
        tiny_net(), layers=["body.0", "head"], random_state=0
    )
    projected = InfluenceGlitchDetector(
        tiny_net(),
        layers=["body.0", "head"],
        projection_dim=64,
        random_state=0,
        novelty=True,
    )
    exact.fit(d["X"], d["y"])
    projected.fit(d["X"], d["y"])
    assert projected.projection_.shape == (5 * 16 + 16 + 16 * 3 + 3, 64)
    assert projected.scoring_.gradients[0].shape[-1] == 64
    assert np.corrcoef(exact.glitch_scores_, projected.glitch_scores_)[0, 1] > 0.9
    assert_allclose(
        projected.score_samples(d["X"][:5], d["y"][:5]),
        -projected.glitch_scores_[:5],
        rtol=1e-4,
    )


def test_last_layer_through_generic_path_equals_closed_form(fitted, noisy_data):
    d = noisy_data
    generic = InfluenceGlitchDetector(
        tiny_net(), layers=["head"], random_state=0, standardize=False
    )
    generic.fit(d["X"], d["y"])
    assert_allclose(generic.glitch_scores_, fitted.glitch_scores_, rtol=1e-4)
    assert_allclose(
        generic.compute_signal("gd_class").scores,
        fitted.compute_signal("gd_class").scores,
        rtol=1e-4,
        atol=1e-6,
    )


class BodyHead(torch.nn.Module):
    def __init__(self, n_features=5, n_classes=3):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(n_features, 8), torch.nn.ReLU())
        self.head = torch.nn.Linear(8, n_classes)

    def forward(self, X):
        return self.head(self.body(X))


class AuxAfterHead(BodyHead):
    def __init__(self, n_features=5, n_classes=3):
        super().__init__(n_features, n_classes)
        self.aux = torch.nn.Linear(8, 2)  # registered last, never called


class NamesUnusedLayer(AuxAfterHead):
    last_layer = "aux"


class ReturnsTuple(BodyHead):
    def forward(self, X):
        h = self.body(X)
        return self.head(h), h


class ReturnsDict(BodyHead):
    def forward(self, X):
        return {"logits": self.head(self.body(X))}


@pytest.mark.parametrize(
    "module, match",
    [
        (AuxAfterHead, r"took 'aux'.*never calls it.*`last_layer = \"head\"`"),
        (NamesUnusedLayer, r"last_layer='aux' names .*never calls it"),
        (ReturnsTuple, r"ReturnsTuple.forward returns a tuple, not a tensor"),
        (ReturnsDict, r"returns a dict, not a tensor.*return the logits alone"),
    ],
)
def test_unused_last_layer_or_non_tensor_output_gets_a_clear_error(
    noisy_data, module, match
):
    # Before: KeyError: 'h' (the hook on the unused layer never fired) and
    # AttributeError: 'tuple' object has no attribute 'shape'.
    net = NeuralNetClassifier(
        module, criterion=torch.nn.CrossEntropyLoss, max_epochs=1, train_split=None
    )
    with pytest.raises(TypeError, match=match):
        InfluenceGlitchDetector(net).fit(noisy_data["X"], noisy_data["y"])


def test_naming_the_head_fixes_an_unused_later_linear(noisy_data):
    class NamedHead(AuxAfterHead):
        last_layer = "head"

    net = NeuralNetClassifier(
        NamedHead, criterion=torch.nn.CrossEntropyLoss, max_epochs=1, train_split=None
    )
    det = InfluenceGlitchDetector(net, random_state=0)
    assert det.fit(noisy_data["X"], noisy_data["y"]).trajectory_.layer == "head"
