"""The ``skinfluence`` console script.

``skinfluence demo`` fits the detector on scikit-learn's digits with 10 %
injected uniform label noise, prints the top suspects and the F1 at the known
glitch count. ``skinfluence benchmark --quick`` runs the paper's benchmark on
embedded data, writes its tables and figures, and prints the mean F1 at k per
signal and glitch kind. ``skinfluence audit FILE --target COLUMN`` finds the
mislabeled rows (or, for a continuous target, the corrupted targets),
anomalies and outliers of a CSV or Parquet table and writes a ranked report;
without FILE it audits digits with injected mixed glitches and prints the
detection quality.
"""

import argparse
import logging
import sys
from pathlib import Path

# Nothing heavy at import time: ``skinfluence --help`` must not wait for torch
# or pandas; each command imports what it needs.

__all__ = ["main"]


def _demo(args, parser):
    _check_demo_args(args, parser)
    import numpy as np
    from sklearn.datasets import load_digits

    from . import InfluenceGlitchDetector
    from .glitches import UniformLabelNoise
    from .metrics import f1_at_k

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    noise = UniformLabelNoise(args.ratio, random_state=args.seed)
    X, y_noisy = noise.fit_resample(X, y)
    if not noise.glitch_mask_.any():  # F1 at k needs a glitch to find
        parser.error(
            f"--ratio {args.ratio:g} flips no label of the {len(y)} digits; "
            f"use at least {1 / len(y):.4f}."
        )
    det = InfluenceGlitchDetector(
        signal=args.signal,
        random_state=args.seed,
        verbose=0 if args.quiet else 1,
        n_threads=args.threads,
        device=args.device,
    )
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
    import pandas as pd

    matplotlib.use("Agg")  # files only, also on a machine without a display

    from .benchmark import get_preset, run_benchmark, summary_table, write_report

    grids = get_preset(args.preset)
    if args.signals:  # names checked by _signal_list
        from dataclasses import replace

        grids = tuple(replace(grid, signals=args.signals) for grid in grids)
    start = time.perf_counter()
    try:
        result = run_benchmark(
            grids,
            args.out,
            n_jobs=args.n_jobs,
            progress=not args.quiet,
            data_home=args.data_home,
        )
    except ConnectionError as error:  # a paper dataset offline and not cached
        print(f"skinfluence: error: {error}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    paths = write_report(result) if args.figures else {}
    paths["run_info"] = _write_run_info(result, args, seconds)
    if args.export:
        export = Path(args.export)
        export.mkdir(parents=True, exist_ok=True)
        for path in paths.values():
            shutil.copy(path, export / path.name)

    for row in result.failures.itertuples(index=False):
        print(f"skinfluence: failed {row.cell}: {row.error}", file=sys.stderr)
    if args.quiet:
        return 1 if len(result.failures) else 0
    scores = result.scores[result.scores["f1_at_k"].notna()]
    print(
        f"\n{args.preset} preset: {result.n_trained} cells trained, "
        f"{result.n_reused} reused, {len(result.failures)} failed; {seconds:.0f} s."
    )
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


def _audit(args, parser):
    import time

    import matplotlib

    matplotlib.use("Agg")  # files only, also on a machine without a display

    from . import auditing
    from .auditing._memory import map_large_allocations

    _check_audit_args(args, parser)
    map_large_allocations()  # large tables: freed arrays go back to the system
    start = time.perf_counter()
    options = {
        "signal": args.signal,
        "epochs": args.epochs,
        "random_state": args.seed,
        "verbose": 0 if args.quiet else 1,
    }
    if args.device != "cpu":
        options["detector_params"] = {"device": args.device}
    try:
        if args.file is None:
            contamination = 0.1 if args.contamination is None else args.contamination
            report = auditing.audit_embedded(contamination=contamination, **options)
        else:
            reference = args.reference and auditing.read_table(args.reference)
            report = auditing.audit(
                auditing.read_table(args.file),
                args.target,
                task=args.task,
                reference=reference,
                id_column=args.id,
                contamination=args.contamination or "auto",
                interval=args.interval,
                target_transform=args.target_transform,
                name=args.file,
                **options,
            )
    except ValueError as error:  # bad input: say what, without a traceback
        # Nor the usage banner: the command line was right, the data is not.
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    paths = report.save(args.out, top=args.top)
    if not args.quiet:
        source = "embedded digits" if args.file is None else args.file
        print(f"\nskinfluence audit of {source} ({time.perf_counter() - start:.0f} s)")
        print(report.summary(top=args.top))
        print()
        for name, path in paths.items():
            print(f"{name}: {path}")
    return 0


def _check_demo_args(args, parser):
    message = _unknown_signals([args.signal])
    if message:
        parser.error(f"argument --signal: {message}")
    if args.top < 0:
        parser.error("--top must be 0 or more.")


def _unknown_signals(names):
    """An error message naming the unknown signals among ``names``, or None."""
    from .signals import available  # torch: only once the arguments are parsed

    known = list(available()["name"])
    unknown = [name for name in names if name not in known]
    if not unknown:
        return None
    return (
        f"unknown signal{'s' if len(unknown) > 1 else ''} "
        f"{', '.join(map(repr, unknown))}; available signals: {', '.join(known)}"
    )


def _signal_list(text):
    """Comma-separated signal names, checked before any training."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected signal names, got {text!r}")
    message = _unknown_signals(names)
    if message:
        raise argparse.ArgumentTypeError(message)
    return names


def _ratio(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share in (0, 1], got {text!r}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:  # what numpy's RandomState accepts
        raise argparse.ArgumentTypeError(
            f"expected an integer in [0, 2**32 - 1], got {text!r}"
        )
    return value


def _n_jobs(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive count, or -1 for every CPU, got {text!r}"
        )
    return value


def _check_audit_args(args, parser):
    if args.file is not None and args.target is None:
        parser.error("--target COLUMN is required with FILE.")
    if args.file is None:
        given = [
            f"--{n}"
            for n in ("target", "reference", "id", "interval")
            if getattr(args, n) is not None
        ]
        if args.task != "auto":
            given.append("--task")
        if args.target_transform != "auto":
            given.append("--target-transform")
        if given:
            parser.error(f"{', '.join(given)} need(s) FILE.")
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1.")
    if args.top < 0:
        parser.error("--top must be 0 or more.")
    if args.interval is not None and not 0 < args.interval < 1:
        parser.error("--interval must be in (0, 1).")


def _add_device_argument(parser):
    parser.add_argument(
        "--device",
        type=_device,
        default="cpu",
        help=(
            "torch device for training and scoring, e.g. 'cuda' (default: "
            "cpu; small tables train as fast there)"
        ),
    )


def _device(name):
    """A usage error, before any training, for a device torch cannot use here."""
    if name == "cpu":
        return name  # no torch import for the default (--help stays fast)
    from ._validation import check_device

    try:
        check_device(name, "--device")
    except ValueError as error:
        message = str(error).removeprefix("--device: ")
        raise argparse.ArgumentTypeError(message) from None
    return name


def _add_threads_argument(parser):
    parser.add_argument(
        "--threads",
        type=_threads,
        default="auto",
        metavar="{auto,N}",
        help=(
            "torch threads: 'auto' (one on small problems, where more only "
            "contend for the cores), N, or -1 for every CPU (default: auto)"
        ),
    )


def _threads(text):
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 and value != -1:
        raise argparse.ArgumentTypeError(
            f"expected 'auto', a positive count or -1, got {text!r}"
        )
    return value


def _contamination(text):
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 0.5:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a share in (0, 0.5], got {text!r}"
        )
    return value


def _add_audit_parser(commands, common):
    audit = commands.add_parser(
        "audit",
        parents=[common],
        help=(
            "find mislabeled rows or corrupted targets, anomalies, outliers and "
            "data issues in a table"
        ),
        description=(
            "Train an MLP on the table once, score every row with influence "
            "signals (signal 'auto': label conflict and isolation, calibrated), "
            "type the flagged rows (mislabeled, clustered anomaly, outlier, rare) "
            "and suggest labels for the mislabeled ones; check duplicates "
            "(exact, near, conflicting), leakage into --reference, class "
            "imbalance and rows with many missing cells. A continuous target "
            "runs a regression audit instead: corrupted targets, anomalies and "
            "outliers, a suggested target with an interval for each corrupted "
            "one, and the same checks less the class ones (see --task). "
            "Writes OUT/report.csv "
            "(every labelled row, most suspicious first), OUT/summary.txt and "
            "OUT/report.png. The first column of report.csv, 'row', is the "
            "row's 0-based position among the data rows of FILE (the header "
            "line and '#' comment lines before it not counted; for a Parquet "
            "file with a stored index, that "
            "index); the --id column and identifier-like columns "
            "(text with every value distinct; an id or index of consecutive "
            "integers) "
            "follow it, never used as "
            "features. Numeric columns are median-imputed and standardised, "
            "categorical ones imputed with their most frequent value and "
            "one-hot encoded; rows without a label are dropped; the summary "
            "says how many cells and columns each step touched. A CSV file's "
            "delimiter (comma, semicolon, tab or |) is detected. Without FILE, "
            "audits scikit-learn's digits with 10 % injected mixed glitches "
            "and prints how well they were found. The Python API "
            "skinfluence.audit(frame, target) gives the same table."
        ),
        epilog=(
            "Every row of FILE is a suspect: without --reference each row is "
            "scored against the other rows of FILE, which may hold glitches. A "
            "trusted, clean --reference file calibrates signal 'auto' on clean "
            "rows and makes its isolation signals (anomalies, outliers) much "
            "better."
        ),
    )
    audit.add_argument(
        "file", nargs="?", metavar="FILE", help="a .csv, .tsv or .parquet table"
    )
    audit.add_argument(
        "--target",
        metavar="COLUMN",
        help="the label or continuous target column (required with FILE)",
    )
    audit.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help=(
            "the audit to run; 'auto' (default) reads the target: text, "
            "categories, booleans and integer codes are class labels; numbers "
            "with a fractional part, and integers with more than 50 distinct "
            "values and fewer than 5 rows per value (counts, ages), or more "
            "than 10 and fewer than 2 rows per value, are "
            "continuous (regression). The summary says which ran and why"
        ),
    )
    audit.add_argument(
        "--reference",
        metavar="FILE2",
        help="a trusted, clean table with the same columns to score the rows against",
    )
    audit.add_argument(
        "--id", metavar="COLUMN", help="a column to report with each row, not a feature"
    )
    audit.add_argument(
        "--out", default="audit_out", help="output folder (default: audit_out)"
    )
    audit.add_argument("--signal", default="auto", help="signal name (default: auto)")
    audit.add_argument(
        "--contamination",
        type=_contamination,
        default=None,
        metavar="{auto,SHARE}",
        help=(
            "share of rows to flag, or 'auto' (signal auto: a threshold per "
            "glitch family; other signals: Tukey's fence on the scores); "
            "default: auto with FILE, 0.1 (the injected share) without"
        ),
    )
    audit.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="COVERAGE",
        help=(
            "regression only: coverage of the suggested target's interval, in "
            "(0, 1) (default: 0.9)"
        ),
    )
    audit.add_argument(
        "--target-transform",
        choices=("auto", "log", "none"),
        default="auto",
        help=(
            "regression only: 'log' audits the logarithm of a positive target, "
            "or of the magnitude of a negative one (errors by a factor weigh "
            "the same at every scale; the report stays in the target's units); "
            "'auto' (default) does so for a target of one sign whose magnitude's "
            "bulk is skewed (skewness above 2); the summary suggests 'log' when "
            "far values look like unit slips"
        ),
    )
    audit.add_argument(
        "--epochs", type=int, default=None, help="training epochs (default: 20)"
    )
    audit.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    _add_threads_argument(audit)
    _add_device_argument(audit)
    audit.add_argument(
        "--top", type=int, default=20, help="suspects to print (default: 20)"
    )
    # Errors in the data are reported as usage errors of this subcommand.
    audit.set_defaults(run=lambda args: _audit(args, audit))


def _write_run_info(result, args, seconds):
    """One-row CSV of how the tables were made: preset, cells, times, versions."""
    import os

    import pandas as pd
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


def _add_benchmark_parser(commands, common):
    bench = commands.add_parser(
        "benchmark",
        parents=[common],
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
        type=_n_jobs,
        default=-1,
        help="cells run in parallel (default: -1, all cores)",
    )
    bench.add_argument(
        "--signals",
        type=_signal_list,
        default=None,
        help=(
            "comma-separated signal names, among skinfluence.signals.available() "
            "(default: the preset's)"
        ),
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
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="skinfluence", description="Debug training data with influence signals."
    )
    parser.add_argument(
        "--version", action="version", version=f"skinfluence {__version__}"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bars, log messages or summary; only warnings and "
        "errors (the files are still written)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="detect injected label noise on scikit-learn's digits",
        description=(
            "Flip the labels of a share of scikit-learn's digits (--ratio), fit "
            "InfluenceGlitchDetector with one signal (--signal), print the most "
            "suspicious rows with their given and true labels, and the F1 at k "
            "(k = the number of flipped labels). Takes a few seconds on a CPU; "
            "nothing is downloaded or written. For mixed glitches and a written "
            "report, run 'skinfluence audit' without a file."
        ),
    )
    demo.add_argument(
        "--signal",
        default="self",
        help="signal name, one of skinfluence.signals.available() (default: self)",
    )
    demo.add_argument(
        "--ratio",
        type=_ratio,
        default=0.1,
        help="share of the labels to flip, in (0, 1] (default: 0.1)",
    )
    demo.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    demo.add_argument(
        "--top", type=int, default=10, help="suspects to print (default: 10)"
    )
    _add_threads_argument(demo)
    _add_device_argument(demo)
    # Bad values are reported as usage errors of this subcommand.
    demo.set_defaults(run=lambda args: _demo(args, demo))
    demo.set_defaults(quiet=False)
    _add_benchmark_parser(commands, common)
    _add_audit_parser(commands, common)
    args = parser.parse_args(argv)
    logger = _configure_logging(args.quiet)
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm([logger]):  # log lines above the progress bars
        if getattr(args, "threads", "auto") == "auto":
            return args.run(args)
        from ._threads import default_threads  # torch: not imported by --help

        # The audit builds its detectors itself: --threads reaches them as
        # the meaning of their n_threads="auto".
        with default_threads(args.threads):
            return args.run(args)


class _StderrHandler(logging.StreamHandler):
    """A handler on the current ``sys.stderr``, which may change between runs of main."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass  # always the current sys.stderr


def _configure_logging(quiet):
    """Library log records (``skinfluence.*``) to stderr: INFO, or WARNING when quiet."""
    logger = logging.getLogger("skinfluence")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("skinfluence: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    return logger


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
