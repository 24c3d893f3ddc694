"""Reliability: bad input, divergence, determinism, persistence, no mutation.

Every input either gives a correct result or a clear ValueError or TypeError
raised by skinfluence's or scikit-learn's validation: never an error from
inside torch, numpy or pandas, and never NaN scores. ``docs/guarantees.rst``
lists each property with the tests below that hold it.
"""

import pickle
import re
import warnings
from contextlib import contextmanager

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skinfluence import InfluenceGlitchDetector
from skinfluence.glitches import (
    ClassDependentLabelNoise,
    FeatureCorruption,
    ForeignClusterAnomalies,
    GlitchMixture,
    RareClassAnomalies,
    UniformLabelNoise,
)
from skinfluence.metrics import (
    f1_at_k,
    make_glitch_scorer,
    precision_at_k,
    recall_at_k,
    relabel_accuracy,
)

from .conftest import tiny_net

PAPER_SIGNALS = ["self", "marginal", "absolute", "gd_class"]
FEW = settings(max_examples=8, deadline=None)


def fast(signal="self", **params):
    """A detector that trains one epoch of the tiny MLP (a few milliseconds).

    ``novelty=True`` unless given: the tests score new rows with it.
    """
    params = {"novelty": True, **params}
    return InfluenceGlitchDetector(
        tiny_net(max_epochs=1), signal=signal, random_state=0, **params
    )


@contextmanager
def clear_error(match, kinds=(ValueError, TypeError)):
    """Expect ``kinds`` matching ``match``, raised by skinfluence or scikit-learn.

    The innermost frame of the traceback must lie in one of the two packages:
    an error from inside torch, numpy or pandas would name neither the
    argument nor the remedy.
    """
    with pytest.raises(kinds, match=match) as info:
        yield info
    origin = str(info.traceback[-1].path)
    assert re.search(r"[/\\](skinfluence|sklearn)[/\\]", origin), origin


def injectors():
    """One of each injector; the feature injectors read X, label noise does not."""
    return [
        UniformLabelNoise(0.2, random_state=0),
        ClassDependentLabelNoise(0.2, random_state=0),
        RareClassAnomalies(0.2, random_state=0),
        ForeignClusterAnomalies(0.2, label_mode="random", random_state=0),
        FeatureCorruption(0.2, random_state=0),
        GlitchMixture(
            [UniformLabelNoise(0.1), ForeignClusterAnomalies(0.1)], random_state=0
        ),
    ]


INJECTORS = injectors()
INJECTOR_IDS = [type(inj).__name__ for inj in INJECTORS]
READS_X = (ForeignClusterAnomalies, FeatureCorruption, GlitchMixture)


@st.composite
def labelled_rows(draw, min_rows=6, max_rows=30):
    """A small float32 table with 2 or 3 classes, every class present."""
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(1, 4))
    X = draw(
        hnp.arrays(
            np.float32,
            (n, d),
            elements=st.floats(-5, 5, width=32, allow_nan=False, allow_infinity=False),
        )
    )
    n_classes = draw(st.integers(2, min(3, n)))
    y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, n_classes - 1)))
    y[:n_classes] = np.arange(n_classes)
    return X, y


# ------------------------------------------------------------ NaN and inf


@FEW
@given(
    data=labelled_rows(),
    value=st.sampled_from([np.nan, np.inf, -np.inf]),
    where=st.sampled_from(["X", "X_val", "score"]),
    position=st.integers(0, 10**6),
)
def test_nan_and_inf_are_rejected_by_validation(fitted, data, value, where, position):
    X, y = data
    bad = X.copy()
    bad.flat[position % bad.size] = value
    with clear_error("NaN|infinity"):
        if where == "X":
            fast().fit(bad, y)
        elif where == "X_val":
            fast("marginal").fit(X, y, X_val=bad, y_val=y)
        else:  # five columns, as in fit
            rows = np.resize(X, (len(X), 5))
            rows.flat[position % rows.size] = value
            fitted.score_samples(rows)


@pytest.mark.parametrize("fit", [True, False], ids=["fit", "score"])
def test_nan_labels_are_rejected(fitted, noisy_data, fit):
    y = noisy_data["y"].astype(float)
    y[3] = np.nan
    with clear_error("NaN|not seen in fit"):
        if fit:
            fast().fit(noisy_data["X"], y)
        else:
            fitted.score_samples(noisy_data["X"][:5] + 1, y[:5])


# ------------------------------------------------------- empty, one row, one class


@pytest.mark.parametrize(
    "call",
    [
        lambda X, y, det: fast().fit(X[:0], y[:0]),
        lambda X, y, det: fast().fit(X[:, :0], y),
        lambda X, y, det: fast("marginal").fit(X, y, X_val=X[:0], y_val=y[:0]),
        lambda X, y, det: det.score_samples(X[:0]),
        lambda X, y, det: det.score_samples(X[:0], y[:0]),
        lambda X, y, det: det.score_samples(X[:, :0]),
    ],
    ids=["fit-rows", "fit-columns", "X_val", "score", "score-labelled", "score-cols"],
)
def test_empty_input_is_rejected(fitted, noisy_data, call):
    with clear_error("0 sample|0 feature|features"):
        call(noisy_data["X"], noisy_data["y"], fitted)


def test_one_row_is_one_class(noisy_data):
    with clear_error("at least 2 classes"):
        fast().fit(noisy_data["X"][:1], noisy_data["y"][:1])


@FEW
@given(
    data=labelled_rows(min_rows=2, max_rows=3), signal=st.sampled_from(PAPER_SIGNALS)
)
def test_the_smallest_fit_gives_finite_scores(data, signal):
    X, y = data
    det = fast(signal).fit(X, y)
    assert det.glitch_scores_.shape == (len(X),)
    assert np.isfinite(det.glitch_scores_).all()
    assert np.isfinite(det.offset_)


@FEW
@given(
    data=labelled_rows(),
    reference_size=st.one_of(st.integers(1, 3), st.floats(0.001, 0.2)),
    signal=st.sampled_from(PAPER_SIGNALS),
)
def test_the_smallest_reference_sample_gives_finite_scores(
    data, reference_size, signal
):
    # a reference row is never scored against itself, so it needs a second one
    X, y = data
    det = fast(signal, reference_size=reference_size).fit(X, y)
    assert len(det.reference_indices_) >= 2
    assert np.isfinite(det.glitch_scores_).all()


@pytest.mark.parametrize("labelled", [False, True])
def test_a_single_new_row_is_scored(fitted, fitted_val, noisy_data, labelled):
    row, label = noisy_data["X"][:1] + 0.25, noisy_data["y"][:1]
    for det in (fitted, fitted_val):
        scores = det.score_samples(row, label if labelled else None)
        assert scores.shape == (1,) and np.isfinite(scores).all()
        assert det.predict(row, label if labelled else None).shape == (1,)


@FEW
@given(label=st.sampled_from([0, -3, 2.0, "cat", True]))
def test_a_single_class_is_rejected_whatever_its_label(noisy_data, label):
    y = np.full(len(noisy_data["X"]), label, dtype=object if label == "cat" else None)
    with clear_error("at least 2 classes"):
        fast().fit(noisy_data["X"], y)


# -------------------------------------------------------------- constant features


@FEW
@given(
    data=labelled_rows(),
    value=st.floats(-1e3, 1e3, width=32),
    all_columns=st.booleans(),
    signal=st.sampled_from(PAPER_SIGNALS),
)
def test_constant_features_give_finite_scores(data, value, all_columns, signal):
    X, y = data
    X = X.copy()
    if all_columns:
        X[:] = value
    else:
        X[:, 0] = value
    det = fast(signal).fit(X, y)
    assert np.isfinite(det.glitch_scores_).all()
    if all_columns:
        # identical rows with identical labels are indistinguishable
        for k in np.unique(y):
            scores = det.glitch_scores_[y == k]
            assert_allclose(scores, scores[0], rtol=1e-5, atol=1e-7)


# -------------------------------------------------------------- huge magnitudes


@FEW
@given(
    exponent=st.integers(39, 307),
    where=st.sampled_from(["X", "X_val", "score"]),
)
def test_values_beyond_float32_are_rejected_without_warnings(
    fitted, noisy_data, exponent, where
):
    X, y = noisy_data["X"].astype(np.float64), noisy_data["y"]
    huge = X.copy()
    huge[5, 2] = 3.0 * 10.0**exponent
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow noise either
        with clear_error("too large for float32"):
            if where == "X":
                fast().fit(huge, y)
            elif where == "X_val":
                fast("marginal").fit(X, y, X_val=huge, y_val=y)
            else:
                fitted.score_samples(huge)


@FEW
@given(exponent=st.integers(4, 37), signal=st.sampled_from(PAPER_SIGNALS))
def test_huge_float32_features_train_or_report_divergence(noisy_data, exponent, signal):
    X = noisy_data["X"] * np.float32(10.0**exponent)
    try:
        det = fast(signal).fit(X, noisy_data["y"])
    except FloatingPointError as exc:
        assert re.search(r"diverged at epoch 1\b.*scale the features", str(exc))
    else:
        assert np.isfinite(det.glitch_scores_).all()


@FEW
@given(exponent=st.integers(2, 37), labelled=st.booleans())
def test_new_rows_far_outside_the_training_range(
    fitted, fitted_val, noisy_data, exponent, labelled
):
    X = noisy_data["X"][:6] * np.float32(10.0**exponent)
    y = noisy_data["y"][:6] if labelled else None
    for det in (fitted, fitted_val):
        try:
            scores = det.score_samples(X, y)
        except ValueError as exc:
            assert "outside the training range" in str(exc)
        else:
            assert np.isfinite(scores).all()


def test_overflowing_new_rows_are_named(fitted, noisy_data):
    X = noisy_data["X"][:4].copy()
    X[2] *= np.float32(1e30)
    for labels in (None, noisy_data["y"][:4]):
        with clear_error(r"1 row\(s\) of X .*rows \[2\].*outside the training range"):
            fitted.score_samples(X, labels)


# ---------------------------------------------------------------------- labels


NAMES = np.array(["ant", "bee", "cow"])
LABEL_CODINGS = {  # class code -> label, in the same sorted order
    "str": lambda codes: NAMES[codes],
    "object": lambda codes: NAMES.astype(object)[codes],
    "category": lambda codes: pd.Series(pd.Categorical(NAMES[codes])),
    "negative-int": lambda codes: np.array([-7, 0, 12])[codes],
    "float": lambda codes: np.array([-1.0, 4.0, 9.0])[codes],  # 0.5 is "continuous"
}


@pytest.fixture(scope="module")
def fitted_1epoch(noisy_data):
    return fast("gd_class").fit(
        noisy_data["X"], noisy_data["y"], noisy_data["X_val"], noisy_data["y_val"]
    )


@pytest.mark.parametrize("coding", list(LABEL_CODINGS))
def test_label_names_do_not_change_the_scores(fitted_1epoch, noisy_data, coding):
    """Label names in the same sorted order give bit-identical results."""
    d, ref, code = noisy_data, fitted_1epoch, LABEL_CODINGS[coding]
    names = np.asarray(code(np.arange(3)))
    y, y_val = code(d["y"]), code(d["y_val"])
    det = clone(ref).fit(d["X"], y, X_val=d["X_val"], y_val=y_val)
    assert_array_equal(det.classes_, names)
    assert_array_equal(det.glitch_scores_, ref.glitch_scores_)
    assert_array_equal(det.suggested_labels_, names[ref.suggested_labels_])
    X_new = d["X"][:7] + 0.5
    assert_array_equal(
        det.score_samples(X_new, names[d["y"][:7]]),
        ref.score_samples(X_new, d["y"][:7]),
    )
    assert_array_equal(det.predict(X_new), ref.predict(X_new))


# FeatureCorruption leaves the target alone and also serves regression data
# (tests/test_glitches_target_noise.py); the others need class labels.
_LABEL_INJECTORS = [inj for inj in INJECTORS if not isinstance(inj, FeatureCorruption)]


@pytest.mark.parametrize(
    "injector",
    [None, *_LABEL_INJECTORS],
    ids=["detector", *(type(inj).__name__ for inj in _LABEL_INJECTORS)],
)
def test_continuous_targets_are_rejected(noisy_data, injector):
    y = noisy_data["y"] + np.linspace(0, 0.5, len(noisy_data["y"]))
    with clear_error("Unknown label type: continuous"):
        if injector is None:
            fast().fit(noisy_data["X"], y)
        else:
            clone(injector).fit_resample(noisy_data["X"], y)


@FEW
@given(
    unseen=st.one_of(
        st.integers(3, 100), st.integers(-100, -1), st.text(min_size=1, max_size=3)
    ),
    where=st.sampled_from(["y_val", "score"]),
)
def test_labels_absent_from_y_are_named(fitted, noisy_data, unseen, where):
    d = noisy_data
    labels = d["y_val"].astype(object)
    labels[2] = unseen
    with clear_error("not seen in fit|another type than the classes"):
        if where == "y_val":
            fast("marginal").fit(d["X"], d["y"], X_val=d["X_val"], y_val=labels)
        else:
            fitted.score_samples(d["X_val"], labels)


def test_labels_of_another_type_than_the_classes(noisy_data):
    d = noisy_data
    det = fast().fit(d["X"], np.array(["a", "b", "c"], dtype=object)[d["y"]])
    with clear_error("another type than the classes|not seen in fit"):
        det.score_samples(d["X"][:3] + 1, np.array([0, 1, 2], dtype=object))


# ---------------------------------------------------------- lengths and widths


@FEW
@given(n_labels=st.integers(0, 200), where=st.sampled_from(["fit", "X_val", "score"]))
def test_mismatched_lengths_are_rejected(fitted, noisy_data, n_labels, where):
    d = noisy_data
    n = {"fit": len(d["X"]), "X_val": len(d["X_val"]), "score": 10}[where]
    if n_labels == n:
        n_labels += 1
    labels = np.resize(d["y"], n_labels)
    with clear_error("inconsistent numbers of samples|rows but"):
        if where == "fit":
            fast().fit(d["X"], labels)
        elif where == "X_val":
            fast("marginal").fit(d["X"], d["y"], X_val=d["X_val"], y_val=labels)
        else:
            fitted.score_samples(d["X"][:10] + 1, labels)


@pytest.mark.parametrize("y", [1, np.array(1), np.zeros((3, 2))], ids=str)
def test_labels_of_the_wrong_shape_at_score_time(fitted, noisy_data, y):
    with clear_error("1-dimensional"):
        fitted.score_samples(noisy_data["X"][:3] + 1, y)


@FEW
@given(width=st.integers(1, 12).filter(lambda w: w != 5), labelled=st.booleans())
def test_wrong_feature_width_at_score_time(fitted, width, labelled):
    X = np.ones((4, width), np.float32)
    with clear_error(f"X has {width} features, but InfluenceGlitchDetector"):
        fitted.score_samples(X, np.arange(4) % 3 if labelled else None)


def test_renamed_columns_at_score_time(noisy_data):
    d = noisy_data
    frame = pd.DataFrame(d["X"], columns=list("abcde"))
    det = fast().fit(frame, d["y"])
    with clear_error("feature names"):
        det.score_samples(frame.rename(columns={"c": "z"}))


# ------------------------------------------------------------- dtypes and frames


NON_NUMERIC = {
    "object": lambda n: np.array(["x", "y", "z"], dtype=object)[np.arange(n) % 3],
    "category": lambda n: pd.Categorical(np.array(["x", "y"])[np.arange(n) % 2]),
    "string": lambda n: pd.array(["u", "v"] * (n // 2) + ["u"] * (n % 2), "string"),
    "datetime": lambda n: pd.date_range("2024-01-01", periods=n),
}


def frame_with(X, kind):
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["city"] = NON_NUMERIC[kind](len(X))
    return frame


@pytest.fixture(scope="module")
def frame_fitted(noisy_data):
    """Fitted on a numeric frame with the columns of ``frame_with``."""
    frame = frame_with(noisy_data["X"][:, :4], "object").assign(city=1.0)
    return frame, fast().fit(frame, noisy_data["y"])


@pytest.mark.parametrize("kind", list(NON_NUMERIC))
@pytest.mark.parametrize("where", ["X", "X_val", "score"])
def test_frames_with_non_numeric_columns_name_them(
    frame_fitted, noisy_data, kind, where
):
    d, (frame, det) = noisy_data, frame_fitted
    name = "X_val" if where == "X_val" else "X"
    with clear_error(rf"needs numeric features, but {name} has 1 .*'city' \("):
        if where == "X":
            fast().fit(frame_with(d["X"][:, :4], kind), d["y"])
        elif where == "X_val":
            fast("marginal").fit(
                frame,
                d["y"],
                X_val=frame_with(d["X_val"][:, :4], kind),
                y_val=d["y_val"],
            )
        else:
            det.score_samples(frame_with(d["X"][:, :4], kind))


@pytest.mark.parametrize("injector", INJECTORS, ids=INJECTOR_IDS)
def test_injectors_on_frames_with_non_numeric_columns(noisy_data, injector):
    d = noisy_data
    frame = frame_with(d["X"][:, :4], "category")
    original = frame.copy()
    if isinstance(injector, READS_X):
        with clear_error(r"needs numeric features.*'city' \(category\)"):
            clone(injector).fit_resample(frame, d["y"])
    else:  # label noise never reads the features: any column passes through
        X_new, _ = clone(injector).fit_resample(frame, d["y"])
        assert_array_equal(X_new.dtypes, frame.dtypes)
    pd.testing.assert_frame_equal(frame, original)


def test_numeric_frames_of_mixed_dtypes_equal_the_array(fitted_1epoch, noisy_data):
    d = noisy_data
    X = np.rint(d["X"] * 4) / 4  # exact in every dtype below
    frame = pd.DataFrame(
        {
            "float64": X[:, 0].astype(np.float64),
            "float32": X[:, 1],
            "Float64": pd.array(X[:, 2], dtype="Float64"),
            "int": np.rint(X[:, 3]).astype(np.int64),
            "bool": X[:, 4] > 0,
        }
    )
    numeric = frame.astype(np.float32).to_numpy()
    det = clone(fitted_1epoch).fit(frame, d["y"])
    ref = clone(fitted_1epoch).fit(numeric, d["y"])
    assert_array_equal(det.glitch_scores_, ref.glitch_scores_)
    assert_array_equal(
        det.score_samples(frame[:5] + 1), ref.score_samples(numeric[:5] + 1)
    )


DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64]


@pytest.fixture(scope="module")
def integer_valued(noisy_data):
    """noisy_data rounded to integers, so every dtype holds the same values."""
    X = np.rint(noisy_data["X"]).astype(np.float32)
    return X, fast().fit(X, noisy_data["y"])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
def test_every_numeric_dtype_gives_the_float32_scores(
    integer_valued, noisy_data, dtype
):
    X, ref = integer_valued
    det = clone(ref).fit(X.astype(dtype), noisy_data["y"])
    assert_array_equal(det.glitch_scores_, ref.glitch_scores_)
    y = noisy_data["y"]
    assert_array_equal(ref.score_samples(X.astype(dtype), y), ref.score_samples(X, y))
    new = X[:6] + 1
    assert_array_equal(ref.score_samples(new.astype(dtype)), ref.score_samples(new))


SPARSE = [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array]


@pytest.mark.parametrize("make", SPARSE, ids=lambda f: f.__name__)
def test_sparse_input_asks_for_dense_data(fitted, noisy_data, make):
    d = noisy_data
    with clear_error("dense data is required"):
        fast().fit(make(d["X"]), d["y"])
    with clear_error("dense data is required"):
        fast("marginal").fit(d["X"], d["y"], X_val=make(d["X_val"]), y_val=d["y_val"])
    with clear_error("dense data is required"):
        fitted.score_samples(make(d["X"]))
    for injector in INJECTORS:
        with clear_error("dense data is required"):
            clone(injector).fit_resample(make(d["X"]), d["y"])


# ------------------------------------------------------- injectors on bad input


def _bad_inputs(X, y):
    """``name -> (X, y, must_fail)``; the others must glitch or fail clearly."""
    X_nan, X_inf = X.copy(), X.copy()
    X_nan[3, 1], X_inf[4, 0] = np.nan, np.inf
    return {
        "nan": (X_nan, y, False),
        "inf": (X_inf, y, False),
        "empty": (X[:0], y[:0], True),
        "one-row": (X[:1], y[:1], False),
        "one-class": (X, np.zeros_like(y), False),
        "constant": (np.full_like(X, 3.0), y, False),
        "huge-float64": (X.astype(np.float64) * 1e300, y, False),
        "huge-float32": (X * np.float32(1e37), y, False),
        "string-labels": (X, np.array(["a", "b", "c"])[y], False),
        "object-labels": (X, np.array(["a", "b", "c"], dtype=object)[y], False),
        "mismatch": (X, y[:-1], True),
        "float16": (X.astype(np.float16), y, False),
        "int8": (np.rint(X).astype(np.int8), y, False),
    }


@pytest.mark.parametrize("injector", INJECTORS, ids=INJECTOR_IDS)
def test_injectors_glitch_or_fail_clearly(noisy_data, injector):
    for name, (X, y, must_fail) in _bad_inputs(
        noisy_data["X"], noisy_data["y"]
    ).items():
        inj = clone(injector)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                X_new, y_new = inj.fit_resample(X, y)
        except (ValueError, TypeError) as exc:
            origin = _innermost(exc)
            assert re.search(r"[/\\](skinfluence|sklearn)[/\\]", origin), (name, exc)
            continue
        assert not must_fail, name
        assert len(X_new) == len(y_new) == len(inj.glitch_mask_), name
        assert X_new.dtype == X.dtype and y_new.dtype == y.dtype, name
        assert set(np.unique(y_new)) <= set(np.unique(y)), name
        if np.isfinite(X).all():
            assert np.isfinite(X_new).all(), name
        if not isinstance(injector, READS_X):  # features pass through untouched
            assert_array_equal(X_new, X[inj._source_rows])


def _innermost(exc):
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename


@FEW
@given(exponent=st.integers(30, 300))
def test_feature_injectors_report_overflow(exponent):
    X = np.random.RandomState(0).rand(40, 3) * 10.0**exponent
    y = np.arange(40) % 2
    for injector in (
        ForeignClusterAnomalies(0.1, random_state=0),
        FeatureCorruption(0.1, random_state=0),
    ):
        try:
            X_new, _ = injector.fit_resample(X, y)
        except ValueError as exc:
            assert "rescale them" in str(exc)
        else:
            assert np.isfinite(X_new).all()


# ------------------------------------------------------------------ divergence


@pytest.mark.parametrize("lr", [1e8, np.inf, np.nan], ids=["1e8", "inf", "nan"])
@pytest.mark.parametrize("capture", ["epoch_end", "in_pass"])
def test_divergence_names_the_epoch_and_a_hint(noisy_data, lr, capture):
    det = InfluenceGlitchDetector(
        tiny_net(max_epochs=3, lr=lr), capture=capture, random_state=0, novelty=True
    )
    with pytest.raises(FloatingPointError) as info:
        det.fit(noisy_data["X"], noisy_data["y"])
    # FloatingPointError, not ValueError: the arguments were valid, the
    # optimisation was not. Raised by skinfluence's capture, not torch.
    assert "skinfluence" in str(info.traceback[-1].path)
    message = str(info.value)
    epoch = int(re.search(r"diverged at epoch (\d+)", message).group(1))
    assert 1 <= epoch <= 3
    assert "Lower the learning rate" in message
    with pytest.raises(NotFittedError):  # no half-fitted detector to score with
        det.predict(noisy_data["X"])


# ----------------------------------------------------------------- determinism


@pytest.mark.parametrize("seed", [0, 11])
def test_same_seed_is_bit_identical_across_fits_and_n_jobs(noisy_data, seed):
    d = noisy_data
    runs = [
        InfluenceGlitchDetector(
            tiny_net(max_epochs=2),
            signal="absolute",
            working_memory=0.002,  # several row chunks
            n_jobs=n_jobs,
            random_state=seed,
        ).fit(d["X"], d["y"])
        for n_jobs in (1, 2, 1, 2)
    ]
    for run in runs[1:]:
        assert_array_equal(run.glitch_scores_, runs[0].glitch_scores_)
        assert_array_equal(run.epoch_scores_, runs[0].epoch_scores_)
        assert_array_equal(run.offset_, runs[0].offset_)


@contextmanager
def global_rng_unchanged(check_numpy=True):
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    yield
    assert torch.equal(torch.get_rng_state(), torch_state)
    if check_numpy:
        assert all(
            np.array_equal(a, b)
            for a, b in zip(np.random.get_state(), numpy_state, strict=True)
        )


@pytest.mark.parametrize(
    "random_state", [3, np.random.RandomState(3), None], ids=["int", "instance", "None"]
)
def test_fit_and_scoring_leave_the_global_rngs_alone(noisy_data, random_state):
    d = noisy_data
    # None draws fresh entropy privately: numpy's global RNG is not consumed.
    with global_rng_unchanged():
        det = InfluenceGlitchDetector(
            tiny_net(max_epochs=1),
            signal="absolute",
            reference_size=0.5,
            random_state=random_state,
            novelty=True,
        ).fit(d["X"], d["y"])
    with global_rng_unchanged():
        det.score_samples(d["X"][:5] + 1)
        det.score_samples(d["X"][:5] + 1, d["y"][:5])
        det.compute_signal("gd_class")


@pytest.mark.parametrize("injector", INJECTORS, ids=INJECTOR_IDS)
def test_injectors_leave_the_global_rngs_alone(noisy_data, injector):
    with global_rng_unchanged():
        clone(injector).fit_resample(noisy_data["X"], noisy_data["y"])


# ----------------------------------------------------------------- persistence


def _round_trips(det, folder):
    yield pickle.loads(pickle.dumps(det))
    joblib.dump(det, folder / "det.joblib")
    yield joblib.load(folder / "det.joblib")
    joblib.dump(det, folder / "det.joblib.xz", compress=("xz", 3))
    yield joblib.load(folder / "det.joblib.xz")


@pytest.mark.parametrize("name", ["fitted", "fitted_val"])
def test_round_trips_keep_every_score_bit_identical(
    request, noisy_data, tmp_path, name
):
    det = request.getfixturevalue(name)
    d = noisy_data
    X_new, y_new = d["X"][:9] * 1.1, d["y"][:9]
    expected = {
        "train": det.score_samples(d["X"]),
        "train-relabelled": det.score_samples(d["X"], d["y_true"]),
        "new-label-free": det.score_samples(X_new),
        "new-labelled": det.score_samples(X_new, y_new),
        "absolute": det.compute_signal("absolute").scores,
    }
    for restored in _round_trips(det, tmp_path):
        assert_array_equal(restored.glitch_scores_, det.glitch_scores_)
        got = {
            "train": restored.score_samples(d["X"]),
            "train-relabelled": restored.score_samples(d["X"], d["y_true"]),
            "new-label-free": restored.score_samples(X_new),
            "new-labelled": restored.score_samples(X_new, y_new),
            "absolute": restored.compute_signal("absolute").scores,
        }
        for key, value in expected.items():
            assert_array_equal(got[key], value, err_msg=key)


# ------------------------------------------------------------------ no mutation


def _frozen(array):
    """A read-only copy: any in-place write raises instead of passing unseen."""
    array = np.array(array)
    array.setflags(write=False)
    return array


@pytest.mark.parametrize("container", ["numpy", "pandas"])
def test_no_public_method_mutates_its_inputs(noisy_data, container):
    d = noisy_data
    if container == "numpy":
        X, y = _frozen(d["X"]), _frozen(d["y"])
        X_val, y_val = _frozen(d["X_val"]), _frozen(d["y_val"])
    else:
        columns = list("abcde")
        X = pd.DataFrame(d["X"], columns=columns).assign(e=lambda f: f.e.astype(int))
        X_val = pd.DataFrame(d["X_val"], columns=columns).assign(
            e=lambda f: f.e.astype(int)
        )
        y, y_val = pd.Series(d["y"], name="label"), pd.Series(d["y_val"], name="label")
    mask = _frozen(d["mask"])
    originals = [obj.copy() for obj in (X, y, X_val, y_val, mask)]

    det = InfluenceGlitchDetector(tiny_net(max_epochs=2), signal="gd_class")
    det.set_params(random_state=0, contamination=0.1)
    det.fit_predict(X, y, X_val=X_val, y_val=y_val)
    det.score(X, y, glitch_mask=mask)
    make_glitch_scorer()(det, X, y, glitch_mask=mask)
    det.set_params(novelty=True).fit(X, y, X_val=X_val, y_val=y_val)
    for rows, labels in ((X, None), (X, y), (X_val, None), (X_val, y_val)):
        det.score_samples(rows, labels)
        det.decision_function(rows, labels)
        det.predict(rows, labels)
    det.score(X, y, glitch_mask=mask)
    det.compute_signal("absolute")
    make_glitch_scorer()(det, X, y, glitch_mask=mask)
    scores = _frozen(det.glitch_scores_)
    for metric in (f1_at_k, precision_at_k, recall_at_k):
        metric(mask, scores)
    relabel_accuracy(y, _frozen(det.suggested_labels_), mask=mask)
    for injector in INJECTORS:
        clone(injector).fit_resample(X, y)
        clone(injector).fit(X, y)

    for before, after in zip(originals, (X, y, X_val, y_val, mask), strict=True):
        if isinstance(before, pd.DataFrame):
            pd.testing.assert_frame_equal(after, before)
        elif isinstance(before, pd.Series):
            pd.testing.assert_series_equal(after, before)
        else:
            assert_array_equal(after, before)
