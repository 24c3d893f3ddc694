r"""Baselines a user would pick instead of influence, from the same captured epochs.

Each reads the per-epoch softmax outputs ``p_i^t`` (and, for the kNN
baseline, the penultimate activations ``h_i^t``) that the detector captures
anyway, so they cost nothing beyond the one training run and are compared on
exactly the same net. The outputs are evaluated at the end of each epoch in
``eval`` mode, not during the minibatch updates as in some of the original
papers. Logit margins come from ``log p``: softmax is shift-invariant, so
``log p_a - log p_b = z_a - z_b``. Every score is oriented so that
**higher = more suspicious**; ``epoch_scores[:, t]`` is the per-epoch value
(or ingredient, as stated) at checkpoint ``t``.

References
----------
.. [1] Pleiss, Zhang, Elenberg, Weinberger. "Identifying Mislabeled Data
   using the Area Under the Margin Ranking." NeurIPS 2020.
.. [2] Swayamdipta et al. "Dataset Cartography: Mapping and Diagnosing
   Datasets with Training Dynamics." EMNLP 2020.
.. [3] Toneva et al. "An Empirical Study of Example Forgetting during Deep
   Neural Network Learning." ICLR 2019.
.. [4] Bahri, Jiang, Gupta. "Deep k-NN for Noisy Labels." ICML 2020.
.. [5] Northcutt, Jiang, Chuang. "Confident Learning: Estimating Uncertainty
   in Dataset Labels." JAIR 2021.
"""

import numpy as np
import torch

from ._base import SignalResult, register
from ._dynamics import correct_predictions
from ._isolation import reference_neighbors

__all__ = [
    "aum",
    "cleanlab_quality",
    "confidence",
    "forgetting",
    "knn_disagreement",
    "loss",
    "variability",
]

# log p of a probability that underflowed to 0 in float32.
_LOG_FLOOR = float(np.log(np.finfo(np.float32).tiny))


def _log_proba(context):
    p = context.rows.p.double()
    return torch.log(p.clamp(min=np.finfo(np.float32).tiny)).clamp(min=_LOG_FLOOR)


def _given(tensor, y):
    """``tensor[t, i, y_i]`` as an ``(n, T)`` array."""
    index = y.view(1, -1, 1).expand(tensor.shape[0], -1, 1)
    return tensor.gather(2, index).squeeze(2).T.cpu().numpy()


def _result(per_epoch, epochs):
    return SignalResult(per_epoch[:, epochs].mean(1), per_epoch)


@register(
    "loss",
    targets=("label_noise",),
    description="Cross-entropy of the given label, averaged over the selected epochs.",
    needs_reference=False,
)
def loss(context, epochs):
    r"""Training loss, the small-loss criterion (Arazo et al., 2019; Han et al., 2018).

    .. math::

        \text{score}_i = \frac{1}{|S|} \sum_{t \in S} -\sum_k q_{ik} \log p_{ik}^t

    with ``q_i`` the (possibly label-smoothed) target of the criterion.
    Orientation: higher = more suspicious. Fitted clustered anomalies have
    the *lowest* loss (reversed). ``epoch_scores[:, t]`` is the loss at
    epoch ``t``.
    """
    log_p = _log_proba(context)
    target = context.rows.p.double() - context.errors().double()
    per_epoch = -(target * log_p).sum(2).T.cpu().numpy()
    return _result(per_epoch, epochs)


@register(
    "aum",
    targets=("label_noise",),
    description="Minus the Area Under the Margin: mean logit margin of the label.",
    needs_reference=False,
)
def aum(context, epochs):
    r"""Area Under the Margin, negated, Pleiss et al. (2020).

    .. math::

        AUM_i = \frac{1}{|S|} \sum_{t \in S}
            \big( z_{iy_i}^t - \max_{k \ne y_i} z_{ik}^t \big)
            = \frac{1}{|S|} \sum_{t \in S}
            \big( \log p_{iy_i}^t - \max_{k \ne y_i} \log p_{ik}^t \big),
        \qquad \text{score}_i = -AUM_i

    A mislabeled row's logit for its given label stays below another class
    (negative margin). Probabilities that underflowed in float32 are
    floored, which caps margins near ``+-87``. Orientation: higher = more
    suspicious. ``epoch_scores[:, t]`` is minus the margin at epoch ``t``.
    """
    log_p = _log_proba(context)
    own = _given(log_p, context.y_rows)
    others = log_p.scatter(
        2, context.y_rows.view(1, -1, 1).expand(log_p.shape[0], -1, 1), -torch.inf
    )
    per_epoch = others.amax(2).T.cpu().numpy() - own
    return _result(per_epoch, epochs)


@register(
    "confidence",
    targets=("label_noise",),
    description=(
        "Data Maps confidence, negated: minus the mean probability of the label."
    ),
    needs_reference=False,
)
def confidence(context, epochs):
    r"""Data Maps confidence, negated, Swayamdipta et al. (2020).

    .. math:: \text{score}_i = -\frac{1}{|S|} \sum_{t \in S} p_{iy_i}^t

    Mislabeled rows sit in the "hard-to-learn" region of low confidence.
    Orientation: higher = more suspicious. ``epoch_scores[:, t]`` is
    ``-p_{iy_i}^t``.
    """
    per_epoch = -_given(context.rows.p.double(), context.y_rows)
    return _result(per_epoch, epochs)


@register(
    "variability",
    targets=("dynamics",),
    description="Data Maps variability: std over epochs of the label probability.",
    needs_reference=False,
)
def variability(context, epochs):
    r"""Data Maps variability, Swayamdipta et al. (2020).

    .. math::

        \text{score}_i = \sqrt{\frac{1}{|S|} \sum_{t \in S}
            (p_{iy_i}^t - \bar p_{iy_i})^2},
        \qquad \bar p_{iy_i} = \frac{1}{|S|} \sum_{t \in S} p_{iy_i}^t

    "Ambiguous" rows, learned and unlearned in turn, vary most. This is
    *not* a label-noise signal (mislabeled rows are consistently
    unconfident, low variability); it flags ambiguous and rare rows.
    Orientation: higher = more suspicious (ambiguous). ``epoch_scores[:, t]``
    is ``|p_{iy_i}^t - \bar p_{iy_i}|``, the deviation from the mean over
    the selected epochs, whose root-mean-square over ``S`` is the score.
    """
    given = _given(context.rows.p.double(), context.y_rows)
    deviation = np.abs(given - given[:, epochs].mean(1, keepdims=True))
    return SignalResult(np.sqrt((deviation[:, epochs] ** 2).mean(1)), deviation)


@register(
    "forgetting",
    targets=("label_noise", "dynamics"),
    description="Forgetting events: correct-to-incorrect transitions across epochs.",
    needs_reference=False,
)
def forgetting(context, epochs):
    r"""Number of forgetting events, Toneva et al. (2019).

    .. math::

        \text{score}_i = \sum_{s=1}^{|S|-1}
            [\hat y_i^{t_{s-1}} = y_i] \, [\hat y_i^{t_s} \ne y_i]

    over the selected epochs ``t_0 < ... < t_{|S|-1}``, with ``hat y`` the
    argmax prediction at the end of the epoch (the paper counts per
    minibatch presentation). A row never predicted right at a selected
    epoch counts ``|S|``, more than any row can be forgotten (the paper's
    infinity). Orientation: higher = more suspicious; counts tie a lot.
    ``epoch_scores[:, t]`` is 1 where the row is forgotten between captured
    epochs ``t - 1`` and ``t`` (0 at the first epoch).
    """
    correct = correct_predictions(context)
    selected = correct[:, epochs]
    events = (selected[:, :-1] & ~selected[:, 1:]).sum(1)
    scores = np.where(selected.any(1), events, len(epochs)).astype(np.float64)
    per_epoch = np.zeros(correct.shape)
    per_epoch[:, 1:] = correct[:, :-1] & ~correct[:, 1:]
    return SignalResult(scores, per_epoch)


@register(
    "knn_disagreement",
    targets=("label_noise",),
    description="Share of the 10 nearest reference rows on h with another label.",
)
def knn_disagreement(context, epochs):
    r"""kNN label disagreement on penultimate features (deep kNN, Bahri et al., 2020).

    .. math::

        \text{score}_i = \frac{1}{k} \sum_{j \in N_k^{t^*}(i)} [y_j \ne y_i]

    with ``N_k^{t*}(i)`` the ``k = 10`` reference rows nearest to ``h_i`` in
    Euclidean distance at the last selected epoch ``t*`` (``i`` itself left
    out; fewer when the reference is smaller). Catches label noise and
    anomalies with random labels; a clustered anomaly under one shared label
    agrees with its cluster mates when they are in the reference.
    Orientation: higher = more suspicious; takes ``k + 1`` values, so rows
    tie. ``epoch_scores[:, t]`` is the disagreement at epoch ``t``.
    """
    _, neighbors = reference_neighbors(context, "euclidean")  # (T, n, k)
    disagree = context.y_ref[neighbors] != context.y_rows.view(1, -1, 1)
    per_epoch = disagree.double().mean(2).T.cpu().numpy()
    return SignalResult(per_epoch[:, epochs[-1]].copy(), per_epoch)


# How cleanlab ranks; see the docstring of ``cleanlab_quality``.
_CLEANLAB_METHOD = "normalized_margin"


def _label_quality(labels, proba):
    try:
        from cleanlab.rank import get_label_quality_scores
    except ImportError as exc:
        raise ImportError(
            "The 'cleanlab' signal needs the optional dependency cleanlab; install it "
            "with `pip install skinfluence[cleanlab]`."
        ) from exc
    proba = proba / proba.sum(1, keepdims=True)
    return get_label_quality_scores(labels, proba, method=_CLEANLAB_METHOD)


@register(
    "cleanlab",
    targets=("label_noise",),
    description=(
        "1 - cleanlab's label quality (normalized margin) of the mean in-sample "
        "probabilities; needs cleanlab."
    ),
    needs_reference=False,
)
def cleanlab_quality(context, epochs):
    r"""A bridge to cleanlab's label-quality scores, Northcutt et al. (2021).

    .. math::

        \text{score}_i = 1 - Q_i\big(y_i, \bar p_i\big), \qquad
        \bar p_i = \frac{1}{|S|} \sum_{t \in S} p_i^t

    with ``Q`` ``cleanlab.rank.get_label_quality_scores`` using the
    ``"normalized_margin"`` method (a monotone transform of
    ``p_{iy_i} - max_{k != y_i} p_{ik}``, which cleanlab recommends for
    class-conditional label errors; its default ``"self_confidence"`` would
    rank exactly as the ``"confidence"`` signal). The probabilities are
    **in-sample** (the rows were trained on), averaged over the selected
    epochs: an approximation of cleanlab's protocol, which wants
    out-of-sample probabilities from cross-validation, and biased towards
    rows the net has memorised. Needs the optional dependency ``cleanlab``
    (``pip install skinfluence[cleanlab]``). Orientation: higher = more
    suspicious. ``epoch_scores[:, t]`` is the same with ``p^t`` alone.
    """
    labels = context.y_rows.cpu().numpy()
    proba = context.rows.p.double().cpu().numpy()  # (T, n, K)
    per_epoch = np.stack([1 - _label_quality(labels, p) for p in proba], axis=1)
    scores = 1 - _label_quality(labels, proba[epochs].mean(0))
    return SignalResult(scores, per_epoch)
