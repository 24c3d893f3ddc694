r"""``auto``: one detector for unknown mixtures of glitches, by calibrated fusion.

No single signal finds every glitch kind: label-conflict signals (self
influence, AUM) find mislabeled rows but are *reversed* on anomalies the
network fits, and isolation signals (Mahalanobis and kNN distance to the
reference) find anomalies and outliers but little label noise. Their scores
live on incomparable scales, so a plain max of z-scores lets the heaviest
tail win (the research notes measured it). ``auto`` first calibrates every
component against a *null*: the same signal computed on the reference rows
themselves (each left out of its own reference), which are clean when the
reference is a trusted ``X_val``:

.. math::

    u_s(i) = \frac{g(s_i) - Q_{50}(g(s^{\mathrm{null}}))}
                  {Q_{99}(g(s^{\mathrm{null}})) - Q_{50}(g(s^{\mathrm{null}}))}

with ``g = log`` for strictly positive signals and the identity otherwise, so
that ``u = 0`` at the null median and ``u = 1`` at its 99th percentile, for
every signal alike. The score is ``max_s u_s(i)``: higher = more suspicious.
"""

import numpy as np

from ._base import SignalResult, get_signal, register

__all__ = [
    "AUTO_COMPONENTS",
    "CONFLICT_COMPONENTS",
    "ISOLATION_COMPONENTS",
    "auto",
    "calibrate",
]

#: The signals ``auto`` fuses: three label-conflict signals (self-influence,
#: AUM, neighbour influence) and three isolation signals (penultimate
#: features: Mahalanobis and kNN distance; inputs: kNN distance).
AUTO_COMPONENTS = (
    "self",
    "aum",
    "neighbor_influence",
    "mahalanobis",
    "knn_distance",
    "input_distance",
)

#: The components that measure a row's conflict with its label, and those that
#: measure its isolation from the reference: the two axes along which
#: :meth:`InfluenceGlitchDetector.diagnose` types a flagged row.
CONFLICT_COMPONENTS = ("self", "aum", "neighbor_influence")
ISOLATION_COMPONENTS = ("knn_distance", "input_distance")


# Gaussian quantile ratio (Q99 - Q50) / (Q75 - Q50): the robust spread is
# scaled to stand for the 99th percentile a clean null would have.
_Q99_OVER_Q75 = 2.3263 / 0.6745


def calibrate(scores, null, level=99.0, robust=False):
    """Quantile-normalise ``scores`` against a null sample of the same signal.

    Parameters
    ----------
    scores : ndarray of shape (n,)
    null : ndarray of shape (m,)
        The signal on clean rows.
    level : float, default=99.0
        The null percentile mapped to 1 (its median maps to 0).
    robust : bool, default=False
        For a null that may hold glitches (a reference drawn from the training
        rows): its upper tail is theirs, so the spread is measured on the
        clean bulk instead, ``(Q75 - Q50)`` scaled by the Gaussian ratio
        ``(z_99 - z_50) / (z_75 - z_50)``; ``level`` is then unused.

    Returns
    -------
    calibrated : ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> null = np.exp(np.linspace(0, 1, 101))
    >>> calibrate(np.array([np.exp(0.5), np.exp(0.99)]), null).round(3)
    array([0., 1.])
    """
    scores, null = np.asarray(scores, float), np.asarray(null, float)
    if (null > 0).all() and (scores > 0).all():
        scores, null = np.log(scores), np.log(null)
    low, high, quartile = np.percentile(null, [50.0, level, 75.0])
    spread = (quartile - low) * _Q99_OVER_Q75 if robust else high - low
    if not spread > 0:
        spread = np.abs(null).max(initial=0.0) * 1e-6 or 1.0
    return (scores - low) / spread


@register(
    "auto",
    description="Calibrated fusion for unknown glitch mixtures: max over self, aum, "
    "neighbor_influence, mahalanobis, knn_distance, input_distance, each "
    "normalised on the reference.",
    targets=("mixtures",),
)
def auto(context, epochs):
    r"""Calibrated fusion of label-conflict and isolation signals.

    .. math:: \text{score}_i = \max_{s \in \{SI, -AUM, NI, M, kNN_h, kNN_x\}} u_s(i)

    where ``u_s`` is signal ``s`` quantile-normalised against its own values
    on the reference rows (see :func:`calibrate`): 0 at their median, 1 at
    their 99th percentile. Orientation: higher = more suspicious. Works best
    with a clean ``X_val`` as reference. Drawn from the training rows, the
    null holds glitches too: the spread is then measured robustly on its
    bulk (``calibrate(..., robust=True)``), and anomalies are harder to
    isolate since their cluster mates are in the reference.

    ``extras["components"]`` holds each calibrated component (used by
    :meth:`InfluenceGlitchDetector.diagnose` to type glitches) and
    ``extras["null_scores"]`` the fused score of the reference rows (used for
    confidences).

    References
    ----------
    .. [1] Pruthi et al., NeurIPS 2020 (self-influence); Pleiss et al.,
       NeurIPS 2020 (AUM); :func:`~skinfluence.signals._neighbor_influence.neighbor_influence`
       (NI); Lee et al., NeurIPS 2018 (Mahalanobis); Sun et
       al., ICML 2022 (kNN distance, on features and on inputs).
    """
    null_context = context.reference_as_rows()
    # A reference drawn from the scored (training) rows holds their glitches.
    robust = bool(context.in_reference().any())
    components, null_components, per_epoch = {}, {}, []
    for name in AUTO_COMPONENTS:
        signal = get_signal(name)
        result, null = signal(context, epochs), signal(null_context, epochs)
        components[name] = calibrate(result.scores, null.scores, robust=robust)
        null_components[name] = calibrate(null.scores, null.scores, robust=robust)
        per_epoch.append(
            np.column_stack(
                [
                    calibrate(
                        result.epoch_scores[:, t],
                        null.epoch_scores[:, t],
                        robust=robust,
                    )
                    for t in range(result.epoch_scores.shape[1])
                ]
            )
        )
    scores = np.max(list(components.values()), axis=0)
    extras = {
        "components": components,
        "null_scores": np.max(list(null_components.values()), axis=0),
    }
    return SignalResult(scores, np.max(per_epoch, axis=0), extras)
