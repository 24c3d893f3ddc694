"""Type flagged training rows and suggest repairs, from calibrated signal axes."""

import numpy as np
import pandas as pd
import torch

from .signals._neighbor_influence import counterfactual_gain, neighborhood_size

__all__ = ["diagnose", "training_index"]

GLITCH_TYPES = ("mislabeled", "clustered_anomaly", "outlier", "rare", "clean")
_WITHIN_TRAINING_ROWS = 5000  # training rows the clustering axis compares against


def diagnose(detector):
    """The per-row report of :meth:`InfluenceGlitchDetector.diagnose`."""
    auto = (
        detector.scoring_.fit_result.extras
        if detector.signal == "auto"
        else detector.compute_signal("auto").extras
    )
    axes = auto["axes"]
    # Each axis is its family's calibrated score less the family's flag
    # threshold (0 = threshold): a flagged row is typed by the family that
    # flags it most strongly.
    conflict, isolation = axes["conflict"], axes["isolation"]

    flagged = -detector.glitch_scores_ - detector.offset_ < 0
    types = np.full(len(flagged), "clean", dtype=object)
    # Anomalies conflict with their label too (the network cannot fit them
    # well), so a row isolated in input space (beyond the reference's 99th
    # percentile: label-free, where mislabeled rows are not isolated) is an
    # anomaly even when its conflict is the stronger flag.
    input_isolation = auto["components"]["input_distance"]
    in_input_space = input_isolation > 1
    # Without the gate (too few isolated rows to fuse isolation into the
    # score), a flagged row still is an anomaly when it lies twice as far out
    # as the null's 99th percentile: measured on label noise alone, at most
    # about 1 % of the rows do.
    far_out = input_isolation > 2
    anomalous = flagged & (
        (axes["isolation_present"] & ((isolation > conflict) | in_input_space))
        | far_out
    )
    types[flagged & ~anomalous] = "mislabeled"
    if anomalous.any():
        rows = np.flatnonzero(anomalous)
        types[rows] = np.where(
            clustered(detector, rows), "clustered_anomaly", "outlier"
        )
    types[flagged & (_rare_class_rows(detector) | _outvoted_class_rows(detector))] = (
        "rare"
    )

    suggestion = _suggest_labels(detector)
    suggested = pd.array([None] * len(flagged), dtype=object)
    mislabeled = types == "mislabeled"
    suggested[mislabeled] = detector.classes_[suggestion[mislabeled]]
    return pd.DataFrame(
        {
            "glitch_score": detector.glitch_scores_,
            "flagged": flagged,
            "glitch_type": pd.Categorical(types, categories=GLITCH_TYPES),
            "suggested_label": suggested,
            "confidence": auto["confidence"],
            "conflict": conflict,
            "isolation": isolation,
        },
        index=training_index(detector),
    )


def training_index(detector):
    """The report's row labels: the index of a pandas ``X`` given to ``fit``, else 0..n-1."""
    # Absent from detectors pickled before it was kept: their rows are 0..n-1.
    index = getattr(detector, "_train_index", None)
    return pd.RangeIndex(len(detector.glitch_scores_)) if index is None else index


def _suggest_labels(detector):
    r"""The repair of each row: what the network predicts, and what its neighbours need.

    .. math::

        \hat y_i = \arg\max_{c \ne y_i} \; \frac{1}{T} \sum_t
            \big(p_i^t[c] + \hat G_i^t[c]\big)

    over every captured epoch: the network's mean predicted probability of
    ``c`` plus the normalised counterfactual gain, how much relabelling the
    row to ``c`` would make it help its nearest reference rows
    (:func:`~skinfluence.signals._neighbor_influence.counterfactual_gain`). Two sources
    of evidence: the network's own view of the row and the labels of its
    trusted neighbours.
    """
    context = detector.scoring_.context(**detector._options())
    vote = context.rows.p.double().mean(0) + counterfactual_gain(context).mean(0)
    vote[torch.arange(len(vote)), context.y_rows] = -torch.inf
    return vote.argmax(1).cpu().numpy()


def clustered(detector, rows):
    """Whether each of ``rows`` has close neighbours among the training rows.

    A foreign cluster is isolated from the reference but not from its own
    members in the training data: its distance to the 5th nearest training row
    is less than half its distance to the 5th nearest reference row. Either
    task: the contexts and the ``knn_distance`` signal come from the
    estimator's scoring state.
    """
    state = detector.scoring_
    train, y = state.trajectory.train, state.y_train
    n = len(y)
    step = max(1, n // _WITHIN_TRAINING_ROWS)
    others = np.arange(0, n, step)[:_WITHIN_TRAINING_ROWS]
    position = np.full(n, -1)
    position[others] = np.arange(len(others))
    device = detector.device
    within_context = state._new_context(
        train.take(slice(None), rows).to(device),
        y[rows].to(device),
        train.take(slice(None), others).to(device),
        y[others].to(device),
        self_index=torch.as_tensor(position[rows]).to(device),
        working_memory=detector.working_memory,
    )
    knn = state._signal("knn_distance")
    within = knn(within_context, detector.epochs_).scores
    self_index = state.train_self_index
    to_reference = knn(
        state.context(
            train.take(slice(None), rows),
            y[rows],
            None if self_index is None else self_index[rows],
            **detector._options(),
        ),
        detector.epochs_,
    ).scores
    return within < 0.5 * to_reference


def _outvoted_class_rows(detector):
    r"""Rows of classes too small for a neighbourhood to hold a majority of their label.

    .. math:: m_c - [\text{reference} = \text{training rows}] \le k / 2

    with ``m_c`` the reference rows of class ``c`` and ``k`` the neighbours
    that ``neighbor_influence`` (and ``auto``'s outvoting) reads
    (:func:`~skinfluence.signals._neighbor_influence.neighborhood_size`).
    No row of such a class can find a majority of its label among its
    neighbours, its label right or wrong, and a network trained on a few rows among many fits them
    last: their flags cannot tell a wrong label from a rare class, and
    relabelling them to their neighbours' class would erase the class. A
    2 %-class of breast cancer (7 rows of 364, ``k = 30``) was flagged whole
    and typed mislabeled, the majority class suggested, while a logistic
    regression, left out one row at a time, predicted 5 of the 7. Classes of
    the injected label-noise grids have tens to hundreds of rows and are
    never this small.
    """
    context = detector.scoring_.context(**detector._options())
    k = neighborhood_size(context)
    y_ref = detector.scoring_.y_reference.cpu().numpy()
    n_classes = len(detector.classes_)
    most = np.bincount(y_ref, minlength=n_classes)
    if detector.reference_indices_ is not None:  # each row left out of its own
        most = most - 1
    y_train = detector.scoring_.y_train.cpu().numpy()
    return (most <= k / 2)[y_train]


def _rare_class_rows(detector):
    """Rows of classes at least twice rarer in training than in the reference."""
    y_train = detector.scoring_.y_train
    if detector.reference_indices_ is not None:
        return np.zeros(len(y_train), dtype=bool)  # reference = training rows
    n_classes = len(detector.classes_)
    train = np.bincount(y_train.numpy(), minlength=n_classes) / len(y_train)
    y_ref = detector.scoring_.y_reference.cpu().numpy()
    reference = np.bincount(y_ref, minlength=n_classes) / len(y_ref)
    rare = train < 0.5 * reference
    return rare[y_train.numpy()]
