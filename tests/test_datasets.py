"""Embedded loaders, the paper's protocol, and the OpenML loader offline."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import datasets as sk_datasets

from skinfluence.datasets import (
    PAPER_DATASETS,
    DatasetUnavailableError,
    _openml,
    download_paper_datasets,
    fetch_paper_dataset,
    get_data_home,
    load_breast_cancer_table,
    load_digits_images,
    load_iris_table,
    load_wine_table,
    paper_split,
    quantile_scale,
)

TABLES = [
    (load_breast_cancer_table, sk_datasets.load_breast_cancer),
    (load_wine_table, sk_datasets.load_wine),
    (load_iris_table, sk_datasets.load_iris),
]


# Embedded loaders -----------------------------------------------------------


def test_digits_images():
    digits = load_digits_images()
    assert digits.data.shape == (1797, 64) and digits.data.dtype == np.float32
    assert digits.target.shape == (1797,) and digits.target.dtype == np.int64
    assert digits.data.min() == 0 and digits.data.max() == 1
    assert digits.image_shape == (1, 8, 8)
    assert_array_equal(digits.images.reshape(len(digits.data), -1), digits.data)
    assert_array_equal(digits.target_names, np.arange(10))
    assert len(digits.feature_names) == 64 and digits.DESCR
    # The pixel counts 0..16 of scikit-learn's digits, divided by 16.
    assert_allclose(digits.data * 16, sk_datasets.load_digits().data)
    X, y = load_digits_images(return_X_y=True)
    assert_array_equal(X, digits.data)
    assert_array_equal(y, digits.target)


@pytest.mark.parametrize("loader, source", TABLES)
def test_tables_standardised(loader, source):
    table = loader()
    raw = source()
    assert table.data.shape == raw.data.shape and table.data.dtype == np.float32
    assert table.target.dtype == np.int64
    assert_array_equal(table.target, raw.target)
    assert_allclose(table.data.mean(axis=0), 0, atol=1e-5)
    assert_allclose(table.data.std(axis=0), 1, atol=1e-4)
    assert table.feature_names == list(raw.feature_names)
    assert table.image_shape is None and table.frame is None
    unscaled = loader(scale=False)
    assert_allclose(unscaled.data, raw.data.astype(np.float32))


@pytest.mark.parametrize("loader, source", TABLES)
def test_tables_as_frame(loader, source):
    table = loader(as_frame=True)
    assert isinstance(table.data, pd.DataFrame)
    assert list(table.data.columns) == table.feature_names
    assert isinstance(table.target, pd.Series)
    assert list(table.frame.columns) == [*table.feature_names, "target"]
    X, y = loader(as_frame=True, return_X_y=True)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series)


# The paper's protocol ----------------------------------------------------------


@pytest.fixture(scope="module")
def imbalanced():
    """2000 rows in three classes of 60 %, 30 % and 10 %."""
    y = np.repeat([0, 1, 2], [1200, 600, 200])
    X = np.arange(2 * len(y), dtype=np.float64).reshape(-1, 2)
    return X, y


def test_paper_split_sizes_and_strata(imbalanced):
    X, y = imbalanced
    X_train, X_val, y_train, y_val = paper_split(X, y, random_state=0)
    assert (len(y_train), len(y_val)) == (160, 40)
    assert_array_equal(np.bincount(y_train), [96, 48, 16])
    assert_array_equal(np.bincount(y_val), [24, 12, 4])
    # Rows stay whole, and no row lands in both parts.
    assert_array_equal(X_train[:, 0] // 2, X_train[:, 1] // 2)
    assert_array_equal(y[(X_train[:, 0] // 2).astype(int)], y_train)
    assert not set(X_train[:, 0]) & set(X_val[:, 0])


def test_paper_split_deterministic(imbalanced):
    X, y = imbalanced
    first = paper_split(X, y, random_state=3)
    for a, b in zip(first, paper_split(X, y, random_state=3)):
        assert_array_equal(a, b)
    other = paper_split(X, y, random_state=4)
    assert not np.array_equal(first[0], other[0])


def test_paper_split_keeps_all_rows(imbalanced):
    X, y = imbalanced
    X_train, X_val, _, _ = paper_split(X, y, subsample=1.0, val_size=0.25)
    assert (len(X_train), len(X_val)) == (1500, 500)


@pytest.mark.parametrize(
    "params", [{"subsample": 0}, {"subsample": 1.5}, {"val_size": 1.0}]
)
def test_paper_split_rejects(imbalanced, params):
    with pytest.raises(ValueError):
        paper_split(*imbalanced, **params)


def test_quantile_scale_fits_on_train_only():
    rng = np.random.default_rng(0)
    X_train = rng.exponential(size=(600, 3))
    X_val = rng.exponential(size=(100, 3))
    train, val = quantile_scale(X_train, X_val, random_state=0)
    assert train.dtype == val.dtype == np.float32
    assert_allclose(np.median(train, axis=0), 0, atol=0.1)
    assert_allclose(train.std(axis=0), 1, atol=0.1)
    # The transform of a validation row does not depend on the other
    # validation rows: only the training rows were seen.
    _, first = quantile_scale(X_train, X_val[:10], random_state=0)
    assert_allclose(first, val[:10])


def test_quantile_scale_breaks_ties():
    # A binary feature: without noise every row maps to one of two extremes.
    X = np.repeat([[0.0], [1.0]], [300, 300], axis=0)
    plain = quantile_scale(X, noise=0)[0]
    noisy = quantile_scale(X, random_state=0)[0]
    assert len(np.unique(plain)) == 2
    assert_allclose(noisy[:300].mean(), -noisy[300:].mean(), atol=0.2)


# OpenML loader, offline -------------------------------------------------------


def _fake_table(dataset_id):
    """A tiny stand-in for an OpenML download: 1000 rows of each kind."""
    rng = np.random.default_rng(dataset_id)
    if dataset_id == PAPER_DATASETS["mnist"][0]:
        X = rng.integers(0, 256, size=(1000, 784)).astype(np.float32)
        y = np.repeat([str(k) for k in range(10)], 100)
        names = [f"pixel{k + 1}" for k in range(784)]
    else:
        X = rng.normal(size=(1000, 5)).astype(np.float32) * [1, 10, 100, 1, 1]
        X[:, 4] = rng.integers(0, 2, size=1000)  # a binary column
        y = np.repeat(["1", "2", "3"], [500, 400, 100])
        names = [f"f{k}" for k in range(5)]
    return X, y, names


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Serve downloads from ``_fake_table``; guard openml and the home folder."""
    import openml

    calls = []

    def download(dataset_id, data_home):
        calls.append(dataset_id)
        return _fake_table(dataset_id)

    def network(*args, **kwargs):
        raise AssertionError("a test reached OpenML")

    monkeypatch.setattr(_openml, "_download", download)
    monkeypatch.setattr(openml.datasets, "get_dataset", network)
    monkeypatch.setenv("SKINFLUENCE_DATA", str(tmp_path))
    return calls


def test_fetch_image_protocol(offline, tmp_path):
    data = fetch_paper_dataset("mnist", random_state=0)
    assert data.X_train.shape == (80, 784) and data.X_val.shape == (20, 784)
    assert data.X_train.dtype == data.X_val.dtype == np.float32
    assert data.y_train.dtype == np.int64
    assert data.X_train.min() >= 0 and data.X_train.max() <= 1
    assert data.image_shape == (1, 28, 28) and data.name == "mnist"
    assert_array_equal(np.bincount(data.y_train), [8] * 10)
    assert_array_equal(np.bincount(data.y_val), [2] * 10)
    assert data.openml_id == 554 and len(data.feature_names) == 784
    # Cached under SKINFLUENCE_DATA, pixel counts kept as bytes.
    (cached,) = tmp_path.glob("*.npz")
    with np.load(cached) as npz:
        assert npz["X"].dtype == np.uint8


def test_fetch_tabular_protocol(offline):
    data = fetch_paper_dataset("covertype", subsample=0.5, random_state=0)
    assert (len(data.y_train), len(data.y_val)) == (400, 100)
    assert_array_equal(np.bincount(data.y_train), [200, 160, 40])
    assert_array_equal(np.bincount(data.y_val), [50, 40, 10])
    assert_array_equal(data.target_names, ["1", "2", "3"])
    assert data.image_shape is None and data.X_train.dtype == np.float32
    # Quantile-scaled on the training rows: every feature close to N(0, 1).
    assert_allclose(np.median(data.X_train[:, :4], axis=0), 0, atol=0.15)
    assert_allclose(data.X_train[:, :4].std(axis=0), 1, atol=0.15)


def test_fetch_deterministic_and_cached(offline, monkeypatch):
    first = fetch_paper_dataset("jannis", random_state=1)
    assert offline == [PAPER_DATASETS["jannis"][0]]

    def no_download(dataset_id, data_home):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(_openml, "_download", no_download)
    again = fetch_paper_dataset("jannis", random_state=1)
    for key in ("X_train", "X_val", "y_train", "y_val"):
        assert_array_equal(first[key], again[key])
    other = fetch_paper_dataset("jannis", random_state=2)
    assert not np.array_equal(first.y_train, other.y_train)


def _openml_server_error():
    from openml.exceptions import OpenMLServerError

    return OpenMLServerError("server down")


@pytest.mark.parametrize(
    "error",
    [lambda: OSError("Name or service not known"), _openml_server_error],
    ids=["network", "openml"],
)
def test_fetch_offline_error(offline, monkeypatch, tmp_path, error):
    def unreachable(dataset_id, data_home):
        raise error()

    monkeypatch.setattr(_openml, "_download", unreachable)
    home = tmp_path / "cache"
    with pytest.raises(DatasetUnavailableError) as info:
        fetch_paper_dataset("cifar10", data_home=home)
    assert isinstance(info.value, ConnectionError)
    message = str(info.value)
    assert "'cifar10'" in message and str(home) in message and "40927" in message
    assert not list(home.iterdir())  # nothing half-written


def test_download_paper_datasets_caches_once(offline, tmp_path):
    paths = download_paper_datasets(["jannis", "mnist"])
    assert offline == [41168, 554]
    assert {name: path.name for name, path in paths.items()} == {
        "jannis": "openml_41168_jannis.npz",
        "mnist": "openml_554_mnist.npz",
    }
    assert all(path.parent == tmp_path for path in paths.values())
    # Cached: neither a second download nor one from fetch_paper_dataset.
    assert download_paper_datasets(["mnist"]) == {"mnist": paths["mnist"]}
    fetch_paper_dataset("jannis", random_state=0)
    assert offline == [41168, 554]
    # None: all six; an unknown name is refused before any download.
    with pytest.raises(ValueError, match="Unknown dataset 'mnst'"):
        download_paper_datasets(["covertype", "mnst"])
    assert offline == [41168, 554]
    assert sorted(download_paper_datasets()) == sorted(PAPER_DATASETS)
    assert len(offline) == 6


def test_fetch_does_not_hide_bugs(offline, monkeypatch):
    def broken(dataset_id, data_home):
        raise KeyError("a bug, not the network")

    monkeypatch.setattr(_openml, "_download", broken)
    with pytest.raises(KeyError):
        fetch_paper_dataset("epsilon")


def test_real_download_restores_openml_config(monkeypatch, tmp_path):
    """The openml call itself, its conversion, and its settings, offline."""
    import openml

    saved = openml.config.get_config_as_dict()
    frame = pd.DataFrame({"a": [0.5, 1.5, 2.5], "b": pd.Categorical(["0", "1", "1"])})

    class FakeDataset:
        default_target_attribute = "class"

        def get_data(self, target, dataset_format):
            assert target == "class" and dataset_format == "dataframe"
            return frame, pd.Series(["x", "y", "x"]), [False, True], ["a", "b"]

    seen = {}

    def get_dataset(dataset_id, **kwargs):
        seen["cache"] = openml.config.get_cache_directory()
        seen["retries"] = openml.config.connection_n_retries
        return FakeDataset()

    monkeypatch.setattr(openml.datasets, "get_dataset", get_dataset)
    X, y, names = _openml._download(41168, tmp_path)
    assert_array_equal(X, [[0.5, 0], [1.5, 1], [2.5, 1]])
    assert X.dtype == np.float32 and names == ["a", "b"]
    assert_array_equal(y, ["x", "y", "x"])
    assert str(tmp_path) in seen["cache"] and seen["retries"] == 2
    assert openml.config.get_config_as_dict() == saved
    assert not list(tmp_path.iterdir())  # openml's scratch cache is gone

    def fail(dataset_id, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(openml.datasets, "get_dataset", fail)
    with pytest.raises(ConnectionError):
        _openml._download(41168, tmp_path)
    assert openml.config.get_config_as_dict() == saved


def test_fetch_unknown_name(offline):
    with pytest.raises(ValueError, match="mnist"):
        fetch_paper_dataset("imagenet")


def test_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SKINFLUENCE_DATA", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env"
    assert (tmp_path / "env").is_dir()
    assert get_data_home(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("SKINFLUENCE_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home() == tmp_path / "skinfluence_data"


def test_paper_table_ids():
    ids = {name: entry[0] for name, entry in PAPER_DATASETS.items()}
    assert ids == {
        "mnist": 554,
        "fashion_mnist": 40996,
        "cifar10": 40927,
        "jannis": 41168,
        "covertype": 1596,
        "epsilon": 45575,
    }
