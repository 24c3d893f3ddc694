"""Label noise across rates, modes, data sets and references: auto and TracIn vs the baselines.

Every embedded table (breast cancer, wine, iris; standardised) and digits
(pixels / 16); 20 % of the rows (300 for digits), stratified, are set aside
as the clean reference; the rest get label noise at each rate:

- ``uniform``: :class:`~skinfluence.glitches.UniformLabelNoise`;
- ``pairs``: several class pairs, every class ``c`` flipped to ``c + 1``
  (:class:`~skinfluence.glitches.ClassDependentLabelNoise`, ``"pairflip"``);
- ``onepair``: one class flipped into another (``mode="paper"``: ``rate`` of
  one source class).

Each cell is fitted twice per seed with the default detector: with the
clean reference as ``X_val`` and without it (reference drawn from the
training rows). Every signal is scored from the same captured epochs.
Prints F1 at k per cell (mean over seeds), then, per cell, ``auto`` and the
best TracIn-based signal less the best of loss, AUM and cleanlab.

Run by hand (about 20 minutes on 2 cores for the default grid)::

    python benchmarks/bench_label_noise.py
    python benchmarks/bench_label_noise.py --datasets digits --rates 0.1 --seeds 1
    python benchmarks/bench_label_noise.py --out docs/_static/benchmark/label_noise.txt
"""

import argparse
import itertools
import warnings

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skinfluence import InfluenceGlitchDetector
from skinfluence.glitches import ClassDependentLabelNoise, UniformLabelNoise
from skinfluence.metrics import f1_at_k

try:
    from _measure import Report
except ImportError:  # run from another folder
    from benchmarks._measure import Report

TRACIN = ["neighbor_influence", "self", "cnci"]
BASELINES = ["loss", "aum", "cleanlab"]
SIGNALS = ["auto", *TRACIN, *BASELINES]
LOADERS = {
    "digits": datasets.load_digits,
    "cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
    "iris": datasets.load_iris,
}


def load(name):
    X, y = LOADERS[name](return_X_y=True)
    X = X / 16.0 if name == "digits" else StandardScaler().fit_transform(X)
    return X.astype(np.float32), y


def injector(mode, rate, seed):
    if mode == "uniform":
        return UniformLabelNoise(rate, random_state=seed)
    kind = "pairflip" if mode == "pairs" else "paper"
    return ClassDependentLabelNoise(rate, mode=kind, random_state=seed)


def run_cell(name, mode, rate, seed, signals):
    X, y = load(name)
    test_size = 300 if len(y) > 1500 else 0.2
    X_tr, X_val, y_tr, y_val = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=seed
    )
    noise = injector(mode, rate, seed)
    X_tr, y_noisy = noise.fit_resample(X_tr, y_tr)
    rows = []
    for ref, fit_kwargs in (("X_val", {"X_val": X_val, "y_val": y_val}), ("none", {})):
        det = InfluenceGlitchDetector(signal="auto", random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            det.fit(X_tr, y_noisy, **fit_kwargs)
        for signal in signals:
            scores = (
                det.glitch_scores_
                if signal == "auto"
                else det.compute_signal(signal).scores
            )
            rows.append(
                {
                    "data": name,
                    "mode": mode,
                    "rate": rate,
                    "reference": ref,
                    "seed": seed,
                    "signal": signal,
                    "f1": f1_at_k(noise.glitch_mask_, scores),
                }
            )
    return rows


def summarise(table):
    cells = ["data", "mode", "rate", "reference"]
    mean = table.groupby([*cells, "signal"]).f1.mean().unstack("signal")
    mean = mean[[s for s in SIGNALS if s in mean]]
    best_base = mean[[s for s in BASELINES if s in mean]].max(axis=1)
    best_tracin = mean[[s for s in TRACIN if s in mean]].max(axis=1)
    gaps = pd.DataFrame(
        {
            "best baseline": best_base,
            "auto - best": mean["auto"] - best_base,
            "best TracIn - best": best_tracin - best_base,
        }
    )
    return mean, gaps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(LOADERS))
    parser.add_argument("--modes", nargs="+", default=["uniform", "pairs", "onepair"])
    parser.add_argument("--rates", nargs="+", type=float, default=[0.1, 0.2, 0.4])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--signals", nargs="+", default=SIGNALS)
    parser.add_argument("--out", default=None, help="also write the report here")
    args = parser.parse_args(argv)

    rows = []
    grid = itertools.product(args.datasets, args.modes, args.rates, range(args.seeds))
    for name, mode, rate, seed in grid:
        rows += run_cell(name, mode, rate, seed, args.signals)
    table = pd.DataFrame(rows)
    mean, gaps = summarise(table)
    report = Report(args.out)
    report(f"F1 at k, mean over {args.seeds} seeds (reference: X_val or none)")
    report(mean.round(3).to_string())
    report()
    report("Gaps to the best of loss / AUM / cleanlab, per cell")
    report(gaps.round(3).to_string())
    report()
    report(
        f"auto >= best - 0.01 in {(gaps['auto - best'] >= -0.01).sum()} of "
        f"{len(gaps)} cells; mean gap of the best TracIn signal "
        f"{gaps['best TracIn - best'].mean():+.3f}"
    )
    report.save()
    return mean, gaps


if __name__ == "__main__":
    main()
