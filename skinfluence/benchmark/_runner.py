"""Run the cells of a grid in parallel, one file per finished cell."""

import os
import re
import threading
import warnings
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import joblib
import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.utils.parallel import Parallel, delayed
from tqdm.auto import tqdm

from ..detector import NOT_LEARNT, InfluenceGlitchDetector
from ..metrics import f1_at_k
from ._data import cache_paper_data, load_cell_data, make_injector, make_model
from ._grid import pool_cells

__all__ = ["BenchmarkResult", "load_results", "run_benchmark", "run_cell"]

SCORE_COLUMNS = [
    "dataset",
    "modality",
    "model",
    "glitch",
    "glitch_family",
    "ratio",
    "seed",
    "signal",
    "f1_at_k",
    "roc_auc",
    "average_precision",
    "val_accuracy",
    "glitched_accuracy",
    "glitched_true_accuracy",
    "clean_accuracy",
    "n_train",
    "n_glitched",
    "n_epochs",
    "fit_seconds",
    "score_seconds",
    "error",
]
EPOCH_COLUMNS = [
    "dataset",
    "modality",
    "model",
    "glitch",
    "glitch_family",
    "ratio",
    "seed",
    "signal",
    "epoch",
    "f1_at_k",
]


@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` returns.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per cell x signal, columns ``SCORE_COLUMNS``: the detection
        metrics (``f1_at_k``, ``roc_auc``, ``average_precision``), the
        network's accuracy on the validation rows, on the glitched training
        rows with their given labels (``glitched_accuracy``, Table 1 of the
        paper: how well the net fits them), on the glitched rows with their
        true labels (label noise only) and on the clean training rows, and
        the training and scoring times.
    epoch_f1 : pandas.DataFrame
        One row per cell x signal x epoch: F1 at k of that epoch alone.
    failures : pandas.DataFrame
        Cells that raised (columns ``cell`` and ``error``); rerun retries them.
    n_trained : int
        Cells trained by this call.
    n_reused : int
        Cells read back from the output folder.
    out_dir : pathlib.Path
    """

    scores: pd.DataFrame
    epoch_f1: pd.DataFrame
    failures: pd.DataFrame
    n_trained: int = 0
    n_reused: int = 0
    out_dir: Path | None = None


def run_benchmark(
    grids, out_dir, *, n_jobs=None, progress=True, torch_threads=1, data_home=None
):
    """Run a grid: train each cell once, score every signal, store each cell.

    Cells run through joblib (``sklearn.utils.parallel``) without a fixed
    backend, so ``joblib.parallel_config(backend="dask")`` sends them to a
    Dask cluster. Each cell loads its own data in its worker; only its
    result tables travel back. This process writes a file per finished cell
    under ``out_dir/cells/``, so a rerun skips them (resume after an
    interruption); then ``scores`` and ``epoch_f1`` are written as CSV, and
    as Parquet when pyarrow is installed.

    Parameters
    ----------
    grids : Grid or sequence of Grid
        The cells of all grids are pooled; a shared cell runs once.
    out_dir : str or path-like
        Output folder, created if needed.
    n_jobs : int, default=None
        Cells run in parallel; None follows ``joblib.parallel_config``.
    progress : bool, default=True
        A tqdm bar over the cells.
    torch_threads : int, default=1
        Torch intra-op threads of each cell while it runs. One thread per
        cell and parallelism across cells is fastest for these small nets,
        and keeps results independent of the backend.
    data_home : str or path-like, default=None
        Cache folder of the paper's OpenML datasets.

    Returns
    -------
    result : BenchmarkResult

    Raises
    ------
    ValueError
        If a grid names a signal that is not registered (checked before any
        training: a cell would only record the error in its ``error`` column).
    DatasetUnavailableError
        If a paper dataset the cells need is neither cached nor downloadable:
        they are all downloaded into ``data_home`` before the first cell.

    Examples
    --------
    >>> import tempfile
    >>> from skinfluence.benchmark import get_preset, run_benchmark
    >>> result = run_benchmark(get_preset("tiny"), tempfile.mkdtemp(), progress=False)
    >>> result.scores[["dataset", "glitch", "signal"]].to_numpy().tolist()
    [['wine', 'uniform', 'self'], ['wine', 'uniform', 'marginal']]
    >>> result.n_trained, len(result.failures)
    (1, 0)
    """
    cells = pool_cells(grids)
    _check_signals(cells)
    out_dir = Path(out_dir)
    cell_dir = out_dir / "cells"
    cell_dir.mkdir(parents=True, exist_ok=True)
    stored = {cell.key: _read_cell(cell_dir, cell) for cell in cells}
    todo = [cell for cell in cells if stored[cell.key] is None]
    failures = []
    if todo:
        cache_paper_data(todo, data_home)
        bar = tqdm(total=len(todo), desc="benchmark cells", disable=not progress)
        jobs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(run_cell)(cell, torch_threads=torch_threads, data_home=data_home)
            for cell in todo
        )
        for cell, tables, error in jobs:
            if error is None:
                _write_cell(cell_dir, cell, tables)
                stored[cell.key] = tables
            else:
                failures.append({"cell": cell.key, "error": error})
            bar.update()
        bar.close()
    if failures:
        warnings.warn(
            f"{len(failures)} of {len(cells)} cells failed, e.g. "
            f"{failures[0]['cell']}: {failures[0]['error']}",
            RuntimeWarning,
            stacklevel=2,
        )
    done = [(cell, stored[cell.key]) for cell in cells if stored[cell.key] is not None]
    result = BenchmarkResult(
        *_assemble(done),
        failures=pd.DataFrame(failures, columns=["cell", "error"]),
        n_trained=len(todo) - len(failures),
        n_reused=len(cells) - len(todo),
        out_dir=out_dir,
    )
    _write_tables(result, out_dir)
    return result


def _check_signals(cells):
    from ..signals import available

    known = list(available()["name"])
    unknown = sorted({s for cell in cells for s in cell.signals} - set(known))
    if unknown:
        raise ValueError(f"Unknown signal(s) {unknown}; available signals: {known}.")


def run_cell(cell, *, torch_threads=1, data_home=None):
    """Train one cell and score its signals.

    Returns
    -------
    cell : Cell
    tables : dict or None
        ``{"scores": DataFrame, "epoch_f1": DataFrame}``, None on failure.
    error : str or None
        ``"ExceptionType: message"`` when the cell raised.
    """
    try:
        with _torch_threads(torch_threads):
            return cell, _run_cell(cell, data_home), None
    except Exception as exc:  # one bad cell must not end a long grid
        return cell, None, f"{type(exc).__name__}: {exc}"


def _run_cell(cell, data_home):
    data = load_cell_data(cell.dataset, cell.seed, data_home)
    injector = make_injector(cell.glitch, cell.ratio, cell.seed, data)
    X, y = injector.fit_resample(data.X_train, data.y_train)
    X = np.asarray(X, dtype=np.float32)
    mask = injector.glitch_mask_
    detector = InfluenceGlitchDetector(
        make_model(cell.model, data.image_shape), signal="self", random_state=cell.seed
    )
    # Training seeds torch's global RNG, which the threads of a process share,
    # and every torch DataLoader (predictions too) draws a seed from it: under
    # the threading (or in-process Dask) backend, concurrent cells would shift
    # each other's draws and one seed would give other nets. Training and
    # predicting take turns; scoring, from the captured epochs, runs
    # concurrently.
    with _TORCH_RNG_LOCK, warnings.catch_warnings():
        # A cell whose net predicts the majority class (a rare class at 1 %)
        # is a result, recorded in the accuracy columns, not a user's mistake.
        warnings.filterwarnings("ignore", re.escape(NOT_LEARNT), ConvergenceWarning)
        start = perf_counter()
        detector.fit(X, y, X_val=data.X_val, y_val=data.y_val)
        fit_seconds = perf_counter() - start
        predicted = detector.classes_[
            detector.estimator_.predict(_net_input(detector, X))
        ]
        predicted_val = detector.classes_[
            detector.estimator_.predict(_net_input(detector, data.X_val))
        ]
    true_labels = getattr(injector, "true_labels_", None)
    shared = {
        **cell.labels(),
        "val_accuracy": _accuracy(predicted_val, data.y_val),
        "glitched_accuracy": _accuracy(predicted[mask], y[mask]),
        "glitched_true_accuracy": (
            np.nan
            if true_labels is None
            else _accuracy(predicted[mask], true_labels[mask])
        ),
        "clean_accuracy": _accuracy(predicted[~mask], y[~mask]),
        "n_train": len(y),
        "n_glitched": int(mask.sum()),
        "n_epochs": detector.trajectory_.n_epochs,
        "fit_seconds": fit_seconds,
    }
    rows, epoch_rows = [], []
    for signal in cell.signals:
        start = perf_counter()
        try:
            result = detector.compute_signal(signal)
        except Exception as exc:  # e.g. an optional dependency is missing
            rows.append(
                {**shared, "signal": signal, "error": f"{type(exc).__name__}: {exc}"}
            )
            continue
        rows.append(
            {
                **shared,
                "signal": signal,
                "f1_at_k": f1_at_k(mask, result.scores),
                "roc_auc": roc_auc_score(mask, result.scores),
                "average_precision": average_precision_score(mask, result.scores),
                "score_seconds": perf_counter() - start,
                "error": None,
            }
        )
        for epoch, scores in enumerate(np.asarray(result.epoch_scores).T, start=1):
            epoch_rows.append(
                {
                    **cell.labels(),
                    "signal": signal,
                    "epoch": epoch,
                    "f1_at_k": f1_at_k(mask, scores),
                }
            )
    return {
        "scores": pd.DataFrame(rows).reindex(columns=SCORE_COLUMNS),
        "epoch_f1": pd.DataFrame(epoch_rows).reindex(columns=EPOCH_COLUMNS),
    }


def _net_input(detector, X):
    """Rows as the detector's network was trained on them (``scaler_``)."""
    X = np.asarray(X, dtype=np.float32)
    return X if detector.scaler_ is None else detector.scaler_.transform(X)


def _accuracy(predicted, labels):
    return float(np.mean(predicted == np.asarray(labels))) if len(labels) else np.nan


_TORCH_RNG_LOCK = threading.Lock()
_THREADS_LOCK = threading.Lock()
_THREADS_STATE = {"users": 0, "saved": None}


@contextmanager
def _torch_threads(n):
    """Torch's intra-op threads set to ``n`` while a cell runs.

    Set in each cell's own thread: with OpenMP the setting belongs to the
    calling thread, so a cell of the threading backend that did not set it
    would run on the default thread count, and sum in another order. The
    caller's setting is restored when the last concurrent cell ends.
    """
    import torch

    with _THREADS_LOCK:
        if _THREADS_STATE["users"] == 0:
            _THREADS_STATE["saved"] = torch.get_num_threads()
        _THREADS_STATE["users"] += 1
    torch.set_num_threads(n)
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_STATE["users"] -= 1
            if _THREADS_STATE["users"] == 0:
                torch.set_num_threads(_THREADS_STATE["saved"])


# ------------------------------------------------------------------ storage


def _cell_path(cell_dir, cell):
    return cell_dir / f"{cell.key}.joblib"


def _read_cell(cell_dir, cell):
    """The stored tables of a cell, or None when absent or missing a signal."""
    path = _cell_path(cell_dir, cell)
    if not path.exists():
        return None
    try:
        stored = joblib.load(path)
    except Exception:  # a foreign or damaged file: recompute the cell
        return None
    if not set(cell.signals) <= set(stored["scores"]["signal"]):
        return None
    return stored


def _write_cell(cell_dir, cell, tables):
    # Write then rename: an interruption never leaves a half-written cell.
    path = _cell_path(cell_dir, cell)
    partial = path.with_name(path.name + ".part")
    joblib.dump(tables, partial)
    os.replace(partial, path)


def _assemble(done):
    scores, epochs = [], []
    for cell, tables in done:
        keep = tables["scores"]["signal"].isin(cell.signals)
        scores.append(tables["scores"][keep])
        epochs.append(
            tables["epoch_f1"][tables["epoch_f1"]["signal"].isin(cell.signals)]
        )
    scores = (
        pd.concat(scores, ignore_index=True)
        if scores
        else pd.DataFrame(columns=SCORE_COLUMNS)
    )
    epochs = (
        pd.concat(epochs, ignore_index=True)
        if epochs
        else pd.DataFrame(columns=EPOCH_COLUMNS)
    )
    return scores, epochs


def _write_tables(result, out_dir):
    for name in ("scores", "epoch_f1"):
        table = getattr(result, name)
        table.to_csv(out_dir / f"{name}.csv", index=False)
        with suppress(ImportError):  # no pyarrow nor fastparquet: CSV only
            table.to_parquet(out_dir / f"{name}.parquet", index=False)


def load_results(out_dir):
    """Read the tables a finished :func:`run_benchmark` wrote.

    Parameters
    ----------
    out_dir : str or path-like

    Returns
    -------
    result : BenchmarkResult
        With ``scores`` and ``epoch_f1`` read from Parquet when present,
        else CSV.
    """
    out_dir = Path(out_dir)
    tables = {}
    for name in ("scores", "epoch_f1"):
        parquet = out_dir / f"{name}.parquet"
        if parquet.exists():
            try:
                tables[name] = pd.read_parquet(parquet)
                continue
            except ImportError:
                pass
        tables[name] = pd.read_csv(out_dir / f"{name}.csv")
    return BenchmarkResult(
        tables["scores"],
        tables["epoch_f1"],
        failures=pd.DataFrame(columns=["cell", "error"]),
        out_dir=out_dir,
    )
