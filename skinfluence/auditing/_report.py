"""The audit report: its table, summary text, plot and files."""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._issues import EXTREME_LOG, EXTREME_RAW, ISSUE_TYPES
from ._task import get_task

__all__ = ["AuditReport"]

# What a flagged row typed "rare" means, under the glitch types' counts.
_RARE_NOTE = (
    "rare: flagged rows of a class too small for a neighbourhood to hold a "
    "majority of its label, or twice rarer in training than in the reference: "
    "their flags cannot tell a wrong label from a rare class. Review such a "
    "class as a whole rather than relabel its rows.",
)

logger = logging.getLogger(__name__)


@dataclass
class AuditReport:
    """What :func:`skinfluence.audit` found in a table.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per audited (labelled) row, **indexed like the input frame**
        and sorted most suspicious first (``table.sort_index()`` restores the
        input order). Columns: the id columns (``id_column`` and the
        identifier-like columns dropped from the features), the given target
        and the columns of the detector's ``diagnose()``, and the data issues
        of :func:`~skinfluence.auditing.find_data_issues` (a score and an
        ``is_*`` flag per issue type). Classification: ``given_label``,
        ``glitch_score``, ``flagged``, ``glitch_type``, ``suggested_label``,
        ``confidence``, ``conflict``, ``isolation``
        (:meth:`InfluenceGlitchDetector.diagnose`). Regression:
        ``given_target``, ``glitch_score``, ``flagged``, ``glitch_type``,
        ``suggested_target``, ``target_low``, ``target_high``, ``residual``
        (the network's final in-sample prediction less the target),
        ``confidence``, ``conflict``, ``isolation``
        (:meth:`InfluenceGlitchRegressor.diagnose`); no conflicting-duplicate
        or class-imbalance columns.
    detector : InfluenceGlitchDetector or InfluenceGlitchRegressor
        The fitted detector; its rows are in the order of the input frame.
    threshold : float
        Rows with ``glitch_score`` above it are flagged (``-detector.offset_``).
    preprocessing : dict
        What was done to the table before training: see
        :func:`~skinfluence.auditing.describe_preprocessing` (empty for arrays).
    notes : list of str
        Lines describing the data and the run, printed first by :meth:`summary`.
    class_counts : pandas.Series or None
        Rows per given label (None in a regression audit).
    quality : dict or None
        Detection quality against injected glitches (the embedded demo).
    index_label : str or list of str
        The name of the index column of :meth:`to_csv`; one per level when
        the input frame had a MultiIndex.
    task : {"classification", "regression"}
        The audit that ran.
    """

    table: pd.DataFrame
    detector: object
    threshold: float
    preprocessing: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    class_counts: pd.Series = None
    quality: dict = None
    index_label: str = "row"
    task: str = "classification"

    @property
    def _task(self):
        return get_task(self.task)

    def issues(self, kind="glitch"):
        """The rows with one kind of issue, most severe first.

        Parameters
        ----------
        kind : str, default="glitch"
            ``"glitch"`` (every flagged row), a glitch type (classification:
            ``"mislabeled"``, ``"clustered_anomaly"``, ``"outlier"``,
            ``"rare"``; regression: ``"corrupted_target"``,
            ``"clustered_anomaly"``, ``"outlier"``; ranked by
            ``glitch_score``) or a data issue (``"exact_duplicate"``,
            ``"near_duplicate"``, ``"conflicting_duplicate"``, ``"leakage"``,
            ``"class_imbalance"``, ``"missing"``, ``"extreme_value"``; ranked
            by its score; the
            class checks are not run in a regression audit).

        Returns
        -------
        rows : pandas.DataFrame
            The rows of :attr:`table` with that issue.
        """
        table, task = self.table, self._task
        if kind == "glitch":
            return table[table["flagged"].to_numpy()]
        if kind in task.glitch_kinds:
            return table[(table["glitch_type"] == kind).to_numpy()]
        if kind in ISSUE_TYPES:
            score, flag = ISSUE_TYPES[kind]
            if flag not in table.columns:
                raise ValueError(
                    f"No {kind!r} check was run ({task.missing_check(kind)})."
                )
            rows = table[table[flag].to_numpy()]
            return rows.sort_values(score, ascending=False, kind="stable")
        # The data issues this audit checked: the class checks only run in a
        # classification audit.
        checked = [k for k, (_, flag) in ISSUE_TYPES.items() if flag in table.columns]
        kinds = ", ".join(repr(k) for k in (*task.glitch_kinds, *checked))
        raise ValueError(
            f"Unknown issue kind {kind!r} in a {task.name} audit; choose one of "
            f"{kinds}."
        )

    def issue_summary(self):
        """Rows per issue kind, as Datalab's ``get_issue_summary``.

        Returns
        -------
        summary : pandas.DataFrame
            Indexed by issue kind: ``rows`` flagged and their ``share``.
        """
        counts = {kind: len(self.issues(kind)) for kind in self._task.glitch_kinds}
        for kind, (_, flag) in ISSUE_TYPES.items():
            if flag in self.table.columns:
                counts[kind] = int(self.table[flag].sum())
        summary = pd.DataFrame({"rows": pd.Series(counts)})
        summary["share"] = summary["rows"] / max(len(self.table), 1)
        summary.index.name = "issue"
        return summary

    # ------------------------------------------------------------ rendering

    def summary(self, top=20):
        """The text the command line prints: the run, the counts, the top suspects.

        Parameters
        ----------
        top : int, default=20
            Suspects listed.

        Returns
        -------
        text : str
        """
        table = self.table
        counts = table["glitch_type"].value_counts(sort=False)
        types = pd.DataFrame(
            {"rows": counts, "share": (counts / len(table)).map("{:.1%}".format)}
        )
        types.index.name = "glitch type"
        suspects = table.head(top)
        with pd.option_context("display.width", 200, "display.max_columns", None):
            lines = [
                *self.notes,
                *self._threshold_lines(),
                "",
                "Glitch types:",
                types.to_string(),
                *(_RARE_NOTE if counts.get("rare", 0) else ()),
            ]
            if len(suspects):  # top=0: no list, rather than an empty frame
                lines += [
                    "",
                    f"Top {len(suspects)} suspects (higher glitch_score = more "
                    "suspicious; confidence = probability that a clean row scores "
                    f"lower; {self._index_words} = the row's index in the input "
                    "table):",
                    self._rows_text(suspects),
                ]
            task = self._task
            relabel = self.issues(task.target_error)
            if len(suspects) and not relabel.index.isin(suspects.index).all():
                lines += [
                    "",
                    f"Top {min(len(relabel), 10)} of the {len(relabel)} rows typed "
                    f"{task.target_error}, {task.suggestion_title}:",
                    self._rows_text(relabel.head(10)),
                ]
            lines += ["", *self._data_issue_lines()]
            if self.quality is not None:
                lines += ["", *_quality_lines(self.quality, table)]
        return "\n".join(lines)

    def _threshold_lines(self):
        detector = self.detector
        if detector.contamination != "auto":
            rule = f"the top {detector.contamination:.0%} of the scores"
        elif detector.signal == "auto":
            rule = self._task.auto_rule(detector)
        else:
            rule = "Tukey's fence Q3 + 1.5 IQR of the scores"
        lines = [
            f"Signal {detector.signal!r}, network trained "
            f"{detector.trajectory_.n_epochs} epochs; flagged: "
            f"{int(self.table['flagged'].sum())} rows above {self.threshold:.3g} "
            f"({rule})."
        ]
        if not self.table["flagged"].any():
            lines.append(
                "No row is above the threshold; the report still ranks every row "
                "by suspicion. Flag a share of the rows with contamination=0.05 "
                "(--contamination 0.05)."
            )
        return lines

    @property
    def _index_words(self):
        label = self.index_label
        return label if isinstance(label, str) else ", ".join(label)

    def _rows_text(self, rows):
        ids = self.preprocessing.get("id_columns", [])
        task = self._task
        extra = [c for c in ("injected", "true_label") if c in rows.columns]
        rows = rows[[*ids, *task.shown, *extra]].rename(
            columns={task.target_column: "given", task.suggested_column: "suggested"}
        )
        # No suggestion (rows not typed as a wrong target): blank, not NaN.
        for column in ("suggested", "target_low", "target_high"):
            if column not in rows.columns:
                continue
            values = rows[column]
            if task.name == "regression":
                values = values.map("{:.3f}".format)
            rows[column] = values.astype(object).where(rows[column].notna(), "")
        rows = rows.rename_axis(self.index_label).reset_index()
        return rows.to_string(index=False, float_format="{:.3f}".format)

    def _data_issue_lines(self):
        table, n = self.table, len(self.table)
        lines = ["Data issues (found without the network):"]

        def count(flag):
            return int(table[flag].sum())

        groups = table.loc[table["duplicate_group"] >= 0, "duplicate_group"].nunique()
        lines.append(
            f"  exact duplicates        {count('is_exact_duplicate')} rows; "
            f"near duplicates {count('is_near_duplicate')} rows in {groups} groups"
        )
        if "is_conflicting_duplicate" in table.columns:
            lines.append(
                f"  conflicting duplicates  {count('is_conflicting_duplicate')} rows "
                "(same or nearly the same features, different labels)"
            )
        if "is_leaked" in table.columns:
            lines.append(
                f"  leakage                 {count('is_leaked')} rows (near) copies "
                "of a reference row"
            )
        if self.class_counts is not None:
            shares = (self.class_counts / n).map("{:.1%}".format)
            smallest = ", ".join(
                f"{label!r} {shares[label]}"
                for label in self.class_counts.sort_values().index[:3]
            )
            lines.append(
                f"  class imbalance         {count('is_rare_class')} rows of rare "
                f"classes; smallest classes: {smallest}"
            )
        lines.append(
            f"  missing cells           {count('is_mostly_missing')} rows with half "
            "their feature cells or more missing"
        )
        if "is_extreme_value" in table.columns:
            lines.append(
                f"  extreme values          {count('is_extreme_value')} rows with a "
                f"cell beyond {EXTREME_RAW:g} robust standard deviations of its "
                f"column (and {EXTREME_LOG:g} of its logarithm when it has no "
                "negative value): a sentinel such as 99999, or a unit error"
            )
        lines.append("  (report.issues(kind) lists the rows of each kind)")
        return lines

    def plot(self):
        """Conflict against isolation by glitch type, and the glitch-score histogram.

        The left panel shows the two axes of the detector's ``diagnose()``,
        on a symmetric log scale (linear within [-1, 1]) so that the bulk of
        clean rows and the far glitches are both visible. Classification
        (:meth:`~skinfluence.InfluenceGlitchDetector.diagnose`): each
        family's calibrated score less its flag threshold (0 = the
        threshold); among flagged rows, those above the diagonal (isolation
        beyond conflict) are typed anomalies when isolated rows are present;
        with ``signal="auto"`` the threshold is drawn on both axes: a row
        beyond the vertical line, or, when the isolation family is present,
        above the horizontal one, is flagged. Regression
        (:meth:`~skinfluence.InfluenceGlitchRegressor.diagnose`): the
        calibrated target conflict and isolation (1 = the reference's 99th
        percentile); with ``signal="auto"`` a row right of the vertical
        threshold line is flagged, or, when isolated rows are present, above
        the horizontal one, and flagged rows whose isolation exceeds half
        their conflict are typed anomalies.

        Returns
        -------
        fig : matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        table, task = self.table, self._task
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
        for kind, colour in task.colours.items():
            rows = table[(table["glitch_type"] == kind).to_numpy()]
            if len(rows):
                left.scatter(
                    rows["conflict"],
                    rows["isolation"],
                    s=6 if kind == "clean" else 12,
                    c=colour,
                    label=f"{'not flagged' if kind == 'clean' else kind} ({len(rows)})",
                    alpha=0.6 if kind == "clean" else 0.9,
                )
        low = min(table["conflict"].min(), table["isolation"].min())
        high = max(table["conflict"].max(), table["isolation"].max())
        slope, floor = task.typing_slope, task.typing_floor
        line = np.linspace(low, high, 200)  # a curve on symlog axes unless slope 1
        label = "isolation = conflict" + ("" if slope == 1 else f" x {slope:g}")
        left.plot(
            line,
            slope * line if floor is None else np.maximum(slope * line, floor),
            "k--",
            lw=0.8,
            label=label if floor is None else f"{label}, at least {floor:g}",
        )
        if self.detector.signal == "auto":  # the score is built from these axes
            task.threshold_lines(left, self.threshold, self.detector)
            left.plot([], [], color="tab:red", ls=":", lw=0.8, label="threshold")
        left.set_xscale("symlog", linthresh=1.0)
        left.set_yscale("symlog", linthresh=1.0)
        left.set_xlabel(task.conflict_axis)
        left.set_ylabel(task.isolation_axis)
        left.legend(fontsize=8, markerscale=1.5, loc="best")
        left.set_title("Diagnosed glitch types", fontsize=10)

        scores = table["glitch_score"].to_numpy()
        bins = np.histogram_bin_edges(scores, bins=50)
        flagged = table["flagged"].to_numpy()
        right.hist(
            [scores[~flagged], scores[flagged]],
            bins=bins,
            stacked=True,
            color=["0.6", "tab:red"],
            label=["not flagged", f"flagged ({flagged.sum()})"],
        )
        right.axvline(self.threshold, color="k", ls="--", lw=0.8, label="threshold")
        right.set_yscale("log")
        right.set_xlabel("glitch score (higher = more suspicious)")
        right.set_ylabel("rows")
        right.legend(fontsize=8)
        right.set_title("Glitch scores", fontsize=10)
        return fig

    # ---------------------------------------------------------------- files

    def to_csv(self, path=None):
        """Write :attr:`table` as CSV, its index as the first column.

        The index column is named after the input frame's index (one column
        per level of a MultiIndex), or ``row``
        (for a table read from a file: the 0-based position of the row among
        the data rows, the header line and comment lines before it not
        counted).

        Parameters
        ----------
        path : str or path-like, default=None
            None returns the text.

        Returns
        -------
        text : str or None
        """
        return self.table.to_csv(path, index_label=self.index_label)

    def save(self, out, top=20):
        """Write ``report.csv``, ``summary.txt`` and ``report.png`` into ``out``.

        Parameters
        ----------
        out : str or path-like
            A folder, created when missing.
        top : int, default=20
            Suspects listed in the summary.

        Returns
        -------
        paths : dict of str to pathlib.Path
        """
        import matplotlib.pyplot as plt

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "report": out / "report.csv",
            "summary": out / "summary.txt",
            "plot": out / "report.png",
        }
        self.to_csv(paths["report"])
        paths["summary"].write_text(self.summary(top) + "\n")
        fig = self.plot()
        fig.savefig(paths["plot"], dpi=120)
        plt.close(fig)
        logger.info("wrote %s", ", ".join(str(p) for p in paths.values()))
        return paths

    def __repr__(self):
        flagged = int(self.table["flagged"].sum())
        return (
            f"<AuditReport: {len(self.table)} rows, {flagged} flagged; "
            ".summary(), .table, .issues(kind), .plot()>"
        )


def _quality_lines(quality, table):
    crosstab = pd.crosstab(
        table["injected"].rename("injected"),
        table["glitch_type"].rename("diagnosed"),
        dropna=False,
    )
    q = quality
    return [
        "Detection quality against the injected glitches:",
        f"  F1 at k={q['k']} (the glitch count)   {q['f1_at_k']:.3f}",
        f"  AUROC                           {q['auroc']:.3f}",
        f"  flags: precision {q['precision']:.3f}, recall {q['recall']:.3f}",
        f"  typing accuracy                 {q['typing']:.3f}"
        f"  (on {q['n_typing']} flagged glitches)",
        f"  relabel accuracy                {q['relabel']:.3f}"
        f"  (on {q['n_relabel']} flagged mislabeled rows typed mislabeled)",
        "",
        "Injected kind (rows) against diagnosed type (columns):",
        crosstab.to_string(),
    ]
