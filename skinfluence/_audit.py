"""The ``skinfluence audit`` job: read a table, find its glitches, write a report.

Plain functions, called in order by the console script:

1. :func:`read_table` reads a CSV or Parquet file;
2. :func:`split_target` separates the target column, drops rows without a
   label and the columns no model can use;
3. :func:`audit_frame` (a user's table) or :func:`audit_embedded` (digits with
   injected glitches) preprocesses, fits an :class:`InfluenceGlitchDetector`
   and returns an :class:`AuditResult` holding its ``diagnose()`` report;
4. :func:`summary_text` and :func:`write_report` print and save it.

Every row of the audited file is a suspect, so no reference set is drawn from
it by the job: the detector's own default scores each row against the other
rows (leave-self-out) unless a trusted, clean reference file is given, with
which the isolation signals (distance to the reference) work much better.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.multiclass import type_of_target

__all__ = [
    "AuditResult",
    "audit_embedded",
    "audit_frame",
    "make_preprocessor",
    "read_table",
    "split_target",
    "summary_text",
    "write_report",
]

_READERS = {
    ".csv": pd.read_csv,
    ".parquet": pd.read_parquet,
    ".pq": pd.read_parquet,
}
MAX_CATEGORIES = 20  # one-hot columns per categorical column, rarer ones pooled
_CATEGORICAL = ["object", "category", "bool", "string"]


@dataclass
class AuditResult:
    """What an audit found, ready to print and save.

    Attributes
    ----------
    report : pandas.DataFrame
        One row per audited row, sorted by ``glitch_score`` descending:
        ``row`` (0-based position among the file's data rows), the ``--id``
        column when given, ``given_label``, the columns of
        :meth:`InfluenceGlitchDetector.diagnose` and, for the embedded demo,
        the injected truth (``injected``, ``true_label``).
    detector : InfluenceGlitchDetector
        The fitted detector.
    threshold : float
        Rows with ``glitch_score`` above it are flagged (``-offset_``).
    header : list of str
        Lines describing the data and the run, printed first.
    quality : dict or None
        Detection quality against the injected glitches (embedded demo).
    """

    report: pd.DataFrame
    detector: object
    threshold: float
    header: list = field(default_factory=list)
    quality: dict = None


# ------------------------------------------------------------------ reading


def read_table(path):
    """Read a CSV or Parquet file, chosen by its extension.

    Raises
    ------
    ValueError
        On another extension or a missing file.
    """
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-2:-1] == [".csv"] and suffixes[-1] in (".gz", ".bz2", ".zip", ".xz"):
        reader = pd.read_csv  # pandas decompresses by extension
    else:
        reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(
            f"{path}: cannot tell the format from the extension {path.suffix!r}; "
            "give a .csv (optionally compressed) or .parquet file."
        )
    if not path.is_file():
        raise ValueError(f"{path}: no such file.")
    return reader(path)


def split_target(frame, target, *, id_column=None, name="the file"):
    """Features, labels and notes of a table's rows that have a label.

    Rows with a missing target are dropped; columns that are entirely
    missing, and non-numeric columns whose every value is distinct (names,
    identifiers), are ignored; columns of other types (dates) too.

    Parameters
    ----------
    frame : pandas.DataFrame
    target : str
        The label column.
    id_column : str, default=None
        A column reported with each row and never used as a feature.
    name : str, default="the file"
        How notes and errors name the table.

    Returns
    -------
    X : pandas.DataFrame
        The usable feature columns of the kept rows; categorical columns are
        cast to ``object``.
    y : ndarray
        Their labels.
    rows : ndarray of int
        Positions of the kept rows in ``frame``.
    notes : list of str
        What was dropped, and why.

    Raises
    ------
    ValueError
        If ``target`` or ``id_column`` is not a column, the labels are
        continuous or of one class, or no feature column is left.
    """
    for role, column in (("target", target), ("id", id_column)):
        if column is not None and column not in frame.columns:
            raise ValueError(
                f"{name} has no {role} column {column!r}; its columns are "
                f"{_names(frame.columns)}."
            )
    if id_column == target:
        raise ValueError("The id column cannot be the target column.")
    notes = []
    labelled = frame[target].notna().to_numpy()
    if not labelled.all():
        notes.append(
            f"{name}: dropped {(~labelled).sum()} row(s) with a missing {target!r}."
        )
    rows = np.flatnonzero(labelled)
    y = frame[target].to_numpy()[rows]
    _check_labels(y, target, name)
    X = frame.iloc[rows].drop(columns=[c for c in (target, id_column) if c])
    X, dropped = _usable_columns(X)
    for reason, columns in dropped.items():
        notes.append(f"{name}: ignored {reason}: {_names(columns)}.")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has no usable feature column besides {target!r}.")
    return X, y, rows, notes


def _check_labels(y, target, name):
    if len(y) == 0:
        raise ValueError(f"{name}: every row has a missing {target!r}.")
    kind = type_of_target(y)
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"{name}: the target {target!r} looks {kind}, not like class labels; "
            "audit needs a classification target."
        )
    if len(pd.unique(y)) < 2:
        raise ValueError(
            f"{name}: the target {target!r} has one class ({y[0]!r}); "
            "an audit needs at least two."
        )


def _usable_columns(X):
    numeric = X.select_dtypes("number").columns
    categorical = X.select_dtypes(include=_CATEGORICAL).columns
    empty = X.columns[X.isna().all().to_numpy()]
    unique = [
        c
        for c in categorical
        if len(X) > MAX_CATEGORIES and X[c].nunique(dropna=False) == len(X)
    ]
    other = X.columns.difference(numeric.union(categorical), sort=False)
    dropped = {
        "entirely missing columns": list(empty),
        "identifier-like columns (every value distinct)": unique,
        "columns neither numeric nor categorical": list(other.difference(empty)),
    }
    dropped = {reason: columns for reason, columns in dropped.items() if columns}
    keep = [c for c in X.columns if not any(c in v for v in dropped.values())]
    X = X[keep].copy()
    for column in X.columns.intersection(categorical):
        X[column] = X[column].astype(object)
    return X, dropped


def _names(columns, limit=10):
    columns = [str(c) for c in columns]
    more = f" and {len(columns) - limit} more" if len(columns) > limit else ""
    return ", ".join(repr(c) for c in columns[:limit]) + more


# ------------------------------------------------------------ preprocessing


def make_preprocessor(X):
    """The unfitted scikit-learn preprocessing of the feature columns of ``X``.

    Numeric columns: median imputation, then standardisation. Categorical
    (object, category, string, bool) columns: most-frequent imputation, then
    one-hot encoding (categories unseen in fit are ignored; at most
    ``MAX_CATEGORIES`` columns each, the rarest categories pooled).
    """
    numeric = list(X.select_dtypes("number").columns)
    categorical = [c for c in X.columns if c not in numeric]
    return ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                numeric,
            ),
            (
                "categorical",
                make_pipeline(
                    # One type per column: OneHotEncoder rejects ints mixed with strings.
                    FunctionTransformer(_as_strings, feature_names_out="one-to-one"),
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(
                        handle_unknown="ignore",
                        sparse_output=False,
                        max_categories=MAX_CATEGORIES,
                    ),
                ),
                categorical,
            ),
        ],
        sparse_threshold=0.0,
    )


def _as_strings(X):
    X = pd.DataFrame(X)
    return X.astype(str).where(X.notna(), np.nan).astype(object)


# -------------------------------------------------------------------- audit


def audit_frame(
    frame,
    target,
    *,
    reference=None,
    id_column=None,
    signal="auto",
    epochs=None,
    contamination="auto",
    seed=0,
    verbose=1,
    name="the file",
):
    """Audit the rows of a table: fit the detector and diagnose every row.

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows to audit, with the label column ``target``.
    target : str
    reference : pandas.DataFrame, default=None
        Trusted clean rows with the same columns, the detector's ``X_val``.
        None scores each row against the other audited rows.
    id_column : str, default=None
        Reported with each row, never a feature.
    signal : str, default="auto"
    epochs : int, default=None
        Training epochs of the MLP; None takes its default.
    contamination : "auto" or float, default="auto"
    seed : int, default=0
    verbose : int, default=1
    name : str, default="the file"

    Returns
    -------
    result : AuditResult
    """
    X, y, rows, notes = split_target(frame, target, id_column=id_column, name=name)
    preprocessor = make_preprocessor(X)
    features = preprocessor.fit_transform(X)
    X_val = y_val = None
    source = (
        "the audited rows themselves, each left out of its own reference. They "
        "may hold glitches, which blunts the calibration of signal 'auto' and "
        "its isolation signals: a trusted, clean reference file finds more"
    )
    if reference is not None:
        X_ref, y_val, ref_notes = _reference_rows(reference, target, X.columns, name)
        notes += ref_notes
        X_val = preprocessor.transform(X_ref)
        source = f"{len(y_val)} trusted rows"
    numeric = preprocessor.named_transformers_["numeric"].n_features_in_
    header = [
        f"{len(y)} rows, {len(pd.unique(y))} classes; {X.shape[1]} columns "
        f"({numeric} numeric, {X.shape[1] - numeric} categorical) -> "
        f"{features.shape[1]} features.",
        *notes,
        f"Reference: {source}.",
    ]
    detector, report = _fit_and_diagnose(
        features, y, X_val, y_val, signal, epochs, contamination, seed, verbose
    )
    report.insert(0, "row", rows)
    if id_column is not None:
        label = id_column if id_column not in report.columns else f"{id_column} (id)"
        report.insert(1, label, frame[id_column].to_numpy()[rows])
    return _result(report, detector, header, signal, contamination)


def _reference_rows(reference, target, columns, name):
    """The reference's labelled rows, restricted to the audited feature columns."""
    missing = pd.Index(columns).difference(reference.columns)
    if target not in reference.columns:
        missing = missing.insert(0, target)
    if len(missing):
        raise ValueError(f"The reference lacks column(s) {_names(missing)} of {name}.")
    labelled = reference[target].notna().to_numpy()
    if not labelled.any():
        raise ValueError(f"The reference has no row with a {target!r}.")
    notes = []
    if not labelled.all():
        notes.append(
            f"the reference: dropped {(~labelled).sum()} row(s) with a missing "
            f"{target!r}."
        )
    rows = reference.loc[labelled]
    return rows[list(columns)], rows[target].to_numpy(), notes


def _fit_and_diagnose(X, y, X_val, y_val, signal, epochs, contamination, seed, verbose):
    from .detector import InfluenceGlitchDetector
    from .models import make_net

    detector = InfluenceGlitchDetector(
        make_net("MLP", max_epochs=epochs),
        signal=signal,
        contamination=contamination,
        random_state=seed,
        verbose=verbose,
    )
    detector.fit(X, y, X_val=X_val, y_val=y_val)
    report = detector.diagnose()
    report.insert(0, "given_label", y)
    return detector, report


def _result(report, detector, header, signal, contamination, quality=None):
    threshold = -detector.offset_
    rule = (
        "Tukey's fence Q3 + 1.5 IQR of the scores"
        if contamination == "auto"
        else f"the top {contamination:.0%} of the scores"
    )
    header = header + [
        f"Signal {signal!r}, MLP trained {detector.trajectory_.n_epochs} epochs; "
        f"flagged: {int(report['flagged'].sum())} rows above {threshold:.3g} ({rule}).",
    ]
    if not report["flagged"].any():
        header.append(
            "No row is above the threshold; the report still ranks every row by "
            "suspicion. Flag a share of the rows with e.g. --contamination 0.05."
        )
    report = report.sort_values("glitch_score", ascending=False, kind="stable")
    return AuditResult(
        report.reset_index(drop=True), detector, threshold, header, quality
    )


def make_embedded_mixture(seed=0):
    """Digits with 4 % label noise, 3 % foreign cluster and 3 % corrupted rows.

    The foreign rows are zeros flipped upside down and intensity-inverted;
    300 clean rows, stratified, are set aside as the trusted reference.

    Returns
    -------
    X, y : the glitched training rows and their labels
    X_ref, y_ref : the clean reference
    mixture : the fitted :class:`~skinfluence.glitches.GlitchMixture`
    """
    from sklearn.model_selection import train_test_split

    from .datasets import load_digits_images
    from .glitches import (
        FeatureCorruption,
        ForeignClusterAnomalies,
        GlitchMixture,
        UniformLabelNoise,
    )

    X, y = load_digits_images(return_X_y=True)
    foreign = (1.0 - X[y == 0].reshape(-1, 8, 8)[:, ::-1]).reshape(-1, 64)
    X_train, X_ref, y_train, y_ref = train_test_split(
        X, y, test_size=300, stratify=y, random_state=seed
    )
    mixture = GlitchMixture(
        [
            UniformLabelNoise(0.04),
            # 3 % of the final rows: the ratio counts the rows before appending.
            ForeignClusterAnomalies(0.03 / 0.97, X_foreign=foreign),
            FeatureCorruption(0.03, kind="noise"),
        ],
        random_state=seed,
    )
    X_glitched, y_glitched = mixture.fit_resample(X_train, y_train)
    return X_glitched, y_glitched, X_ref, y_ref, mixture


def audit_embedded(*, signal="auto", epochs=None, contamination=0.1, seed=0, verbose=1):
    """Audit scikit-learn's digits with injected mixed glitches, and score it.

    See :func:`make_embedded_mixture`. The report also holds the truth
    (``injected``: the glitch kind, ``true_label``) and ``quality`` the
    detection quality (see :func:`detection_quality`).
    """
    X, y, X_ref, y_ref, mixture = make_embedded_mixture(seed)
    detector, report = _fit_and_diagnose(
        X, y, X_ref, y_ref, signal, epochs, contamination, seed, verbose
    )
    report.insert(0, "row", np.arange(len(y)))
    report["injected"] = mixture.glitch_kind_
    report["true_label"] = mixture.true_labels_
    kinds = pd.Series(mixture.glitch_kind_).value_counts()
    injected = ", ".join(f"{n} {kind}" for kind, n in kinds.drop("clean").items())
    header = [
        f"Embedded data: scikit-learn's digits, {len(y)} rows, 10 classes, "
        f"64 pixels; injected {mixture.glitch_mask_.sum()} glitches ({injected}).",
        "Reference: 300 clean rows set aside before the injection.",
    ]
    quality = detection_quality(report)
    return _result(report, detector, header, signal, contamination, quality)


def detection_quality(report):
    """How well a report with the injected truth finds, types and repairs glitches.

    Returns
    -------
    quality : dict
        ``f1_at_k`` (k = the number of glitches) and ``auroc`` of the glitch
        scores; ``precision`` and ``recall`` of the flags; ``typing``: share
        of flagged glitches given their injected kind; ``relabel``: share of
        flagged mislabeled rows typed mislabeled whose suggested label is the
        true one; ``n_*``: the rows each share is measured on.
    """
    from sklearn.metrics import roc_auc_score

    from .metrics import f1_at_k

    injected = report["injected"].to_numpy()
    glitch = injected != "clean"
    flagged = report["flagged"].to_numpy()
    typed = report["glitch_type"].astype(str).to_numpy()
    caught = flagged & glitch
    relabel = caught & (typed == "mislabeled") & (injected == "mislabeled")
    suggested = report["suggested_label"].to_numpy()[relabel]
    return {
        "f1_at_k": f1_at_k(glitch, report["glitch_score"]),
        "k": int(glitch.sum()),
        "auroc": roc_auc_score(glitch, report["glitch_score"]),
        "precision": caught.sum() / max(flagged.sum(), 1),
        "recall": caught.sum() / glitch.sum(),
        "typing": _share(typed[caught] == injected[caught]),
        "n_typing": int(caught.sum()),
        "relabel": _share(suggested == report["true_label"].to_numpy()[relabel]),
        "n_relabel": int(relabel.sum()),
    }


def _share(hits):
    return float(np.mean(hits)) if len(hits) else float("nan")


# ------------------------------------------------------------------- report


def summary_text(result, top=20):
    """The printed summary: the run, counts per glitch type, the top suspects."""
    report = result.report
    counts = report["glitch_type"].value_counts(sort=False)
    table = pd.DataFrame(
        {"rows": counts, "share": (counts / len(report)).map("{:.1%}".format)}
    )
    table.index.name = "glitch type"
    suspects = report.head(top)
    with pd.option_context("display.width", 200, "display.max_columns", None):
        lines = [
            *result.header,
            "",
            "Glitch types:",
            table.to_string(),
            "",
            f"Top {len(suspects)} suspects (higher glitch_score = more suspicious; "
            "confidence = share of reference rows scoring lower):",
            _suspect_table(suspects),
        ]
        relabel = report[report["glitch_type"] == "mislabeled"]
        if not relabel.index.isin(suspects.index).all():
            lines += [
                "",
                f"Top {min(len(relabel), 10)} of the {len(relabel)} rows typed "
                "mislabeled, with the label the network suggests:",
                _suspect_table(relabel.head(10)),
            ]
        if result.quality is not None:
            lines += ["", *_quality_lines(result)]
    return "\n".join(lines)


def _suspect_table(rows):
    rows = rows.drop(columns=["flagged", "conflict", "isolation"]).rename(
        columns={"given_label": "given", "suggested_label": "suggested"}
    )
    rows["suggested"] = rows["suggested"].fillna("")
    return rows.to_string(index=False, float_format="{:.3f}".format)


def _quality_lines(result):
    q, report = result.quality, result.report
    crosstab = pd.crosstab(
        report["injected"].rename("injected"),
        report["glitch_type"].rename("diagnosed"),
        dropna=False,
    )
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


def write_report(result, out, top=20):
    """Write ``report.csv``, ``summary.txt`` and ``report.png`` into ``out``.

    Returns
    -------
    paths : dict of str to pathlib.Path
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "report": out / "report.csv",
        "summary": out / "summary.txt",
        "plot": out / "report.png",
    }
    result.report.to_csv(paths["report"], index=False)
    paths["summary"].write_text(summary_text(result, top) + "\n")
    fig = plot_report(result)
    fig.savefig(paths["plot"], dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


_COLOURS = {
    "clean": "0.75",
    "mislabeled": "tab:red",
    "clustered_anomaly": "tab:purple",
    "outlier": "tab:orange",
    "rare": "tab:blue",
}


def plot_report(result):
    """Conflict against isolation by glitch type, and the glitch-score histogram."""
    import matplotlib.pyplot as plt

    report = result.report
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    for kind, colour in _COLOURS.items():
        rows = report[report["glitch_type"] == kind]
        if len(rows):
            left.scatter(
                rows["conflict"],
                rows["isolation"],
                s=6 if kind == "clean" else 12,
                c=colour,
                label=f"{kind} ({len(rows)})",
                alpha=0.6 if kind == "clean" else 0.9,
            )
    # Among flagged rows, isolation above half the conflict means an anomaly.
    edge = np.array([0.0, max(report["conflict"].max(), 1.0)])
    left.plot(edge, 0.5 * edge, "k--", lw=0.8, label="isolation = conflict / 2")
    left.set_xlabel("label conflict (calibrated: 1 = reference's 99th percentile)")
    left.set_ylabel("isolation (calibrated)")
    left.legend(fontsize=8, markerscale=1.5, loc="best")
    left.set_title("Diagnosed glitch types", fontsize=10)

    scores = report["glitch_score"]
    bins = np.histogram_bin_edges(scores, bins=50)
    flagged = report["flagged"].to_numpy()
    right.hist(
        [scores[~flagged], scores[flagged]],
        bins=bins,
        stacked=True,
        color=["0.6", "tab:red"],
        label=["not flagged", f"flagged ({flagged.sum()})"],
    )
    right.axvline(result.threshold, color="k", ls="--", lw=0.8, label="threshold")
    right.set_yscale("log")
    right.set_xlabel("glitch score (higher = more suspicious)")
    right.set_ylabel("rows")
    right.legend(fontsize=8)
    right.set_title("Glitch scores", fontsize=10)
    return fig
