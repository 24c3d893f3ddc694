"""Tests of the glitch injectors."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
    parametrize_with_checks,
)

from skinfluence._sklearn_compat import InvalidParameterError
from skinfluence.glitches import (
    ClassDependentLabelNoise,
    FeatureCorruption,
    ForeignClusterAnomalies,
    GlitchMixture,
    RareClassAnomalies,
    UniformLabelNoise,
)


@pytest.fixture(scope="module")
def digits():
    """300 digits images (8 x 8, values 0..16) in 10 classes."""
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


def _injectors():
    """One instance of every injector, with the settings the tests share."""
    return [
        UniformLabelNoise(0.1, random_state=0),
        ClassDependentLabelNoise(0.2, random_state=0),
        ClassDependentLabelNoise(0.3, mode="paper", random_state=0),
        RareClassAnomalies(0.05, random_state=0),
        ForeignClusterAnomalies(0.1, label_mode="random", random_state=0),
        FeatureCorruption(0.1, random_state=0),
        FeatureCorruption(0.1, kind="stripe", image_shape=(8, 8), random_state=0),
        GlitchMixture(
            [
                UniformLabelNoise(0.1),
                ForeignClusterAnomalies(0.1),
                FeatureCorruption(0.1),
            ],
            random_state=0,
        ),
    ]


INJECTORS = _injectors()
IDS = [
    f"{type(inj).__name__}-{getattr(inj, 'mode', getattr(inj, 'kind', ''))}"
    for inj in INJECTORS
]


# ------------------------------------------------------------ common contract


@pytest.mark.parametrize("injector", INJECTORS, ids=IDS)
def test_common_contract(injector, digits):
    X, y = digits
    X_copy, y_copy = X.copy(), y.copy()
    inj = clone(injector)
    X_new, y_new = inj.fit_resample(X, y)
    # inputs untouched, outputs are new arrays
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    assert isinstance(X_new, np.ndarray) and isinstance(y_new, np.ndarray)
    assert not np.shares_memory(X_new, X) and not np.shares_memory(y_new, y)
    # one mask entry per output row
    assert inj.glitch_mask_.dtype == bool
    assert inj.glitch_mask_.shape == (len(X_new),) == (len(y_new),)
    assert inj.glitch_mask_.any()
    assert X_new.shape[1] == X.shape[1] == inj.n_features_in_
    assert y_new.dtype == y.dtype
    # reproducible with the same random_state
    X_again, y_again = clone(injector).fit_resample(X, y)
    np.testing.assert_array_equal(X_new, X_again)
    np.testing.assert_array_equal(y_new, y_again)
    # fit returns self and sets the same ground truth
    fitted = clone(injector).fit(X, y)
    assert fitted is not None
    np.testing.assert_array_equal(fitted.glitch_mask_, inj.glitch_mask_)


@pytest.mark.parametrize("injector", INJECTORS, ids=IDS)
def test_different_seeds_differ(injector, digits):
    X, y = digits
    first = clone(injector).set_params(random_state=1).fit(X, y).glitch_mask_
    second = clone(injector).set_params(random_state=2).fit(X, y).glitch_mask_
    if len(first) == len(second):
        assert not np.array_equal(first, second) or isinstance(
            injector, ForeignClusterAnomalies
        )


def _largest_share_in_one_split(mask, y, seed):
    """Largest share of the glitched rows in one test fold or test split."""
    n = len(mask)
    splits = [
        test
        for splitter in (
            KFold(5, shuffle=True, random_state=seed),
            StratifiedKFold(5, shuffle=True, random_state=seed),
        )
        for _, test in splitter.split(np.zeros((n, 1)), y)
    ]
    splits.append(train_test_split(np.arange(n), test_size=0.2, random_state=seed)[1])
    return max(np.isin(np.flatnonzero(mask), test).mean() for test in splits)


@pytest.mark.parametrize(
    "injector",
    [UniformLabelNoise(0.2), FeatureCorruption(0.2, kind="noise")],
    ids=["uniform", "corruption"],
)
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_seed_does_not_pick_a_splitters_fold(injector, seed, digits):
    # With the splitter's own stream, the 60 glitched rows of 300 would be
    # exactly the first test fold (share 1.0); spread at random, each fold
    # gets about a fifth of them.
    X, y = digits
    mask = clone(injector).set_params(random_state=seed).fit(X, y).glitch_mask_
    assert _largest_share_in_one_split(mask, y, seed) < 0.5


def test_random_state_instance_is_reproducible_and_advanced(digits):
    X, y = digits
    noise = UniformLabelNoise(0.1)
    rng = np.random.RandomState(3)
    first = clone(noise).set_params(random_state=rng).fit(X, y).glitch_mask_
    second = clone(noise).set_params(random_state=rng).fit(X, y).glitch_mask_
    again = noise.set_params(random_state=np.random.RandomState(3)).fit(X, y)
    np.testing.assert_array_equal(again.glitch_mask_, first)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("injector", INJECTORS, ids=IDS)
def test_sklearn_estimator_api(injector):
    name = type(injector).__name__
    check_no_attributes_set_in_init(name, clone(injector))
    check_get_params_invariance(name, clone(injector))
    check_set_params(name, clone(injector))
    assert repr(clone(injector)) == repr(injector)
    assert injector.__sklearn_tags__().estimator_type == "sampler"


@parametrize_with_checks(
    [
        UniformLabelNoise(random_state=0),
        ClassDependentLabelNoise(random_state=0),
        # 0.2: at the default 0.1, the 10-row, 3-class check_fit2d_1feature
        # data may keep no row of the drawn class (an error naming the ratio).
        RareClassAnomalies(0.2, random_state=0),
        ForeignClusterAnomalies(random_state=0),
        FeatureCorruption(random_state=0),
        GlitchMixture([UniformLabelNoise()], random_state=0),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("injector", INJECTORS, ids=IDS)
def test_pandas_in_pandas_out(injector, digits):
    X, y = digits
    columns = [f"px{i}" for i in range(X.shape[1])]
    index = pd.RangeIndex(1000, 1000 + len(X), name="row")
    X_df = pd.DataFrame(X.astype(np.int64), columns=columns, index=index)
    X_df["px0"] = X_df["px0"].astype(np.float32)
    y_s = pd.Series(y, index=index, name="digit")
    X_before, y_before = X_df.copy(), y_s.copy()

    inj = clone(injector)
    X_new, y_new = inj.fit_resample(X_df, y_s)
    pd.testing.assert_frame_equal(X_df, X_before)
    pd.testing.assert_series_equal(y_s, y_before)
    assert isinstance(X_new, pd.DataFrame) and isinstance(y_new, pd.Series)
    assert list(X_new.columns) == columns
    assert y_new.name == "digit" and y_new.dtype == y_s.dtype
    assert X_new["px0"].dtype == np.float32
    pd.testing.assert_index_equal(X_new.index, y_new.index)
    assert X_new.index.is_unique
    np.testing.assert_array_equal(inj.feature_names_in_, columns)
    if hasattr(inj, "sample_indices_"):
        np.testing.assert_array_equal(X_new.index, index[inj.sample_indices_])
    else:
        np.testing.assert_array_equal(X_new.index[: len(X)], index)
    # a float DataFrame gives the values of the NumPy path
    X_float, y_float = clone(injector).fit_resample(
        pd.DataFrame(X, columns=columns), y_s
    )
    X_np, y_np = clone(injector).fit_resample(X, y)
    np.testing.assert_allclose(X_float.to_numpy(), X_np, rtol=1e-12)
    np.testing.assert_array_equal(y_float.to_numpy(), y_np)


def test_pandas_dtypes_kept_for_label_noise():
    X = pd.DataFrame(
        {
            "age": np.arange(20, dtype=np.int32),
            "city": pd.Categorical(["a", "b"] * 10),
            "name": [f"n{i}" for i in range(20)],
            "score": np.linspace(0, 1, 20),
        },
        index=[f"r{i}" for i in range(20)],
    )
    y = pd.Series(np.repeat(["yes", "no"], 10), index=X.index).astype("category")
    X_new, y_new = UniformLabelNoise(0.2, random_state=0).fit_resample(X, y)
    pd.testing.assert_frame_equal(X_new, X)
    assert y_new.dtype == y.dtype
    assert (y_new != y).sum() == 4


def test_list_input_gives_numpy():
    X = [[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0]]
    y = ["a", "b", "a", "b"]
    X_new, y_new = UniformLabelNoise(0.5, random_state=0).fit_resample(X, y)
    assert isinstance(X_new, np.ndarray) and isinstance(y_new, np.ndarray)
    assert (y_new != np.array(y)).sum() == 2


@pytest.mark.parametrize(
    "injector",
    [
        UniformLabelNoise(ratio=1.5),
        RareClassAnomalies(ratio=1.0),
        FeatureCorruption(kind="x"),
    ],
)
def test_invalid_parameters(injector, digits):
    with pytest.raises(InvalidParameterError):
        injector.fit_resample(*digits)


def test_regression_target_rejected(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="Unknown label type"):
        UniformLabelNoise().fit_resample(X, np.linspace(0, 1, len(X)))


# ------------------------------------------------------------- label noise


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.37, 1.0])
def test_uniform_exact_count_and_mask(ratio, digits):
    X, y = digits
    noise = UniformLabelNoise(ratio, random_state=0)
    X_new, y_new = noise.fit_resample(X, y)
    assert noise.glitch_mask_.sum() == round(ratio * len(y))
    np.testing.assert_array_equal(noise.glitch_mask_, y_new != y)
    np.testing.assert_array_equal(noise.true_labels_, y)
    np.testing.assert_array_equal(X_new, X)
    assert set(y_new) <= set(y)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 60),
    n_classes=st.integers(2, 6),
    ratio=st.floats(0, 1),
    seed=st.integers(0, 2**31 - 1),
)
def test_uniform_never_keeps_the_true_label(n, n_classes, ratio, seed):
    y = np.arange(n) % n_classes
    X = np.zeros((n, 1))
    noise = UniformLabelNoise(ratio, random_state=seed)
    _, y_new = noise.fit_resample(X, y)
    flipped = noise.glitch_mask_
    assert flipped.sum() == round(ratio * n)
    assert np.all(y_new[flipped] != y[flipped])
    assert np.all(y_new[~flipped] == y[~flipped])


def test_uniform_draws_other_classes_uniformly():
    y = np.zeros(6000, dtype=int)
    y[:3] = [1, 2, 3]  # four classes; nearly every flipped row is class 0
    noise = UniformLabelNoise(0.5, random_state=0)
    _, y_new = noise.fit_resample(np.zeros((len(y), 1)), y)
    new = y_new[noise.glitch_mask_ & (y == 0)]
    counts = np.bincount(new, minlength=4)
    assert counts[0] == 0
    # 3000 draws over 3 classes: each share within 1/3 +- 0.03
    np.testing.assert_allclose(counts[1:] / counts.sum(), 1 / 3, atol=0.03)


def test_uniform_needs_two_classes():
    with pytest.raises(ValueError, match="two classes"):
        UniformLabelNoise().fit_resample(np.zeros((5, 1)), np.zeros(5))


def test_uniform_string_labels():
    y = np.array(["cat", "dog", "emu"] * 10)
    noise = UniformLabelNoise(0.3, random_state=0)
    _, y_new = noise.fit_resample(np.zeros((30, 2)), y)
    assert y_new.dtype == y.dtype
    assert (y_new != y).sum() == 9
    np.testing.assert_array_equal(noise.classes_, ["cat", "dog", "emu"])


def test_pairflip_counts_and_mapping(digits):
    X, y = digits
    noise = ClassDependentLabelNoise(0.25, random_state=0)
    _, y_new = noise.fit_resample(X, y)
    np.testing.assert_array_equal(noise.glitch_mask_, y_new != y)
    for c in range(10):
        in_c = y == c
        assert noise.glitch_mask_[in_c].sum() == round(0.25 * in_c.sum())
        assert np.all(y_new[in_c & noise.glitch_mask_] == (c + 1) % 10)


def test_pairflip_follows_sorted_classes():
    y = np.array(["b", "c", "a"] * 4)
    noise = ClassDependentLabelNoise(1.0, random_state=0)
    _, y_new = noise.fit_resample(np.zeros((12, 1)), y)
    expected = {"a": "b", "b": "c", "c": "a"}
    assert [expected[label] for label in y] == y_new.tolist()


def test_paper_mode_one_source_one_target(digits):
    X, y = digits
    noise = ClassDependentLabelNoise(
        0.4, mode="paper", source=3, target=8, random_state=0
    )
    _, y_new = noise.fit_resample(X, y)
    assert (noise.source_, noise.target_) == (3, 8)
    changed = noise.glitch_mask_
    np.testing.assert_array_equal(changed, y_new != y)
    assert np.all(y[changed] == 3) and np.all(y_new[changed] == 8)
    assert changed.sum() == round(0.4 * (y == 3).sum())


def test_paper_mode_random_pair_is_reproducible(digits):
    X, y = digits

    def pair(seed):
        noise = ClassDependentLabelNoise(0.5, mode="paper", random_state=seed).fit(X, y)
        return noise.source_, noise.target_

    pairs = [pair(seed) for seed in range(6)]
    assert all(source != target for source, target in pairs)
    assert len(set(pairs)) > 1
    assert pair(3) == pairs[3]


def test_paper_mode_source_only(digits):
    X, y = digits
    noise = ClassDependentLabelNoise(0.5, mode="paper", source=2, random_state=0).fit(
        X, y
    )
    assert noise.source_ == 2 and noise.target_ != 2


def test_matrix_mode_counts():
    y = np.repeat([0, 1, 2], [10, 7, 5])
    transition = np.array([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0], [0.5, 0.25, 0.25]])
    noise = ClassDependentLabelNoise(
        mode="matrix", transition=transition, random_state=0
    )
    _, y_new = noise.fit_resample(np.zeros((len(y), 1)), y)
    counts = np.zeros((3, 3), dtype=int)
    np.add.at(counts, (y, y_new), 1)
    # class 2: quotas 2.5, 1.25, 1.25 -> floors 2, 1, 1 and the leftover row
    # goes to the largest fractional part (0.5, class 0)
    np.testing.assert_array_equal(counts, [[7, 2, 1], [0, 7, 0], [3, 1, 1]])
    np.testing.assert_array_equal(noise.glitch_mask_, y_new != y)


def test_matrix_mode_identity_flips_nothing():
    y = np.repeat([0, 1], 5)
    noise = ClassDependentLabelNoise(mode="matrix", transition=np.eye(2))
    _, y_new = noise.fit_resample(np.zeros((10, 1)), y)
    np.testing.assert_array_equal(y_new, y)
    assert not noise.glitch_mask_.any()


@pytest.mark.parametrize(
    "params, match",
    [
        ({"mode": "matrix"}, "transition is required"),
        ({"transition": np.eye(3)}, "only allowed with, mode='matrix'"),
        ({"mode": "matrix", "transition": np.eye(2)}, "shape"),
        ({"mode": "matrix", "transition": np.full((3, 3), 0.5)}, "row-stochastic"),
        ({"source": 1}, "only allowed with mode='paper'"),
        ({"mode": "paper", "source": 7}, "not a class"),
        ({"mode": "paper", "source": 1, "target": 1}, "must differ"),
    ],
)
def test_class_dependent_errors(params, match):
    y = np.arange(30) % 3
    with pytest.raises(ValueError, match=match):
        ClassDependentLabelNoise(**params).fit_resample(np.zeros((30, 1)), y)


# --------------------------------------------------------------- anomalies


def test_rare_class_share_and_mask(digits):
    X, y = digits
    rare = RareClassAnomalies(0.05, anomaly_class=4, random_state=0)
    X_new, y_new = rare.fit_resample(X, y)
    n_other = (y != 4).sum()
    n_keep = round(0.05 * n_other / 0.95)
    assert len(y_new) == n_other + n_keep
    assert rare.anomaly_class_ == 4
    np.testing.assert_array_equal(rare.glitch_mask_, y_new == 4)
    assert rare.glitch_mask_.sum() == n_keep
    assert abs(rare.glitch_mask_.mean() - 0.05) < 0.01
    idx = rare.sample_indices_
    assert np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(X_new, X[idx])
    np.testing.assert_array_equal(y_new, y[idx])
    # every row of the other classes is kept
    assert np.isin(np.flatnonzero(y != 4), idx).all()


def test_rare_class_pandas_keeps_index(digits):
    X, y = digits
    X_df = pd.DataFrame(X, index=[f"img{i}" for i in range(len(X))])
    rare = RareClassAnomalies(0.05, random_state=0)
    X_new, _ = rare.fit_resample(X_df, y)
    np.testing.assert_array_equal(X_new.index, X_df.index[rare.sample_indices_])


@pytest.mark.parametrize("ratio, match", [(0.5, "fewer than"), (0.001, "keeps no row")])
def test_rare_class_errors(ratio, match, digits):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        RareClassAnomalies(ratio, anomaly_class=0).fit_resample(X, y)
    with pytest.raises(ValueError, match="not a class"):
        RareClassAnomalies(anomaly_class=11).fit_resample(X, y)


def test_foreign_cluster_generated_far_away(digits):
    X, y = digits
    far = ForeignClusterAnomalies(0.1, random_state=0)
    X_new, y_new = far.fit_resample(X, y)
    n_new = round(0.1 * len(X))
    assert len(X_new) == len(X) + n_new
    np.testing.assert_array_equal(far.glitch_mask_, np.arange(len(X_new)) >= len(X))
    np.testing.assert_array_equal(X_new[: len(X)], X)
    np.testing.assert_array_equal(y_new[: len(X)], y)
    assert len(set(y_new[len(X) :])) == 1
    # centre: every feature `distance` standard deviations from the mean
    scale = X.std(0)
    scale[scale == 0] = scale[scale > 0].mean()
    np.testing.assert_allclose(np.abs(far.center_ - X.mean(0)), 5.0 * scale)
    # the cluster is tight and far from every data row
    added = X_new[len(X) :]
    spread = np.linalg.norm(added - far.center_, axis=1).max()
    gap = np.linalg.norm(X[:, None] - far.center_[None], axis=2).min()
    assert gap > 5 * spread


def test_foreign_cluster_random_labels():
    X = np.random.RandomState(0).normal(size=(400, 3))
    y = np.arange(400) % 4
    far = ForeignClusterAnomalies(0.25, label_mode="random", random_state=0)
    _, y_new = far.fit_resample(X, y)
    assert set(y_new[400:]) == {0, 1, 2, 3}


def test_foreign_cluster_from_pool(digits):
    X, y = digits
    pool = np.arange(50 * 64, dtype=np.float64).reshape(50, 64) + 1000
    far = ForeignClusterAnomalies(0.1, X_foreign=pool, random_state=0)
    X_new, _ = far.fit_resample(X, y)
    added = X_new[far.glitch_mask_]
    assert len(added) == 30
    assert len({tuple(row) for row in added}) == 30  # drawn without replacement
    assert np.isin(added[:, 0], pool[:, 0]).all()
    assert not hasattr(far, "center_")


def test_foreign_cluster_errors(digits):
    X, y = digits
    with pytest.raises(ValueError, match="features"):
        ForeignClusterAnomalies(X_foreign=np.zeros((40, 3))).fit_resample(X, y)
    with pytest.raises(ValueError, match="rows"):
        ForeignClusterAnomalies(X_foreign=np.zeros((4, 64))).fit_resample(X, y)


def test_foreign_cluster_index_and_dtypes():
    X = pd.DataFrame({"a": np.arange(10), "b": np.linspace(0, 1, 10, dtype=np.float32)})
    X.index = np.arange(10) * 10
    y = np.arange(10) % 2
    X_new, y_new = ForeignClusterAnomalies(0.2, random_state=0).fit_resample(X, y)
    assert X_new.index.tolist()[-3:] == [90, 91, 92]
    assert X_new.dtypes.tolist() == [np.int64, np.float32]
    assert isinstance(y_new, np.ndarray)


@pytest.mark.parametrize("dtype", [object, "string"])
def test_foreign_cluster_keeps_string_row_ids(dtype):
    """Row ids survive: the appended rows get new names, no id is reused."""
    ids = pd.Index(["appended_1", *(f"r{i}" for i in range(1, 10))], dtype=dtype)
    X = pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0) ** 2}, index=ids)
    y = pd.Series(np.arange(10) % 2, index=ids, name="label")
    inject = ForeignClusterAnomalies(0.3, random_state=0)
    X_new, y_new = inject.fit_resample(X, y)
    assert X_new.index.tolist() == [*ids, "appended_0", "appended_2", "appended_3"]
    assert X_new.index.dtype == ids.dtype
    pd.testing.assert_index_equal(X_new.index, y_new.index)
    pd.testing.assert_frame_equal(X_new.loc[ids], X)
    assert X_new.index[inject.glitch_mask_].tolist()[0] == "appended_0"
    # A mixture appending twice keeps the names unique.
    mixture = GlitchMixture(
        [ForeignClusterAnomalies(0.2), ForeignClusterAnomalies(0.2)], random_state=0
    )
    X_mix, _ = mixture.fit_resample(X, y)
    assert X_mix.index.is_unique and set(ids) <= set(X_mix.index)


# ------------------------------------------------------------- corruptions


@pytest.mark.parametrize("kind", ["brightness", "stripe", "noise"])
def test_image_corruptions(kind, digits):
    X, y = digits
    corrupt = FeatureCorruption(0.2, kind=kind, image_shape=(8, 8), random_state=0)
    X_new, y_new = corrupt.fit_resample(X, y)
    assert corrupt.kind_ == kind
    assert corrupt.glitch_mask_.sum() == 60
    np.testing.assert_array_equal(corrupt.glitch_mask_, (X_new != X).any(axis=1))
    np.testing.assert_array_equal(y_new, y)
    assert X_new.min() >= X.min() and X_new.max() <= X.max()
    assert X_new.dtype == X.dtype


def test_brightness_and_stripe_values():
    X = np.tile(np.arange(16, dtype=np.float64), (4, 1))  # range 0..15
    y = np.array([0, 1, 0, 1])
    bright = FeatureCorruption(1.0, kind="brightness", image_shape=(4, 4), severity=0.2)
    X_b, _ = bright.fit_resample(X, y)
    np.testing.assert_allclose(X_b, np.clip(X + 3.0, 0, 15))
    stripe = FeatureCorruption(1.0, kind="stripe", image_shape=(1, 4, 4), severity=0.25)
    X_s, _ = stripe.fit_resample(X, y)
    images, expected = X_s.reshape(4, 4, 4), X.reshape(4, 4, 4).copy()
    expected[..., [0, 3]] = 15 - expected[..., [0, 3]]
    np.testing.assert_allclose(images, expected)


def test_image_corruption_keeps_uint8():
    X = np.random.RandomState(0).randint(0, 256, size=(20, 16)).astype(np.uint8)
    y = np.arange(20) % 2
    for kind in ("brightness", "stripe", "noise"):
        X_new, _ = FeatureCorruption(
            0.5, kind=kind, image_shape=(4, 4), random_state=0
        ).fit_resample(X, y)
        assert X_new.dtype == np.uint8


def test_out_of_range_tabular(digits):
    X, y = digits
    corrupt = FeatureCorruption(0.1, random_state=0)  # "auto" -> out_of_range
    X_new, _ = corrupt.fit_resample(X, y)
    assert corrupt.kind_ == "out_of_range"
    outside = (X_new < X.min(0)) | (X_new > X.max(0))
    np.testing.assert_array_equal(outside.any(axis=1), corrupt.glitch_mask_)
    # ceil(10 % of 64) = 7 features per corrupted row, pushed >= 3 std out
    np.testing.assert_array_equal(outside.sum(axis=1)[corrupt.glitch_mask_], 7)
    np.testing.assert_array_equal(
        X_new[~corrupt.glitch_mask_], X[~corrupt.glitch_mask_]
    )
    assert X_new.dtype == np.float64


def test_out_of_range_integer_columns_rounded():
    X = pd.DataFrame({"age": np.arange(30, 60), "income": np.linspace(1, 2, 30)})
    y = np.arange(30) % 2
    X_new, _ = FeatureCorruption(0.3, random_state=0).fit_resample(X, y)
    assert X_new["age"].dtype == np.int64
    assert X_new["income"].dtype == np.float64


@pytest.mark.parametrize(
    "params, match",
    [
        ({"kind": "brightness"}, "needs image_shape"),
        ({"kind": "stripe", "image_shape": (8, 7)}, "image_shape must be"),
        ({"kind": "stripe", "image_shape": (8, 8), "severity": 0.6}, "at most 0.5"),
    ],
)
def test_corruption_errors(params, match, digits):
    with pytest.raises(ValueError, match=match):
        FeatureCorruption(**params).fit_resample(*digits)


# ------------------------------------------------------------------ mixture


def test_mixture_combines_ground_truth(digits):
    X, y = digits
    mixture = GlitchMixture(
        [
            UniformLabelNoise(0.1),
            ForeignClusterAnomalies(0.1),
            FeatureCorruption(0.1, kind="brightness", image_shape=(8, 8)),
        ],
        random_state=0,
    )
    X_new, y_new = mixture.fit_resample(X, y)
    label_noise, far, corrupt = mixture.injectors_
    assert len(X_new) == 330
    kinds = mixture.glitch_kind_
    assert kinds.dtype == object
    assert set(kinds) == {"clean", "mislabeled", "clustered_anomaly", "outlier"}
    np.testing.assert_array_equal(mixture.glitch_mask_, kinds != "clean")
    # counts refer to the data each step receives: 30 of 300, 30, 33 of 330
    assert label_noise.glitch_mask_.sum() == 30 and corrupt.glitch_mask_.sum() == 33
    # the last injector wins
    np.testing.assert_array_equal(kinds == "outlier", corrupt.glitch_mask_)
    np.testing.assert_array_equal(
        kinds == "clustered_anomaly", far.glitch_mask_ & ~corrupt.glitch_mask_
    )
    # true labels: the clean ones for original rows, the given ones for new rows
    np.testing.assert_array_equal(mixture.true_labels_[:300], y)
    np.testing.assert_array_equal(mixture.true_labels_[300:], y_new[300:])
    mislabeled = mixture.true_labels_ != y_new
    assert np.all(np.isin(kinds[mislabeled], ["mislabeled", "outlier"]))
    assert np.all(mislabeled[kinds == "mislabeled"])
    # reproducible from the mixture's random_state alone
    X_again, y_again = clone(mixture).fit_resample(X, y)
    np.testing.assert_array_equal(X_new, X_again)
    np.testing.assert_array_equal(y_new, y_again)
    # the template injectors are not fitted
    assert not hasattr(mixture.injectors[0], "glitch_mask_")


def test_mixture_tracks_downsampling(digits):
    X, y = digits
    mixture = GlitchMixture(
        [UniformLabelNoise(0.2), RareClassAnomalies(0.05, anomaly_class=0)],
        random_state=0,
    )
    X_new, y_new = mixture.fit_resample(X, y)
    rare = mixture.injectors_[1]
    np.testing.assert_array_equal(X_new, X[rare.sample_indices_])
    np.testing.assert_array_equal(mixture.true_labels_, y[rare.sample_indices_])
    np.testing.assert_array_equal(mixture.glitch_kind_ == "rare", y_new == 0)


def test_mixture_label_flipped_twice_keeps_first_truth():
    y = np.arange(40) % 4
    mixture = GlitchMixture(
        [UniformLabelNoise(1.0), UniformLabelNoise(1.0)], random_state=0
    )
    _, y_new = mixture.fit_resample(np.zeros((40, 1)), y)
    np.testing.assert_array_equal(mixture.true_labels_, y)
    # a row flipped back to its true label is clean again
    flipped_back = y_new == y
    assert 0 < flipped_back.sum() < 40
    np.testing.assert_array_equal(mixture.glitch_kind_ == "mislabeled", ~flipped_back)


def test_mixture_pandas(digits):
    X, y = digits
    X_df = pd.DataFrame(X).add_prefix("f")
    mixture = GlitchMixture(
        [ForeignClusterAnomalies(0.1), UniformLabelNoise(0.1)], random_state=0
    )
    X_new, y_new = mixture.fit_resample(X_df, pd.Series(y))
    assert isinstance(X_new, pd.DataFrame) and isinstance(y_new, pd.Series)
    assert X_new.index.tolist() == list(range(330))
    assert list(X_new.columns) == list(X_df.columns)


def test_mixture_errors(digits):
    with pytest.raises(ValueError, match="at least one"):
        GlitchMixture([]).fit_resample(*digits)
    with pytest.raises(TypeError, match="fit_resample"):
        GlitchMixture([object()]).fit_resample(*digits)


def test_mixture_keeps_injector_seeds(digits):
    X, y = digits
    own = UniformLabelNoise(0.1, random_state=42)
    mixture = GlitchMixture([own], random_state=0).fit(X, y)
    np.testing.assert_array_equal(
        mixture.glitch_mask_, clone(own).fit(X, y).glitch_mask_
    )


# ---------------------------------------------------------------- pipelines


def test_imblearn_pipeline(digits):
    pipeline = pytest.importorskip("imblearn.pipeline")
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = digits
    pipe = pipeline.make_pipeline(
        UniformLabelNoise(0.2, random_state=0), StandardScaler(), LogisticRegression()
    )
    pipe.fit(X, y)
    assert pipe.named_steps["uniformlabelnoise"].glitch_mask_.sum() == 60
    assert pipe.score(X, y) > 0.7  # the sampler is skipped at score time
