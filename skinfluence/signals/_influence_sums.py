r"""The four influence signals compared by Myrtakis et al. (2024).

Notation: ``I(i, j) = sum_{t in S} I_t(i, j)`` is last-layer TracIn summed over
the selected checkpoints ``S``, from training row ``i`` to reference row ``j``;
``V_k`` are the reference rows of class ``k``. Every score is oriented so that
**higher = more suspicious**. ``epoch_scores`` hold the same signal computed on
one checkpoint alone.

References
----------
.. [1] Myrtakis, Tsamardinos, Christophides. "A Comparative Analysis of
   Influence Signals for Data Debugging." DMLR workshop at ICML 2024,
   arXiv:2506.11584.
.. [2] Pruthi, Liu, Kale, Sundararajan. "Estimating Training Data Influence by
   Tracing Gradient Descent." NeurIPS 2020.
.. [3] Nguyen-Duc et al. "Class based Influence Functions for Error
   Detection." ACL 2023.
.. [4] Kong, Shen, Huang. "Resolving Training Biases via Influence-based Data
   Relabeling." ICLR 2022.
"""

from functools import partial

import numpy as np
import torch

from ._base import SignalResult, register
from ._base import as_numpy as _numpy

__all__ = [
    "absolute",
    "expected_self_influence",
    "gd_class",
    "marginal",
    "own_class_help",
    "self_signal",
]

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def expected_self_influence(context, epochs):
    r"""Self-influence of rows without labels: its expectation under the model.

    .. math::

        \mathbb{E}_{y \sim p_i}\, SI_i
            = \sum_{t \in S} \eta_t (1 - \|p_i^t\|^2) (\|h_i^t\|^2 + 1)

    since ``E_{y ~ p} ||p - onehot(y)||^2 = 1 - ||p||^2``: the label-free
    variant of ``"self"``, which ``score_samples`` uses on new rows given
    without labels. With per-sample gradients of chosen layers (``layers=``)
    there is no such closed form, and the rows are scored with the final
    network's predicted labels instead. Orientation: higher = more
    suspicious (the model is unsure of the row and pushes hard on it).
    """
    if context.gradients is not None:
        return self_signal(context, epochs)
    # float64: a row's score does not depend on the rows scored with it.
    lrs = torch.as_tensor(context.lrs, dtype=torch.float64)
    p, h = context.rows.p.cpu().double(), context.rows.h.cpu().double()
    squared = (h * h).sum(2)
    # Beyond float32, as in the network's own maths and in "self" with labels,
    # a squared norm overflows: inf, so that the row is reported, not scored.
    squared[squared > _FLOAT32_MAX] = torch.inf
    per_epoch = lrs[:, None] * (1 - (p * p).sum(2)) * (squared + 1)  # (T, n)
    return SignalResult(_numpy(per_epoch[epochs].sum(0)), _numpy(per_epoch.T))


@register(
    "self",
    description="Self-Influence: TracIn of a row on itself.",
    targets=("label_noise",),
    needs_reference=False,
    label_free=expected_self_influence,
)
def self_signal(context, epochs):
    r"""Self-Influence (SI), Pruthi et al. (2020).

    .. math:: SI_i = \sum_{t \in S} \eta_t \|e_i^t\|^2 (\|h_i^t\|^2 + 1)

    Orientation: higher = more suspicious (a large residual that the training
    keeps pushing on: mislabeled, hard or rare rows). Needs no reference set.
    """
    per_epoch = context.self_influence()
    return SignalResult(_numpy(per_epoch[:, epochs].sum(1)), _numpy(per_epoch))


@register(
    "marginal",
    description="Marginal Influence, TracIn sign: minus the summed influence on the reference.",
    targets=("label_noise",),
)
def marginal(context, epochs):
    r"""Marginal Influence (MI) with TracIn's sign, Kong et al. (2022).

    .. math:: MI_i = \sum_{j \ne i} I(i, j), \qquad \text{score}_i = -MI_i

    computed through the class moments, without the ``n x m`` matrix.
    ``I > 0`` means ``i`` helped ``j``; a harmful row has the most negative
    MI, so the score is ``-MI``. Orientation: higher = more suspicious.
    (The paper's code ranks ``+MI`` and so flags the most *helpful* rows.)
    """
    per_epoch = -context.total_influence()  # (n, T)
    return SignalResult(_numpy(per_epoch[:, epochs].sum(1)), _numpy(per_epoch))


def _abs_reducer(blocks, self_pairs, epochs):
    """Row sums of ``|I_t|`` for each epoch alone and of ``|sum_{t in S} I_t|``."""
    selected = set(epochs.tolist())
    per_epoch, total = [], None
    has_self_pairs = len(self_pairs[0]) > 0  # none against a separate X_val
    for t, block in enumerate(blocks):
        if has_self_pairs:
            block[self_pairs] = 0.0  # a row never counts its influence on itself
        if t in selected:
            total = block.clone() if total is None else total.add_(block)
        per_epoch.append(block.abs_().sum(1))  # in place: the buffer is reused anyway
    return torch.stack([total.abs_().sum(1), *per_epoch], 1).double()


@register(
    "absolute",
    description="Average Absolute Influence: mean |TracIn| over the reference rows.",
    targets=("label_noise",),
)
def absolute(context, epochs):
    r"""Average Absolute Influence (AAI), as implemented by Myrtakis et al.

    .. math:: AAI_i = \frac{1}{|R_i|} \sum_{j \in R_i} |I(i, j)|

    with ``R_i`` the reference rows other than ``i``. Orientation: higher =
    more suspicious (a magnitude signal). The absolute value is not linear, so the
    matrix is streamed in row chunks bounded by ``working_memory``.
    """
    reduced = context.stream_blocks(
        partial(_abs_reducer, epochs=np.asarray(epochs)), desc="absolute influence"
    )
    n_ref = len(context.y_ref) - context.in_reference().double()
    means = reduced / n_ref.unsqueeze(1)
    return SignalResult(_numpy(means[:, 0]), _numpy(means[:, 1:]))


@register(
    "gd_class",
    description="GD-class: minus the lowest per-class mean influence on the reference.",
    targets=("label_noise",),
    suggests_label=True,
)
def gd_class(context, epochs):
    r"""GD-class / TracIn-class, Nguyen-Duc et al. (2023), negated as by Myrtakis et al.

    .. math::

        A_k(i) = \frac{1}{|V_k \setminus \{i\}|} \sum_{j \in V_k, j \ne i} I(i, j),
        \qquad \text{score}_i = -\min_k A_k(i)

    The per-class *mean* keeps unbalanced reference classes comparable (the
    paper's sum favours large classes). Orientation: higher = more
    suspicious: the row harms some class strongly. The arg-min class is returned in
    ``extras["suggested_class"]``: the class the row harms most, a relabel
    suggestion.
    """
    counts = context.class_counts()
    # Classes without reference rows carry no evidence: leave them out of the min.
    means = context.class_sums() / counts.clamp(min=1)
    means = torch.where(counts > 0, means, torch.inf)
    total = means[epochs].sum(0)
    lowest, argmin = total.min(1)
    per_epoch = -means.min(2).values.T
    return SignalResult(
        _numpy(-lowest), _numpy(per_epoch), {"suggested_class": argmin.cpu().numpy()}
    )


@register(
    "own_class_help",
    targets=("anomalies",),
    description="Minus the mean TracIn influence on the reference rows of its class.",
)
def own_class_help(context, epochs):
    r"""Own-class help, negated (research notes §4.1).

    .. math::

        A_{y_i}(i) = \frac{1}{|V_{y_i} \setminus \{i\}|}
            \sum_{j \in V_{y_i}, j \ne i} I(i, j), \qquad \text{score}_i = -A_{y_i}(i)

    computed through the class moments (identity B), without the ``n x m``
    matrix. With ReLU features ``A_{y_i} >= 0`` (identity A). A clustered
    anomaly that the network fits under a shared label has a vanishing
    residual and helps no real row of that class, so it scores highest; a
    mislabeled row helps its given class a lot, so this signal is *reversed*
    for label noise. Orientation: higher = more suspicious (no help).

    References
    ----------
    .. [1] Pruthi et al. "Estimating Training Data Influence by Tracing
       Gradient Descent." NeurIPS 2020 (the influence ``I``).
    .. [2] Nguyen-Duc et al. "Class based Influence Functions for Error
       Detection." ACL 2023 (per-class means of the influence).
    """
    counts = context.class_counts().clamp(min=1)
    own = context.y_rows.view(1, -1, 1).expand(context.n_epochs, -1, 1)
    help_ = context.class_sums().gather(2, own).squeeze(2) / counts.gather(
        1, context.y_rows.view(-1, 1)
    ).squeeze(1)
    per_epoch = -help_.T  # (n, T)
    return SignalResult(_numpy(per_epoch[:, epochs].sum(1)), _numpy(per_epoch))
