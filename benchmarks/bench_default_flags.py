"""How many rows does ``contamination="auto"`` flag, per signal, on clean and noisy tables?

``fit_predict`` flags the rows beyond the signal's threshold: for
``signal="auto"`` a threshold per glitch family (label conflict: rows that
harm their neighbours beyond a coin toss; isolation: exceedances beyond
chance), for every other signal Tukey's upper fence ``Q3 + 1.5 IQR`` of the
training scores. A fence only says which scores are far from the bulk: on a
clean table the tail of a signal such as self-influence holds hard and
high-leverage clean rows, and the fence flags them. For each table and seed
the detector is fitted on the clean table and with 10 % uniform label
noise, without a reference (the training run cached and shared by the
signals); the report gives, per signal, the share of rows flagged on the
clean table, and the precision and recall of the flags on the noisy one.

Tables: those of ``bench_label_noise.py`` (its ``load``): digits (pixels /
16), breast cancer, wine and iris (standardised), and its generated
``gen2`` and ``gen6`` (2 and 6 classes).

Run by hand (about 3 minutes on two CPU cores)::

    python benchmarks/bench_default_flags.py
    python benchmarks/bench_default_flags.py --out docs/_static/benchmark/default_flags.txt
"""

import argparse
import itertools
import tempfile
import warnings

import numpy as np
import pandas as pd

from skinfluence import InfluenceGlitchDetector
from skinfluence.glitches import UniformLabelNoise

try:
    from _measure import Report
    from bench_label_noise import load
except ImportError:  # run from another folder
    from benchmarks._measure import Report
    from benchmarks.bench_label_noise import load

SIGNALS = ["self", "marginal", "absolute", "gd_class", "neighbor_influence", "auto"]
#: The label-noise benchmark's embedded tables and two of its generated ones.
TABLES = ["digits", "cancer", "wine", "iris", "gen2", "gen6"]


def run_cell(name, seed, signals, cache):
    X, y = load(name)
    noise = UniformLabelNoise(0.1, random_state=seed)
    X_noisy, y_noisy = noise.fit_resample(X, y)
    rows = []
    for signal in signals:
        det = InfluenceGlitchDetector(signal=signal, memory=cache, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clean = det.fit_predict(X, y) == -1
            flagged = det.fit_predict(X_noisy, y_noisy) == -1
        mask = noise.glitch_mask_
        rows.append(
            {
                "data": name,
                "signal": signal,
                "seed": seed,
                "clean: flagged": clean.mean(),
                "noisy: flagged": flagged.mean(),
                "precision": mask[flagged].mean() if flagged.any() else np.nan,
                "recall": flagged[mask].mean(),
            }
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=TABLES, choices=TABLES)
    parser.add_argument("--signals", nargs="+", default=SIGNALS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default=None, help="also write the report here")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for name, seed in itertools.product(args.datasets, range(args.seeds)):
            rows += run_cell(name, seed, args.signals, cache)
    table = pd.DataFrame(rows).drop(columns="seed")
    per_table = table.groupby(["signal", "data"], sort=False).mean()
    overall = table.groupby("signal", sort=False).mean(numeric_only=True)
    report = Report(args.out)
    report.tables(
        f"contamination='auto', no reference; clean table and 10 % uniform label "
        f"noise; mean over {args.seeds} seeds",
        per_table,
        "Mean over tables:",
        overall,
    )
    report.save()
    return per_table


if __name__ == "__main__":
    main()
