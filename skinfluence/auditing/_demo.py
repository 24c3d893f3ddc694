"""The embedded audit: digits with injected mixed glitches, and how well they are found."""

import numpy as np
import pandas as pd

from ._issues import find_data_issues
from ._run import _Stages, fit_and_diagnose, make_report
from ._task import get_task

__all__ = ["audit_embedded", "detection_quality", "make_embedded_mixture"]


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

    from ..datasets import load_digits_images
    from ..glitches import (
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


def audit_embedded(
    *,
    signal="auto",
    contamination=0.1,
    epochs=None,
    random_state=0,
    verbose=0,
    detector_params=None,
):
    """Audit scikit-learn's digits with injected mixed glitches, and score it.

    See :func:`make_embedded_mixture`. The report's table also holds the
    truth (``injected``: the glitch kind, ``true_label``) and its
    ``quality`` the detection quality (see :func:`detection_quality`).

    Returns
    -------
    report : AuditReport
    """
    X, y, X_ref, y_ref, mixture = make_embedded_mixture(random_state)
    stages = _Stages(verbose, 3)
    detector, diagnosis = fit_and_diagnose(
        stages,
        X,
        y,
        X_ref,
        y_ref,
        signal=signal,
        contamination=contamination,
        epochs=epochs,
        random_state=random_state,
        verbose=verbose,
        detector_params=detector_params,
    )
    with stages(get_task("classification").checks):
        issues = find_data_issues(X, y, X_reference=X_ref)
    stages.close()
    table = pd.concat([diagnosis, issues], axis=1)
    table["injected"] = mixture.glitch_kind_
    table["true_label"] = mixture.true_labels_
    kinds = pd.Series(mixture.glitch_kind_).value_counts()
    injected = ", ".join(f"{n} {kind}" for kind, n in kinds.drop("clean").items())
    notes = [
        f"Embedded data: scikit-learn's digits, {len(y)} rows, 10 classes, "
        f"64 pixels; injected {mixture.glitch_mask_.sum()} glitches ({injected}).",
        "Reference: 300 clean rows set aside before the injection.",
    ]
    info = {"id_columns": []}
    return make_report(
        table, detector, info, notes, y, quality=detection_quality(table)
    )


def detection_quality(table):
    """How well a report with the injected truth finds, types and repairs glitches.

    Parameters
    ----------
    table : pandas.DataFrame
        A report table with the columns ``injected`` and ``true_label``.

    Returns
    -------
    quality : dict
        ``f1_at_k`` (k = the number of glitches) and ``auroc`` of the glitch
        scores; ``precision`` and ``recall`` of the flags; ``typing``: share
        of flagged glitches given their injected kind; ``relabel``: share of
        flagged mislabeled rows typed mislabeled whose suggested label is the
        true one; ``n_*``: the rows each share is measured on.
    """
    from sklearn.metrics import precision_score, recall_score, roc_auc_score

    from ..metrics import f1_at_k, relabel_accuracy

    injected = table["injected"].to_numpy()
    glitch = injected != "clean"
    flagged = table["flagged"].to_numpy()
    typed = table["glitch_type"].astype(str).to_numpy()
    caught = flagged & glitch
    relabel = caught & (typed == "mislabeled") & (injected == "mislabeled")
    return {
        "f1_at_k": f1_at_k(glitch, table["glitch_score"]),
        "k": int(glitch.sum()),
        "auroc": roc_auc_score(glitch, table["glitch_score"]),
        "precision": precision_score(glitch, flagged, zero_division=0.0),
        "recall": recall_score(glitch, flagged, zero_division=0.0),
        "typing": _share(typed[caught] == injected[caught]),
        "n_typing": int(caught.sum()),
        "relabel": relabel_accuracy(
            table["true_label"].to_numpy(),
            table["suggested_label"].to_numpy(),
            mask=relabel,
        )
        if relabel.any()
        else float("nan"),
        "n_relabel": int(relabel.sum()),
    }


def _share(hits):
    return float(np.mean(hits)) if len(hits) else float("nan")
