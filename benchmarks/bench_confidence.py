"""Is ``diagnose``'s ``confidence`` calibrated? The share of clean rows above each level.

``confidence`` promises the probability that a clean row scores lower on
the row's stronger axis, so on the *clean* rows of a table at most about
``1 - level`` of them should reach ``level``: 10 % above 0.9, 5 % above
0.95, 1 % above 0.99 (a little more, since the detector's own false flags
count). For each table and seed the default estimator is fitted with and
without a trusted reference (20 % of the rows, stratified for
classification), on the clean table and with 10 % glitches (uniform label
noise; large target errors for regression). Prints, per table, the share
of the clean rows whose confidence exceeds 0.9, 0.95 and 0.99, and the
median confidence of the glitches among the flagged rows.

Classification: breast cancer, wine, digits (pixels / 16) and two
``make_classification`` tables; regression: ``load_diabetes``,
``make_friedman1`` and a linear ``make_regression`` table (features
standardised).

Run by hand (about 2 minutes on two CPU cores)::

    python benchmarks/bench_confidence.py
    python benchmarks/bench_confidence.py --out docs/_static/benchmark/confidence.txt
"""

import argparse
import warnings

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skinfluence import InfluenceGlitchDetector, InfluenceGlitchRegressor
from skinfluence.glitches import LargeTargetErrors, UniformLabelNoise

try:
    from _measure import Report
except ImportError:  # run from another folder
    from benchmarks._measure import Report

LEVELS = (0.9, 0.95, 0.99)


def _classification(name):
    if name == "gen3":
        return datasets.make_classification(
            600, 10, n_informative=5, n_classes=3, random_state=4
        )
    if name == "gen5":
        return datasets.make_classification(
            900, 16, n_informative=8, n_classes=5, class_sep=1.3, random_state=5
        )
    loader = {
        "cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "digits": datasets.load_digits,
    }[name]
    return loader(return_X_y=True)


def _regression(name):
    if name == "diabetes":
        return datasets.load_diabetes(return_X_y=True)
    if name == "friedman1":
        return datasets.make_friedman1(600, noise=1.0, random_state=0)
    return datasets.make_regression(
        600, 10, n_informative=6, noise=10.0, random_state=0
    )


TASKS = {
    "classification": (
        ("cancer", "wine", "digits", "gen3", "gen5"),
        _classification,
        InfluenceGlitchDetector,
        UniformLabelNoise,
    ),
    "regression": (
        ("diabetes", "friedman1", "linear"),
        _regression,
        InfluenceGlitchRegressor,
        LargeTargetErrors,
    ),
}


def run_cell(task, name, rate, reference, seed):
    _, load, estimator, injector = TASKS[task]
    X, y = load(name)
    X = X / 16.0 if name == "digits" else StandardScaler().fit_transform(X)
    X = X.astype(np.float32)
    stratify = y if task == "classification" else None
    X_tr, X_val, y_tr, y_val = train_test_split(
        X, y, test_size=0.2, stratify=stratify, random_state=seed
    )
    glitch = np.zeros(len(y_tr), dtype=bool)
    if rate:
        noise = injector(rate, random_state=seed)
        X_tr, y_tr = noise.fit_resample(X_tr, y_tr)
        glitch = noise.glitch_mask_
    kwargs = {"X_val": X_val, "y_val": y_val} if reference == "X_val" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = estimator(random_state=seed).fit(X_tr, y_tr, **kwargs).diagnose()
    confidence = report["confidence"].to_numpy()
    caught = report["flagged"].to_numpy() & glitch
    row = {
        "task": task,
        "data": name,
        "glitches": rate,
        "reference": reference,
        "seed": seed,
        "clean rows": int((~glitch).sum()),
    }
    for level in LEVELS:
        row[f"> {level}"] = float((confidence[~glitch] > level).mean())
    row["glitches flagged: median"] = (
        float(np.median(confidence[caught])) if caught.any() else np.nan
    )
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--out", default=None, help="also write the report here")
    args = parser.parse_args(argv)
    rows = [
        run_cell(task, name, rate, reference, seed)
        for task in args.tasks
        for name in TASKS[task][0]
        for rate in (0.0, 0.1)
        for reference in ("none", "X_val")
        for seed in range(args.seeds)
    ]
    table = pd.DataFrame(rows)
    columns = [f"> {level}" for level in LEVELS] + ["glitches flagged: median"]
    cells = ["task", "data", "glitches", "reference"]
    report = Report(args.out)
    report(
        f"Share of clean rows whose confidence exceeds each level "
        f"(calibrated: about 0.10, 0.05, 0.01), mean over {args.seeds} seed(s)"
    )
    report(table.groupby(cells)[columns].mean().round(3).to_string())
    report()
    report(table.groupby(["task", "glitches"])[columns].mean().round(3).to_string())
    report.save()


if __name__ == "__main__":
    main()
