"""``skinfluence audit`` and ``skinfluence.audit``: tables in, ranked report out."""

import io
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from pandas.testing import assert_frame_equal
from sklearn.datasets import make_classification

import skinfluence
from skinfluence.auditing import (
    AuditReport,
    audit_embedded,
    clean_table,
    make_preprocessor,
    read_table,
)
from skinfluence.auditing._table import reference_rows
from skinfluence.cli import main

REPORT_COLUMNS = [
    "row",
    "customer",
    "given_label",
    "glitch_score",
    "flagged",
    "glitch_type",
    "suggested_label",
    "confidence",
    "conflict",
    "isolation",
    "near_duplicate_score",
    "is_exact_duplicate",
    "is_near_duplicate",
    "is_conflicting_duplicate",
    "duplicate_group",
    "class_imbalance_score",
    "is_rare_class",
    "missing_share",
    "is_mostly_missing",
    "extreme_value_score",
    "is_extreme_value",
]
SPECIES = np.array(["cat", "dog", "eel"])


def _tables(n=240, n_reference=90, seed=0):
    """A customer table: numeric, categorical and bool columns, missing values.

    10 % of the labels are flipped and 3 other rows lose their label; the
    reference rows come from the same distribution and are clean.
    """
    X, y = make_classification(
        n + n_reference,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        class_sep=2.5,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    size = np.array(["S", "M", "L"])[y]
    noisy = rng.random(len(y)) < 0.2
    size[noisy] = rng.choice(["S", "M", "L"], noisy.sum())
    frame["size"] = size
    frame["member"] = rng.random(len(y)) < 0.5
    frame["customer"] = [f"c{i:04d}" for i in range(len(y))]
    frame.loc[rng.random(len(y)) < 0.05, "b"] = np.nan
    frame.loc[rng.random(len(y)) < 0.05, "size"] = None
    frame["species"] = SPECIES[y]
    reference = frame.iloc[n:].drop(columns="customer").reset_index(drop=True)
    frame = frame.iloc[:n].copy()
    rows = rng.permutation(n)
    flipped, unlabelled = rows[: n // 10], rows[n // 10 : n // 10 + 3]
    shift = rng.integers(1, 3, len(flipped))
    frame.loc[flipped, "species"] = SPECIES[(y[flipped] + shift) % 3]
    frame.loc[unlabelled, "species"] = None
    mask = np.zeros(n, dtype=bool)
    mask[flipped] = True
    return frame, reference, mask, np.sort(unlabelled)


@pytest.fixture(scope="module")
def tables():
    return _tables()


@pytest.fixture(scope="module")
def csv_run(tables, tmp_path_factory):
    """One CLI audit of the table as CSV, shared by the report checks."""
    frame, _, _, _ = tables
    folder = tmp_path_factory.mktemp("audit")
    path = folder / "customers.csv"
    frame.to_csv(path, index=False)
    printed = _run_cli(path, folder / "out", "--contamination", "0.1")
    return folder / "out", printed


def _run_cli(path, out, *options, epochs="10"):
    import contextlib
    import io

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(
            [
                "audit",
                str(path),
                "--target",
                "species",
                "--id",
                "customer",
                "--out",
                str(out),
                "--epochs",
                epochs,
                "--top",
                "5",
                *options,
            ]
        )
    assert code == 0
    return stdout.getvalue()


def test_csv_audit_writes_a_ranked_report_of_every_labelled_row(tables, csv_run):
    frame, _, mask, unlabelled = tables
    out, printed = csv_run
    for name in ("report.csv", "summary.txt", "report.png"):
        assert (out / name).stat().st_size > 0
    report = pd.read_csv(out / "report.csv")
    assert list(report.columns) == REPORT_COLUMNS
    labelled = np.setdiff1d(np.arange(len(frame)), unlabelled)
    assert len(report) == len(labelled)
    assert_array_equal(np.sort(report["row"]), labelled)
    assert_array_equal(report["customer"], frame["customer"].to_numpy()[report["row"]])
    assert_array_equal(
        report["given_label"], frame["species"].to_numpy()[report["row"]]
    )
    scores = report["glitch_score"].to_numpy()
    assert (np.diff(scores) <= 0).all()
    n_flagged = report["flagged"].sum()
    assert n_flagged == pytest.approx(0.1 * len(report), abs=2)
    assert report["flagged"].to_numpy()[:n_flagged].all()  # flags top the ranking
    flagged = report[report["flagged"]]
    assert (flagged["glitch_type"] != "clean").all()
    assert (report.loc[~report["flagged"], "glitch_type"] == "clean").all()
    has_label = report["suggested_label"].notna()
    assert_array_equal(has_label, report["glitch_type"] == "mislabeled")
    assert set(report.loc[has_label, "suggested_label"]) <= set(SPECIES)
    # Flipped rows are 10 % of the table; the top of the ranking is richer.
    top = report["row"].to_numpy()[: mask.sum()]
    assert mask[top].mean() >= 0.4

    summary = (out / "summary.txt").read_text()
    assert summary.strip() in printed
    assert "dropped 3 row(s) with a missing 'species'" in printed
    assert "4 numeric, 2 categorical" in printed  # a, b, c, d; size, member
    n_missing = frame.loc[frame["species"].notna(), ["b", "size"]].isna().sum().sum()
    assert f"Imputed {n_missing} missing cell(s) in 2 column(s)" in printed
    labelled = frame["species"].notna()
    n_b, n_size = frame.loc[labelled, ["b", "size"]].isna().sum()
    assert f"{n_b} numeric with the column median ('b')" in printed
    assert f"{n_size} categorical with the most frequent value ('size')" in printed
    assert "One-hot encoded 2 categorical column(s) into 5 columns" in printed
    assert "Data issues (found without the network)" in printed
    assert "Glitch types:" in printed and "Top 5 suspects" in printed
    assert "F1 at k" not in printed  # no truth to measure against


def test_parquet_gives_the_csv_report(tables, csv_run, tmp_path):
    frame, _, _, _ = tables
    path = tmp_path / "customers.parquet"
    frame.to_parquet(path)
    _run_cli(path, tmp_path / "out", "--contamination", "0.1")
    parquet = pd.read_csv(tmp_path / "out" / "report.csv")
    csv = pd.read_csv(csv_run[0] / "report.csv")
    assert_frame_equal(parquet, csv, check_exact=False, rtol=1e-5)


def test_reference_file_is_the_trusted_reference(tables, tmp_path):
    frame, reference, mask, _ = tables
    frame.to_csv(tmp_path / "customers.csv", index=False)
    reference.assign(species=[None] + list(reference["species"][1:])).to_csv(
        tmp_path / "clean.csv", index=False
    )
    printed = _run_cli(
        tmp_path / "customers.csv",
        tmp_path / "out",
        "--reference",
        str(tmp_path / "clean.csv"),
    )
    assert (
        f"Reference: {len(reference) - 1} trusted rows (1 row(s) with a missing "
        "'species' dropped)" in printed
    )
    report = pd.read_csv(tmp_path / "out" / "report.csv")
    assert len(report) == len(frame) - 3
    top = report["row"].to_numpy()[: mask.sum()]
    assert mask[top].mean() >= 0.6  # a clean reference calibrates 'auto' better

    reference.drop(columns="size").to_csv(tmp_path / "partial.csv", index=False)
    assert "leakage" in printed
    assert "is_leaked" in report.columns

    with pytest.raises(ValueError, match="reference lacks column.s. 'size'"):
        skinfluence.audit(
            frame, "species", reference=pd.read_csv(tmp_path / "partial.csv")
        )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data.json", "--target", "y"], "cannot tell the format"),
        (["data.xlsx", "--target", "y"], "save the sheet as CSV"),
        (["absent.csv", "--target", "y"], "no such file"),
        (["data.csv", "--target", "nope"], "no target column 'nope'"),
        (["data.csv", "--target", "one"], "has one class"),
        (["data.csv", "--target", "x", "--task", "classification"], "looks continuous"),
        (["data.csv", "--target", "y", "--interval", "0.8"], "regression audit"),
        (["data.csv", "--target", "x", "--interval", "1.5"], "--interval must be in"),
        (["data.csv", "--target", "x", "--task", "nope"], "invalid choice: 'nope'"),
        (["--task", "regression"], "--task need(s) FILE"),
        (["data.csv", "--target", "y", "--id", "absent"], "no id column 'absent'"),
        (["data.csv"], "--target COLUMN is required with FILE"),
        (["--target", "y"], "--target need(s) FILE"),
        (["data.csv", "--target", "y", "--signal", "nope"], "Unknown signal"),
        (["--contamination", "0.9"], "expected 'auto' or a share in"),
        (["data.csv", "--target", "y", "--device", "nope"], "not a torch device"),
        pytest.param(
            ["data.csv", "--target", "y", "--device", "mps"],
            "torch sees no mps device",
            marks=pytest.mark.skipif(
                torch.backends.mps.is_available(), reason="an MPS device is here"
            ),
        ),
    ],
)
def test_bad_input_is_a_usage_error(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    frame = pd.DataFrame({"x": np.linspace(0, 1, 20), "y": [0, 1] * 10, "one": 1})
    frame.to_csv("data.csv", index=False)
    (tmp_path / "data.json").write_text("x,y\n1,0\n")
    with pytest.raises(SystemExit) as error:
        main(["audit", *argv, "--epochs", "1"])
    assert error.value.code == 2
    assert message in capsys.readouterr().err


def test_demo_takes_a_device(monkeypatch, capsys):
    from skinfluence import InfluenceGlitchDetector

    seen = {}
    monkeypatch.setattr(
        InfluenceGlitchDetector,
        "fit",
        lambda self, *a, **k: seen.update(device=self.device) or 1 / 0,
    )
    with pytest.raises(ZeroDivisionError):
        main(["demo", "--device", "cpu:0"])
    assert seen["device"] == "cpu:0"
    with pytest.raises(SystemExit):
        main(["demo", "--device", "gpu0"])
    assert "not a torch device" in capsys.readouterr().err


def test_device_reaches_the_estimator(tmp_path, monkeypatch):
    from skinfluence import auditing

    seen = {}
    monkeypatch.setattr(auditing, "audit", lambda *a, **k: seen.update(k) or 1 / 0)
    frame = pd.DataFrame({"x": np.linspace(0, 1, 20), "y": [0, 1] * 10})
    frame.to_csv(tmp_path / "data.csv", index=False)
    argv = ["audit", str(tmp_path / "data.csv"), "--target", "y", "--device"]
    with pytest.raises(ZeroDivisionError):
        main([*argv, "cpu:0", "--quiet"])
    assert seen["detector_params"] == {"device": "cpu:0"}
    seen.clear()
    with pytest.raises(ZeroDivisionError):
        main([*argv, "cpu", "--quiet"])
    assert "detector_params" not in seen


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252", "latin-1"])
def test_read_table_reads_spreadsheet_encodings(tmp_path, caplog, encoding):
    # Spreadsheet programs save CSV files in their code page; UTF-8 failed on
    # the first accented byte ("'utf-8' codec can't decode byte 0xe9").
    frame = pd.DataFrame(
        {"ville": ["Besançon", "Orléans", "Nîmes"] * 4, "étiquette": [0, 1] * 6}
    )
    path = tmp_path / f"{encoding}.csv"
    frame.to_csv(path, index=False, encoding=encoding)
    with caplog.at_level("WARNING", logger="skinfluence"):
        read = read_table(path)
    assert_frame_equal(read, frame, check_dtype=False)
    warned = [
        r.getMessage() for r in caplog.records if "is not UTF-8" in r.getMessage()
    ]
    assert bool(warned) == (encoding != "utf-8-sig")


def test_read_table_and_clean_table_raise_value_errors(tmp_path):
    with pytest.raises(ValueError, match=r"\.xlsx"):
        read_table(tmp_path / "data.xlsx")
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [np.nan, np.nan, np.nan]})
    with pytest.raises(ValueError, match="every row has a missing 'y'"):
        clean_table(frame, "y")
    with pytest.raises(ValueError, match="no usable feature column"):
        clean_table(frame.assign(x=np.nan, y=[0, 1, 0]), "y")
    with pytest.raises(ValueError, match="cannot be the target"):
        clean_table(frame, "y", id_column="y")
    with pytest.raises(TypeError, match="find_glitches"):
        clean_table(frame.to_numpy(), "y")
    # A label per row (an identifier, or amounts in a form not read as
    # numbers): trained anyway, it only ended in "it has not learnt".
    names = pd.DataFrame({"x": np.arange(40.0), "y": [f"#{i:04d}" for i in range(40)]})
    with pytest.raises(
        ValueError, match="holds 40 distinct labels in 40 rows, 40 of them on a single"
    ):
        clean_table(names, "y")


def test_clean_table_ignores_columns_no_model_can_use():
    n = 30
    frame = pd.DataFrame(
        {
            "x": np.arange(n, dtype=float),
            "name": [f"person {i}" for i in range(n)],  # every value distinct
            "empty": np.nan,
            "when": pd.date_range("2024-01-01", periods=n),
            "mixed": pd.Series([1, "a", None] * 10, dtype=object),
            "y": [0, 1, 2] * 10,
        }
    )
    table = clean_table(frame, "y")
    assert list(table.features.columns) == ["x", "mixed"]
    assert_array_equal(table.labels, frame["y"])
    assert_array_equal(table.features.index, frame.index)
    dropped = sorted(c for columns in table.dropped.values() for c in columns)
    assert dropped == ["empty", "name", "when"]
    assert list(table.ids.columns) == ["name"]  # identifier-like: kept to report


def test_clean_table_reports_row_numbers_as_identifiers():
    # A saved index or an id counting the rows carries the file's order (a
    # table sorted by class gives it away); a time step named t is a feature.
    n = 60
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "Unnamed: 0": np.arange(n),
            "customer_id": rng.permutation(np.arange(1001, 1001 + n)),
            "t": np.arange(n),
            "x": rng.normal(size=n),
            "y": np.repeat([0, 1], n // 2),
        }
    )
    table = clean_table(frame, "y")
    assert list(table.features.columns) == ["t", "x"]
    assert list(table.ids.columns) == ["Unnamed: 0", "customer_id"]
    gaps = frame.assign(customer_id=frame["customer_id"] * 2)  # not consecutive
    assert "customer_id" in clean_table(gaps, "y").features.columns


def test_clean_table_keeps_strings_as_codes():
    # A code per cell, not a Python string: a tenth of the memory on a large
    # table. Mixed-type object columns stay as they are, and every column
    # encodes as its cells' strings: 1, 1.0 and True stay three categories.
    frame = pd.DataFrame(
        {
            "colour": pd.Series(["red", "blue", None, "red"] * 10, dtype="string"),
            "flag": [True, False] * 20,
            "mixed": pd.Series([1, 1.0, True, "a"] * 10, dtype=object),
            "y": [0, 1] * 20,
        }
    )
    X = clean_table(frame, "y").features
    assert [str(X[c].dtype) for c in X] == ["category", "category", "object"]
    encoder = make_preprocessor(X).fit(X).named_transformers_["categorical"][-1]
    assert [c.tolist() for c in encoder.categories_] == [
        ["blue", "red"],
        ["False", "True"],
        ["1", "1.0", "True", "a"],
    ]


def test_clean_table_reads_numbers_with_placeholders_as_numbers():
    # A CSV column of ages with a few "unknown" cells is text to pandas; as
    # text it was one-hot encoded, its rarest ages pooled and its order lost.
    n = 60
    ages = pd.Series(np.arange(20, 20 + n), dtype=object)
    ages[[3, 17]], ages[40] = "unknown", "?"
    frame = pd.DataFrame(
        {
            "age": ages,
            "code": [f"A{i % 4}" for i in range(n - 3)] + ["1", "2", "3"],
            "digits": pd.Series([str(i % 7) for i in range(n)], dtype=object),
            "y": [0, 1] * (n // 2),
        }
    )
    before = frame.copy()
    table = clean_table(frame, "y")
    age = table.features["age"]
    assert age.dtype == np.float64
    assert_array_equal(np.flatnonzero(age.isna()), [3, 17, 40])
    assert age[5] == 25.0
    assert table.coerced == {"age": {"cells": 3, "tokens": ["unknown", "?"]}}
    # Mostly text stays text; numbers only, kept as text, are the caller's call.
    for column in ("code", "digits"):
        assert not pd.api.types.is_numeric_dtype(table.features[column])
    assert_frame_equal(frame, before)
    # The reference reads the same columns the same way.
    X_ref, _, _ = reference_rows(frame.iloc[:10], table)
    assert X_ref["age"].dtype == np.float64 and X_ref["age"].isna().sum() == 1


def test_summary_warns_of_columns_that_copy_the_target():
    # wine with 18 labels flipped and a 'grade' column written from the noisy
    # labels: the network fitted 100 %, nothing was flagged, nothing said why.
    from sklearn.datasets import load_wine

    from skinfluence.auditing._table import target_copies, target_copy_lines

    frame = load_wine(as_frame=True).frame
    assert target_copies(clean_table(frame, "target")) == []
    rng = np.random.default_rng(0)
    y = frame["target"].to_numpy().copy()
    flip = rng.choice(len(y), 18, replace=False)
    y[flip] = (y[flip] + 1) % 3
    leaky = frame.assign(target=y, grade=np.array(["A", "B", "C"])[y])
    table = clean_table(leaky, "target")
    assert target_copies(table) == ["grade"]
    (line,) = target_copy_lines(table)
    assert line.startswith("Column(s) that determine the target 'target' exactly: ")
    assert "'grade' (each of its values goes with a single label)" in line
    # A regression target in other units.
    prices = pd.DataFrame({"x": rng.normal(size=50), "eur": rng.uniform(1, 9, 50)})
    prices["usd"] = prices["eur"] * 1.08
    assert target_copies(clean_table(prices, "usd")) == ["eur"]
    assert target_copies(clean_table(prices.drop(columns="eur"), "usd")) == []
    report = skinfluence.audit(leaky, "target", epochs=2)
    assert any(note.startswith("Column(s) that determine") for note in report.notes)


def test_numbers_written_with_one_unit_are_read_as_numbers():
    # '72.5 kg' was a category: one-hot encoded, its rarest values pooled,
    # its order lost.
    rng = np.random.default_rng(0)
    weight, height = rng.uniform(50, 100, 80).round(1), rng.uniform(150, 200, 80)
    frame = pd.DataFrame(
        {
            "weight": [f"{v} kg" for v in weight],
            "height": [f"{v:.0f}cm" for v in height],
            "mixed": [
                f"{v} kg" if i % 2 else f"{v * 1000:.0f} g"
                for i, v in enumerate(weight)
            ],
            "y": (weight > 75).astype(int),
        }
    )
    table = clean_table(frame, "y")
    assert_array_equal(table.features["weight"], weight)
    assert_array_equal(table.features["height"], height.round())
    assert table.coerced["weight"]["signs"] == ["unit 'kg'"]
    assert table.coerced["height"]["signs"] == ["unit 'cm'"]
    # kg beside g would need converting, 1.5k beside 500 multiplying: text.
    assert "mixed" not in table.coerced
    assert not pd.api.types.is_numeric_dtype(table.features["mixed"])
    amounts = frame.assign(mixed=["500", "1.5k", "20k", "750"] * 20)
    assert "mixed" not in clean_table(amounts, "y").coerced


def test_summary_names_rare_labels_that_look_like_typos():
    # 'malignat' and 'bengin' were classes of their own, typed rare, and the
    # summary did not say which frequent label they most likely meant.
    from sklearn.datasets import load_breast_cancer

    from skinfluence.auditing._table import misspelt_labels, spelling_lines

    frame = load_breast_cancer(as_frame=True).frame
    labels = np.where(frame["target"] == 1, "benign", "malignant").astype(object)
    labels[[3, 7]] = "bengin"
    labels[11] = "malignat"
    table = clean_table(frame.assign(target=labels), "target")
    assert misspelt_labels(table.labels) == [
        (("malignat", 1), ("malignant", 209)),
        (("bengin", 2), ("benign", 357)),
    ]
    (line,) = spelling_lines(table)
    assert line.startswith(
        "Rare labels that look like misspellings of a frequent one: 'malignat' "
        "(1 rows) ~ 'malignant' (209 rows); 'bengin' (2 rows) ~ 'benign' (357 rows)."
    )
    # Numbered or lettered classes are rare classes, not typos.
    assert misspelt_labels(["class_1"] * 300 + ["class_2"] * 2) == []
    assert misspelt_labels(["grade A"] * 300 + ["grade B"] * 2) == []


def test_summary_reports_placeholders_and_spelling_variants():
    n = 120
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": x,
            "size": pd.Series(rng.integers(1, 9, n), dtype=object),
            "plan": rng.choice(["basic", "Basic ", "pro", "PRO"], n),
            "y": np.where(x > 0, "yes", "no").astype(object),
        }
    )
    frame.loc[[2, 9], "size"] = "n/a"
    frame.loc[[0, 1], "y"] = "Yes"
    notes = skinfluence.audit(frame, "y", epochs=2, random_state=0).notes
    text = "\n".join(notes)
    assert (
        "the table: read 'size' as numbers; its 2 cell(s) that are not numbers "
        "('n/a') are missing values." in text
    )
    assert "2 numeric with the column median ('size')" in text
    n_yes = int((frame["y"] == "yes").sum())
    assert (
        "Labels that differ only in case or surrounding spaces are audited as "
        f"different classes: 'yes' ({n_yes} rows) and 'Yes' (2 rows)." in text
    )
    assert "encoded apart: 'plan': " in text
    plan = frame["plan"].value_counts()
    for a, b in (("basic", "Basic "), ("pro", "PRO")):
        first, second = sorted((a, b), key=lambda v: -plan[v])
        assert f"{first!r} ({plan[first]}) and {second!r} ({plan[second]})" in text


@pytest.mark.skipif(
    int(pd.__version__.split(".")[0]) < 3, reason="pandas copies without copy-on-write"
)
def test_clean_table_does_not_copy_numeric_columns():
    frame = pd.DataFrame({"x": np.arange(40.0), "y": [0, 1] * 20})
    X = clean_table(frame, "y").features
    assert np.shares_memory(X["x"].to_numpy(), frame["x"].to_numpy())


def test_preprocessor_imputes_scales_and_one_hot_encodes():
    frame = pd.DataFrame(
        {
            "x": [1.0, np.nan, 3.0, 5.0],
            "n": [1, 2, 3, 4],
            "colour": ["red", None, "blue", "red"],
            "flag": [True, False, True, True],
            "mixed": pd.Series([1, "a", None, 1], dtype=object),  # ints and strings
            "grade": pd.Categorical(["a", "b", "a", None]),
            "count": pd.array([2, None, 4, 6], dtype="Int64"),  # pd.NA
            "y": [0, 1, 0, 1],
        }
    )
    X = clean_table(frame, "y").features
    preprocessor = make_preprocessor(X)
    out = preprocessor.fit_transform(X)
    # 3 numeric + colour (2) + flag (2) + mixed (2) + grade (2)
    assert out.shape == (4, 11) and np.isfinite(out).all()
    assert_array_equal(out[1, 0], 0.0)  # the median of 1, 3, 5, standardised
    assert out[:, :3].mean(0) == pytest.approx(0.0, abs=1e-12)
    unseen = X.assign(colour=["green"] * 4)
    one_hot = preprocessor.transform(unseen)[:, 3:5]
    assert_array_equal(one_hot, 0.0)  # an unknown category encodes as nothing


def test_many_categories_are_pooled():
    n = 300
    frame = pd.DataFrame(
        {"city": [f"town {i % 50}" for i in range(n)], "y": [0, 1] * (n // 2)}
    )
    X = clean_table(frame, "y").features
    assert make_preprocessor(X).fit_transform(X).shape == (n, 20)


def test_embedded_audit_prints_detection_quality(tmp_path, capsys):
    assert main(["audit", "--out", str(tmp_path), "--epochs", "2", "--top", "3"]) == 0
    printed = capsys.readouterr().out
    for text in (
        "Embedded data: scikit-learn's digits",
        "F1 at k=148",
        "AUROC",
        "typing accuracy",
        "relabel accuracy",
        "Injected kind (rows) against diagnosed type (columns)",
        "Top 3 suspects",
    ):
        assert text in printed
    report = pd.read_csv(tmp_path / "report.csv")
    assert len(report) == 1543
    assert {"injected", "true_label"} <= set(report.columns)
    assert report["flagged"].sum() == pytest.approx(154, abs=2)  # contamination 0.1
    assert (tmp_path / "report.png").exists()


@pytest.mark.slow
def test_embedded_audit_quality_at_default_epochs(tmp_path):
    """The README's command. Measured: F1 at k 0.87, typing 0.90, relabel 1.0."""
    quality = audit_embedded(verbose=0).quality
    assert quality["f1_at_k"] >= 0.8 and quality["auroc"] >= 0.95
    assert quality["typing"] >= 0.85 and quality["relabel"] >= 0.9


# ------------------------------------------------------------- Python API


def test_api_table_keeps_the_index_and_equals_the_cli_report(tables, csv_run):
    frame, _, mask, unlabelled = tables
    out, _ = csv_run
    shifted = frame.set_axis(frame.index + 1000)  # not a default index
    report = skinfluence.audit(
        shifted, "species", id_column="customer", epochs=10, contamination=0.1
    )
    assert isinstance(report, AuditReport)
    labelled = shifted.index.delete(unlabelled)
    assert_array_equal(np.sort(report.table.index), labelled)
    assert_array_equal(
        report.table["given_label"], shifted.loc[report.table.index, "species"]
    )
    assert (np.diff(report.table["glitch_score"]) <= 0).all()  # ranked
    # The CLI's report.csv is the API's table written out, row for row.
    cli = pd.read_csv(out / "report.csv", index_col="row")
    api = pd.read_csv(io.StringIO(report.to_csv()), index_col="row")
    assert_frame_equal(api.set_axis(api.index - 1000), cli, check_exact=True)
    assert report.summary(top=5).splitlines()[0] in (out / "summary.txt").read_text()
    # issues(kind) selects the rows of one kind, most suspicious first
    flagged = report.issues("glitch")
    assert len(flagged) == report.table["flagged"].sum()
    mislabeled = report.issues("mislabeled")
    assert (mislabeled["glitch_type"] == "mislabeled").all()
    assert report.issue_summary().loc["mislabeled", "rows"] == len(mislabeled)
    with pytest.raises(ValueError, match="Unknown issue kind 'typo'"):
        report.issues("typo")
    with pytest.raises(ValueError, match="needs a reference"):
        report.issues("leakage")
    fig = report.plot()
    assert len(fig.axes) == 2
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_audit_is_the_function_even_after_importing_the_package():
    import skinfluence.auditing._report  # noqa: F401

    assert callable(skinfluence.audit)
    assert skinfluence.audit is skinfluence.auditing.audit
    assert {"audit", "find_glitches", "AuditReport"} <= set(dir(skinfluence))


def _small_frame(n=120, seed=0):
    X, y = make_classification(
        n, n_features=3, n_informative=3, n_redundant=0, random_state=seed
    )
    frame = pd.DataFrame(X, columns=["u", "v", "w"])
    frame["label"] = y
    return frame


def test_identifier_column_is_carried_into_the_report(tmp_path):
    frame = _small_frame()
    frame.insert(0, "order_id", [f"A-{i:05d}" for i in range(len(frame))])
    frame.to_csv(tmp_path / "orders.csv", index=False)
    assert (
        main(
            [
                "audit",
                str(tmp_path / "orders.csv"),
                "--target",
                "label",
                "--out",
                str(tmp_path / "out"),
                "--epochs",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    report = pd.read_csv(tmp_path / "out" / "report.csv")
    assert list(report.columns[:3]) == ["row", "order_id", "given_label"]
    assert_array_equal(report["order_id"], frame["order_id"][report["row"]])
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert (
        "identifier-like columns (every value distinct, or an id or index of "
        "consecutive integers), kept in the report" in summary
    )


def test_integer_labels_stay_integer_with_missing_target_cells(tmp_path, capsys):
    frame = _small_frame()
    frame.loc[[3, 7], "label"] = np.nan  # pandas reads the column as float
    frame.to_csv(tmp_path / "data.csv", index=False)
    assert (
        main(
            [
                "audit",
                str(tmp_path / "data.csv"),
                "--target",
                "label",
                "--out",
                str(tmp_path / "out"),
                "--epochs",
                "2",
                "--contamination",
                "0.1",
            ]
        )
        == 0
    )
    report = pd.read_csv(tmp_path / "out" / "report.csv", dtype=str)
    assert set(report["given_label"]) == {"0", "1"}  # not "0.0", "1.0"
    suggested = report["suggested_label"].dropna()
    assert len(suggested) and set(suggested) <= {"0", "1"}
    assert not {"3", "7"} & set(report["row"])
    assert "dropped 2 row(s) with a missing 'label'" in capsys.readouterr().out


def test_semicolon_csv_with_decimal_commas_is_read(tmp_path):
    frame = _small_frame(40)
    path = tmp_path / "european.csv"
    frame.to_csv(path, sep=";", decimal=",", index=False)
    assert_frame_equal(read_table(path), frame)
    frame.to_csv(tmp_path / "tabs.csv.gz", sep="\t", index=False)
    assert_frame_equal(read_table(tmp_path / "tabs.csv.gz"), frame)
    # Tab-separated files by their own names, the delimiter sniffed all the same.
    for name in ("tabs.tsv", "tabs.TAB", "tabs.txt", "tabs.tsv.bz2"):
        frame.to_csv(tmp_path / name, sep="\t", index=False)
        assert_frame_equal(read_table(tmp_path / name), frame)
    # Runs of spaces, when every line splits into the header's fields.
    spaced = frame.rename(columns=lambda name: name.replace(" ", "_"))
    text = spaced.to_string(index=False)
    (tmp_path / "spaces.data").write_text(text + "\n")
    assert_frame_equal(
        read_table(tmp_path / "spaces.data"), spaced, check_exact=False, atol=1e-6
    )
    # ... not when a field holds a space: one column, as before.
    (tmp_path / "ragged.txt").write_text("a b\n1 2\nx y z\n")
    assert read_table(tmp_path / "ragged.txt").shape == (2, 1)
    assert (
        main(
            [
                "audit",
                str(path),
                "--target",
                "label",
                "--out",
                str(tmp_path / "out"),
                "--epochs",
                "1",
                "--quiet",
            ]
        )
        == 0
    )


def test_spreadsheet_csv_with_grouped_thousands_is_read_as_numbers(tmp_path):
    # German Excel: ';' between fields, ',' before decimals, '.' between
    # thousands. The dot made the decimal check give up: every column was
    # text, one-hot encoded into 260 features.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "proline": rng.uniform(300, 1700, 30).round(2),
            "hue": rng.uniform(0.5, 1.5, 30).round(2),
            "day": [f"{1 + i % 28:02d}.03.2024" for i in range(30)],
        }
    )

    def german(value):  # 1,065.00 -> 1.065,00
        return f"{value:,.2f}".translate(str.maketrans(",.", ".,"))

    path = tmp_path / "excel.csv"
    lines = [f"{german(p)};{german(h)};{d}" for p, h, d in frame.to_numpy()]
    path.write_text("\n".join(["proline;hue;day", *lines]) + "\n")
    read = read_table(path)
    assert_array_equal(read["hue"], frame["hue"])
    # pandas reads a dotted date as a number when told that dots group
    # thousands: with dates in the file, the audit reads the grouped numbers.
    assert read["day"].tolist() == frame["day"].tolist()
    table = clean_table(read, "hue", task="regression")
    assert_array_equal(table.features["proline"], frame["proline"])
    assert table.coerced["proline"]["signs"] == ["decimal commas"]
    path.write_text("\n".join(["proline;hue", *[line[:-11] for line in lines]]))
    assert_array_equal(read_table(path)["proline"], frame["proline"])


def test_clean_table_reads_numbers_written_with_signs_and_grouping():
    n = 60
    rng = np.random.default_rng(0)
    price = rng.uniform(500, 5000, n).round(2)
    share = rng.uniform(0, 100, n).round(1)
    frame = pd.DataFrame(
        {
            "price": [f"${p:,.2f}" for p in price],
            "share": [f"{s}%" for s in share],
            "eu": [f"{p:,.2f}".translate(str.maketrans(",.", ".,")) for p in price],
            "y": [0, 1] * (n // 2),
        }
    )
    frame.loc[4, "share"] = "n/a"
    table = clean_table(frame, "y")
    assert_array_equal(table.features["price"], price)
    assert_array_equal(table.features["eu"], price)
    assert table.features["share"].isna().sum() == 1
    assert_array_equal(table.features["share"].drop(4), np.delete(share, 4))
    assert table.coerced["price"]["signs"] == [
        "currency signs",
        "thousands separators ','",
    ]
    assert table.coerced["eu"]["signs"] == ["decimal commas"]
    # The reference reads them the same way.
    X_ref, _, _ = reference_rows(frame.iloc[:5], table)
    assert_array_equal(X_ref["price"], price[:5])
    notes = skinfluence.audit(frame, "y", epochs=1, random_state=0).notes
    assert (
        "the table: read 'price' as numbers past its currency signs and "
        "thousands separators ','." in notes
    )
    assert (
        "the table: read 'share' as numbers past its percent signs; its 1 cell(s) "
        "that are not numbers ('n/a') are missing values." in notes
    )


def test_categories_of_one_row_are_pooled_and_number_codes_named():
    # Free text: one-hot encoded, each sentence of its own made its row an
    # isolated "outlier".
    n = 100
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "note": ["as usual"] * 50 + [f"remark number {i}" for i in range(50)],
            # 30 codes of 3 rows and 10 of one: 19 columns and the pooled one
            "code": pd.Series(
                [str(i // 3) for i in range(90)] + [str(100 + i) for i in range(10)],
                dtype=object,
            ),
            "y": [0, 1] * (n // 2),
        }
    )
    X = clean_table(frame, "y").features
    preprocessor = make_preprocessor(X)
    out = preprocessor.fit_transform(X)
    note = [c for c in preprocessor.get_feature_names_out() if "note" in c]
    assert len(note) == 2  # 'as usual' and the pooled sentences
    notes = skinfluence.audit(frame, "y", epochs=1, random_state=0).notes
    assert (
        "One-hot encoded 2 categorical column(s) into 22 columns (71 "
        "categories of 'note', 'code' pooled into one column each: those of one "
        "row and those beyond the 19 most frequent)." in notes
    )
    assert (
        "'code' hold(s) numbers kept as text: encoded as categories, the rarest "
        "pooled and their order lost; convert with pandas.to_numeric to audit "
        "them as numbers." in notes
    )
    assert out.shape[0] == n


def test_quiet_prints_nothing_and_version_prints_the_version(tmp_path, capsys):
    frame = _small_frame(60)
    frame.to_csv(tmp_path / "data.csv", index=False)
    main(
        [
            "audit",
            str(tmp_path / "data.csv"),
            "--target",
            "label",
            "--out",
            str(tmp_path / "out"),
            "--epochs",
            "1",
            "--quiet",
        ]
    )
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert (tmp_path / "out" / "report.csv").exists()
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"skinfluence {skinfluence.__version__}"


def test_demo_has_a_help_text(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "Flip the labels of a share of scikit-learn's digits" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize("argv", [["--help"], ["audit", "--help"], ["--version"]])
def test_help_does_not_import_torch(argv):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from skinfluence.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted({'torch', 'pandas', 'sklearn'} & set(sys.modules))\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "HEAVY []" in done.stdout


def test_audit_logs_its_stages_and_shows_progress_when_verbose(caplog, capsys):
    import logging

    frame = _small_frame(60)
    with caplog.at_level(logging.INFO, logger="skinfluence"):
        skinfluence.audit(frame, "label", epochs=1, verbose=1)
    stages = [
        r.getMessage() for r in caplog.records if r.name.startswith("skinfluence.")
    ]
    assert any(m.startswith("training and scoring: done in") for m in stages)
    assert any(m.startswith("checking duplicates") for m in stages)
    assert "audit: training and scoring" in capsys.readouterr().err  # tqdm bar
    caplog.clear()
    skinfluence.audit(frame, "label", epochs=1)
    assert "audit:" not in capsys.readouterr().err  # silent by default


def test_cli_logs_each_stage_to_the_current_stderr(tmp_path, monkeypatch):
    import sys

    _small_frame(60).to_csv(tmp_path / "data.csv", index=False)
    for run in range(2):  # a second main() in the same process logs as well
        err = io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        out = str(tmp_path / f"out{run}")
        main(["audit", str(tmp_path / "data.csv"), "--target", "label", "--out", out,
              "--epochs", "1"])  # fmt: skip
        assert "skinfluence: training and scoring: done in" in err.getvalue()
        assert "skinfluence: read " in err.getvalue()


def test_detector_params_reach_the_detector():
    from skinfluence.models import make_net

    report = skinfluence.audit(
        _small_frame(60),
        "label",
        detector_params={"estimator": make_net(max_epochs=3), "reference_size": 20},
    )
    assert report.detector.trajectory_.n_epochs == 3
    assert len(report.detector.reference_indices_) == 20


@pytest.mark.parametrize(
    "n_rows, epochs, expected",
    [
        (5_000, None, (None, None)),  # the network's defaults
        (100_000, None, (None, None)),
        (100_000, 7, (7, None)),
        (200_000, None, (10, 128)),
        (400_000, None, (5, 256)),
        (1_000_000, None, (3, 512)),
        (10_000_000, None, (3, 512)),  # never fewer than 3 epochs, batches <= 512
        (1_000_000, 8, (8, 512)),  # the user's epochs are kept
    ],
)
def test_training_schedule_bounds_epochs_and_steps_of_large_tables(
    n_rows, epochs, expected
):
    from skinfluence.auditing import training_schedule

    assert training_schedule(n_rows, epochs) == expected


def test_large_table_audit_trains_the_schedule_and_says_so(monkeypatch):
    from skinfluence.auditing import _run

    # A "large" table of 60 rows: the rule of a million rows, in miniature.
    monkeypatch.setattr(_run, "LARGE_TABLE", 20)
    monkeypatch.setattr(_run, "_ROW_PASSES", 120)
    report = skinfluence.audit(_small_frame(60), "label")
    assert report.detector.trajectory_.n_epochs == 3
    assert report.detector.estimator_.batch_size == 128
    assert "the MLP trains 3 epochs in batches of 128 rows" in report.summary()


def test_encoded_matrix_is_float32_and_not_rescaled_by_the_detector():
    frame = _small_frame(60)
    frame["city"] = np.where(np.arange(60) % 3, "Oslo", "Rome")
    assert make_preprocessor(frame).fit_transform(frame).dtype == np.float32
    report = skinfluence.audit(frame, "label", epochs=1)
    # Already standardised by the preprocessor: no second scaled copy.
    assert report.detector.scaler_ is None
    assert report.detector.working_memory == 128


def test_summary_states_the_training_fit_and_warns_when_it_is_poor():
    """Unfitted clean rows read as conflicts: the summary says how many there are."""
    from skinfluence.auditing._task import POOR_FIT

    X, y = make_classification(
        120, n_features=3, n_informative=3, n_redundant=0, class_sep=3.0,
        random_state=0,
    )  # fmt: skip
    frame = pd.DataFrame(X, columns=["u", "v", "w"]).assign(label=y)
    separable = skinfluence.audit(frame, "label")
    detector = separable.detector
    accuracy = float(
        (detector.trajectory_.train.p[-1].argmax(1) == detector.scoring_.y_train)
        .double()
        .mean()
    )
    assert accuracy >= POOR_FIT
    summary = separable.summary()
    assert f"The network fits {accuracy:.0%} of the rows it trained on" in summary
    assert "trust the ranking" not in summary

    noise = _small_frame(120)
    noise["label"] = np.random.default_rng(0).integers(0, 2, 120)  # unlearnable
    summary = skinfluence.audit(noise, "label", epochs=3).summary()
    assert "trust the ranking (glitch_score) over the flag count" in summary
    assert "can fit any targets" not in summary  # 3 features for 120 rows


def test_summary_warns_when_more_features_than_rows_are_memorised():
    # 2000 features for 300 rows: 100 % fitted, 1 of 15 flipped labels in
    # the top 15, and the summary said only that the fit was perfect.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 80))
    frame = pd.DataFrame(X, columns=[f"g{i}" for i in range(80)])
    frame["label"] = (X[:, 0] > 0).astype(int)
    summary = skinfluence.audit(frame, "label", random_state=0).summary()
    assert "The network fits 100% of the rows it trained on" in summary
    assert "With 80 features for 60 rows it can fit any targets" in summary


def test_summary_says_how_each_family_threshold_was_chosen():
    """Issue 14: the summary names each family's threshold and what it counted."""
    X, y = make_classification(
        300, n_features=6, n_informative=4, class_sep=2.0, random_state=0
    )
    X[:12, :2] = 15.0  # rows far out, 4 % of the table
    frame = pd.DataFrame(X, columns=list("abcdef")).assign(label=y)
    report = skinfluence.audit(frame, "label", epochs=5)
    axes = report.detector.scoring_.fit_result.extras["axes"]
    summary = report.summary()
    counts = axes["counts"]
    assert f"label conflict: the {counts['conflict']} rows that harm" in summary
    assert "beyond chance (neighbour-influence balance above 1/sqrt(k))" in summary
    assert axes["isolation_present"] and axes["isolation_robust"]
    assert (
        f"isolation: the {counts['isolation']} rows beyond "
        f"{axes['isolation_level']:.2f} times the robust 99th percentile" in summary
    )
    assert "at most 20% of them are expected clean" in summary
    assert counts["isolation"] >= 12
    assert int(report.table["flagged"].sum()) == int(
        (report.detector.glitch_scores_ > 0).sum()
    )

    clean = pd.DataFrame(X[12:], columns=list("abcdef")).assign(label=y[12:])
    summary = skinfluence.audit(clean, "label", epochs=5).summary()
    assert "isolation did not join" in summary and "no more than chance" in summary


def test_summary_says_when_a_small_reference_was_not_confirmed():
    """The gate's second test (a trusted reference under 100 rows) is named when it shut."""
    from types import SimpleNamespace

    from skinfluence.auditing._task import TASKS
    from skinfluence.signals._auto import fuse

    from .test_diagnosis import _small_reference_case

    scores, axes = fuse(*_small_reference_case(0), robust=True, confirm=True)
    detector = SimpleNamespace(
        scoring_=SimpleNamespace(fit_result=SimpleNamespace(extras={"axes": axes})),
        glitch_scores_=scores,
    )
    rule = TASKS["classification"].auto_rule(detector)
    assert "isolation did not join" in rule
    assert "too small to calibrate on alone" in rule
    assert "against the audited rows' own bulk" in rule
    scores, axes = fuse(*_small_reference_case(15), robust=True, confirm=True)
    detector.scoring_.fit_result.extras["axes"], detector.glitch_scores_ = axes, scores
    assert "isolation: the" in TASKS["classification"].auto_rule(detector)


def test_summary_says_when_auto_leans_on_neighbor_influence():
    from types import SimpleNamespace

    from skinfluence.auditing._task import TASKS
    from skinfluence.signals._auto import fuse

    from .test_diagnosis import _small_reference_case

    cases = [(0.0, 0.1, 0.02, None), (0.6, 0.32, 0.04, "moves 60% of the way")]
    # Outvoted often, but the reference's own clean rows as often: no lean.
    cases.append((0.0, 0.5, 0.55, "stays the mean of the four"))
    # Every label fitted, the disputed ones too: neighbour influence left out.
    cases.append((None, 0.3, None, "it has memorised them"))
    for anchor, share, null, said in cases:
        scores, axes = fuse(
            *_small_reference_case(0),
            robust=True,
            anchor=anchor or 0.0,
            weights=None if anchor is not None else {"aum": 1.0},
        )
        axes["outvoted_share"], axes["reference_outvoted_share"] = share, null
        axes["memorised"] = anchor is None
        detector = SimpleNamespace(
            scoring_=SimpleNamespace(fit_result=SimpleNamespace(extras={"axes": axes})),
            glitch_scores_=scores,
        )
        rule = TASKS["classification"].auto_rule(detector)
        if said is None:
            assert "outvote" not in rule and "memorised" not in rule
        else:
            assert said in rule and f"{share:.0%}" in rule


def _summary_lines(table):
    """The summary's cleaning sentences for ``table``, without training."""
    from skinfluence.auditing._table import describe_preprocessing, preprocessing_lines

    preprocessor = make_preprocessor(table.features)
    X = preprocessor.fit_transform(table.features)
    assert np.isfinite(X).all()
    return preprocessing_lines(describe_preprocessing(table, preprocessor, X.shape[1]))


def test_clean_table_reads_infinite_cells_as_missing():
    # sklearn refused the whole table ("Input X contains infinity"), naming
    # no column; only the columns that hold one are copied.
    n = 30
    frame = pd.DataFrame(
        {
            "x": np.linspace(0.0, 1.0, n),
            "z": np.linspace(1.0, 2.0, n),
            "k": pd.array(np.arange(n) % 4, dtype="Int64"),
            "w": pd.array(np.linspace(0.0, 1.0, n), dtype="Float64"),
            "y": [0, 1] * (n // 2),
        }
    )
    frame.loc[[3, 8], "x"], frame.loc[5, "x"] = np.inf, -np.inf
    frame.loc[2, "w"] = np.inf
    before = frame.copy()
    table = clean_table(frame, "y")
    assert table.infinite == {"x": 3, "w": 1}
    assert_array_equal(np.flatnonzero(table.features["x"].isna()), [3, 5, 8])
    assert table.features["w"].isna().sum() == 1
    assert_frame_equal(frame, before)
    if int(pd.__version__.split(".")[0]) >= 3:
        z = table.features["z"].to_numpy()
        assert np.shares_memory(z, frame["z"].to_numpy())
    lines = _summary_lines(table)
    assert (
        "the table: read 4 infinite cell(s) as missing values: 3 in 'x', 1 in 'w'."
        in lines
    )
    assert any("4 numeric with the column median ('x', 'w')" in s for s in lines)
    one = clean_table(frame.drop(columns="w"), "y")
    assert (
        "the table: read 3 infinite cell(s) in 'x' as missing values."
        in _summary_lines(one)
    )
    # The reference reads them the same way.
    X_ref, _, _ = reference_rows(frame.iloc[:10], table)
    assert_array_equal(np.flatnonzero(X_ref["x"].isna()), [3, 5, 8])
    assert X_ref["w"].isna().sum() == 1
    reference = frame.assign(y=np.linspace(0.0, 1.0, n))
    regression = clean_table(reference, "y")
    with pytest.raises(ValueError, match="reference's 'y' holds 1 infinite value"):
        reference_rows(
            reference.assign(y=reference["y"].replace(0.0, np.inf)), regression
        )


def test_bulk_scaler_is_standard_scaling_without_extreme_cells():
    from sklearn.preprocessing import StandardScaler

    from skinfluence.auditing._table import BulkScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32) * [1, 10, 100, 1000]
    assert_array_equal(BulkScaler().fit_transform(X), StandardScaler().fit_transform(X))
    # Sentinels: left out of the statistics, clipped at the column's bound.
    sentinel = X.copy()
    sentinel[:3, 1] = 99999.0
    scaler = BulkScaler().fit(sentinel)
    Z = scaler.transform(sentinel)
    assert scaler.n_extreme_.tolist() == [0, 3, 0, 0]
    expected = (X[3:, 1] - X[3:, 1].mean()) / X[3:, 1].std()
    assert_allclose(Z[3:, 1], expected, rtol=1e-4, atol=1e-4)
    bound = max(10.0, 2 * np.abs(expected).max())
    assert_allclose(Z[:3, 1], bound, rtol=1e-5)
    assert_array_equal(Z[:, [0, 2, 3]], StandardScaler().fit_transform(X)[:, [0, 2, 3]])
    # New rows beyond the bound are clipped the same way.
    assert scaler.transform(np.array([[0, -1e6, 0, 0]], np.float32))[0, 1] == -Z[0, 1]
    # A frame keeps its column names, without sklearn's feature-name warning.
    frame = pd.DataFrame(sentinel, columns=list("abcd"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        named = BulkScaler().set_output(transform="pandas").fit(frame)
        assert list(named.transform(frame).columns) == list("abcd")


def test_sentinels_do_not_squeeze_the_other_rows():
    """The audit standardises on the bulk, and says how many cells it left out."""
    frame = _small_frame(200)
    frame.loc[:2, "u"] = 99999.0
    report = skinfluence.audit(frame, "label", epochs=2, random_state=0)
    assert any(
        note.startswith("3 extreme cell(s) in 'u' (see the data issue extreme_value)")
        for note in report.notes
    )
    table = clean_table(frame, "label")
    X = make_preprocessor(table.features).fit_transform(table.features)
    assert np.abs(X[3:, 0]).max() < 5  # the bulk keeps its spread
    assert (X[:3, 0] >= 10).all()  # the sentinels stay far out


def test_twenty_levels_are_not_reported_as_pooled():
    """Nineteen columns and a twentieth for the last level alone: no pooling."""
    from skinfluence.auditing._table import (
        describe_preprocessing,
        preprocessing_lines,
    )

    frame = pd.DataFrame(
        {"code": [f"level {i % 20}" for i in range(100)], "y": [0, 1] * 50}
    )
    table = clean_table(frame, "y")
    preprocessor = make_preprocessor(table.features).fit(table.features)
    info = describe_preprocessing(table, preprocessor, 20)
    assert info["encoded"] == {"code": 20} and info["pooled"] == {}
    assert "pooled" not in "\n".join(preprocessing_lines(info))


def test_read_table_names_an_empty_file_and_repeated_header_names(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv: the file is empty"):
        read_table(tmp_path / "empty.csv")
    # pandas would read 'y', 'y.1': a copy of the target as a feature.
    (tmp_path / "twice.csv").write_text("x,y,y\n1,0,0\n2,1,1\n")
    with pytest.raises(ValueError, match=r"twice\.csv has duplicated column names"):
        read_table(tmp_path / "twice.csv")
    (tmp_path / "blank.csv").write_text("x,,\n1,2,3\n")  # unnamed columns
    assert read_table(tmp_path / "blank.csv").shape == (1, 3)


def test_read_table_skips_comment_lines_before_the_header(tmp_path, caplog):
    # An export's '# generated ...' line was read as the only column name.
    path = tmp_path / "export.csv"
    path.write_text("\ufeff# exported 2024-01-01\n# units: cm\nx;y\n1,5;a\n2,5;b\n")
    with caplog.at_level("INFO", logger="skinfluence"):
        frame = read_table(path)
    assert list(frame.columns) == ["x", "y"] and frame["x"].tolist() == [1.5, 2.5]
    assert frame.index.tolist() == [0, 1]  # the report's row: data rows only
    assert "skipped 2 comment line(s) before the header" in caplog.text
    # A '#' inside the table is a value, not a comment.
    (tmp_path / "hash.csv").write_text("x,y\n1,#a\n2,#b\n")
    assert read_table(tmp_path / "hash.csv")["y"].tolist() == ["#a", "#b"]


def test_clean_table_refuses_duplicated_column_names():
    frame = pd.DataFrame({"x": np.arange(10.0), "y": [0, 1] * 5})
    for twice in ("x", "y"):
        copies = pd.concat([frame, frame[[twice]]], axis=1)
        with pytest.raises(ValueError, match=rf"column names: '{twice}' \(2 times\)"):
            clean_table(copies, "y")


def test_missing_column_error_suggests_the_column_meant(tmp_path, capsys):
    columns = [f"feature_{i}" for i in range(13)]
    values = np.arange(52.0).reshape(4, 13)
    frame = pd.DataFrame(values, columns=columns).assign(target=[0, 1] * 2)
    for given in ("tagret", "Target"):
        with pytest.raises(ValueError, match="Did you mean 'target'") as error:
            clean_table(frame, given)
        assert "'feature_12', 'target'." in str(error.value)  # every column listed
    spaced = frame.rename(columns={"target": "target "})
    with pytest.raises(ValueError, match=r"'target ' \(spaces around the name\)"):
        clean_table(spaced, "target")
    with pytest.raises(ValueError, match="no id column 'Feature_1'.*'feature_1'"):
        clean_table(frame, "target", id_column="Feature_1")
    # A name given as text finds the column of that number, and back.
    numbered = frame.set_axis(range(14), axis=1)
    assert clean_table(numbered, "13").target == 13
    texts = numbered.set_axis(list("abcdefghijklm") + ["13"], axis=1)
    assert clean_table(texts, 13).target == "13"
    # The command line says what is wrong with the data, without its usage.
    frame.to_csv(tmp_path / "data.csv", index=False)
    with pytest.raises(SystemExit) as done:
        main(["audit", str(tmp_path / "data.csv"), "--target", "Target", "-q"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "Did you mean 'target'?" in err and "usage:" not in err


def test_clean_table_ignores_constant_columns():
    n = 30
    frame = pd.DataFrame(
        {
            "x": np.linspace(0.0, 1.0, n),
            "seven": 7.0,
            "gappy": [1.0, np.nan, 1.0] * 10,  # constant but for missing cells
            "count": pd.array([3, None, 3] * 10, dtype="Int64"),
            "text": ["a"] * n,
            "flag": True,
            "two": ["a", "b"] * 15,
            "y": [0, 1] * (n // 2),
        }
    )
    table = clean_table(frame, "y")
    assert list(table.features.columns) == ["x", "two"]
    constant = ["seven", "gappy", "count", "text", "flag"]
    assert table.dropped == {
        "constant columns (one value in every row, missing cells aside)": constant
    }
    assert (
        "the table: ignored constant columns (one value in every row, missing "
        "cells aside): 'seven', 'gappy', 'count', 'text', 'flag'."
    ) in _summary_lines(table)
    with pytest.raises(ValueError, match="besides 'y'; ignored constant columns"):
        clean_table(frame[["seven", "y"]], "y")


def test_a_table_of_only_a_header_is_named(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("x,y\n")
    with pytest.raises(ValueError, match="has no rows, only its header"):
        clean_table(read_table(path), "y", name=str(path))


@pytest.mark.parametrize("kind", ["repeated", "multi"])
def test_audit_reports_a_frame_with_a_repeated_or_multi_index(tmp_path, kind):
    # pd.concat repeats index labels: reading '$1,200' cells by label crashed;
    # a MultiIndex made summary() crash and shifted report.csv's columns.
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    frame["price"] = [f"${v:,.2f}" for v in rng.uniform(500, 5000, n)]
    frame["label"] = np.where(frame["a"] > 0, "pos", "neg")
    if kind == "repeated":
        frame.index = np.repeat(np.arange(n // 2), 2)
    else:
        frame.index = pd.MultiIndex.from_arrays(
            [np.repeat(["A", "B"], n // 2), np.tile(np.arange(n // 2), 2)],
            names=["group", None],
        )
    report = skinfluence.audit(frame, "label", epochs=1, random_state=0)
    assert report.table.index.sort_values().equals(frame.index.sort_values())
    assert "row" in report.summary() or "group, level_1" in report.summary()
    report.save(tmp_path)
    written = pd.read_csv(tmp_path / "report.csv")
    if kind == "multi":
        assert list(written.columns[:3]) == ["group", "level_1", "given_label"]
        assert set(written["group"]) == {"A", "B"}
    else:
        assert list(written.columns[:2]) == ["row", "given_label"]


def test_audit_rows_match_under_pandas_transform_output():
    # diagnose() keeps a training frame's index: under transform_output=
    # "pandas" the encoded matrix is a frame, and a join by label mismatched rows.
    import sklearn

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    frame["label"] = np.where(frame["a"] > 0, "pos", "neg")
    frame = frame.sample(frac=1, random_state=0)
    with sklearn.config_context(transform_output="pandas"):
        report = skinfluence.audit(frame, "label", epochs=1, random_state=0)
    scores = pd.Series(report.detector.glitch_scores_, index=frame.index)
    assert_array_equal(report.table["glitch_score"], scores[report.table.index])


def test_reference_categories_the_table_lacks_are_named():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=60),
            "colour": rng.choice(["red", "blue"], 60),
            "label": [0, 1] * 30,
        }
    )
    reference = frame.iloc[:20].copy()
    reference.loc[reference.index[:3], "colour"] = "green"
    report = skinfluence.audit(
        frame, "label", reference=reference, epochs=1, random_state=0
    )
    assert (
        "categories the table lacks, encoded as none of its categories: "
        "'colour': 'green' (3 rows)." in report.summary()
    )
