"""The audit report: its table, summary text, plot and files."""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._issues import ISSUE_TYPES

__all__ = ["AuditReport"]

logger = logging.getLogger(__name__)

GLITCH_KINDS = ("glitch", "mislabeled", "clustered_anomaly", "outlier", "rare")
_COLOURS = {
    "clean": "0.75",
    "mislabeled": "tab:red",
    "clustered_anomaly": "tab:purple",
    "outlier": "tab:orange",
    "rare": "tab:blue",
}
# Columns of the summary's suspect lists besides the id columns.
_SHOWN = ["given_label", "glitch_score", "glitch_type", "suggested_label", "confidence"]


@dataclass
class AuditReport:
    """What :func:`skinfluence.audit` found in a table.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per audited (labelled) row, **indexed like the input frame**
        and sorted most suspicious first (``table.sort_index()`` restores the
        input order). Columns: the id columns (``id_column`` and the
        identifier-like columns dropped from the features), ``given_label``,
        the columns of :meth:`InfluenceGlitchDetector.diagnose`
        (``glitch_score``, ``flagged``, ``glitch_type``, ``suggested_label``,
        ``confidence``, ``conflict``, ``isolation``) and the data issues of
        :func:`~skinfluence.auditing.find_data_issues` (a score and an
        ``is_*`` flag per issue type).
    detector : InfluenceGlitchDetector
        The fitted detector; its rows are in the order of the input frame.
    threshold : float
        Rows with ``glitch_score`` above it are flagged (``-detector.offset_``).
    preprocessing : dict
        What was done to the table before training: see
        :func:`~skinfluence.auditing.describe_preprocessing` (empty for arrays).
    notes : list of str
        Lines describing the data and the run, printed first by :meth:`summary`.
    class_counts : pandas.Series
        Rows per given label.
    quality : dict or None
        Detection quality against injected glitches (the embedded demo).
    """

    table: pd.DataFrame
    detector: object
    threshold: float
    preprocessing: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    class_counts: pd.Series = None
    quality: dict = None
    index_label: str = "row"

    def issues(self, kind="glitch"):
        """The rows with one kind of issue, most severe first.

        Parameters
        ----------
        kind : str, default="glitch"
            ``"glitch"`` (every flagged row), a glitch type
            (``"mislabeled"``, ``"clustered_anomaly"``, ``"outlier"``,
            ``"rare"``; ranked by ``glitch_score``) or a data issue
            (``"exact_duplicate"``, ``"near_duplicate"``,
            ``"conflicting_duplicate"``, ``"leakage"``, ``"class_imbalance"``,
            ``"missing"``; ranked by its score).

        Returns
        -------
        rows : pandas.DataFrame
            The rows of :attr:`table` with that issue.
        """
        table = self.table
        if kind == "glitch":
            return table[table["flagged"].to_numpy()]
        if kind in GLITCH_KINDS:
            return table[(table["glitch_type"] == kind).to_numpy()]
        if kind in ISSUE_TYPES:
            score, flag = ISSUE_TYPES[kind]
            if flag not in table.columns:
                raise ValueError(f"No {kind!r} check was run (it needs a reference).")
            rows = table[table[flag].to_numpy()]
            return rows.sort_values(score, ascending=False, kind="stable")
        kinds = ", ".join(repr(k) for k in (*GLITCH_KINDS, *ISSUE_TYPES))
        raise ValueError(f"Unknown issue kind {kind!r}; choose one of {kinds}.")

    def issue_summary(self):
        """Rows per issue kind, as Datalab's ``get_issue_summary``.

        Returns
        -------
        summary : pandas.DataFrame
            Indexed by issue kind: ``rows`` flagged and their ``share``.
        """
        counts = {kind: len(self.issues(kind)) for kind in GLITCH_KINDS}
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
                "",
                f"Top {len(suspects)} suspects (higher glitch_score = more "
                "suspicious; confidence = probability that a clean row scores "
                f"lower; {self.index_label} = the row's index in the input table):",
                self._rows_text(suspects),
            ]
            relabel = self.issues("mislabeled")
            if not relabel.index.isin(suspects.index).all():
                lines += [
                    "",
                    f"Top {min(len(relabel), 10)} of the {len(relabel)} rows typed "
                    "mislabeled, with the label the network suggests:",
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
            rule = (
                "a threshold per glitch family: a row is flagged when its label "
                "conflict or, when isolated rows are present, its isolation "
                "passes that family's threshold"
            )
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

    def _rows_text(self, rows):
        ids = self.preprocessing.get("id_columns", [])
        extra = [c for c in ("injected", "true_label") if c in rows.columns]
        rows = rows[[*ids, *_SHOWN, *extra]].rename(
            columns={"given_label": "given", "suggested_label": "suggested"}
        )
        rows["suggested"] = rows["suggested"].astype(object).fillna("")
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
        lines.append("  (report.issues(kind) lists the rows of each kind)")
        return lines

    def plot(self):
        """Conflict against isolation by glitch type, and the glitch-score histogram.

        The left panel shows the two axes of
        :meth:`~skinfluence.InfluenceGlitchDetector.diagnose`: each family's
        calibrated score less its flag threshold (0 = the threshold), on a
        symmetric log scale (linear within [-1, 1]) so that the bulk of clean
        rows and the far glitches are both visible. Among flagged rows, those
        above the diagonal (isolation beyond conflict) are typed anomalies
        when isolated rows are present. With ``signal="auto"`` the threshold
        is drawn on both axes: a row beyond the vertical line, or, when the
        isolation family is present, above the horizontal one, is flagged.

        Returns
        -------
        fig : matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        table = self.table
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
        for kind, colour in _COLOURS.items():
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
        left.plot([low, high], [low, high], "k--", lw=0.8, label="isolation = conflict")
        if self.detector.signal == "auto":  # the score is the larger shifted axis
            for ax_line in (left.axvline, left.axhline):
                ax_line(self.threshold, color="tab:red", ls=":", lw=0.8)
            left.plot([], [], color="tab:red", ls=":", lw=0.8, label="threshold")
        left.set_xscale("symlog", linthresh=1.0)
        left.set_yscale("symlog", linthresh=1.0)
        left.set_xlabel("label conflict (calibrated, 0 = its flag threshold)")
        left.set_ylabel("isolation (calibrated, 0 = its flag threshold)")
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

        The index column is named after the input frame's index, or ``row``
        (for a table read from a file: the 0-based position of the row among
        the data rows, the header line not counted).

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
