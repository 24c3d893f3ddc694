"""The ``skinfluence`` console script.

``skinfluence demo`` fits the detector on scikit-learn's digits with 10 %
injected uniform label noise, prints the top suspects and the F1 at the known
glitch count. ``skinfluence benchmark --quick`` runs the paper's benchmark on
embedded data, writes its tables and figures, and prints the mean F1 at k per
signal and glitch kind.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["main"]


def _demo(args):
    from sklearn.datasets import load_digits

    from . import InfluenceGlitchDetector
    from .glitches import UniformLabelNoise
    from .metrics import f1_at_k

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    noise = UniformLabelNoise(args.ratio, random_state=args.seed)
    X, y_noisy = noise.fit_resample(X, y)
    det = InfluenceGlitchDetector(signal=args.signal, random_state=args.seed, verbose=1)
    det.fit(X, y_noisy)
    ranking = np.argsort(-det.glitch_scores_, kind="stable")
    print(
        f"\nTop {args.top} suspects (signal={args.signal!r}, higher = more suspicious):"
    )
    print(f"{'row':>6} {'score':>10} {'given':>6} {'true':>5}  injected")
    for row in ranking[: args.top]:
        print(
            f"{row:>6} {det.glitch_scores_[row]:>10.4f} {y_noisy[row]:>6} "
            f"{noise.true_labels_[row]:>5}  {'yes' if noise.glitch_mask_[row] else 'no'}"
        )
    k = int(noise.glitch_mask_.sum())
    f1 = f1_at_k(noise.glitch_mask_, det.glitch_scores_)
    print(f"\nF1 at k={k} (the injected glitch count): {f1:.3f}")
    return 0


def _benchmark(args):
    import shutil
    import time

    import matplotlib

    matplotlib.use("Agg")  # files only, also on a machine without a display

    from .benchmark import get_preset, run_benchmark, summary_table, write_report

    grids = get_preset(args.preset)
    if args.signals:
        from dataclasses import replace

        signals = tuple(s.strip() for s in args.signals.split(",") if s.strip())
        grids = tuple(replace(grid, signals=signals) for grid in grids)
    start = time.perf_counter()
    result = run_benchmark(
        grids, args.out, n_jobs=args.n_jobs, progress=True, data_home=args.data_home
    )
    seconds = time.perf_counter() - start
    paths = write_report(result) if args.figures else {}
    paths["run_info"] = _write_run_info(result, args, seconds)
    if args.export:
        export = Path(args.export)
        export.mkdir(parents=True, exist_ok=True)
        for path in paths.values():
            shutil.copy(path, export / path.name)

    scores = result.scores[result.scores["f1_at_k"].notna()]
    print(
        f"\n{args.preset} preset: {result.n_trained} cells trained, "
        f"{result.n_reused} reused, {len(result.failures)} failed; {seconds:.0f} s."
    )
    for row in result.failures.itertuples(index=False):
        print(f"  failed {row.cell}: {row.error}")
    if not scores.empty:
        with pd.option_context("display.width", 200, "display.max_columns", None):
            print("\nMean F1 at k per signal (rows) and glitch kind (columns):")
            print(summary_table(scores).round(3).to_string())
    print(
        f"\nTables: {Path(args.out) / 'scores.csv'}, {Path(args.out) / 'epoch_f1.csv'}"
    )
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 1 if len(result.failures) else 0


def _write_run_info(result, args, seconds):
    """One-row CSV of how the tables were made: preset, cells, times, versions."""
    import os

    import torch

    from . import __version__

    cells = result.scores.drop_duplicates(
        ["dataset", "model", "glitch", "ratio", "seed"]
    )
    info = {
        "preset": args.preset,
        "cells": len(cells),
        "trained_now": result.n_trained,
        "reused": result.n_reused,
        "failed": len(result.failures),
        "signals": result.scores["signal"].nunique(),
        "wall_seconds": round(seconds, 1),
        "training_seconds": round(cells["fit_seconds"].sum(), 1),
        "scoring_seconds": round(result.scores["score_seconds"].sum(), 1),
        "n_jobs": args.n_jobs,
        "cpu_count": os.cpu_count(),
        "skinfluence": __version__,
        "torch": torch.__version__,
    }
    path = Path(args.out) / "run_info.csv"
    pd.DataFrame([info]).to_csv(path, index=False)
    return path


def _add_benchmark_parser(commands):
    bench = commands.add_parser(
        "benchmark",
        help="run the paper's benchmark grid and draw its figures",
        description=(
            "Train each (dataset, model, glitch, ratio, seed) cell once, score "
            "every signal, and write tidy tables (CSV, Parquet) and the paper's "
            "figures. Finished cells are kept under OUT/cells and skipped on a "
            "rerun. Cells run in parallel through joblib."
        ),
    )
    which = bench.add_mutually_exclusive_group()
    which.add_argument(
        "--quick",
        dest="preset",
        action="store_const",
        const="quick",
        help="embedded data, MLP and SmallCNN, minutes on 2 cores (the default)",
    )
    which.add_argument(
        "--paper",
        dest="preset",
        action="store_const",
        const="paper",
        help="the paper's six OpenML datasets and five models (hours; a cluster)",
    )
    which.add_argument("--preset", dest="preset", help=argparse.SUPPRESS)
    bench.set_defaults(preset="quick", run=_benchmark)
    bench.add_argument(
        "--out", default="benchmark_out", help="output folder (default: benchmark_out)"
    )
    bench.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        help="cells run in parallel (default: -1, all cores)",
    )
    bench.add_argument(
        "--signals",
        default=None,
        help="comma-separated signal names (default: the preset's)",
    )
    bench.add_argument(
        "--data-home", default=None, help="cache folder of the OpenML datasets"
    )
    bench.add_argument(
        "--no-figures", dest="figures", action="store_false", help="tables only"
    )
    bench.add_argument(
        "--export", default=None, help="also copy the figures and summary tables here"
    )


def main(argv=None):
    """Entry point of the ``skinfluence`` console script."""
    parser = argparse.ArgumentParser(
        prog="skinfluence", description="Debug training data with influence signals."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="detect injected label noise on scikit-learn's digits"
    )
    demo.add_argument("--signal", default="self", help="signal name (default: self)")
    demo.add_argument("--ratio", type=float, default=0.1, help="label-noise ratio")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.add_argument("--top", type=int, default=10, help="suspects to print")
    demo.set_defaults(run=_demo)
    _add_benchmark_parser(commands)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
