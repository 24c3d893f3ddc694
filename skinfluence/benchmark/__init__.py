"""The paper's benchmark: a grid of trainings, every signal scored, the figures.

The grid is plain Python data (frozen dataclasses): datasets x models x
glitch kinds x ratios x seeds x signals. :func:`run_benchmark` trains each
(dataset, model, glitch, ratio, seed) cell once, scores every signal from the
same captured epochs, runs the cells in parallel through joblib (so
``joblib.parallel_config(backend="dask")`` sends them to a Dask cluster),
stores each finished cell so that a rerun resumes, and returns tidy pandas
tables. :func:`write_report` draws the paper's figures from them. On the
command line: ``skinfluence benchmark --quick``.
"""

from ._figures import (
    clustered_accuracy_table,
    plot_epoch_f1,
    plot_ratio_f1,
    plot_signal_f1,
    summary_table,
    write_report,
)
from ._grid import (
    PAPER_SIGNALS,
    Cell,
    DatasetSpec,
    GlitchSpec,
    Grid,
    ModelSpec,
    get_preset,
)
from ._runner import BenchmarkResult, load_results, run_benchmark

__all__ = [
    "PAPER_SIGNALS",
    "BenchmarkResult",
    "Cell",
    "DatasetSpec",
    "GlitchSpec",
    "Grid",
    "ModelSpec",
    "clustered_accuracy_table",
    "get_preset",
    "load_results",
    "plot_epoch_f1",
    "plot_ratio_f1",
    "plot_signal_f1",
    "run_benchmark",
    "summary_table",
    "write_report",
]
