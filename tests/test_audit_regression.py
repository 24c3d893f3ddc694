"""The regression audit: a continuous target in, corrupted targets out.

``skinfluence audit FILE --target COLUMN`` and ``skinfluence.audit`` run a
regression audit when the target is continuous (``task="auto"``) or when
asked (``--task regression``); the report, summary and plot are those of the
classification audit with the regression estimator's columns and words.
"""

import contextlib
import io
import pickle

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from pandas.testing import assert_frame_equal
from sklearn.datasets import make_friedman1

import skinfluence
from skinfluence.auditing import clean_table, find_data_issues, infer_task
from skinfluence.auditing._issues import SKEWED, _kelly_skewness, spread_by_factors
from skinfluence.auditing._table import reference_rows
from skinfluence.cli import main
from skinfluence.glitches import LargeTargetErrors
from skinfluence.metrics import f1_at_k
from skinfluence.models import make_net

REGRESSION_COLUMNS = [
    "row",
    "sensor",
    "given_target",
    "glitch_score",
    "flagged",
    "glitch_type",
    "suggested_target",
    "target_low",
    "target_high",
    "residual",
    "confidence",
    "conflict",
    "isolation",
    "near_duplicate_score",
    "is_exact_duplicate",
    "is_near_duplicate",
    "duplicate_group",
    "missing_share",
    "is_mostly_missing",
    "extreme_value_score",
    "is_extreme_value",
]
EPOCHS = "20"


def _friedman_tables(n=300, n_reference=100, seed=0):
    """Friedman #1 as a table: 10 % large target errors, an id, a category, gaps.

    Returns the audited frame (column ``y``), a clean reference frame, the
    mask of the corrupted rows and their true targets.
    """
    X, y = make_friedman1(n + n_reference, n_features=5, noise=0.5, random_state=seed)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d", "e"])
    frame["site"] = np.where(X[:, 4] > 0.5, "north", "south")
    frame.loc[np.arange(0, n + n_reference, 37), "c"] = np.nan
    frame["y"] = y
    reference = frame.iloc[n:].reset_index(drop=True)
    noise = LargeTargetErrors(0.1, random_state=seed)
    _, y_noisy = noise.fit_resample(X[:n], y[:n])
    frame = frame.iloc[:n].assign(y=y_noisy)
    frame.insert(0, "sensor", [f"s{i:04d}" for i in range(n)])
    return frame, reference, noise.glitch_mask_, noise.true_targets_


@pytest.fixture(scope="module")
def friedman():
    return _friedman_tables()


def _cli(*argv):
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["audit", *argv]) == 0
    return stdout.getvalue()


@pytest.fixture(scope="module")
def cli_run(friedman, tmp_path_factory):
    """One CLI regression audit of the table as CSV, shared by the report checks."""
    frame, _, _, _ = friedman
    folder = tmp_path_factory.mktemp("regression_audit")
    frame.to_csv(folder / "sensors.csv", index=False)
    printed = _cli(
        str(folder / "sensors.csv"),
        "--target",
        "y",
        "--id",
        "sensor",
        "--out",
        str(folder / "out"),
        "--epochs",
        EPOCHS,
        "--top",
        "5",
    )
    return folder / "out", printed


def _recall_at_k(mask, scores):
    top = np.argsort(-scores, kind="stable")[: mask.sum()]
    return mask[top].mean()


def test_cli_audits_a_continuous_target_and_finds_the_large_errors(friedman, cli_run):
    frame, _, mask, true_targets = friedman
    out, printed = cli_run
    for name in ("report.csv", "summary.txt", "report.png"):
        assert (out / name).stat().st_size > 0
    report = pd.read_csv(out / "report.csv")
    assert list(report.columns) == REGRESSION_COLUMNS
    assert len(report) == len(frame)
    assert (np.diff(report["glitch_score"]) <= 0).all()  # ranked
    rows = report["row"].to_numpy()
    assert_array_equal(report["sensor"], frame["sensor"].to_numpy()[rows])
    assert_array_equal(report["given_target"], frame["y"].to_numpy()[rows])

    # 30 corrupted rows of 300: random scores give F1 at k near 0.1.
    scores = report.set_index("row")["glitch_score"].sort_index().to_numpy()
    assert f1_at_k(mask, scores) >= 0.7  # measured 0.87
    # Suggestions, with their interval, only on rows typed corrupted_target,
    # and closer to the truth than the corrupted value.
    corrupted = (report["glitch_type"] == "corrupted_target").to_numpy()
    assert_array_equal(report["suggested_target"].notna(), corrupted)
    assert (report["flagged"] | (report["glitch_type"] == "clean")).all()
    flagged = report["flagged"].to_numpy()
    assert mask[rows][flagged].mean() >= 0.8  # measured 24 of 27 flags right
    fixed = report[corrupted & mask[rows]]
    assert len(fixed) >= 10  # measured 23
    truth = true_targets[fixed["row"]]
    closer = np.abs(fixed["suggested_target"] - truth) < np.abs(
        fixed["given_target"] - truth
    )
    assert closer.mean() >= 0.9
    assert (fixed["target_low"] <= fixed["suggested_target"]).all()
    assert (fixed["suggested_target"] <= fixed["target_high"]).all()
    # The network cannot fit the corrupted targets: larger residuals.
    residual = np.abs(report["residual"].to_numpy())
    assert residual[mask[rows]].mean() > 2 * residual[~mask[rows]].mean()

    summary = (out / "summary.txt").read_text()
    assert summary.strip() in printed
    assert (
        "Task: regression, chosen automatically: 'y' holds fractional numbers"
        in summary
    )
    assert "300 rows, a continuous target (mean" in summary
    assert "typed corrupted_target, with the target the network suggests" in summary
    assert "calibrated target conflict" in summary
    assert "blunts the isolation signals that type the flagged rows" in summary
    for word in ("mislabeled", "class imbalance", "conflicting duplicates"):
        assert word not in summary
    assert "exact duplicates" in summary and "missing cells" in summary


def test_api_gives_the_cli_table_and_a_reference_finds_more(friedman, cli_run):
    frame, reference, mask, _ = friedman
    out, _ = cli_run
    report = skinfluence.audit(frame, "y", id_column="sensor", epochs=int(EPOCHS))
    assert report.task == "regression"
    cli = pd.read_csv(out / "report.csv", index_col="row")
    api = pd.read_csv(io.StringIO(report.to_csv()), index_col="row")
    assert_frame_equal(api, cli, check_exact=True)

    trusted = skinfluence.audit(
        frame, "y", reference=reference, id_column="sensor", epochs=int(EPOCHS)
    )
    table = trusted.table.sort_index()
    assert _recall_at_k(mask, table["glitch_score"].to_numpy()) >= 0.7  # 0.87
    # Measured: 24 of 27 flags right, with the reference as without it.
    flagged = table["flagged"].to_numpy()
    assert (flagged & mask).sum() >= 20 and mask[flagged].mean() >= 0.7
    assert "is_leaked" in table.columns and "Reference: 100 trusted rows" in (
        trusted.summary()
    )
    corrupted = trusted.issues("corrupted_target")
    assert len(corrupted) and (corrupted["glitch_type"] == "corrupted_target").all()
    assert trusted.issue_summary().loc["corrupted_target", "rows"] == len(corrupted)
    assert "mislabeled" not in trusted.issue_summary().index
    with pytest.raises(ValueError, match="a regression audit has no classes"):
        trusted.issues("class_imbalance")
    with pytest.raises(ValueError, match="Unknown issue kind 'mislabeled'") as error:
        trusted.issues("mislabeled")
    # The choices listed are the checks this audit ran: no class checks.
    assert "'leakage'" in str(error.value)
    assert "class_imbalance" not in str(error.value)
    assert "top 0" not in trusted.summary(top=0)
    assert "suspects" not in trusted.summary(top=0)

    # Pickle round trip, as for classification.
    restored = pickle.loads(pickle.dumps(trusted))
    assert restored.summary() == trusted.summary()
    assert_frame_equal(restored.table, trusted.table)

    import matplotlib.pyplot as plt

    fig = trusted.plot()
    assert fig.axes[0].get_xlabel().startswith("target conflict")
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any(label.startswith("corrupted_target") for label in labels)
    plt.close(fig)


def _counts_frame(n=120, distinct=8, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"u": rng.normal(size=n), "v": rng.normal(size=n)})
    frame["count"] = rng.integers(0, distinct, size=n)
    return frame


def test_task_overrides_the_automatic_choice_both_ways():
    # Few integer values: class codes by default, a regression when asked.
    codes = _counts_frame()
    auto = skinfluence.audit(codes, "count", epochs=2)
    assert auto.task == "classification" and "given_label" in auto.table
    asked = skinfluence.audit(codes, "count", task="regression", epochs=2)
    assert asked.task == "regression" and "given_target" in asked.table
    assert "Task: regression, as asked." in asked.summary()
    assert asked.table["given_target"].dtype == np.float64

    # Many integer values with few rows each: a measurement by default,
    # class labels when asked (with a warning sentence in the summary).
    ages = _counts_frame(n=200, distinct=90)  # about 80 values
    auto = skinfluence.audit(ages, "count", epochs=2)
    assert auto.task == "regression"
    assert "a count or a measurement" in auto.notes[0]
    asked = skinfluence.audit(ages, "count", task="classification", epochs=2)
    assert asked.task == "classification" and "given_label" in asked.table
    assert "Task: classification, as asked. Beware:" in asked.notes[0]


def test_cli_task_option_runs_the_asked_audit(tmp_path):
    _counts_frame().to_csv(tmp_path / "counts.csv", index=False)
    printed = _cli(str(tmp_path / "counts.csv"), "--target", "count", "--task",
                   "regression", "--out", str(tmp_path / "out"), "--epochs", "2",
                   "--interval", "0.8")  # fmt: skip
    assert "Task: regression, as asked." in printed
    assert "given_target" in pd.read_csv(tmp_path / "out" / "report.csv").columns


def test_interval_sets_the_coverage_of_the_suggested_target():
    frame, _, _, _ = _friedman_tables(n=120, n_reference=0)
    widths = []
    for interval in (0.5, 0.95):
        report = skinfluence.audit(
            frame, "y", epochs=5, contamination=0.2, interval=interval
        )
        table = report.issues("corrupted_target")
        assert len(table)
        widths.append((table["target_high"] - table["target_low"]).median())
    assert widths[0] < widths[1]


@pytest.mark.parametrize(
    ("values", "task", "why"),
    [
        (np.linspace(0.5, 9.5, 40), "regression", "fractional numbers"),
        (np.arange(200) % 150, "regression", "a count or a measurement"),
        (np.arange(200) % 40, "classification", "class codes"),  # 40 values
        (np.arange(400) % 80, "classification", "class codes"),  # 5 rows each
        (np.array(["low", "high"] * 20), "classification", "text"),
        (pd.Categorical(["a", "b"] * 20), "classification", "categories"),
        (np.array([True, False] * 20), "classification", "booleans"),
        (pd.array([1, 2, None] * 20, dtype="Int64"), "classification", "codes"),
    ],
)
def test_auto_rule(values, task, why):
    column = pd.Series(values).dropna()
    chosen, reason = infer_task(column, "y")
    assert chosen == task and why in reason
    frame = pd.DataFrame({"x": np.arange(len(values), dtype=float), "y": values})
    table = clean_table(frame, "y")
    assert table.task == task and why in table.task_reason
    if task == "regression":
        assert table.labels.dtype == np.float64


def test_integers_read_as_floats_with_missing_cells_keep_their_rule():
    counts = pd.Series(np.arange(300, dtype=float) % 250)
    counts[::7] = np.nan  # pandas reads the column as floats
    frame = pd.DataFrame({"x": np.arange(300.0), "y": counts})
    assert clean_table(frame, "y").task == "regression"
    frame["y"] = counts % 3
    table = clean_table(frame, "y")
    assert table.task == "classification" and table.labels.dtype == np.int64


def test_a_continuous_target_with_placeholders_drops_their_rows():
    # Read as text, 'unknown' made a price column hundreds of classes.
    rng = np.random.default_rng(0)
    price = pd.Series(rng.normal(100, 20, 200).round(2), dtype=object)
    price[[3, 8]] = "unknown"
    frame = pd.DataFrame({"x": rng.normal(size=200), "price": price})
    table = clean_table(frame, "price")
    assert table.task == "regression" and table.n_unlabelled == 2
    assert len(table.labels) == 198 and table.labels.dtype == np.float64
    assert table.coerced == {"price": {"cells": 2, "tokens": ["unknown"]}}
    reference = frame.iloc[:20]
    _, y_ref, n_unlabelled = reference_rows(reference, table)
    assert n_unlabelled == 2 and len(y_ref) == 18  # rows 3 and 8
    notes = skinfluence.audit(frame, "price", epochs=2, random_state=0).notes
    assert (
        "the table: read 'price' as numbers; its 2 cell(s) that are not numbers "
        "('unknown') are missing labels, their rows dropped." in notes
    )
    # Class codes keep such a token as a class.
    codes = pd.Series(["1", "2", "3"] * 66 + ["other"] * 2, dtype=object)
    codes_frame = pd.DataFrame({"x": rng.normal(size=200), "y": codes})
    table = clean_table(codes_frame, "y")
    assert table.task == "classification" and "other" in set(table.labels)
    table = clean_table(codes_frame, "y", task="classification")
    assert table.coerced == {} and "other" in set(table.labels)


def test_a_continuous_target_written_with_signs_is_read_as_numbers():
    # "$1,234.50" and "43.1%" made one class per distinct value.
    rng = np.random.default_rng(0)
    price = rng.uniform(50, 5000, 200).round(2)
    frame = pd.DataFrame({"x": rng.normal(size=200), "price": price})
    profit = np.where(rng.random(200) < 0.4, -price, price)

    def accounts(value):  # a loss in parentheses: it made 200 classes of 1 row
        return f"({-value:,.2f})" if value < 0 else f"{value:,.2f}"

    for written, truth, signs in (
        (
            [f"${p:,.2f}" for p in price],
            price,
            ["currency signs", "thousands separators ','"],
        ),
        ([f"{p}%" for p in price], price, ["percent signs"]),
        (  # French: 1 234,50, with a narrow no-break space on some cells
            [
                f"{p:,.2f}".replace(",", "\u202f" if i % 2 else " ").replace(".", ",")
                for i, p in enumerate(price)
            ],
            price,
            ["thousands separators ' '", "decimal commas"],
        ),
        (
            [accounts(p) for p in profit],
            profit,
            ["thousands separators ','", "parentheses as minus signs"],
        ),
        (
            [f"(${-p:,.0f})" if p < 0 else f"${p:,.0f}" for p in profit.round()],
            profit.round(),
            [
                "currency signs",
                "thousands separators ','",
                "parentheses as minus signs",
            ],
        ),
    ):
        table = clean_table(frame.assign(price=written), "price")
        assert table.task == "regression"
        assert_array_equal(table.labels, truth)
        assert table.coerced["price"]["signs"] == signs
    # Plain numbers kept as text, as when read from JSON: numbers too, but
    # class codes stay class labels.
    text = frame.assign(price=price.astype(str).astype(object))
    for task in ("auto", "regression"):
        assert_array_equal(clean_table(text, "price", task=task).labels, price)
    codes = frame.assign(price=np.tile(["1", "2"], 100).astype(object))
    assert clean_table(codes, "price").labels.tolist() == codes["price"].tolist()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target": "name", "task": "regression"}, "is not numeric"),
        ({"target": "flag", "task": "regression"}, "is not numeric"),
        ({"target": "level", "task": "classification"}, "looks continuous"),
        ({"target": "level", "signal": "gd_class"}, "not a regression signal"),
        ({"target": "name", "signal": "knn_target"}, "not a classification signal"),
        (
            {"target": "level", "detector_params": {"layers": ["fc"]}},
            r"\['layers'\] are not parameters of InfluenceGlitchRegressor",
        ),
        (
            {"target": "level", "detector_params": {"estimator": "classifier"}},
            "is a NeuralNetClassifier; a regression audit trains a skorch "
            "NeuralNetRegressor",
        ),
        (
            {"target": "name", "detector_params": {"estimator": "regressor"}},
            "is a NeuralNetRegressor; a classification audit trains",
        ),
        ({"target": "name", "interval": 0.8}, "an option of a regression audit"),
        ({"target": "level", "interval": 1.5}, r"interval must be in \(0, 1\)"),
        ({"target": "level", "task": "ordinal"}, "task must be one of"),
        ({"target": "same"}, "has one value"),
    ],
)
def test_an_option_of_the_other_task_is_a_clear_error(options, message, monkeypatch):
    from skinfluence.auditing import _run

    def no_training(*args, **kwargs):
        raise AssertionError("the error must come before training")

    monkeypatch.setattr(_run, "fit_and_diagnose", no_training)
    frame = pd.DataFrame(
        {
            "x": np.arange(30.0),
            "level": np.linspace(0.1, 3.0, 30),
            "name": ["a", "b", "c"] * 10,
            "flag": [True, False] * 15,
            "same": 2.5,
        }
    )
    options = {"epochs": 1, **options}
    net = options.get("detector_params", {}).get("estimator")
    if net is not None:
        task = "regression" if net == "regressor" else "classification"
        options["detector_params"] = {"estimator": make_net(task=task)}
    with pytest.raises(ValueError, match=message):
        skinfluence.audit(frame, options.pop("target"), **options)


def test_data_issues_without_labels_leave_out_the_class_checks():
    X = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 1.0], [5.0, 4.0], [9.0, 1.0]])
    issues = find_data_issues(X)
    assert issues["is_exact_duplicate"].tolist() == [True, True, False, False, False]
    for column in ("is_conflicting_duplicate", "class_imbalance_score"):
        assert column not in issues.columns
    labelled = find_data_issues(X, [0, 1, 0, 0, 1])
    assert {"is_conflicting_duplicate", "is_rare_class"} <= set(labelled.columns)


def test_summary_states_the_training_r2(friedman):
    frame, _, _, _ = friedman
    report = skinfluence.audit(frame, "y", id_column="sensor", epochs=int(EPOCHS))
    detector = report.detector
    prediction = detector.trajectory_.train.p[-1].double()
    y = detector.scoring_.y_train.double()
    r2 = 1 - float(((prediction - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())
    assert f"The network fits the rows it trained on with R^2 = {r2:.2f}" in (
        report.summary()
    )


@pytest.mark.parametrize("far_value", [5.0, 1000.0])
def test_rows_with_corrupted_features_are_flagged_and_the_rule_says_so(
    friedman, far_value
):
    frame, _, corrupted, _ = friedman
    clean = skinfluence.audit(frame, "y", id_column="sensor", epochs=int(EPOCHS))
    assert "isolation did not join: " in clean.summary()
    far = np.flatnonzero(~corrupted)[:6]
    broken = frame.copy()
    # Features far out (the bulk is in [0, 1]), targets plausible. At 1000
    # the cells are extreme: standardised with them, the other rows were
    # squeezed together (R^2 0.69 -> 0.49, corrupted targets flagged 0.80 ->
    # 0.43); on the bulk (BulkScaler), R^2 0.68 and 0.80.
    broken.loc[far, ["a", "b"]] = far_value
    report = skinfluence.audit(broken, "y", id_column="sensor", epochs=int(EPOCHS))
    table = report.table.sort_index()
    assert table["flagged"].to_numpy()[far].all()
    assert set(table["glitch_type"].to_numpy()[far]) <= {"outlier", "clustered_anomaly"}
    assert "; isolation: the " in report.summary()
    # The corrupted targets are found and typed as without the far rows.
    typed = table["glitch_type"].to_numpy()[corrupted] == "corrupted_target"
    before = clean.table.sort_index()["glitch_type"].to_numpy()[corrupted]
    assert typed.mean() >= (before == "corrupted_target").mean() - 0.1


def _prices(n=400, seed=3):
    """Log-normal prices, 10 % of them scaled by 0.2 or 5: errors by a factor."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    price = np.exp(1 + 0.8 * X["a"] + 0.3 * X["b"] + rng.normal(0, 0.4, n)) * 1000
    corrupted = np.zeros(n, dtype=bool)
    corrupted[rng.choice(n, n // 10, replace=False)] = True
    given = np.where(corrupted, price * rng.choice([0.2, 5.0], n), price)
    return X.assign(price=given), price.to_numpy(), corrupted


def _audit_on_logarithm(frame, note_start, note_says):
    """Audit ``frame`` on ``price``; its summary must say the logarithm is read."""
    report = skinfluence.audit(frame, "price", random_state=0)
    assert any(
        note.startswith(note_start) and note_says in note for note in report.notes
    )
    return report, report.table.sort_index()


def _repairs_in_the_targets_units(report, table, corrupted, truth, sign):
    """Corrupted rows typed so (at least 20, suggestions 90 % closer to the
    truth), their interval in order, residuals of ``sign * exp`` of the fit.
    """
    fixed = table[(table["glitch_type"] == "corrupted_target") & corrupted]
    assert len(fixed) >= 20
    rows = fixed.index.to_numpy()
    closer = np.abs(fixed["suggested_target"] - truth[rows]) < np.abs(
        fixed["given_target"] - truth[rows]
    )
    assert closer.mean() >= 0.9
    assert (fixed["target_low"] < fixed["suggested_target"]).all()
    assert (fixed["suggested_target"] < fixed["target_high"]).all()
    detector = report.detector
    final = detector.trajectory_.train.p[-1][:, 0].double().numpy()
    fitted = np.exp(final * detector.target_scale_[0] + detector.target_mean_[0])
    assert_allclose(table["residual"], sign * fitted - table["given_target"], rtol=1e-6)
    return fixed


def test_a_skewed_positive_target_is_audited_on_its_logarithm():
    frame, truth, corrupted = _prices()
    report, table = _audit_on_logarithm(
        frame, "The target is right-skewed (skewness ", "the audit reads its logarithm"
    )
    assert_array_equal(table["given_target"], frame["price"])  # the user's units
    raw = skinfluence.audit(frame, "price", target_transform="none", random_state=0)
    assert not any("reads its logarithm" in note for note in raw.notes)
    f1_log = f1_at_k(corrupted, table["glitch_score"].to_numpy())
    f1_raw = f1_at_k(corrupted, raw.table.sort_index()["glitch_score"].to_numpy())
    assert f1_log >= 0.75 and f1_log > f1_raw + 0.3  # measured 0.875 and 0.25
    # Suggestions, intervals and residuals back in the target's units.
    _repairs_in_the_targets_units(report, table, corrupted, truth, sign=1.0)


def test_a_skewed_negative_target_is_audited_on_its_magnitudes_logarithm():
    # Losses written below zero: read raw, 11 of 30 errors by a factor of 5
    # were found; on the logarithm of the magnitude, 30.
    frame, truth, corrupted = _prices()
    frame, truth = frame.assign(price=-frame["price"]), -truth
    report, table = _audit_on_logarithm(
        frame, "The target is left-skewed (skewness ", "the logarithm of its magnitude"
    )
    assert f1_at_k(corrupted, table["glitch_score"].to_numpy()) >= 0.75
    # Back in the target's units, negative, the interval in order.
    fixed = _repairs_in_the_targets_units(report, table, corrupted, truth, sign=-1.0)
    assert (fixed["target_high"] < 0).all()
    # A reference of the other sign cannot be read on that scale.
    with pytest.raises(ValueError, match="target.s. of 0 or more"):
        skinfluence.audit(
            frame, "price", reference=frame.assign(price=1.0).iloc[:20], epochs=2
        )


def test_far_values_like_unit_slips_suggest_the_logarithm():
    """Unskewed prices, 8 % entered ten times too large or too small."""
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"a": rng.uniform(size=n), "b": rng.normal(size=n)})
    price = 2e5 + 1.6e6 * frame["a"] + 5e4 * frame["b"] + rng.normal(0, 2e4, n)
    slips = np.zeros(n, dtype=bool)
    slips[rng.choice(n, n * 8 // 100, replace=False)] = True
    factor = rng.choice([0.1, 10.0], n)
    frame["price"] = np.where(slips, price * factor, price)
    assert abs(_kelly_skewness(frame["price"].to_numpy())) < SKEWED[1]  # bulk
    # The default keeps the raw values (spikes look the same) and says why
    # the logarithm may read them better.
    raw = skinfluence.audit(frame, "price", random_state=0)
    assert not any("reads its logarithm" in note for note in raw.notes)
    (hint,) = [note for note in raw.notes if "unit slips" in note]
    assert hint.startswith("18 distinct value(s) of 'price' lie beyond 10 robust")
    assert "target_transform='log'" in hint
    # As it says: the slips too small hide in the raw bulk, not in its log.
    log = skinfluence.audit(frame, "price", target_transform="log", random_state=0)
    table = log.table.sort_index()
    f1_log = f1_at_k(slips, table["glitch_score"].to_numpy())
    f1_raw = f1_at_k(slips, raw.table.sort_index()["glitch_score"].to_numpy())
    assert f1_log >= 0.9 and f1_log > f1_raw + 0.05, (f1_log, f1_raw)
    small = slips & (factor < 1)
    top = np.argsort(-table["glitch_score"].to_numpy())[: slips.sum()]
    assert small[top].sum() >= 0.9 * small.sum()
    # Repeated sentinels are codes, not slips: no hint.
    codes = frame.assign(price=np.where(slips, 99999999.0, price))
    assert spread_by_factors(codes["price"].to_numpy()) is None


def test_target_transform_is_checked():
    frame, _, _ = _prices(n=120)
    with pytest.raises(ValueError, match="target_transform must be one of"):
        skinfluence.audit(frame, "price", target_transform="sqrt", epochs=2)
    negative = frame.assign(price=frame["price"] - frame["price"].median())
    with pytest.raises(ValueError, match="needs a target of one sign"):
        skinfluence.audit(negative, "price", target_transform="log", epochs=2)
    # auto leaves a target with values of 0 or less as it is.
    assert not any(
        "reads its logarithm" in note
        for note in skinfluence.audit(negative, "price", epochs=2).notes
    )
    labels = frame.assign(price=np.where(frame["a"] > 0, "high", "low"))
    with pytest.raises(ValueError, match="an option of a regression audit"):
        skinfluence.audit(labels, "price", target_transform="log", epochs=2)
    reference = frame.iloc[:20].assign(price=-1.0)
    with pytest.raises(ValueError, match="target\\(s\\) of 0 or less"):
        skinfluence.audit(frame, "price", reference=reference, epochs=2)


def test_cli_passes_the_target_transform(tmp_path, capsys):
    frame, _, _ = _prices(n=120)
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)
    common = [str(path), "--target", "price", "--epochs", "2", "--quiet"]
    assert main(["audit", *common, "--out", str(tmp_path / "a")]) == 0
    assert (
        "the audit reads its logarithm" in (tmp_path / "a" / "summary.txt").read_text()
    )
    out = str(tmp_path / "b")
    assert main(["audit", *common, "--target-transform", "none", "--out", out]) == 0
    assert "reads its logarithm" not in (tmp_path / "b" / "summary.txt").read_text()
    with pytest.raises(SystemExit):
        main(["audit", "--target-transform", "log"])  # needs FILE
    assert "--target-transform need(s) FILE" in capsys.readouterr().err


def test_extreme_target_sentinels_do_not_set_the_scale():
    """Five 9999 sentinels among 600 temperatures: F1 at k 0.23 before, 1.0 after."""
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({c: rng.normal(size=n) for c in "abc"})
    temperature = 15 + 6 * frame["a"] - 3 * frame["b"] + rng.normal(0, 1, n)
    errors = np.zeros(n, dtype=bool)
    errors[rng.choice(n, 30, replace=False)] = True
    given = temperature + errors * rng.choice([-1, 1], n) * rng.uniform(10, 20, n)
    sentinels = rng.choice(np.flatnonzero(~errors), 5, replace=False)
    given[sentinels] = 9999.0
    report = skinfluence.audit(frame.assign(t=given), "t", random_state=0)
    assert any(
        note.startswith("5 value(s) of 't' lie beyond 10 robust standard deviations")
        and "(9999)" in note
        for note in report.notes
    )
    table = report.table.sort_index()
    assert_array_equal(table["given_target"], given)  # reported as given
    glitches = errors.copy()
    glitches[sentinels] = True
    assert f1_at_k(glitches, table["glitch_score"].to_numpy()) >= 0.9  # measured 1.0
    assert table["flagged"].to_numpy()[sentinels].all()
    # In kelvin every value is positive and the sentinels make the target
    # skewed, but not its bulk: it stays on its own scale.
    kelvin = skinfluence.audit(frame.assign(t=given + 273.15), "t", epochs=2)
    assert not any("reads its logarithm" in note for note in kelvin.notes)
    assert any("robust standard deviations" in note for note in kelvin.notes)
    # A table without extreme values trains on its targets as they are.
    clean = skinfluence.audit(frame.assign(t=temperature), "t", epochs=2)
    assert not any("robust standard deviations" in note for note in clean.notes)


def test_an_unconfirmed_larger_reference_is_not_called_too_small():
    # A regressor's reference of 100 rows or more is read at its 99th
    # percentile and still confirmed on the rows' own bulk; the summary said
    # "a reference too small to calibrate on alone" of it.
    from skinfluence.auditing._task import _isolation_rule

    axes = {
        "isolation_level": 1.0,
        "isolation_robust": False,
        "isolation_present": False,
        "confirmed": False,
        "reference_test": True,
        "beyond_level": 16,
        "counts": {"isolation": 0},
    }
    rule = _isolation_rule(axes, 480)
    assert rule.startswith("isolation did not join: 16 of 480 rows lie beyond the ")
    assert "too small" not in rule
    assert rule.endswith("against the audited rows' own bulk, which must confirm it")
