"""Data issues of an audit (duplicates, leakage, imbalance, missing cells) and find_glitches."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_blobs, make_classification, make_friedman1

import skinfluence
from skinfluence import find_glitches
from skinfluence.auditing import _issues, find_data_issues
from skinfluence.models import make_net


@pytest.fixture(scope="module")
def injected():
    """600 distinct rows plus injected copies, near copies, conflicts and leaks.

    Returns the rows, labels, the reference, and the positions of each
    injected family (both the original and its copy for duplicates).
    """
    rng = np.random.default_rng(0)
    X, y = make_classification(
        900, n_features=20, n_informative=10, n_classes=3, random_state=0
    )
    X_ref, y_ref = X[600:], y[600:]
    X, y = X[:600], y[:600]
    n = len(X)
    originals = rng.choice(n, 90, replace=False)
    exact, near, conflict = originals[:30], originals[30:60], originals[60:]
    noise = 1e-3 * X.std(0) * rng.standard_normal((30, X.shape[1]))
    leaks = rng.choice(len(X_ref), 30, replace=False)
    rows = [X, X[exact], X[near] + noise, X[conflict], X_ref[leaks]]
    labels = [y, y[exact], y[near], (y[conflict] + 1) % 3, y_ref[leaks]]
    X_all, y_all = np.vstack(rows), np.concatenate(labels)
    copies = n + np.arange(90)
    families = {
        "exact": np.concatenate([exact, copies[:30], conflict, copies[60:]]),
        "near": np.concatenate([exact, near, copies[:60], conflict, copies[60:]]),
        "conflicting": np.concatenate([conflict, copies[60:]]),
        "leaked": n + 90 + np.arange(30),
    }
    return X_all, y_all, X_ref, families


def _recall_and_false_rate(flag, positives):
    truth = np.zeros(len(flag), dtype=bool)
    truth[positives] = True
    return flag[truth].mean(), flag[~truth].mean()


@pytest.mark.parametrize(
    ("family", "flag"),
    [
        ("exact", "is_exact_duplicate"),
        ("near", "is_near_duplicate"),
        ("conflicting", "is_conflicting_duplicate"),
        ("leaked", "is_leaked"),
    ],
)
@pytest.mark.parametrize("search", ["exact", "projected"])
def test_injected_duplicates_and_leaks_are_found(
    injected, family, flag, search, monkeypatch
):
    if search == "projected":  # the large-table path, on a small table
        monkeypatch.setattr(_issues, "_EXACT_PAIRS", 0)
    X, y, X_ref, families = injected
    issues = find_data_issues(X, y, X_reference=X_ref)
    recall, false_rate = _recall_and_false_rate(
        issues[flag].to_numpy(), families[family]
    )
    assert recall >= 0.95
    assert false_rate <= 0.02


def test_duplicate_groups_link_copies_and_scores_rank_them(injected):
    X, y, X_ref, families = injected
    issues = find_data_issues(X, y, X_reference=X_ref)
    n = 600
    group = issues["duplicate_group"].to_numpy()
    copies = n + np.arange(90)
    near = families["near"]  # exact, near, 60 copies, conflicting, 30 copies
    originals = np.r_[near[:60], near[120:150]]
    assert_array_equal(group[copies], group[originals])  # each copy with its original
    assert (group[copies] >= 0).all()
    assert_allclose(issues["near_duplicate_score"].to_numpy()[families["exact"]], 1.0)
    assert (issues["near_duplicate_score"].to_numpy()[families["near"]] > 0.98).all()
    score = issues["leakage_score"].to_numpy()
    assert score[families["leaked"]].min() > np.median(score)


def test_large_exact_group_is_one_group():
    X = np.vstack([np.ones((12, 2)), np.random.default_rng(0).normal(size=(50, 2))])
    y = np.r_[np.zeros(11, int), 1, np.zeros(50, int)]
    issues = find_data_issues(X, y)
    group = issues["duplicate_group"].to_numpy()
    assert len(set(group[:12])) == 1 and group[0] >= 0  # more copies than neighbours
    assert issues["is_conflicting_duplicate"].to_numpy()[:12].all()
    assert not issues["is_conflicting_duplicate"].to_numpy()[12:].any()


def test_exact_duplicates_use_raw_cells_missing_included():
    raw = pd.DataFrame(
        {"a": [1.0, 1.0, np.nan, np.nan, 2.0], "b": ["x", "x", "y", "y", "y"]}
    )
    X = np.array([[0.0, 1.0], [0.0, 1.0], [5.0, 0.0], [5.0, 0.0], [9.0, 0.0]])
    issues = find_data_issues(X, [0, 0, 1, 1, 1], raw=raw)
    assert issues["is_exact_duplicate"].tolist() == [True, True, True, True, False]


def test_class_imbalance_scores_and_flags_the_rare_class():
    y = np.r_[np.zeros(500, int), np.ones(490, int), np.full(10, 2)]
    X = np.random.default_rng(0).normal(size=(len(y), 2))
    issues = find_data_issues(X, y, imbalance_threshold=0.1)
    assert_array_equal(issues["is_rare_class"], y == 2)  # 1 % < 0.1 / 3
    expected = np.clip(1 - 3 * np.array([0.5, 0.49, 0.01])[y], 0, 1)
    assert_allclose(issues["class_imbalance_score"], expected)


def test_rows_with_many_missing_cells_are_flagged():
    rng = np.random.default_rng(0)
    raw = pd.DataFrame(rng.normal(size=(100, 4)), columns=list("abcd"))
    holes = rng.choice(100, 10, replace=False)
    raw.iloc[holes, :3] = np.nan  # 3 of 4 cells
    raw.iloc[:5, 0] = np.nan  # one cell: not flagged
    issues = find_data_issues(raw.fillna(0).to_numpy(), np.arange(100) % 2, raw=raw)
    assert_array_equal(np.flatnonzero(issues["is_mostly_missing"]), np.sort(holes))
    assert_allclose(issues["missing_share"], raw.isna().mean(axis=1))


def test_extreme_cells_are_flagged_on_a_robust_scale():
    """Sentinels stand out; heavy but legitimate tails do not.

    Measured on the shipped tables: no extreme cell in breast cancer, wine,
    iris, diabetes or digits; sentinels found on 158 of 158 rows of breast
    cancer (99999, -999 or 9999 in four random columns, ten seeds).
    """
    rng = np.random.default_rng(0)
    n = 2000
    raw = pd.DataFrame(
        {
            "gaussian": rng.normal(50, 5, n),
            "income": np.exp(rng.normal(10, 1, n)),  # log-normal: read on its log
            "heavy": rng.standard_t(5, n),
            "zeros": np.where(rng.random(n) < 0.7, 0.0, rng.exponential(1, n)),
            "code": rng.choice(["a", "b"], n),
        }
    )
    clean = find_data_issues(raw[["gaussian", "income", "heavy"]].to_numpy(), raw=raw)
    assert not clean["is_extreme_value"].any()
    sentinels = [3, 77, 1500]
    raw.loc[3, "gaussian"] = 99999.0
    raw.loc[77, "income"] = 1e12
    raw.loc[1500, "heavy"] = -500.0
    raw.loc[9, "gaussian"] = np.nan  # a missing cell is not extreme
    issues = find_data_issues(raw[["gaussian", "heavy"]].fillna(0).to_numpy(), raw=raw)
    assert_array_equal(np.flatnonzero(issues["is_extreme_value"]), sentinels)

    # The score, naively column by column: the robust z in units of 20, and
    # in a column of no negative value at most the z of its log in units of 6.
    def z(values, cell):
        median = np.median(values)
        return abs(cell - median) / (1.4826 * np.median(np.abs(values - median)))

    for row in (3, 77, 1500, 10):
        expected = 0.0
        for name in ("gaussian", "income", "heavy"):
            values, cell = raw[name].dropna().to_numpy(), raw.loc[row, name]
            if np.isnan(cell):
                continue
            ratio = z(values, cell) / 20
            if (values >= 0).all():
                ratio = min(ratio, z(np.log(values), np.log(cell)) / 6)
            expected = max(expected, ratio)
        assert issues["extreme_value_score"][row] == pytest.approx(expected)
    # A column with a median absolute deviation of 0 is skipped.
    zeros = raw[["zeros"]].assign(zeros=raw["zeros"] * 1e6)
    assert (
        find_data_issues(zeros.to_numpy(), raw=zeros)["extreme_value_score"] == 0
    ).all()


@pytest.mark.parametrize(
    "loader",
    ["load_breast_cancer", "load_wine", "load_iris", "load_diabetes", "load_digits"],
)
def test_shipped_tables_have_no_extreme_cells(loader):
    from sklearn import datasets

    raw = getattr(datasets, loader)(as_frame=True).data
    issues = find_data_issues(raw.to_numpy(dtype=float), raw=raw)
    assert not issues["is_extreme_value"].any()


def test_find_data_issues_checks_lengths():
    with pytest.raises(ValueError, match="must match"):
        find_data_issues(np.zeros((3, 2)), [0, 1])


def test_audit_reports_injected_duplicates_of_a_table(tmp_path):
    """End to end on a frame: copies with another label are conflicting duplicates."""
    X, y = make_classification(200, n_features=4, random_state=1)
    frame = pd.DataFrame(X, columns=list("abcd")).assign(
        colour=np.where(X[:, 0] > 0, "red", "blue"), label=y
    )
    copies = frame.iloc[:10].assign(label=1 - frame["label"].iloc[:10])
    frame = pd.concat([frame, copies], ignore_index=True)
    report = skinfluence.audit(frame, "label", epochs=2)
    conflicting = report.issues("conflicting_duplicate")
    assert set(conflicting.index) == set(range(10)) | set(range(200, 210))
    assert "conflicting duplicates  20 rows" in report.summary()


# ------------------------------------------------------------- find_glitches


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(300, centers=3, cluster_std=0.6, random_state=0)
    y_noisy = y.copy()
    y_noisy[:15] = (y[:15] + 1) % 3
    return X, y_noisy


def test_find_glitches_mask_and_ranked_agree(blobs):
    X, y = blobs
    kwargs = {"estimator": make_net(max_epochs=10), "random_state": 0}
    mask = find_glitches(X, y, **kwargs)
    ranked = find_glitches(X, y, return_="ranked", **kwargs)
    assert mask.dtype == bool and mask.shape == (300,)
    assert_array_equal(np.sort(ranked), np.flatnonzero(mask))
    assert np.isin(ranked[:10], np.arange(15)).mean() >= 0.8
    flagged = find_glitches(X, y, kind="any", **kwargs)
    assert (flagged >= mask).all()  # every label issue is a flagged row
    anomalies = find_glitches(X, y, kind="anomaly", **kwargs)
    assert (flagged >= anomalies).all() and not (anomalies & mask).any()


@pytest.mark.filterwarnings("ignore:The number of unique classes:UserWarning")
def test_find_glitches_on_a_continuous_target_trains_the_regressor():
    # It refused a continuous y before, pointing at the regressor.
    X, y = make_friedman1(300, random_state=0)
    y[:15] += np.r_[15.0 * np.ones(8), -15.0 * np.ones(7)]  # about 3 SD off
    kwargs = {"estimator": make_net(task="regression"), "random_state": 0}
    mask = find_glitches(X, y, **kwargs)
    ranked = find_glitches(X, y, return_="ranked", **kwargs)
    assert_array_equal(np.sort(ranked), np.flatnonzero(mask))
    assert mask[:15].mean() >= 0.9 and mask[15:].mean() <= 0.05
    assert set(ranked[:10]) <= set(range(15))
    flagged = find_glitches(X, y, kind="any", **kwargs)
    anomalies = find_glitches(X, y, kind="anomaly", return_="ranked", **kwargs)
    assert (flagged >= mask).all() and not mask[anomalies].any()
    # The same rows as the regressor's diagnosis, typed corrupted_target.
    report = skinfluence.InfluenceGlitchRegressor(**kwargs).fit(X, y).diagnose()
    typed = report["flagged"] & (report["glitch_type"] == "corrupted_target")
    assert_array_equal(mask, typed.to_numpy())
    # Integers with a value per row may be counts, but they stay class
    # labels unless task= says so; a warning names the option.
    counts = np.round(y * 100).astype(int)
    with (
        pytest.warns(UserWarning, match="pass task='regression'"),
        pytest.raises(TypeError, match="for a continuous target use .*Regressor"),
    ):
        find_glitches(X, counts, **kwargs)  # a regression net for classes
    found = find_glitches(X, counts, task="regression", **kwargs)
    assert found[:15].mean() >= 0.9
    with pytest.raises(ValueError, match="continuous target use .*Regressor"):
        find_glitches(X, y, task="classification", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "labels"}, "kind must be one of"),
        ({"return_": "idx"}, "return_ must"),
        ({"task": "ranking"}, "task must be one of"),
    ],
)
def test_find_glitches_rejects_bad_options(blobs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        find_glitches(*blobs, **kwargs)


def test_find_glitches_points_a_table_with_text_to_the_audit(blobs):
    X, y = blobs
    frame = pd.DataFrame(X, columns=["a", "b"]).assign(city=["x", "y", "z"] * 100)
    with pytest.raises(ValueError, match=r"'city' \(.*skinfluence\.audit\(frame"):
        find_glitches(frame, y)  # refused before any training


def test_projected_search_matches_the_exact_one_on_close_rows(monkeypatch):
    X, _ = make_classification(400, n_features=30, n_informative=20, random_state=2)
    exact_distance, exact_found = _issues._neighbours(X, None, 3, None)
    monkeypatch.setattr(_issues, "_EXACT_PAIRS", 0)
    distance, found = _issues._neighbours(X, None, 3, None)
    assert (distance >= exact_distance - 1e-9).all()  # never shorter than exact
    assert (found != np.arange(400)[:, None]).all()  # a row is not its own neighbour
    assert (found[:, 0] == exact_found[:, 0]).mean() >= 0.5


@pytest.mark.parametrize("search", ["exact", "projected"])
def test_float32_rows_are_searched_in_float32_with_the_same_flags(
    injected, search, monkeypatch
):
    # The audit's encoded matrix is float32 (half the memory of a million
    # rows); the issues must not depend on it, nor copy it to float64.
    X, y, X_ref, _ = injected
    if search == "projected":
        monkeypatch.setattr(_issues, "_EXACT_PAIRS", 0)
        monkeypatch.setattr(_issues, "_CHUNK_FLOATS", 50 * X.shape[1])  # 50-row blocks
    as64 = find_data_issues(X, y, X_reference=X_ref)
    as32 = find_data_issues(
        X.astype(np.float32), y, X_reference=X_ref.astype(np.float32)
    )
    for flag in [c for c in as64.columns if c.startswith("is_")]:
        assert_array_equal(as32[flag], as64[flag], err_msg=flag)
    assert_allclose(
        as32["near_duplicate_score"], as64["near_duplicate_score"], rtol=0.02
    )
    assert _issues._as_floats(X.astype(np.float32)).dtype == np.float32
