"""The detector on a user's own data: raw features, optimisers, wrong wrappers, searches."""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skorch import NeuralNetClassifier

from skinfluence import InfluenceGlitchDetector, InfluenceGlitchRegressor
from skinfluence._sklearn_compat import InvalidParameterError
from skinfluence.metrics import make_glitch_scorer
from skinfluence.models import MLP, make_net

from .conftest import tiny_net, tiny_regression_net


def _train_accuracy(det):
    predicted = det.trajectory_.train.p[-1].argmax(1)
    return float((predicted == det.scoring_.y_train).float().mean())


# ------------------------------------------------------------ raw features


@pytest.fixture(scope="module")
def cancer():
    """400 rows of raw breast cancer features (scales from 1e-3 to 1e3)."""
    X, y = load_breast_cancer(return_X_y=True)
    return X[:400], y[:400]


def test_raw_features_learn_without_warning(cancer):
    X, y = cancer
    det = InfluenceGlitchDetector(make_net(max_epochs=10), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        det.fit(X, y)
    assert_allclose(det.scaler_.mean_, X.mean(0), rtol=1e-5)
    assert _train_accuracy(det) > 0.9
    assert len(np.unique(det.glitch_scores_)) > 300  # not a handful of values


def test_a_net_that_does_not_learn_warns_with_the_fix(cancer):
    X, y = cancer
    det = InfluenceGlitchDetector(make_net(max_epochs=10), standardize=False)
    with pytest.warns(ConvergenceWarning, match=r"standardize=True.*max_epochs"):
        det.set_params(random_state=0).fit(X, y)
    tiny_step = InfluenceGlitchDetector(
        make_net(max_epochs=2, lr=1e-7), standardize=False
    )
    with pytest.warns(ConvergenceWarning, match="majority class"):
        tiny_step.set_params(random_state=0).fit(X, y)


def test_the_scaling_is_applied_to_the_reference_and_new_rows(noisy_data):
    d = noisy_data
    X = d["X"] * np.array([1e3, 1, 1e-2, 1, 1], dtype=np.float32)
    X_val = d["X_val"] * np.array([1e3, 1, 1e-2, 1, 1], dtype=np.float32)
    det = InfluenceGlitchDetector(
        tiny_net(), signal="marginal", random_state=0, novelty=True
    )
    det.fit(X, d["y"], X_val=X_val, y_val=d["y_val"])
    expected = (X_val - X.mean(0)) / X.std(0)
    assert_allclose(det.trajectory_.reference.x.numpy(), expected, atol=1e-4)
    # new rows are scaled as the training rows were before the replay
    scaled = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    direct = det.scoring_.score_new_rows("marginal", det.epochs_, scaled, None)
    assert_allclose(det.score_samples(X), -direct.scores, rtol=1e-4, atol=1e-6)
    shifted = det.score_samples(X[:5] + X.std(0))
    assert shifted.shape == (5,) and not np.allclose(shifted, -det.glitch_scores_[:5])


def test_constant_and_indicator_columns_keep_their_values(noisy_data):
    d = noisy_data
    onehot = (d["y"] == 0).astype(np.float32)[:, None]
    X = np.hstack([d["X"], np.full((len(d["X"]), 1), 7.0, np.float32), onehot])
    det = InfluenceGlitchDetector(tiny_net(), random_state=0).fit(X, d["y"])
    x = det.trajectory_.train.x.numpy()
    assert_array_equal(x[:, 5], 0.0)  # constant: centred, not divided by 0
    assert_array_equal(x[:, 6], onehot[:, 0])
    assert np.isfinite(det.glitch_scores_).all()


def test_already_standardised_features_are_left_nearly_unchanged(noisy_data):
    d = noisy_data
    X = StandardScaler().fit_transform(d["X"]).astype(np.float32)
    scaled = InfluenceGlitchDetector(tiny_net(), random_state=0).fit(X, d["y"])
    given = InfluenceGlitchDetector(tiny_net(), random_state=0, standardize=False)
    given.fit(X, d["y"])
    assert_allclose(scaled.glitch_scores_, given.glitch_scores_, rtol=1e-3)


def test_columns_constant_to_float32_resolution_keep_a_unit_scale(noisy_data):
    """A denormal spread would divide the float32 inputs by zero (found by hypothesis)."""
    d = noisy_data
    X = d["X"].copy()
    X[:, 0] = 0.0
    X[::2, 0] = 1e-45  # the smallest float32: a spread float32 cannot divide by
    X[:, 1] = 1e4
    X[::3, 1] = np.nextafter(np.float32(1e4), np.float32(2e4))  # one ulp apart
    det = InfluenceGlitchDetector(tiny_net(max_epochs=1), random_state=0)
    det.fit(X, d["y"])
    assert_array_equal(det.scaler_.scale_[:2], 1.0)
    assert np.isfinite(det.glitch_scores_).all()


def test_small_tables_train_with_smaller_batches(noisy_data):
    """120 rows in batches of 64 give 2 SGD steps an epoch: the default halves them."""
    d = noisy_data
    det = InfluenceGlitchDetector(estimator=None, random_state=0, signal="loss").fit(
        d["X"], d["y"]
    )
    assert len(d["y"]) == 120 and det.estimator_.batch_size == 16
    given = make_net(max_epochs=1)  # a user's template keeps its batch
    det = InfluenceGlitchDetector(given, random_state=0).fit(d["X"], d["y"])
    assert det.estimator_.batch_size == 64


def test_image_models_keep_their_pixel_scale(noisy_data):
    d = noisy_data
    X = np.random.RandomState(0).rand(40, 16).astype(np.float32)
    net = make_net("SmallCNN", max_epochs=1, image_shape=(1, 4, 4))
    det = InfluenceGlitchDetector(net, random_state=0).fit(X, d["y"][:40])
    assert det.scaler_ is None


# -------------------------------------------------------- honest warnings


@pytest.mark.parametrize(
    "params, named",
    [
        ({"optimizer": torch.optim.Adam}, "optimizer=Adam"),
        ({"optimizer__momentum": 0.9}, "optimizer__momentum=0.9"),
        ({"optimizer__weight_decay": 1e-4}, "optimizer__weight_decay=0.0001"),
    ],
)
def test_other_optimisers_warn_naming_the_parameter(noisy_data, params, named):
    net = NeuralNetClassifier(
        MLP,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.SGD,
        lr=0.01,
        max_epochs=2,
        train_split=None,
    )
    det = InfluenceGlitchDetector(net.set_params(**params), random_state=0)
    with pytest.warns(UserWarning, match=f"plain SGD.*{named}.*approximation"):
        det.fit(noisy_data["X"], noisy_data["y"])


def test_nll_loss_on_logits_says_to_use_cross_entropy(noisy_data):
    net = NeuralNetClassifier(
        MLP, max_epochs=1, train_split=None, optimizer=torch.optim.SGD
    )  # skorch's default criterion: NLLLoss
    with pytest.raises(TypeError, match=r"criterion=torch.nn.CrossEntropyLoss"):
        InfluenceGlitchDetector(net).fit(noisy_data["X"], noisy_data["y"])


@pytest.mark.parametrize(
    "estimator", [MLP(5, 3), MLP, MLPClassifier()], ids=["module", "class", "sklearn"]
)
def test_a_non_skorch_estimator_is_told_how_to_wrap_it(noisy_data, estimator):
    det = InfluenceGlitchDetector(estimator)
    with pytest.raises(InvalidParameterError, match=r"NeuralNetClassifier.*make_net"):
        det.fit(noisy_data["X"], noisy_data["y"])


@pytest.mark.parametrize(
    ("estimator", "data"),
    [
        (InfluenceGlitchDetector(tiny_net(max_epochs=1), random_state=0), "noisy_data"),
        # The regressor said only "unexpected keyword argument 'glitch_mask'".
        (
            InfluenceGlitchRegressor(tiny_regression_net(max_epochs=1), random_state=0),
            "regression_data",
        ),
    ],
    ids=["detector", "regressor"],
)
def test_a_search_without_metadata_routing_says_how_to_enable_it(
    estimator, data, request
):
    d = request.getfixturevalue(data)
    search = GridSearchCV(
        estimator,
        {"signal": ["self"]},
        scoring=make_glitch_scorer(),
        cv=2,
        error_score="raise",
    )
    name = type(estimator).__name__
    with pytest.raises(
        TypeError,
        match=rf"{name}.fit got glitch_mask(.|\n)*"
        r"set_config\(enable_metadata_routing=True\)",
    ):
        search.fit(d["X"], d["y"], glitch_mask=d["mask"])
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['w'\]"):
        estimator.fit(d["X"], d["y"], w=None)


def test_score_without_a_glitch_mask_refuses(fitted, noisy_data):
    X, y = noisy_data["X"], noisy_data["y"]
    with pytest.raises(TypeError, match="make_glitch_scorer"):
        fitted.score(X, y)
    det = InfluenceGlitchDetector(tiny_net(max_epochs=1), random_state=0)
    with pytest.raises(TypeError, match="make_glitch_scorer"):
        cross_val_score(det, X, y, cv=2, error_score="raise")
    assert 0 <= fitted.score(X, y, glitch_mask=noisy_data["mask"]) <= 1


@pytest.fixture
def table(noisy_data):
    d = noisy_data
    cities = np.array(["north", "south", "east"])
    frame = pd.DataFrame(d["X"], columns=list("abcde")).assign(
        city=cities[np.arange(len(d["X"])) % 3]
    )
    reference = pd.DataFrame(d["X_val"], columns=list("abcde")).assign(
        city=cities[np.arange(len(d["X_val"])) % 3]
    )
    prep = make_column_transformer(
        (OneHotEncoder(), ["city"]), (StandardScaler(), list("abcde"))
    )
    return frame, reference, prep


def test_a_raw_reference_in_a_pipeline_names_the_recipe(noisy_data, table):
    frame, reference, prep = table
    det = InfluenceGlitchDetector(tiny_net(max_epochs=1), signal="marginal")
    pipe = make_pipeline(prep, det)
    with pytest.raises(ValueError, match=r"transform_input=\[\"X_val\"\]"):
        pipe.fit(
            frame,
            noisy_data["y"],
            influenceglitchdetector__X_val=reference,
            influenceglitchdetector__y_val=noisy_data["y_val"],
        )


def test_the_pipeline_transforms_the_reference_with_transform_input(noisy_data, table):
    frame, reference, prep = table
    with sklearn.config_context(enable_metadata_routing=True):
        det = InfluenceGlitchDetector(tiny_net(max_epochs=1), signal="marginal")
        det.set_params(random_state=0).set_fit_request(X_val=True, y_val=True)
        pipe = make_pipeline(prep, det, transform_input=["X_val"])
        pipe.fit(frame, noisy_data["y"], X_val=reference, y_val=noisy_data["y_val"])
    encoded = pipe[0].transform(reference)
    expected = pipe[-1].scaler_.transform(encoded.astype(np.float32))
    assert_allclose(pipe[-1].trajectory_.reference.x.numpy(), expected, atol=1e-6)
