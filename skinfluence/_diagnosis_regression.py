"""Type the flagged rows of a regression task and suggest a target with an interval."""

import numpy as np
import pandas as pd

from ._diagnosis import clustered, training_index
from .signals._neighbor_influence import final_neighbors
from .signals._regression import conflict_confidence

__all__ = ["REGRESSION_GLITCH_TYPES", "diagnose_regression", "suggest_targets"]

REGRESSION_GLITCH_TYPES = ("corrupted_target", "clustered_anomaly", "outlier", "clean")


def diagnose_regression(detector, interval):
    """The per-row report of :meth:`InfluenceGlitchRegressor.diagnose`."""
    state, options = detector.scoring_, detector._options()
    auto = (
        state.fit_result
        if detector.signal == "auto"
        else detector.compute_signal("auto")
    )
    components = auto.extras["components"]
    # The calibrated target conflict, above 1 only on rows that also stand
    # out of their neighbourhood (auto's local gate); auto's score adds
    # isolation when its gate opens.
    conflict = auto.extras["conflict"]
    isolation = np.maximum(components["knn_distance"], components["input_distance"])

    flagged = -detector.glitch_scores_ - detector.offset_ < 0
    types = np.full(len(flagged), "clean", dtype=object)
    # As for label noise: anomalies conflict with their targets too (the
    # network cannot fit them well), so isolation wins at half the conflict;
    # but only on a row that *is* isolated, beyond the reference's 99th
    # percentile (isolation > 1): a badly corrupted target of an ordinary
    # row has a high conflict and an isolation below 1.
    anomalous = flagged & (isolation > 1) & (isolation > 0.5 * conflict)
    types[flagged & ~anomalous] = "corrupted_target"
    if anomalous.any():
        rows = np.flatnonzero(anomalous)
        types[rows] = np.where(
            clustered(detector, rows), "clustered_anomaly", "outlier"
        )

    suggested, half_width = suggest_targets(state.context(**options), interval)
    # Back to the user's units (first target).
    mean, scale = detector.target_mean_[0], detector.target_scale_[0]
    suggested = suggested * scale + mean
    half_width = half_width * scale
    corrupted = types == "corrupted_target"
    nan = np.full(len(flagged), np.nan)
    return pd.DataFrame(
        {
            "glitch_score": detector.glitch_scores_,
            "flagged": flagged,
            "glitch_type": pd.Categorical(types, categories=REGRESSION_GLITCH_TYPES),
            "suggested_target": np.where(corrupted, suggested, nan),
            "target_low": np.where(corrupted, suggested - half_width, nan),
            "target_high": np.where(corrupted, suggested + half_width, nan),
            "confidence": conflict_confidence(auto.scores),
            "conflict": conflict,
            "isolation": isolation,
        },
        index=training_index(detector),
    )


def _neighbour_median(context):
    """Median first target of each row's final nearest reference rows, shape (n,)."""
    neighbors = final_neighbors(context)
    return context.y_ref[:, 0].double()[neighbors].median(1).values.cpu().numpy()


def suggest_targets(context, interval=0.9):
    r"""Suggested (first) target of every scored row, and a conformal half-width.

    .. math::

        \hat y_i^{\mathrm{fix}} = \operatorname{median}_{j \in N(i)} y_j,
        \qquad
        q = Q_{\lceil (m + 1) \alpha \rceil / m}
            \big( |y_j - \hat y_j^{\mathrm{fix}}| : j \in R \big)

    with ``N(i)`` the 10 reference rows nearest to ``h_i`` at the final
    checkpoint (``i`` left out), ``alpha`` the coverage and the quantile
    taken over the reference rows ``R`` scored the same way against the
    others (split conformal prediction, Vovk et al., 2005; Lei et al.,
    2018). The median resists a corrupted neighbour; the interval
    ``[fix - q, fix + q]`` covers the true target with probability
    ``alpha`` when the reference is clean and exchangeable with the row.

    Parameters
    ----------
    context : RegressionContext
    interval : float, default=0.9

    Returns
    -------
    suggested : ndarray of shape (n,)
        In the context's (standardised) units.
    half_width : float
    """
    suggested = _neighbour_median(context)
    null = context.reference_as_rows()
    errors = np.abs(null.y_rows[:, 0].double().cpu().numpy() - _neighbour_median(null))
    m = len(errors)
    level = min(1.0, np.ceil((m + 1) * interval) / m)
    return suggested, float(np.quantile(errors, level))
