"""
=======================================================
The paper's benchmark, in small, on embedded tables
=======================================================

Myrtakis et al. (2024) compare four influence signals (Self-Influence,
Marginal Influence, Average Absolute Influence and GD-class) on a grid of
datasets, networks, glitch kinds, glitch ratios and seeds.
:mod:`skinfluence.benchmark` runs such a grid: each (dataset, model, glitch,
ratio, seed) *cell* trains one network, every signal is scored from its
captured epochs, and the results come back as tidy pandas tables from which
the paper's figures are drawn.

This example runs a grid small enough for the documentation build (two of
scikit-learn's tables, a small MLP, two seeds) and draws the paper's
Fig. 1 (F1 per signal and glitch kind), Fig. 4 (F1 against the glitch ratio),
Fig. 5 (F1 of each epoch alone) and Table 1 (how well the net fits the
clustered anomalies). The full quick preset, with digits images and a
convolutional net, is one command: ``skinfluence benchmark --quick``; its
results are on the :doc:`benchmark page </benchmark>`.
"""

# %%
# The grid as plain data
# ----------------------
#
# A :class:`~skinfluence.benchmark.Grid` is made of frozen dataclasses:
# datasets, models (names of :func:`~skinfluence.models.make_net`), glitch
# kinds (injectors of :mod:`skinfluence.glitches` with their settings),
# ratios, seeds and signal names. Several grids can be pooled: here a main
# grid at 10 % and a ratio sweep of uniform noise and near-clustered anomalies
# (a downsampled class) on the breast cancer table.
import tempfile

import matplotlib.pyplot as plt

from skinfluence.benchmark import (
    PAPER_SIGNALS,
    DatasetSpec,
    GlitchSpec,
    Grid,
    ModelSpec,
    clustered_accuracy_table,
    plot_epoch_f1,
    plot_ratio_f1,
    plot_signal_f1,
    run_benchmark,
    summary_table,
)

tables = (DatasetSpec("breast_cancer"), DatasetSpec("wine"))
mlp = ModelSpec("MLP", params=(("max_epochs", 10), ("hidden_sizes", (32,))))
uniform = GlitchSpec("uniform", "UniformLabelNoise")
class_dependent = GlitchSpec(
    "class_dependent", "ClassDependentLabelNoise", params=(("mode", "pairflip"),)
)
near = GlitchSpec("near", "RareClassAnomalies", family="clustered")
far = GlitchSpec(
    "far_shared",
    "ForeignClusterAnomalies",
    family="clustered",
    params=(("label_mode", "shared"),),
)
signals = (*PAPER_SIGNALS, "loss", "si_centroid", "mahalanobis")

grids = (
    Grid(
        tables,
        (mlp,),
        (uniform, class_dependent, near, far),
        seeds=(0, 1),
        signals=signals,
    ),
    Grid(
        tables[:1],
        (mlp,),
        (uniform, near),
        ratios=(0.05, 0.1, 0.2, 0.3),
        seeds=(0, 1),
        signals=signals,
    ),
)
print(sum(len(grid.cells()) for grid in grids), "cells listed")

# %%
# Run it
# ------
#
# :func:`~skinfluence.benchmark.run_benchmark` runs the cells through joblib
# (``n_jobs``; a ``joblib.parallel_config(backend="dask")`` context sends them
# to a Dask cluster) and stores one file per finished cell, so that running it
# again on the same folder trains nothing.
out = tempfile.mkdtemp()
result = run_benchmark(grids, out, n_jobs=2, progress=False)
print(f"{result.n_trained} cells trained")
result.scores.head()

# %%
# The two cells shared by both grids ran once. Run again: everything is read
# back from the folder.
again = run_benchmark(grids, out, progress=False)
print(f"{again.n_trained} cells trained, {again.n_reused} reused")

# %%
# Mean F1 at k per signal and glitch kind
# ---------------------------------------
#
# At the known glitch count k, averaged over datasets and seeds (10 %
# glitches). The paper's four signals come first.
summary_table(result.scores).round(2)

# %%
# Fig. 1: F1 per signal, glitch kind and model
# --------------------------------------------
plot_signal_f1(result.scores)
plt.show()

# %%
# Fig. 4: F1 against the glitch ratio
# -----------------------------------
#
# Lines of the paper's signals are solid, the others dashed.
plot_ratio_f1(result.scores)
plt.show()

# %%
# Fig. 5: F1 of each epoch alone
# ------------------------------
#
# The influence of one epoch at a time on the near-clustered anomalies: the
# paper finds Self-Influence detects them better in early epochs than summed
# over training.
plot_epoch_f1(result.epoch_f1, glitch="near")
plt.show()

# %%
# Table 1: does the net fit the clustered anomalies?
# --------------------------------------------------
#
# ``glitched_accuracy`` is the share of the glitched training rows that the
# trained net predicts with their given label.
clustered_accuracy_table(result.scores).round(2)
