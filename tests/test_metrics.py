"""Tests of the ranking metrics and the glitch scorer (no network training)."""

import numpy as np
import pytest
import sklearn
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import validate_data

from skinfluence._sklearn_compat import InvalidParameterError
from skinfluence.metrics import (
    f1_at_k,
    make_glitch_scorer,
    precision_at_k,
    recall_at_k,
    relabel_accuracy,
)

MASK = np.array([True, False, True, False, False, False])
SCORES = np.array([0.9, 0.8, 0.1, 0.3, 0.2, 0.05])


# ---------------------------------------------------------------- ranking


@pytest.mark.parametrize(
    "k, precision, recall, f1",
    [
        (None, 0.5, 0.5, 0.5),  # k = 2 glitches
        (1, 1.0, 0.5, 2 / 3),
        (2, 0.5, 0.5, 0.5),
        (3, 1 / 3, 0.5, 0.4),
        (5, 2 / 5, 1.0, 4 / 7),
        (6, 2 / 6, 1.0, 0.5),
    ],
)
def test_hand_made_values(k, precision, recall, f1):
    assert precision_at_k(MASK, SCORES, k=k) == pytest.approx(precision)
    assert recall_at_k(MASK, SCORES, k=k) == pytest.approx(recall)
    assert f1_at_k(MASK, SCORES, k=k) == pytest.approx(f1)


def test_perfect_and_worst_rankings():
    mask = np.array([0, 1, 0, 1, 1, 0])
    assert f1_at_k(mask, mask * 2.0) == 1.0
    assert f1_at_k(mask, -mask * 2.0) == 0.0
    assert precision_at_k(mask, -mask * 2.0, k=4) == 0.25


def test_ties_share_the_remaining_places_in_any_row_order():
    # Tie-broken by row order, constant scores read 1.0 or 0.0 as the
    # glitches came first or last: a signal of integer counts was scored by
    # the data's order.
    flat = np.zeros(4)
    for mask in ([False, True, True, False], [True, True, False, False]):
        assert f1_at_k(mask, flat) == pytest.approx(0.5)  # the glitch share
        assert f1_at_k(mask[::-1], flat) == pytest.approx(0.5)
    # A tie at the cut-off: rows 1 and 2 tie for the last place, one of
    # them a glitch.
    assert precision_at_k([False, False, True], [3.0, 1.0, 1.0], k=2) == 0.25
    assert recall_at_k([True, False, True], [3.0, 1.0, 1.0], k=2) == 0.75
    # The naive expectation over every tie order.
    rng = np.random.default_rng(0)
    mask = rng.random(30) < 0.3
    scores = rng.integers(0, 4, 30).astype(float)
    orders = [rng.permutation(30) for _ in range(2000)]
    naive = np.mean(
        [mask[o][np.argsort(-scores[o], kind="stable")[:10]].sum() for o in orders]
    )
    assert precision_at_k(mask, scores, k=10) * 10 == pytest.approx(naive, abs=0.05)


def test_infinite_scores_rank_first_and_last():
    mask = [True, False, False, True]
    assert f1_at_k(mask, [np.inf, 0.0, -np.inf, 1.0]) == 1.0


def test_accepts_int_masks_lists_and_column_vectors():
    assert f1_at_k([1, 0, 1, 0], [4, 3, 2, 1]) == 0.5
    assert f1_at_k(np.array([[1], [0]]), np.array([2.0, 1.0])) == 1.0


@pytest.mark.parametrize(
    "mask, scores, match",
    [
        ([True, False], [1.0, 2.0, 3.0], "different lengths"),
        ([False, False, False], [1.0, 2.0, 3.0], "no glitch"),
        ([True, False, False], [1.0, np.nan, 3.0], "NaN"),
        ([2, 0, 1], [1.0, 2.0, 3.0], "only 0 and 1"),
        (["a", "b", "a"], [1.0, 2.0, 3.0], "only 0 and 1"),
        ([True, False, False], ["x", "y", "z"], "numeric"),
    ],
)
def test_input_errors(mask, scores, match):
    for metric in (f1_at_k, precision_at_k, recall_at_k):
        with pytest.raises(ValueError, match=match):
            metric(mask, scores)


def test_k_errors():
    with pytest.raises(ValueError, match="larger than the number of rows"):
        f1_at_k(MASK, SCORES, k=7)
    with pytest.raises(InvalidParameterError):
        f1_at_k(MASK, SCORES, k=0)
    with pytest.raises(InvalidParameterError):
        f1_at_k(MASK, SCORES, k=2.5)


@settings(max_examples=50, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.booleans(), st.floats(-1e6, 1e6, allow_nan=False)),
        min_size=1,
        max_size=40,
    )
)
def test_default_k_equalises_precision_recall_f1(data):
    mask = np.array([m for m, _ in data])
    scores = np.array([s for _, s in data])
    if not mask.any():
        mask[0] = True
    f1 = f1_at_k(mask, scores)
    assert f1 == pytest.approx(precision_at_k(mask, scores))
    assert f1 == pytest.approx(recall_at_k(mask, scores))
    assert 0.0 <= f1 <= 1.0
    # scaling the scores does not change the ranking
    assert f1_at_k(mask, 2 * scores) == pytest.approx(f1)


def test_sklearn_metrics_take_the_same_inputs():
    assert roc_auc_score(MASK, SCORES) == pytest.approx(5 / 8)
    assert average_precision_score(MASK, SCORES) == pytest.approx(0.7)


def test_relabel_accuracy():
    true = np.array(["a", "b", "c", "c"])
    suggested = np.array(["a", "b", "b", "c"])
    assert relabel_accuracy(true, suggested) == 0.75
    assert relabel_accuracy(true, suggested, mask=[0, 0, 1, 1]) == 0.5
    assert relabel_accuracy(true, suggested, mask=[False, False, True, False]) == 0.0
    with pytest.raises(ValueError, match="different lengths"):
        relabel_accuracy(true, suggested[:3])
    with pytest.raises(ValueError, match="mask has 2 entries"):
        relabel_accuracy(true, suggested, mask=[True, False])
    with pytest.raises(ValueError, match="no glitch"):
        relabel_accuracy(true, suggested, mask=np.zeros(4, bool))
    with pytest.raises(ValueError, match="at least one row"):
        relabel_accuracy([], [])


# ----------------------------------------------------------------- scorer


class LossDetector(OutlierMixin, BaseEstimator):
    """Toy detector with a label-dependent signal (the loss of a linear model).

    ``score_samples(X, y)``: the lower, the more abnormal; ``signal="random"``
    ignores the data.
    """

    def __init__(self, signal="loss"):
        self.signal = signal

    def fit(self, X, y):
        X, y = validate_data(self, X, y)
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def score_samples(self, X, y=None):
        X = validate_data(self, X, reset=False)
        if self.signal == "random":
            return np.random.RandomState(0).uniform(size=len(X))
        if y is None:
            raise ValueError("the loss signal needs y")
        proba = self.model_.predict_proba(X)
        return np.log(proba[np.arange(len(X)), np.searchsorted(self.classes_, y)])


@pytest.fixture(scope="module")
def noisy_blobs():
    rng = np.random.RandomState(0)
    X = np.r_[rng.normal(-2, 1, size=(100, 2)), rng.normal(2, 1, size=(100, 2))]
    y = np.repeat([0, 1], 100)
    mask = np.zeros(200, dtype=bool)
    mask[rng.choice(200, 20, replace=False)] = True
    y[mask] = 1 - y[mask]
    return X, y, mask


def test_scorer_on_a_bare_detector(noisy_blobs):
    X, y, mask = noisy_blobs
    det = LossDetector().fit(X, y)
    scores = -det.score_samples(X, y)
    for name, metric in [
        ("f1_at_k", f1_at_k),
        ("precision_at_k", precision_at_k),
        ("recall_at_k", recall_at_k),
        ("roc_auc", roc_auc_score),
        ("average_precision", average_precision_score),
    ]:
        value = make_glitch_scorer(name)(det, X, y, glitch_mask=mask)
        assert isinstance(value, float)
        assert value == pytest.approx(metric(mask, scores))
    assert make_glitch_scorer()(det, X, y, glitch_mask=mask) > 0.7


def test_scorer_kwargs_and_callable_metric(noisy_blobs):
    X, y, mask = noisy_blobs
    det = LossDetector().fit(X, y)
    scores = -det.score_samples(X, y)
    scorer = make_glitch_scorer("precision_at_k", k=5)
    assert scorer(det, X, y, glitch_mask=mask) == precision_at_k(mask, scores, k=5)
    assert repr(scorer) == "make_glitch_scorer('precision_at_k', k=5)"

    def top_score(glitch_mask, scores):
        return scores[np.asarray(glitch_mask)].max()

    value = make_glitch_scorer(top_score)(det, X, y, glitch_mask=mask)
    assert value == pytest.approx(scores[mask].max())
    assert "top_score" in repr(make_glitch_scorer(top_score))


def test_scorer_on_a_pipeline_passes_y(noisy_blobs):
    X, y, mask = noisy_blobs
    pipe = make_pipeline(StandardScaler(), LossDetector()).fit(X, y)
    expected = -pipe[-1].score_samples(pipe[0].transform(X), y)
    value = make_glitch_scorer("roc_auc")(pipe, X, y, glitch_mask=mask)
    assert value == pytest.approx(roc_auc_score(mask, expected))


def test_scorer_on_label_free_sklearn_detectors():
    rng = np.random.RandomState(0)
    X = np.r_[rng.normal(size=(95, 2)), rng.normal(8, 0.1, size=(5, 2))]
    mask = np.arange(100) >= 95
    forest = IsolationForest(random_state=0).fit(X)
    assert make_glitch_scorer()(forest, X, None, glitch_mask=mask) == 1.0
    pipe = make_pipeline(StandardScaler(), IsolationForest(random_state=0)).fit(X)
    assert make_glitch_scorer()(pipe, X, None, glitch_mask=mask) == 1.0


def test_scorer_errors(noisy_blobs):
    X, y, mask = noisy_blobs
    det = LossDetector().fit(X, y)
    scorer = make_glitch_scorer()
    with pytest.raises(ValueError, match="needs glitch_mask"):
        scorer(det, X, y)
    with pytest.raises(ValueError, match="split along with X"):
        scorer(det, X[:50], y[:50], glitch_mask=mask)
    with pytest.raises(TypeError, match="score_samples"):
        scorer(StandardScaler().fit(X), X, y, glitch_mask=mask)
    with pytest.raises(InvalidParameterError):
        make_glitch_scorer("accuracy")


def test_scorer_requests_glitch_mask():
    routing = make_glitch_scorer().get_metadata_routing()
    assert routing.score.requests == {"glitch_mask": True}


@pytest.mark.parametrize("transductive", [False, True])
def test_grid_search_with_routing_selects_the_informative_signal(
    noisy_blobs, transductive
):
    X, y, mask = noisy_blobs
    cv = (
        [(np.arange(200), np.arange(200))]
        if transductive
        else StratifiedKFold(3, shuffle=True, random_state=0)
    )
    grid = {"signal": ["random", "loss"]}
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(LossDetector(), grid, cv=cv, scoring=make_glitch_scorer())
        search.fit(X, y, glitch_mask=mask)
        assert search.best_params_ == {"signal": "loss"}
        # multi-metric, refit on one of them
        search = GridSearchCV(
            LossDetector(),
            grid,
            cv=cv,
            scoring={"f1": make_glitch_scorer(), "auc": make_glitch_scorer("roc_auc")},
            refit="auc",
        )
        search.fit(X, y, glitch_mask=mask)
        assert search.best_params_ == {"signal": "loss"}
        # the detector as the last step of a Pipeline
        pipe = make_pipeline(StandardScaler(), LossDetector())
        search = GridSearchCV(
            pipe,
            {"lossdetector__signal": grid["signal"]},
            cv=cv,
            scoring=make_glitch_scorer(),
        )
        search.fit(X, y, glitch_mask=mask)
        assert search.best_params_ == {"lossdetector__signal": "loss"}


def test_grid_search_without_routing_fails_clearly(noisy_blobs):
    X, y, mask = noisy_blobs
    search = GridSearchCV(
        LossDetector(), {"signal": ["loss"]}, cv=3, scoring=make_glitch_scorer()
    )
    with pytest.raises(ValueError):
        search.fit(X, y, glitch_mask=mask)


def test_scorer_ranks_a_transductive_lof_by_its_training_scores():
    rng = np.random.RandomState(0)
    X = np.r_[rng.normal(size=(95, 2)), rng.normal(8, 0.1, size=(5, 2))]
    mask = np.r_[np.zeros(95, bool), np.ones(5, bool)]
    lof = LocalOutlierFactor(n_neighbors=10).fit(X)  # novelty=False
    scorer = make_glitch_scorer("roc_auc")
    expected = roc_auc_score(mask, -lof.negative_outlier_factor_)
    assert scorer(lof, X, None, glitch_mask=mask) == pytest.approx(expected)
    with pytest.raises(ValueError, match="fitted on"):
        scorer(lof, X[:50], None, glitch_mask=mask[:50])
