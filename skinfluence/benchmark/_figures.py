"""The paper's figures and tables from the benchmark's tidy results.

Every function takes the tables of :class:`BenchmarkResult` (``scores``, one
row per cell x signal; ``epoch_f1``, one row per cell x signal x epoch) and
averages over seeds; figures are drawn with ``matplotlib.pyplot`` and
returned, so that a notebook or sphinx-gallery shows them and
:func:`write_report` saves them.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from ._grid import PAPER_SIGNALS

__all__ = [
    "clustered_accuracy_table",
    "plot_epoch_f1",
    "plot_ratio_f1",
    "plot_signal_f1",
    "summary_table",
    "write_report",
]

_CELL = ["dataset", "modality", "model", "glitch", "glitch_family", "ratio", "seed"]


def summary_table(scores, *, value="f1_at_k", ratio=None):
    """Mean of a metric per signal (rows) and glitch kind (columns).

    Parameters
    ----------
    scores : pandas.DataFrame
        ``BenchmarkResult.scores``.
    value : str, default="f1_at_k"
        The metric column averaged over datasets, models and seeds.
    ratio : float, default=None
        Keep one glitch ratio; None takes 0.1 when present, else the most
        frequent ratio.

    Returns
    -------
    table : pandas.DataFrame
        The paper's four signals first, then the others in the order of
        ``scores``; glitch kinds in the order of ``scores``.
    """
    scores = _at_ratio(scores, ratio)
    table = scores.pivot_table(
        index="signal", columns="glitch", values=value, aggfunc="mean"
    )
    table = table.reindex(index=_signals(scores), columns=_ordered(scores["glitch"]))
    table.columns.name = None
    return table


def clustered_accuracy_table(scores):
    """Accuracy of the trained nets on clustered anomalies: the paper's Table 1.

    ``glitched_accuracy`` is the share of the glitched training rows the
    trained network predicts with their given label: a Far-CA cluster
    memorised under its random label scores 1, a rare class the net never
    learns scores 0.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``BenchmarkResult.scores``.

    Returns
    -------
    table : pandas.DataFrame
        One row per dataset, model, clustered glitch kind and ratio; mean and
        standard deviation over seeds.
    """
    cells = scores[scores["glitch_family"] == "clustered"].drop_duplicates(_CELL)
    keys = ["dataset", "modality", "model", "glitch", "ratio"]
    table = cells.groupby(keys, sort=False).agg(
        glitched_accuracy=("glitched_accuracy", "mean"),
        glitched_accuracy_std=("glitched_accuracy", "std"),
        clean_accuracy=("clean_accuracy", "mean"),
        val_accuracy=("val_accuracy", "mean"),
        n_seeds=("seed", "nunique"),
    )
    return table.reset_index()


def plot_signal_f1(scores, *, ratio=None, signals=None):
    """F1 at k per signal, glitch kind and model: the paper's Fig. 1 and 2.

    One heatmap per model and modality (tables as Fig. 1, images as Fig. 2),
    signals in rows, glitch kinds in columns, each value the mean F1 over
    the datasets of that modality and the seeds.

    Parameters
    ----------
    scores : pandas.DataFrame
    ratio : float, default=None
        As in :func:`summary_table`.
    signals : list of str, default=None
        The signals shown; None shows all.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    scores = _at_ratio(scores, ratio)
    signals = _signals(scores) if signals is None else list(signals)
    glitches = _ordered(scores["glitch"])
    panels = scores[["modality", "model"]].drop_duplicates()
    panels = panels.sort_values("modality", key=lambda m: m != "tabular", kind="stable")
    n = len(panels)
    fig, axes = plt.subplots(
        1,
        n,
        figsize=(max(6.5, 1.5 + 0.75 * len(glitches) * n), 1.4 + 0.3 * len(signals)),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    for ax, (modality, model) in zip(axes[0], panels.itertuples(index=False)):
        part = scores[(scores["modality"] == modality) & (scores["model"] == model)]
        table = part.pivot_table(index="signal", columns="glitch", values="f1_at_k")
        table = table.reindex(index=signals, columns=glitches)
        image = ax.imshow(
            table.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis", aspect="auto"
        )
        for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
            if np.isfinite(value):
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value < 0.5 else "black",
                )
        ax.set_xticks(range(len(glitches)), glitches, rotation=45, ha="right")
        ax.set_yticks(range(len(signals)), signals)
        datasets = ", ".join(_ordered(part["dataset"]))
        ax.set_title(f"{model} on {modality}\n({datasets})", fontsize=9)
        _mark_paper_signals(ax, signals)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.6, label="F1 at k")
    fig.suptitle(f"Detection F1 at k, {_ratio_text(scores)} glitches, mean over seeds")
    return fig


def plot_ratio_f1(scores, *, signals=None, min_ratios=3):
    """F1 at k against the glitch ratio: the paper's Fig. 4.

    One panel per dataset, model and glitch kind run at ``min_ratios`` ratios
    or more; one line per signal, the mean over seeds.

    Parameters
    ----------
    scores : pandas.DataFrame
    signals : list of str, default=None
        None shows the paper's four and the three other signals with the
        best mean F1 in these panels.
    min_ratios : int, default=3

    Returns
    -------
    fig : matplotlib.figure.Figure or None
        None when no combination was run at enough ratios.
    """

    keys = ["dataset", "model", "glitch"]
    counts = scores.groupby(keys, sort=False)["ratio"].nunique()
    panels = counts[counts >= min_ratios].index.tolist()
    if not panels:
        return None
    swept = scores.set_index(keys).loc[panels].reset_index()
    signals = _highlight(swept) if signals is None else list(signals)
    fig, axes = _panel_grid(len(panels))
    for ax, (dataset, model, glitch) in zip(axes, panels):
        part = swept[
            (swept["dataset"] == dataset)
            & (swept["model"] == model)
            & (swept["glitch"] == glitch)
        ]
        curves = part.pivot_table(index="ratio", columns="signal", values="f1_at_k")
        for signal in signals:
            if signal in curves:
                ax.plot(
                    100 * curves.index,
                    curves[signal],
                    marker="o",
                    ms=3,
                    **_style(signal, signals),
                )
        ax.set_title(f"{glitch} · {model} · {dataset}", fontsize=9)
        ax.set_xlabel("glitch ratio (%)")
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("F1 at k")
    _legend(fig, axes)
    fig.suptitle("Detection F1 at k against the glitch ratio, mean over seeds")
    return fig


def plot_epoch_f1(epoch_f1, *, glitch=None, ratio=None, signals=None):
    """F1 at k of each epoch's influence alone: the paper's Fig. 5.

    Parameters
    ----------
    epoch_f1 : pandas.DataFrame
        ``BenchmarkResult.epoch_f1``.
    glitch : str, default=None
        The glitch kind shown; None takes ``"near"`` when present (the
        paper's choice), else the first clustered kind, else the first.
    ratio : float, default=None
        As in :func:`summary_table`.
    signals : list of str, default=None
        None shows the paper's four and the three other signals with the
        best mean per-epoch F1.

    Returns
    -------
    fig : matplotlib.figure.Figure or None
        None when ``epoch_f1`` is empty.
    """

    if epoch_f1.empty:
        return None
    epoch_f1 = _at_ratio(epoch_f1, ratio)
    if glitch is None:
        kinds = _ordered(epoch_f1["glitch"])
        clustered = _ordered(
            epoch_f1.loc[epoch_f1["glitch_family"] == "clustered", "glitch"]
        )
        glitch = "near" if "near" in kinds else (clustered or kinds)[0]
    part = epoch_f1[epoch_f1["glitch"] == glitch]
    signals = _highlight(part) if signals is None else list(signals)
    panels = part[["dataset", "model"]].drop_duplicates().itertuples(index=False)
    panels = list(panels)
    fig, axes = _panel_grid(len(panels))
    for ax, (dataset, model) in zip(axes, panels):
        cell = part[(part["dataset"] == dataset) & (part["model"] == model)]
        curves = cell.pivot_table(index="epoch", columns="signal", values="f1_at_k")
        for signal in signals:
            if signal in curves:
                ax.plot(
                    curves.index,
                    curves[signal],
                    marker="o",
                    ms=3,
                    **_style(signal, signals),
                )
        ax.set_title(f"{model} · {dataset}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("F1 at k of the epoch alone")
    _legend(fig, axes)
    fig.suptitle(
        f"Per-epoch detection of {glitch} ({_ratio_text(part)}), mean over seeds"
    )
    return fig


def write_report(result, out_dir=None):
    """Save the figures as PNG and the summary tables as CSV.

    Parameters
    ----------
    result : BenchmarkResult
    out_dir : str or path-like, default=None
        None writes under ``result.out_dir``.

    Returns
    -------
    paths : dict of str to pathlib.Path
        ``summary_f1``, ``clustered_accuracy`` (CSV) and ``signal_f1``,
        ``ratio_f1``, ``epoch_f1`` (PNG; a figure without data is skipped).
    """
    import matplotlib.pyplot as plt

    out_dir = Path(result.out_dir if out_dir is None else out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = result.scores[result.scores["f1_at_k"].notna()]
    paths = {}
    tables = {
        "summary_f1": summary_table(scores).round(3),
        "clustered_accuracy": clustered_accuracy_table(scores).round(3),
    }
    for name, table in tables.items():
        paths[name] = out_dir / f"{name}.csv"
        table.to_csv(paths[name], index=name == "summary_f1", index_label="signal")
    figures = {
        "signal_f1": plot_signal_f1(scores),
        "ratio_f1": plot_ratio_f1(scores),
        "epoch_f1": plot_epoch_f1(result.epoch_f1),
    }
    for name, fig in figures.items():
        if fig is not None:
            paths[name] = out_dir / f"{name}.png"
            fig.savefig(paths[name], dpi=110)
            plt.close(fig)
    return paths


# ----------------------------------------------------------------- helpers


def _ordered(values):
    return list(pd.unique(values))


def _signals(table):
    present = _ordered(table["signal"])
    return [s for s in PAPER_SIGNALS if s in present] + [
        s for s in present if s not in PAPER_SIGNALS
    ]


def _highlight(table, n_others=3):
    """The paper's four signals and the ``n_others`` best others."""
    paper = [s for s in PAPER_SIGNALS if s in set(table["signal"])]
    others = table[~table["signal"].isin(PAPER_SIGNALS)]
    best = others.groupby("signal")["f1_at_k"].mean().sort_values(ascending=False)
    return paper + best.index[:n_others].tolist()


def _at_ratio(table, ratio):
    if table.empty:
        return table
    if ratio is None:
        ratios = table["ratio"]
        ratio = 0.1 if np.isclose(ratios, 0.1).any() else ratios.mode().iloc[0]
    return table[np.isclose(table["ratio"], ratio)]


def _ratio_text(table):
    ratios = sorted(set(table["ratio"]))
    return ", ".join(f"{100 * r:g} %" for r in ratios)


def _style(signal, signals):
    import matplotlib.pyplot as plt

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    paper = signal in PAPER_SIGNALS
    return {
        "label": signal,
        "color": colors[signals.index(signal) % len(colors)],
        "linestyle": "-" if paper else "--",
        "linewidth": 1.8 if paper else 1.2,
    }


def _panel_grid(n, ncols=3):
    import matplotlib.pyplot as plt

    ncols = min(n, ncols)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(3.3 * ncols + 1.6, 2.8 * nrows + 0.6),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    axes = axes.ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _legend(fig, axes):
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="outside right center",
        fontsize=8,
        title="signal (solid: the paper's)",
        title_fontsize=8,
    )


def _mark_paper_signals(ax, signals):
    n_paper = sum(s in PAPER_SIGNALS for s in signals)
    if 0 < n_paper < len(signals):
        ax.axhline(n_paper - 0.5, color="white", linewidth=2)
