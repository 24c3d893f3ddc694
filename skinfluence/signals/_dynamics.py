r"""Training-dynamics signals: how a row's quantities move across the epochs.

Early and late self-influence are the ``"self"`` signal with
``checkpoints="early"`` or ``"late"``; the signals here summarise the
*trajectory* over the selected checkpoints ``S`` (sorted; ``|S|`` of them).
With ``SI_i^t = eta_t ||e_i^t||^2 (||h_i^t||^2 + 1)`` the per-epoch
self-influence: a clean row is fitted and its self-influence collapses; a
mislabeled row keeps a large residual until it is memorised, so its
self-influence stays high or grows with the activations; an anomaly fitted
under a shared label collapses earliest of all. None of these signals needs
a reference set. Every score is oriented so that **higher = more
suspicious**; what ``epoch_scores`` holds is stated per signal (each must
have one column per captured epoch).

References
----------
.. [1] Pruthi, Liu, Kale, Sundararajan. "Estimating Training Data Influence by
   Tracing Gradient Descent." NeurIPS 2020.
.. [2] Toneva et al. "An Empirical Study of Example Forgetting during Deep
   Neural Network Learning." ICLR 2019.
.. [3] Maini, Garg, Lipton, Kolter. "Characterizing Datapoints via
   Second-Split Forgetting." NeurIPS 2022.
"""

import math

import numpy as np

from ._base import SignalResult, register

__all__ = ["learning_time", "si_centroid", "si_trend"]


def _thirds(epochs):
    """First and last thirds (``ceil(|S| / 3)`` each) of the selected epochs."""
    third = math.ceil(len(epochs) / 3)
    return epochs[:third], epochs[len(epochs) - third :]


def _floored_self_influence(context):
    si = context.self_influence().cpu().numpy().astype(np.float64)  # (n, T)
    # A residual ||e||^2 of 1e-12 as the floor: a fully fitted row keeps a
    # finite log, the same for every row of an epoch.
    return np.maximum(si, np.maximum(1e-12 * context.lrs, np.finfo(np.float64).tiny))


@register(
    "si_trend",
    targets=("label_noise", "dynamics"),
    description="log(late / early self-influence): how little self-influence decays.",
    needs_reference=False,
)
def si_trend(context, epochs):
    r"""Self-influence trend over the selected epochs (research notes §4.3).

    .. math::

        \text{score}_i = \log \frac{\operatorname{mean}_{t \in S_{late}} SI_i^t}
            {\operatorname{mean}_{t \in S_{early}} SI_i^t}

    with ``S_early`` and ``S_late`` the first and last ``ceil(|S| / 3)``
    selected epochs (each ``SI_i^t`` floored at ``1e-12 eta_t``, so fully
    fitted rows stay finite). Orientation: higher = more suspicious: the
    training fails to shrink the row's residual. Fitted clustered anomalies
    get the lowest scores (reversed). ``epoch_scores[:, t]`` is
    ``log(SI_i^t / mean_{S_early} SI_i)``, the trend up to epoch ``t``.

    References
    ----------
    .. [1] Pruthi et al., NeurIPS 2020 (self-influence, with its checkpoints);
       Toneva et al., ICLR 2019 (what a row's training trajectory reveals).
    """
    early, late = _thirds(epochs)
    si = _floored_self_influence(context)
    start = np.log(si[:, early].mean(1))
    scores = np.log(si[:, late].mean(1)) - start
    return SignalResult(scores, np.log(si) - start[:, None])


@register(
    "si_centroid",
    targets=("label_noise", "dynamics"),
    description="Centre of mass of the self-influence over the epochs, in [0, 1].",
    needs_reference=False,
)
def si_centroid(context, epochs):
    r"""Centre of mass of the self-influence along training.

    .. math::

        \text{score}_i = \frac{\sum_{s=0}^{|S|-1} \frac{s}{|S| - 1} SI_i^{t_s}}
            {\sum_{s} SI_i^{t_s}} \in [0, 1]

    over the selected epochs ``t_0 < ... < t_{|S|-1}`` (0 with one epoch). A
    continuous version of the epoch of peak self-influence: a clean row's
    self-influence sits in the first epochs, before it is fitted; a row the
    network keeps fighting (mislabeled) has its mass late. Orientation:
    higher = more suspicious. ``epoch_scores[:, t]`` is the share
    ``SI_i^t / sum_{all t'} SI_i^{t'}`` of the row's self-influence at epoch
    ``t``.

    References
    ----------
    .. [1] Pruthi et al., NeurIPS 2020 (self-influence); Maini et al.,
       NeurIPS 2022 (mislabeled rows are learned late).
    """
    si = _floored_self_influence(context)
    position = np.arange(len(epochs)) / max(len(epochs) - 1, 1)
    mass = si[:, epochs]
    scores = (mass * position).sum(1) / mass.sum(1)
    return SignalResult(scores, si / si.sum(1, keepdims=True))


def correct_predictions(context):
    """``(n, T)`` boolean: is the row's label the model's argmax at epoch ``t``."""
    predicted = context.rows.p.argmax(2).cpu().numpy()  # (T, n)
    return (predicted == context.y_rows.cpu().numpy()).T


@register(
    "learning_time",
    targets=("label_noise", "dynamics"),
    description="Share of the epochs before the row is predicted right for good.",
    needs_reference=False,
)
def learning_time(context, epochs):
    r"""Learning time: when the row is learned for good (Maini et al., 2022).

    .. math::

        \text{score}_i = \frac{1}{|S|} \min \{ s : \hat y_i^{t_{s'}} = y_i
            \ \forall s' \ge s \}

    over the selected epochs ``t_0 < ... < t_{|S|-1}``; a row mispredicted
    at the last selected epoch scores 1 (never learned), a row right from
    the first scores 0. Mislabeled rows are learned late, by memorisation,
    or never. The score takes ``|S| + 1`` values, so many rows tie.
    Orientation: higher = more suspicious. ``epoch_scores[:, t]`` is 1
    where the row is mispredicted at epoch ``t``, else 0.
    """
    wrong = ~correct_predictions(context)
    selected = wrong[:, epochs]
    # Index of the last mispredicted selected epoch, -1 if none.
    last_wrong = np.where(
        selected.any(1), len(epochs) - 1 - np.argmax(selected[:, ::-1], axis=1), -1
    )
    return SignalResult((last_wrong + 1) / len(epochs), wrong.astype(np.float64))
