"""InfluenceGlitchDetector as a scikit-learn outlier detector."""

import copy
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skinfluence import InfluenceGlitchDetector
from skinfluence.models import make_net

from .conftest import tiny_net


def test_fit_sets_documented_attributes(fitted, noisy_data):
    n = len(noisy_data["y"])
    assert fitted.glitch_scores_.shape == (n,)
    assert fitted.epoch_scores_.shape == (n, 4)
    assert_array_equal(fitted.classes_, [0, 1, 2])
    assert_array_equal(fitted.epochs_, [0, 1, 2, 3])
    assert fitted.learning_rates_.shape == (4,)
    assert fitted.n_features_in_ == 5
    assert np.isfinite(fitted.offset_)
    assert fitted.suggested_labels_ is None
    # self-influence is additive over epochs
    assert_allclose(fitted.epoch_scores_.sum(1), fitted.glitch_scores_)


def test_flags_the_flipped_rows(fitted, noisy_data):
    mask = noisy_data["mask"]
    top = np.argsort(-fitted.glitch_scores_)[: mask.sum()]
    assert mask[top].mean() >= 0.75


@pytest.mark.parametrize("method", ["score_samples", "decision_function", "predict"])
def test_novelty_false_scores_only_the_training_rows(fitted, noisy_data, method):
    # As LocalOutlierFactor(novelty=False): the new-row methods do not exist.
    det = clone(fitted).set_params(novelty=False)
    det.fit(noisy_data["X"], noisy_data["y"])
    assert not hasattr(det, method)
    with pytest.raises(AttributeError) as error:
        getattr(det, method)
    assert "fit_predict" in str(error.value.__cause__)  # says what to use instead
    assert_array_equal(det.glitch_scores_, fitted.glitch_scores_)  # same fit


def test_novelty_true_has_no_fit_predict(fitted):
    assert not hasattr(fitted, "fit_predict")
    with pytest.raises(AttributeError) as error:
        fitted.fit_predict  # noqa: B018
    assert "novelty=False" in str(error.value.__cause__)


def test_novelty_true_scores_training_rows_as_new_rows(fitted, noisy_data):
    d = noisy_data
    # "self" reads no reference: a training row scores as in glitch_scores_.
    scores = fitted.score_samples(d["X"], d["y"])
    assert_allclose(scores, -fitted.glitch_scores_, rtol=1e-5)
    assert_allclose(fitted.decision_function(d["X"], d["y"]), scores - fitted.offset_)
    # A copy with one changed value is not another mode: only that row moves.
    X = d["X"].copy()
    X[3, 0] += 1.0
    changed = fitted.score_samples(X, d["y"]) != scores
    assert_array_equal(np.flatnonzero(changed), [3])
    # with the true labels, the flipped rows look clean again
    repaired = -fitted.score_samples(d["X"], d["y_true"])
    assert repaired[d["mask"]].mean() < fitted.glitch_scores_[d["mask"]].mean() / 2


def test_new_rows_with_labels_replay_the_checkpoints(fitted, noisy_data):
    d = noisy_data
    X_new = (
        d["X"][:10] + 0.0
    )  # same values, but a different array than the training set
    X_new = np.ascontiguousarray(X_new[::-1])
    scores = fitted.score_samples(X_new, d["y"][:10][::-1])
    assert_allclose(scores, -fitted.glitch_scores_[:10][::-1], rtol=1e-5)


def test_new_rows_without_labels_use_expected_self_influence(fitted, noisy_data):
    d = noisy_data
    X_new = d["X"][:7]
    scores = fitted.score_samples(X_new)
    traj = fitted.trajectory_
    expected = np.zeros(7)
    for t in range(traj.n_epochs):
        p, h = (
            traj.train.p[t, :7].double().numpy(),
            traj.train.h[t, :7].double().numpy(),
        )
        labels_expectation = sum(
            p[:, k] * ((p - np.eye(3)[k]) ** 2).sum(1) for k in range(3)
        )
        expected += traj.lrs[t] * labels_expectation * ((h**2).sum(1) + 1)
    assert_allclose(-scores, expected, rtol=1e-5)


def test_predict_and_fit_predict_agree_with_contamination(noisy_data):
    d = noisy_data
    det = InfluenceGlitchDetector(tiny_net(), contamination=0.1, random_state=0)
    labels = det.fit_predict(d["X"], d["y"])
    assert set(np.unique(labels)) == {-1, 1}
    assert (labels == -1).sum() == 12
    assert labels.dtype.kind == "i"
    # "self" reads no reference: the same rows scored as new rows agree.
    novelty = clone(det).set_params(novelty=True).fit(d["X"], d["y"])
    assert_array_equal(novelty.predict(d["X"], d["y"]), labels)


def test_auto_contamination_uses_tukey_fence(fitted):
    q1, q3 = np.percentile(fitted.glitch_scores_, [25, 75])
    assert_allclose(fitted.offset_, -(q3 + 1.5 * (q3 - q1)))


@pytest.mark.parametrize(
    "checkpoints, epochs",
    [
        ("all", [0, 1, 2, 3]),
        ("early", [0, 1]),
        ("late", [2, 3]),
        (slice(1, 3), [1, 2]),
        ([0, -1], [0, 3]),
        (2, [2]),
    ],
)
def test_checkpoints_select_epochs(fitted, noisy_data, checkpoints, epochs):
    det = clone(fitted).set_params(checkpoints=checkpoints, random_state=0)
    det.fit(noisy_data["X"], noisy_data["y"])
    assert_array_equal(det.epochs_, epochs)
    assert_allclose(
        det.glitch_scores_, fitted.epoch_scores_[:, epochs].sum(1), rtol=1e-6
    )


@pytest.mark.parametrize("bad", [[7], slice(5, 9), "middle"])
def test_bad_checkpoints_are_rejected(noisy_data, bad):
    det = InfluenceGlitchDetector(tiny_net(), checkpoints=bad)
    with pytest.raises((ValueError, TypeError), match="checkpoints"):
        det.fit(noisy_data["X"], noisy_data["y"])


def test_same_random_state_gives_identical_scores(fitted, noisy_data):
    again = clone(fitted).fit(noisy_data["X"], noisy_data["y"])
    assert_array_equal(again.glitch_scores_, fitted.glitch_scores_)


def test_fit_leaves_inputs_and_global_rng_untouched(noisy_data):
    d = {k: v.copy() for k, v in noisy_data.items()}
    frame = pd.DataFrame(d["X"], columns=list("abcde"))
    frame_copy = frame.copy()
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    det = InfluenceGlitchDetector(
        tiny_net(), signal="gd_class", random_state=0, novelty=True
    )
    X_val = pd.DataFrame(d["X_val"], columns=list("abcde"))
    det.fit(frame, d["y"], X_val=X_val, y_val=d["y_val"])
    det.score_samples(frame.iloc[:5], d["y"][:5])
    pd.testing.assert_frame_equal(frame, frame_copy)
    for key, value in noisy_data.items():
        assert_array_equal(d[key], value)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(np.random.get_state(), numpy_state, strict=True)
    )
    assert_array_equal(det.feature_names_in_, list("abcde"))


def test_reference_set_from_x_val(fitted_val, noisy_data):
    assert fitted_val.reference_indices_ is None
    assert len(fitted_val.trajectory_.reference) == len(noisy_data["y_val"])
    assert fitted_val.suggested_labels_.shape == (120,)
    assert "valid_loss" in fitted_val.estimator_.history[-1]
    mask, y_true = noisy_data["mask"], noisy_data["y_true"]
    assert (fitted_val.suggested_labels_[mask] == y_true[mask]).mean() >= 0.75


def test_reference_size_draws_a_stratified_sample(noisy_data):
    det = InfluenceGlitchDetector(
        tiny_net(), signal="marginal", reference_size=30, random_state=0
    )
    det.fit(noisy_data["X"], noisy_data["y"])
    assert len(det.reference_indices_) == 30
    assert len(np.unique(noisy_data["y"][det.reference_indices_])) == 3


def test_string_labels(noisy_data):
    names = np.array(["cat", "dog", "eel"])[noisy_data["y"]]
    det = InfluenceGlitchDetector(tiny_net(), signal="gd_class", random_state=0)
    det.fit(noisy_data["X"], names)
    assert_array_equal(det.classes_, ["cat", "dog", "eel"])
    assert set(det.suggested_labels_) <= set(names)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"X_val": np.zeros((3, 5), np.float32)}, "both X_val and y_val"),
        (
            {"X_val": np.zeros((3, 5), np.float32), "y_val": [0, 1, 9]},
            "not seen in fit",
        ),
        ({"X_val": np.zeros((3, 4), np.float32), "y_val": [0, 1, 2]}, "features"),
    ],
)
def test_bad_reference_sets_are_rejected(noisy_data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        InfluenceGlitchDetector(tiny_net()).fit(
            noisy_data["X"], noisy_data["y"], **kwargs
        )


def test_single_class_is_rejected(noisy_data):
    with pytest.raises(ValueError, match="at least 2 classes"):
        InfluenceGlitchDetector(tiny_net()).fit(noisy_data["X"], np.zeros(120))


def test_pipeline_scores_new_rows(noisy_data):
    d = noisy_data
    pipe = make_pipeline(
        StandardScaler(),
        InfluenceGlitchDetector(tiny_net(), random_state=0, novelty=True),
    )
    scores = pipe.fit(d["X"], d["y"]).score_samples(d["X"])  # label-free
    assert scores.shape == (len(d["X"]),)
    assert_allclose(
        scores, pipe[-1].score_samples(pipe[0].transform(d["X"])), rtol=1e-6
    )


@pytest.mark.parametrize("dump, load", [(pickle.dumps, pickle.loads), (None, None)])
def test_persistence_keeps_scores(fitted, noisy_data, tmp_path, dump, load):
    if dump is None:
        joblib.dump(fitted, tmp_path / "det.joblib")
        restored = joblib.load(tmp_path / "det.joblib")
    else:
        restored = load(dump(fitted))
    X = noisy_data["X"]
    assert_allclose(restored.score_samples(X), fitted.score_samples(X))
    assert_allclose(restored.score_samples(X[:9]), fitted.score_samples(X[:9]))


def test_a_detector_set_to_an_absent_device_loads_on_the_cpu(
    fitted, noisy_data, monkeypatch
):
    """As skorch's nets: the device it was set to is absent here, so CPU and a warning.

    (:file:`tests/test_device.py` checks a detector fitted on a GPU loads
    without one.)
    """
    from skinfluence import scoring

    moved = copy.deepcopy(fitted).set_params(device="cuda")
    monkeypatch.setattr(scoring, "device_available", lambda device: False)
    blob = pickle.dumps(moved)
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        restored = pickle.loads(blob)
    assert restored.device == "cpu" and restored.estimator_.device == "cpu"
    X = noisy_data["X"][:9]
    assert_allclose(restored.score_samples(X), fitted.score_samples(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here")
def test_an_absent_device_is_a_clear_error(fitted, noisy_data):
    """Not torch's late ``AssertionError: Torch not compiled with CUDA enabled``."""
    d = noisy_data
    det = InfluenceGlitchDetector(tiny_net(), device="cuda", random_state=0)
    with pytest.raises(ValueError, match="torch sees no cuda device"):
        det.fit(d["X"], d["y"])
    moved = copy.deepcopy(fitted).set_params(device="cuda")
    with pytest.raises(ValueError, match="Use device='cpu'"):
        moved.compute_signal("self")
    with pytest.raises(ValueError, match="not a torch device"):
        InfluenceGlitchDetector(tiny_net(), device="gpu0").fit(d["X"], d["y"])


def test_verbose_shows_progress(noisy_data, capsys):
    det = InfluenceGlitchDetector(
        tiny_net(), signal="absolute", verbose=1, random_state=0
    )
    det.fit(noisy_data["X"], noisy_data["y"])
    err = capsys.readouterr().err
    assert "training" in err and "absolute influence" in err


def test_default_net_is_sized_from_the_data(noisy_data):
    det = InfluenceGlitchDetector(random_state=0).set_params(estimator=None)
    det.set_params(estimator=make_net(max_epochs=1))
    det.fit(noisy_data["X"], noisy_data["y"])
    assert det.estimator_.module_.head.out_features == 3
    assert det.estimator_.module_.body[0].in_features == 5


def test_digits_uniform_noise_quality_floor():
    """The paper's headline: self-influence finds uniform label noise (F1 at k >= 0.8)."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.RandomState(0)
    flipped = rng.choice(len(y), len(y) // 10, replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.randint(1, 10, len(flipped))) % 10
    det = InfluenceGlitchDetector(signal="self", random_state=0).fit(X, noisy)
    top = np.argsort(-det.glitch_scores_)[: len(flipped)]
    assert np.isin(top, flipped).mean() >= 0.8


@pytest.mark.parametrize("reference", ["training rows", "X_val"])
def test_auto_scores_a_new_row_whatever_rows_come_with_it(noisy_data, reference):
    """auto's empirical nulls, gate and thresholds are the training rows'.

    Read off the scored rows themselves, a lone new row was its own bulk
    and scored 0 (never flagged), and a row's score moved with its batch.
    """
    d = noisy_data
    extra = {"X_val": d["X_val"], "y_val": d["y_val"]} if reference == "X_val" else {}
    det = InfluenceGlitchDetector(
        tiny_net(), signal="auto", novelty=True, random_state=0
    ).fit(d["X"], d["y"], **extra)
    X_new, y_new = d["X"][:40], d["y"][:40]
    batch = det.score_samples(X_new, y_new)
    alone = np.array(
        [det.score_samples(X_new[i : i + 1], y_new[i : i + 1])[0] for i in range(40)]
    )
    # Up to float32 rounding: the replay's matrix products block a lone row
    # and a batch differently (1.4e-6 apart on a 16-core machine).
    assert_allclose(alone, batch, rtol=1e-5, atol=1e-7)
    assert_allclose(
        det.score_samples(X_new[::2], y_new[::2]), batch[::2], rtol=1e-5, atol=1e-7
    )
    assert np.ptp(alone) > 0
    # The same thresholds as the training rows: flipped rows are flagged.
    flagged = det.predict(X_new, y_new) == -1
    mask = d["mask"][:40]
    assert flagged[mask].mean() >= 0.5 and flagged[~mask].mean() <= 0.2
    # The training fit is computed once and kept with the state.
    fits = det.scoring_.training_fits
    assert len(fits) == 1
    det.score_samples(X_new, y_new)
    assert len(fits) == 1


def _blobs_with_noise(share, seed=0):
    """300 rows in 3 blobs with ``share`` of the labels flipped, and a clean 90-row X_val."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(390, centers=3, n_features=5, cluster_std=1.2, random_state=seed)
    X = X.astype(np.float32)
    rng = np.random.RandomState(seed)
    noisy = y[:300].copy()
    flipped = rng.choice(300, int(share * 300), replace=False)
    noisy[flipped] = (noisy[flipped] + rng.randint(1, 3, len(flipped))) % 3
    mask = np.zeros(300, dtype=bool)
    mask[flipped] = True
    return X[:300], noisy, mask, X[300:], y[300:]


def test_auto_leans_on_neighbor_influence_when_a_trusted_reference_outvotes_many_labels():
    """The anchor weight follows the outvoted share; new rows take the training one."""
    from skinfluence.signals._auto import (
        anchor_weight,
        empirical_null_z,
        outvoted_share,
    )
    from skinfluence.signals._neighbor_influence import final_neighbors

    X, y, mask, X_val, y_val = _blobs_with_noise(0.4)
    det = InfluenceGlitchDetector(
        tiny_net(max_epochs=6), signal="auto", novelty=True, random_state=0
    ).fit(X, y, X_val=X_val, y_val=y_val)
    axes = det.scoring_.fit_result.extras["axes"]
    # The share is the naive count over the neighbours neighbour influence reads.
    context = det.scoring_.context()
    neighbors = final_neighbors(context).numpy()
    naive = np.mean([np.mean(y_val[neighbors[i]] != y[i]) > 0.5 for i in range(len(y))])
    assert axes["outvoted_share"] == pytest.approx(naive)
    assert outvoted_share(y_val[neighbors], y) == pytest.approx(naive)
    assert abs(axes["outvoted_share"] - mask.mean()) < 0.1
    # The null: each clean reference row against its other reference rows.
    h_val = context.reference.h[-1].double().numpy()
    null = []
    for j in range(len(y_val)):
        distance = np.linalg.norm(h_val - h_val[j], axis=1)
        distance[j] = np.inf
        near = np.argsort(distance, kind="stable")[:10]
        null.append(np.mean(y_val[near] != y_val[j]) > 0.5)
    assert axes["reference_outvoted_share"] == pytest.approx(np.mean(null))
    assert axes["reference_outvoted_share"] < 0.5 * naive  # the lean is whole
    assert (
        axes["anchor"] == pytest.approx(anchor_weight(naive)) and axes["anchor"] > 0.5
    )
    # The conflict axis is the weighted mean of the members' z, re-standardised.
    components = {
        k: det.compute_signal(k).scores for k in ("neighbor_influence", "aum", "self")
    }
    z = {k: empirical_null_z(v) for k, v in components.items()}
    w = axes["anchor"]
    expected = (1 - w) * np.mean(list(z.values()), 0) + w * z["neighbor_influence"]
    calibrated = axes["calibrated"]["conflict"]
    assert_array_equal(
        np.argsort(calibrated, kind="stable"), np.argsort(expected, kind="stable")
    )
    # New rows are scored with the training rows' weight, one at a time or together.
    batch = det.score_samples(X[:20], y[:20])
    alone = [det.score_samples(X[i : i + 1], y[i : i + 1])[0] for i in range(20)]
    assert_allclose(alone, batch, rtol=1e-6, atol=1e-9)
    assert_allclose(batch, det.score_samples(X, y)[:20], rtol=1e-6, atol=1e-9)


def test_auto_does_not_lean_on_neighbours_that_outvote_clean_rows_as_often():
    """Many classes, two reference rows each: clean rows are outvoted too."""
    from sklearn.datasets import make_blobs

    from skinfluence.signals._auto import ANCHOR_RAMP, anchor_weight

    X, y = make_blobs(420, centers=30, n_features=4, cluster_std=2.0, random_state=0)
    X = X.astype(np.float32)
    rng = np.random.RandomState(0)
    noisy = y[:360].copy()
    flipped = rng.choice(360, 144, replace=False)
    noisy[flipped] = (noisy[flipped] + rng.randint(1, 30, 144)) % 30
    det = InfluenceGlitchDetector(tiny_net(), signal="auto", random_state=0)
    det.fit(X[:360], noisy, X_val=X[360:], y_val=y[360:])
    axes = det.scoring_.fit_result.extras["axes"]
    share, null = axes["outvoted_share"], axes["reference_outvoted_share"]
    # Nearly every training row is outvoted, but nearly every clean one too.
    assert share > ANCHOR_RAMP[1] and null > 0.9 * share
    assert axes["anchor"] == pytest.approx(anchor_weight(share, null_share=null))
    assert axes["anchor"] < 0.25 and anchor_weight(share) == 1.0


@pytest.mark.parametrize("reference", ["X_val", "training rows"])
def test_auto_leaves_neighbor_influence_out_when_the_network_memorised_its_labels(
    reference,
):
    """A net that fits every label, the disputed ones too: AUM alone ranks.

    The fit's last epoch is made to predict every given label (memorising
    40 % noise takes a small net minutes); the rest is the fitted one.
    """
    import dataclasses

    from skinfluence.signals import get_signal
    from skinfluence.signals._auto import empirical_null_z, memorised

    X, y, mask, X_val, y_val = _blobs_with_noise(0.4)
    extra = {"X_val": X_val, "y_val": y_val} if reference == "X_val" else {}
    det = InfluenceGlitchDetector(tiny_net(), signal="auto", random_state=0)
    det.fit(X, y, **extra)
    assert not det.scoring_.fit_result.extras["axes"]["memorised"]
    context = det.scoring_.context()
    p = context.rows.p.clone()
    p[-1] = 0.9 * torch.nn.functional.one_hot(torch.as_tensor(y), 3) + 0.1 / 3
    context.rows = dataclasses.replace(context.rows, p=p)
    result = get_signal("auto")(context, det.epochs_)
    axes = result.extras["axes"]
    assert memorised(0, axes["outvoted_share"] * len(y))
    assert axes["memorised"] and axes["weights"] == {"aum": 1.0}
    aum = empirical_null_z(get_signal("aum")(context, det.epochs_).scores)
    assert_array_equal(
        np.argsort(axes["calibrated"]["conflict"], kind="stable"),
        np.argsort(aum, kind="stable"),
    )


@pytest.mark.parametrize("reference", ["X_val", "training rows"])
def test_auto_keeps_the_plain_mean_at_low_noise_or_without_a_trusted_reference(
    reference,
):
    X, y, mask, X_val, y_val = _blobs_with_noise(0.1 if reference == "X_val" else 0.4)
    extra = {"X_val": X_val, "y_val": y_val} if reference == "X_val" else {}
    det = InfluenceGlitchDetector(tiny_net(), signal="auto", random_state=0).fit(
        X, y, **extra
    )
    axes = det.scoring_.fit_result.extras["axes"]
    assert axes["anchor"] == 0.0
    if reference == "X_val":
        assert axes["outvoted_share"] < 0.2
    else:
        assert axes["outvoted_share"] is None


# ------------------------------------------- parameter and input checks (fuzz 3)


def test_path_like_folders_are_accepted(noisy_data, tmp_path):
    states, cache = tmp_path / "states", tmp_path / "cache"
    det = InfluenceGlitchDetector(
        tiny_net(), state_dir=states, memory=cache, novelty=True, random_state=0
    ).fit(noisy_data["X"], noisy_data["y"])
    assert str(det.trajectory_.folder).startswith(str(states))
    assert any(cache.iterdir())  # the training run is cached there


def test_a_file_as_state_dir_is_refused_before_training(noisy_data, tmp_path):
    file = tmp_path / "states.txt"
    file.write_text("not a folder")
    for folder in (file, file / "sub"):
        det = InfluenceGlitchDetector(tiny_net(), state_dir=folder)
        with pytest.raises(ValueError, match="is a file, not a folder"):
            det.fit(noisy_data["X"], noisy_data["y"])
        assert not hasattr(det, "estimator_")
    # The deprecated name is the one the message names.
    det = InfluenceGlitchDetector(tiny_net(), checkpoint_dir=file)
    with (
        pytest.warns(FutureWarning),
        pytest.raises(ValueError, match="checkpoint_dir="),
    ):
        det.fit(noisy_data["X"], noisy_data["y"])


@pytest.mark.parametrize("kind", ["detector", "regressor"])
def test_n_jobs_zero_is_refused_in_parameter_validation(noisy_data, kind):
    from skinfluence import InfluenceGlitchRegressor
    from skinfluence._sklearn_compat import InvalidParameterError

    cls = InfluenceGlitchDetector if kind == "detector" else InfluenceGlitchRegressor
    det = cls(tiny_net(), n_jobs=0)
    with pytest.raises(InvalidParameterError, match="'n_jobs' parameter"):
        det.fit(noisy_data["X"], noisy_data["y"])
    assert not hasattr(det, "estimator_")


@pytest.mark.parametrize(
    "shape, image_shape", [((40, 1, 8, 8), "(1, 8, 8)"), ((40, 8, 8), "(1, 8, 8)")]
)
def test_image_arrays_are_refused_with_how_to_flatten_them(shape, image_shape):
    X = np.zeros(shape, dtype=np.float32)
    y = np.arange(40) % 2
    det = InfluenceGlitchDetector(make_net("SmallCNN"))
    with pytest.raises(ValueError, match=r"X.reshape\(len\(X\), -1\)") as error:
        det.fit(X, y)
    assert f"image_shape={image_shape}" in str(error.value)


def test_not_learnt_on_raw_pixels_advises_scaling_them():
    from sklearn.exceptions import ConvergenceWarning

    from skinfluence.detector import NOT_LEARNT

    X, y = load_digits(return_X_y=True)
    X = (X[:200] * 16).clip(0, 255).astype(np.uint8)  # 8-bit pixels, not scaled
    net = make_net("SmallCNN", image_shape=(1, 8, 8), max_epochs=2, batch_size=50)
    with pytest.warns(ConvergenceWarning) as record:
        InfluenceGlitchDetector(net, random_state=0).fit(X, y[:200])
    (message,) = [str(w.message) for w in record if NOT_LEARNT in str(w.message)]
    assert message.startswith(NOT_LEARNT)
    assert "X / 255" in message and "standardize=True" not in message


def test_not_learnt_on_tabular_features_still_advises_standardising():
    from sklearn.exceptions import ConvergenceWarning

    from skinfluence.detector import _warn_if_not_learnt

    p_last = torch.full((10, 2), 0.5)
    p_last[:, 0] += 0.1  # always the majority class
    y = torch.tensor([0] * 9 + [1])
    with pytest.warns(ConvergenceWarning, match=r"standardize=True"):
        _warn_if_not_learnt(p_last, y)
