"""Running an audit: clean the table, fit the detector, diagnose, check the data.

One code path for both tasks; what a task changes comes from ``_task``.
"""

import logging
import re
import time
import warnings
from contextlib import contextmanager
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from ._issues import find_data_issues
from ._memory import return_freed_memory
from ._report import AuditReport
from ._table import (
    clean_table,
    describe_preprocessing,
    make_preprocessor,
    preprocessing_lines,
    reference_rows,
    spelling_lines,
    target_copy_lines,
)
from ._task import LOG_TRANSFORMS, get_task, to_audited

__all__ = ["audit", "training_schedule"]

logger = logging.getLogger(__name__)

#: Up to this many rows the audit trains the MLP's default schedule.
LARGE_TABLE = 100_000
_ROW_PASSES = 2_000_000  # default epochs x rows beyond LARGE_TABLE
_MIN_EPOCHS = 3  # training dynamics (AUM, per-epoch isolation) need a few
_MAX_BATCH = 512
_WORKING_MEMORY = 128  # MiB of one block of a streamed n x m matrix


def audit(
    frame,
    target,
    *,
    task="auto",
    reference=None,
    id_column=None,
    signal="auto",
    contamination="auto",
    interval=None,
    target_transform="auto",
    epochs=None,
    near_duplicate_threshold=0.13,
    missing_threshold=0.5,
    random_state=0,
    verbose=0,
    detector_params=None,
    name="the table",
):
    """Audit the rows of a table: find its glitches and its data issues.

    The table is cleaned (:func:`~skinfluence.auditing.clean_table`: rows
    without a target dropped, unusable columns ignored, identifier-like ones
    kept for the report), preprocessed (:func:`~skinfluence.auditing.make_preprocessor`:
    median or most-frequent imputation, standardisation, one-hot encoding),
    an estimator with an MLP is fitted on it and every row is diagnosed;
    duplicates, leakage, class imbalance and missing cells are checked
    without the network (:func:`~skinfluence.auditing.find_data_issues`).
    The command ``skinfluence audit FILE --target COLUMN`` runs this function
    and writes :meth:`AuditReport.save`.

    The task follows the target. Class labels run a classification audit:
    an :class:`~skinfluence.InfluenceGlitchDetector` finds mislabeled rows
    and anomalies (:meth:`~skinfluence.InfluenceGlitchDetector.diagnose`).
    A continuous target runs a regression audit: an
    :class:`~skinfluence.InfluenceGlitchRegressor` finds corrupted targets
    and anomalies, suggests a target with an interval
    (:meth:`~skinfluence.InfluenceGlitchRegressor.diagnose`), and the class
    checks (conflicting duplicates, class imbalance) are left out.
    ``task="auto"`` decides with :func:`~skinfluence.auditing.infer_task`:
    text, categories, booleans and integer codes are class labels; numbers
    with a fractional part, and integers with more than 50 distinct values
    and fewer than 5 rows per value (counts, ages), are continuous. The
    summary says which task ran and why.

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows to audit, with the target column ``target``; any index.
    target : str
        The target column: class labels or a continuous target.
    task : {"auto", "classification", "regression"}, default="auto"
        The audit to run; ``"auto"`` chooses from the target column (above).
    reference : pandas.DataFrame, default=None
        Trusted, clean rows with the same columns: the detector's ``X_val``,
        preprocessed like ``frame``. None scores each row against the other
        audited rows (leave-self-out), which may hold glitches: a clean
        reference calibrates ``signal="auto"`` better and finds far more
        anomalies. Also enables the leakage check.
    id_column : str, default=None
        A column reported with each row, never a feature.
    signal : str, default="auto"
        The detector's signal, a name of the task's registry
        (:func:`skinfluence.signals.available` or
        :func:`skinfluence.signals.available_regression_signals`); ``"auto"``
        finds wrong targets and anomalies.
    contamination : "auto" or float, default="auto"
        The detector's flag threshold (see :class:`~skinfluence.InfluenceGlitchDetector`
        and :class:`~skinfluence.InfluenceGlitchRegressor`).
    interval : float, default=None
        Regression only: the coverage of the suggested target's interval,
        in (0, 1); None for 0.9.
    target_transform : {"auto", "log", "none"}, default="auto"
        Regression only: ``"log"`` audits the logarithm of a positive
        target (of the magnitude of a negative one), where an error by a
        factor weighs the same at every scale; the report stays in the
        target's units. ``"auto"`` does so for a target of one sign whose
        magnitude's bulk is skewed (skewness above 2) and the
        logarithm less so (:func:`~skinfluence.auditing._issues.log_if_skewed`: on
        log-normal prices F1 at k went from 0.39 to 0.86); the summary says
        when, and suggests ``"log"`` when far values look like unit slips
        (:func:`~skinfluence.auditing._issues.spread_by_factors`).
    epochs : int, default=None
        Training epochs of the MLP; None takes :func:`training_schedule`'s:
        :func:`~skinfluence.models.make_net`'s default (20) up to 100 000
        rows, fewer epochs of larger batches beyond.
    near_duplicate_threshold : float, default=0.13
        Near duplicates are closer than this share of the typical
        nearest-neighbour distance (see :func:`~skinfluence.auditing.find_data_issues`).
    missing_threshold : float, default=0.5
        Rows with this share of missing feature cells or more are flagged.
    random_state : int, RandomState instance or None, default=0
        Seeds the network (the same table gives the same report).
    verbose : int, default=0
        ``> 0``: a progress bar over the stages and the detector's bars over
        training and scoring; the stages are also logged (``logging`` at
        INFO) with their duration.
    detector_params : dict, default=None
        More parameters of the fitted estimator (``device``, ``n_jobs``,
        ...); they win over the ones above, e.g.
        ``{"estimator": make_net("TabularResNet")}`` replaces the MLP (with
        ``task="regression"`` for a regression audit).
    name : str, default="the table"
        How the summary and errors name the table.

    Returns
    -------
    report : AuditReport
        ``report.table`` is indexed like ``frame`` (its labelled rows), most
        suspicious first.

    Raises
    ------
    ValueError
        On a target that does not fit ``task``, or an option of the other
        task: a signal of the other registry, ``detector_params`` the fitted
        estimator does not take, ``interval`` in a classification audit.

    See Also
    --------
    skinfluence.find_glitches : the one-line function on numeric arrays.
    skinfluence.InfluenceGlitchDetector.diagnose : the per-row diagnosis.
    skinfluence.InfluenceGlitchRegressor.diagnose : the same for a
        continuous target.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.datasets import load_iris
    >>> import skinfluence
    >>> frame = load_iris(as_frame=True).frame
    >>> frame.loc[:4, "target"] = 2  # five wrong labels
    >>> report = skinfluence.audit(frame, "target", epochs=5)
    >>> report.table.columns[:4].tolist()
    ['given_label', 'glitch_score', 'flagged', 'glitch_type']
    >>> len(report.table) == len(frame)
    True
    >>> report.notes[0].startswith("Task: classification, chosen automatically")
    True
    """
    stages = _Stages(verbose, 5 if reference is None else 6)
    with stages("cleaning the table"):
        table = clean_table(frame, target, task=task, id_column=id_column, name=name)
        kind = get_task(table.task)
        kind.check_options(signal, detector_params, interval)
        transform, transform_note = kind.target_transform(
            table.labels, target_transform, target
        )
        bounds, bounds_note = kind.target_bounds(table.labels, transform, target)
        preprocessor = make_preprocessor(table.features)
        X = preprocessor.fit_transform(table.features)
        info = describe_preprocessing(table, preprocessor, X.shape[1])
    X_ref = y_ref = None
    if reference is None:
        source = (
            "the audited rows themselves, each left out of its own reference. They "
            f"may hold glitches, which blunts {kind.reference_reads}: a trusted, "
            "clean reference finds more"
        )
    else:
        with stages("preparing the reference"):
            X_ref, y_ref, n_unlabelled = reference_rows(reference, table, name)
            if kind.name == "classification":
                _check_reference_labels(table.labels, y_ref, target, name)
            wrong_sign = None
            if transform in LOG_TRANSFORMS:  # numbers: a regression target
                wrong_sign = y_ref <= 0 if transform == "log" else y_ref >= 0
            if wrong_sign is not None and wrong_sign.any():
                side = "0 or less" if transform == "log" else "0 or more"
                raise ValueError(
                    f"The reference holds {int(wrong_sign.sum())} target(s) of "
                    f"{side}, but {name}'s target is audited on its logarithm "
                    "(target_transform='none', --target-transform none, reads "
                    "the raw values)."
                )
            n_missing = int(X_ref.isna().to_numpy().sum())
            unseen = _unseen_categories(X_ref, table.features, info["categorical"])
            X_ref = preprocessor.transform(X_ref)
        source = f"{len(y_ref)} trusted rows"
        if n_unlabelled:
            source += f" ({n_unlabelled} row(s) with a missing {target!r} dropped)"
        if n_missing:
            source += f"; {n_missing} missing cell(s) imputed as in {name}"
        if unseen:
            listed = ", ".join(
                f"{column!r}: {_some(values)} ({rows} rows)"
                for column, (values, rows) in unseen.items()
            )
            source += (
                f"; categories {name} lacks, encoded as none of its categories: "
                f"{listed}"
            )
    y = table.labels
    notes = [
        table.task_reason,
        f"{len(y)} rows, {kind.describe(y)}; {table.features.shape[1]} "
        f"columns ({len(info['numeric'])} numeric, {len(info['categorical'])} "
        f"categorical) -> {X.shape[1]} features.",
        *preprocessing_lines(info, name),
        *spelling_lines(table),
        *target_copy_lines(table),
        *(note for note in (transform_note, bounds_note) if note),
        f"Reference: {source}.",
    ]
    schedule = training_schedule(len(y), epochs)
    if schedule[1] is not None:
        notes.append(
            f"Large table ({len(y)} rows > {LARGE_TABLE}): the MLP trains "
            f"{schedule[0]} epochs in batches of {schedule[1]} rows, to bound the "
            "time and the memory of the captured epochs (--epochs sets the epochs)."
        )
    detector, diagnosis = fit_and_diagnose(
        stages,
        X,
        y,
        X_ref,
        y_ref,
        task=kind.name,
        signal=signal,
        contamination=contamination,
        interval=interval,
        transform=transform,
        bounds=bounds,
        epochs=epochs,
        random_state=random_state,
        verbose=verbose,
        target=target,
        # The preprocessor has standardised the numeric columns: a second
        # scaling inside the detector would only copy the encoded matrix.
        # Blocks of the n x m neighbour matrices of at most 128 MiB (rather
        # than scikit-learn's 1 GiB working memory): on a million rows the
        # matrix, the frame and the captured epochs already hold 2.6 GB of
        # the 4 GB budget (256 MiB blocks: 0.1 GB more at the peak, no faster).
        detector_params={
            "standardize": False,
            "working_memory": _WORKING_MEMORY,
            **(detector_params or {}),
        },
    )
    notes.append(kind.fit_note(detector))
    with stages(kind.checks):
        issues = find_data_issues(
            X,
            kind.issue_labels(y),
            X_reference=X_ref,
            raw=table.features,
            near_duplicate_threshold=near_duplicate_threshold,
            missing_threshold=missing_threshold,
        )
    stages.close()
    taken = set(diagnosis.columns) | set(issues.columns)
    ids = table.ids.rename(columns=lambda c: f"{c} (id)" if c in taken else c)
    info["id_columns"] = list(ids.columns)
    # By position: diagnose() is indexed like the matrix it was fitted on, a
    # frame under sklearn's transform_output="pandas".
    parts = [ids, diagnosis, issues]
    report = pd.concat([p.reset_index(drop=True) for p in parts], axis=1).set_axis(
        table.features.index
    )
    return make_report(
        report, detector, info, notes, y, frame.index.names, task=kind.name
    )


@contextmanager
def _stage_timer(bar, name):
    start = time.perf_counter()
    bar.set_description(f"audit: {name}")
    logger.debug("%s ...", name)
    yield
    # The stage's freed temporaries back to the operating system, so that
    # the next stage's peak does not add to their holes.
    return_freed_memory()
    bar.update()
    logger.info("%s: done in %.1f s", name, time.perf_counter() - start)


class _Stages:
    """A tqdm bar over the audit's stages (when verbose) and a log line per stage."""

    def __init__(self, verbose, total):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, disable=not verbose, leave=False, unit="stage")

    def __call__(self, name):
        return _stage_timer(self.bar, name)

    def close(self):
        self.bar.close()


def fit_and_diagnose(
    stages,
    X,
    y,
    X_val=None,
    y_val=None,
    *,
    task="classification",
    signal="auto",
    contamination="auto",
    interval=None,
    transform="none",
    bounds=None,
    epochs=None,
    random_state=0,
    verbose=0,
    detector_params=None,
    target=None,
):
    """Fit the audit's detector and diagnose its rows, one ``stages`` step each.

    Returns the fitted detector and its ``diagnose()`` table with the given
    targets as a first column (``given_label`` or ``given_target``).
    ``transform="log"`` (``"log_negative"``) fits the logarithm of a
    regression target (of its magnitude; and of ``y_val``), ``bounds`` clips
    the training targets (on that scale); the table stays in the target's
    units. A classifier that has not learnt is
    logged as a warning that names ``target`` (the target column).
    """
    from ..detector import NOT_LEARNT
    from ..models import make_net

    kind = get_task(task)
    epochs, batch_size = training_schedule(len(y), epochs)
    params = {
        "estimator": make_net(
            "MLP",
            max_epochs=epochs,
            batch_size=batch_size,
            n_rows=len(y),
            task=kind.name,
        ),
        "signal": signal,
        "contamination": contamination,
        "random_state": random_state,
        "verbose": verbose,
    }
    params.update(detector_params or {})
    detector = kind.estimator_class()(**params)
    fitted, fitted_val = y, y_val
    if transform in LOG_TRANSFORMS:
        fitted = to_audited(y, transform)
        fitted_val = None if y_val is None else to_audited(y_val, transform)
    if bounds is not None:
        fitted = np.clip(fitted, *bounds)
    with stages("training and scoring"), warnings.catch_warnings():
        # The detector's advice (standardize=, make_net) names options an
        # audit's user does not have: _warn_if_not_learnt words it for them.
        warnings.filterwarnings("ignore", re.escape(NOT_LEARNT), ConvergenceWarning)
        detector.fit(X, fitted, X_val=X_val, y_val=fitted_val)
    if kind.name == "classification":
        _warn_if_not_learnt(detector, target)
    with stages("diagnosing the flagged rows"):
        diagnosis = kind.diagnose(detector, y, interval, transform)
    return detector, diagnosis


def _warn_if_not_learnt(detector, target):
    """Log that the network predicts about as well as the commonest label.

    The summary's fit note says how well the network fits; this warning is
    for the worse case where it has learnt nothing, and is shown under
    ``--quiet`` too (without the source line of a Python warning).
    """
    from ..detector import training_accuracy

    y = detector.scoring_.y_train
    accuracy, majority, learnt = training_accuracy(detector.trajectory_.train.p[-1], y)
    if learnt:
        return
    n_classes = len(detector.classes_)
    column = "the target" if target is None else repr(target)
    logger.warning(
        f"The network fits only {accuracy:.0%} of its training labels, about as "
        f"many as always predicting the commonest label ({majority:.0%}): it has "
        "not learnt, and the audit's flags are unreliable. Train more epochs "
        f"(--epochs, epochs=; it trained {detector.trajectory_.n_epochs}) and check "
        f"that {column} holds the labels you mean ({n_classes} classes, "
        f"{len(y) / n_classes:.0f} rows each on average)."
    )


def _check_reference_labels(y, y_ref, target, name):
    """Refuse reference labels that no audited row has, in the audit's words.

    The detector would name its ``y_val``, an argument the audit's user
    never passed.
    """
    classes = pd.unique(y)
    unknown = pd.Series(y_ref)[~pd.Series(y_ref).isin(classes).to_numpy()]
    if unknown.empty:
        return
    given, expected = _label_kinds(unknown), _label_kinds(classes)
    if given.isdisjoint(expected):
        raise ValueError(
            f"The reference's {target!r} holds {' and '.join(sorted(given))} "
            f"({_some(pd.unique(y_ref))}) but {name}'s holds "
            f"{' and '.join(sorted(expected))} ({_some(classes)}): write the "
            "labels the same way in both tables."
        )
    counts = unknown.value_counts()
    listing = ", ".join(
        f"{_some([label])} ({n} row{'s' * (n > 1)})"
        for label, n in counts.iloc[:5].items()
    )
    more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
    raise ValueError(
        f"The reference holds {target!r} label(s) {listing}{more} that no row of "
        f"{name} has: the network never learns them. Drop those rows from the "
        "reference, or check its target column."
    )


def _unseen_categories(X_ref, features, categorical):
    """Per categorical column, the reference's values absent from the table, and their rows.

    The one-hot encoder, fitted on the table, encodes them as none of its
    categories (all zeros): the summary names them.
    """
    unseen = {}
    for column in categorical:
        seen = pd.unique(features[column].dropna().astype(str))
        values = X_ref[column].dropna().astype(str)
        new = values[~values.isin(seen)]
        if len(new):
            unseen[column] = (pd.unique(new), len(new))
    return unseen


def _label_kinds(labels):
    return {
        "text"
        if isinstance(label, str)
        else "booleans"
        if isinstance(label, (bool, np.bool_))
        else "integers"
        if isinstance(label, Integral)
        else "numbers"
        for label in labels
    }


def _some(labels, limit=5):
    """Up to ``limit`` labels as Python literals: ``0, 1, 2`` or ``'0', '1'``."""
    shown = [
        label.item() if isinstance(label, np.generic) else label for label in labels
    ]
    more = ", ..." if len(shown) > limit else ""
    return ", ".join(repr(label) for label in shown[:limit]) + more


def training_schedule(n_rows, epochs=None):
    r"""Epochs and batch size of the audit's MLP for a table of ``n_rows`` rows.

    Up to ``LARGE_TABLE`` (100 000) rows: :func:`~skinfluence.models.make_net`'s
    defaults, 20 epochs of 64 rows. Beyond, the captured epochs would
    outgrow memory (``T n (d + K)`` floats for the penultimate activations
    and outputs) and the per-epoch scoring time, so the default epochs keep
    :math:`T n` near :math:`2 \cdot 10^6` row passes, at least 3:

    .. math::

        T = \max\big(3, \min(20, \lceil 2 \cdot 10^6 / n \rceil)\big), \qquad
        B = \min\big(512, 64 \cdot 2^{\lfloor \log_2 (n / 10^5) \rfloor}\big)

    and the batch ``B`` doubles with each doubling of the rows (at most 512),
    which keeps the optimiser steps per epoch, hence the training time, from
    growing with the table (one epoch over a million rows is already 2000
    steps). At a million rows: 3 epochs of 512 rows.

    Parameters
    ----------
    n_rows : int
        Rows of the audited table.
    epochs : int, default=None
        The user's epochs, kept as given; None for the rule above.

    Returns
    -------
    epochs : int or None
        None: the network's default.
    batch_size : int or None
        None: the network's default.

    Examples
    --------
    >>> from skinfluence.auditing import training_schedule
    >>> training_schedule(5_000)
    (None, None)
    >>> training_schedule(1_000_000)
    (3, 512)
    >>> training_schedule(1_000_000, epochs=5)
    (5, 512)
    """
    if n_rows <= LARGE_TABLE:
        return epochs, None
    if epochs is None:
        epochs = max(_MIN_EPOCHS, min(20, -(-_ROW_PASSES // n_rows)))
    doublings = int(np.floor(np.log2(n_rows / LARGE_TABLE)))
    return epochs, min(_MAX_BATCH, 64 * 2**doublings)


def make_report(
    table,
    detector,
    info,
    notes,
    y,
    index_name=None,
    quality=None,
    task="classification",
):
    """An :class:`AuditReport` of ``table``, most suspicious rows first.

    ``index_name`` is the input frame's index name, or the names of its
    levels (a MultiIndex: one index column each in :meth:`AuditReport.to_csv`).
    """
    table = table.sort_values("glitch_score", ascending=False, kind="stable")
    class_counts = None
    if task == "classification":
        labels, counts = np.unique(y, return_counts=True)
        class_counts = pd.Series(counts, index=labels, name="rows")
    return AuditReport(
        table,
        detector,
        float(-detector.offset_),
        preprocessing=info,
        notes=notes,
        class_counts=class_counts,
        quality=quality,
        index_label=_index_label(index_name),
        task=task,
    )


def _index_label(names):
    """The report's index column name(s): the frame's, ``row`` for an unnamed one.

    Examples
    --------
    >>> _index_label(None), _index_label(["id"]), _index_label(["grp", None])
    ('row', 'id', ['grp', 'level_1'])
    """
    if names is None or isinstance(names, str):
        names = [names]
    if len(names) == 1:
        return "row" if names[0] is None else str(names[0])
    return [f"level_{i}" if n is None else str(n) for i, n in enumerate(names)]
