r"""The follow-up comparators CNCI, PCID and CFRank, in closed form.

The same group's follow-up to the paper proposes two counterfactual signals:
relabel every training row to a candidate class, recompute its influence on
the reference rows, and measure what changes. Their code re-runs Captum at
the last checkpoint with relabelled data. For the last layer the relabelling
is closed form (identity C of the research notes): with the trajectory held
fixed, giving row ``i`` the label ``c`` changes only its error,
``e_i^c = p_i - q(c) = e_i + q(y_i) - q(c)``, so that

.. math::

    I^c(i, j) = I(i, j)
        + \sum_{t \in S} \eta_t \, (e_j^t[y_i] - e_j^t[c]) (h_i^t \cdot h_j^t + 1).

Each counterfactual is therefore one more streamed pass over the stored
factors, and is computed here over **all selected checkpoints** (the
published code uses the last one only; ``checkpoints=-1`` reproduces that).
The sums below are the published ones (not per-class means) and leave out
the pair of a row with itself when it belongs to the reference set.
Notation as in :mod:`skinfluence.signals._influence_sums`: ``V_k`` are the reference
rows of class ``k``, ``I(i, j) = sum_{t in S} I_t(i, j)``. Every score is
oriented so that **higher = more suspicious**; ``epoch_scores[:, t]`` is the
signal computed with checkpoint ``t`` alone (its counterfactual labels
chosen on that checkpoint too).

References
----------
.. [1] "Data Glitches Discovery using Influence-based Model Explanations."
   KDD 2025 (OpenReview Xh3lCRarOZ); code:
   github.com/anonymoususr95/Influence-Based-Glitch-Detection.
"""

from functools import partial

import numpy as np
import torch
from scipy.stats import rankdata

from ..tracin import errors
from ._base import SignalContext, SignalResult, register
from ._base import as_numpy as _numpy

__all__ = ["cfrank", "cnci", "pcid"]

# Row-wise products smaller than this are zero for PCID's 1 / (MPI * change).
_TINY = np.finfo(np.float64).tiny


class _Relabelled(SignalContext):
    """The scored rows of ``context`` carrying other labels, one set per epoch.

    Only :meth:`stream_blocks` is meant for it: the linear caches
    (``class_sums``) assume the rows' own labels on self pairs.
    """

    def __init__(self, context, labels, epochs=None):
        rows, reference, lrs = context.rows, context.reference, context.lrs
        if epochs is not None and len(epochs) < context.n_epochs:
            # Only the selected epochs' blocks are needed: copy just those.
            index = torch.as_tensor(epochs, device=rows.h.device)
            rows, reference, lrs = rows.take(index), reference.take(index), lrs[epochs]
        super().__init__(
            rows,
            context.y_rows,
            reference,
            context.y_ref,
            lrs,
            context.n_classes,
            self_index=context.self_index,
            label_smoothing=context.label_smoothing,
            working_memory=context.working_memory,
            n_jobs=context.n_jobs,
            progress=context.progress,
        )
        self.labels = labels.expand(len(lrs), -1) if labels.ndim == 1 else labels

    def errors(self):
        return self.cached(
            "e",
            lambda: torch.stack(
                [
                    errors(self.rows.p[t], self.labels[t], self.label_smoothing)
                    for t in range(self.n_epochs)
                ]
            ),
        )


def _signed_class_sums(blocks, self_pairs, onehot, epochs=None, per_epoch=True):
    """Negative and positive parts of the influence summed per reference class.

    Returns ``(c, parts, 2, K)``: the selected ``epochs`` together (when
    given), then every epoch alone (when ``per_epoch``); axis 2 holds
    ``sum min(I, 0)`` then ``sum max(I, 0)``.
    """

    def split(block):
        return torch.stack(
            [block.clamp(max=0) @ onehot, block.clamp(min=0) @ onehot], 1
        )

    selected = set() if epochs is None else set(epochs.tolist())
    parts, total = [], None
    for t, block in enumerate(blocks):
        block[self_pairs] = 0  # a zero adds to neither part: the pair is left out
        if per_epoch:
            parts.append(split(block))
        if t in selected:
            total = block.clone() if total is None else total.add_(block)
    if epochs is not None:
        parts.insert(0, split(total))
    return torch.stack(parts, 1).double()


def _onehot(context):
    return torch.nn.functional.one_hot(context.y_ref, context.n_classes).to(
        context.reference.h.dtype
    )


def _profiles(context, epochs):
    """Signed class sums of the original labels: ``(n, 1 + T, 2, K)``.

    Index 0 of axis 1 is the selected epochs together, ``1 + t`` epoch ``t``;
    axis 2 holds the negative part (``sum min(I, 0)``) then the positive part
    (``sum max(I, 0)``).
    """

    def compute():
        reducer = partial(
            _signed_class_sums,
            onehot=_onehot(context),
            epochs=np.asarray(epochs),
        )
        return context.stream_blocks(reducer, desc="signed class influence")

    return context.cached(("signed_class_sums", tuple(epochs)), compute)


def _counterfactual(context, epochs, label, label_per_epoch):
    """Signed class sums with the rows relabelled: ``(n, 1 + T, 2, K)``.

    ``label`` (n,) is used on the selected epochs together, ``label_per_epoch``
    (T, n) on each epoch alone.
    """
    together = _Relabelled(context, label, epochs).stream_blocks(
        partial(
            _signed_class_sums,
            onehot=_onehot(context),
            epochs=np.arange(len(epochs)),
            per_epoch=False,
        ),
        desc="counterfactual influence",
    )
    alone = _Relabelled(context, label_per_epoch).stream_blocks(
        partial(_signed_class_sums, onehot=_onehot(context)),
        desc="counterfactual influence per epoch",
    )
    return torch.cat([together, alone], 1)


def _cnci(context, epochs):
    negative = _profiles(context, epochs)[:, :, 0]  # (n, 1 + T, K)
    # NIL_opt's arg-min: the class the row harms most (ties: the lowest code).
    label = negative.argmin(2)
    counter = _counterfactual(context, epochs, label[:, 0], label[:, 1:].T)
    own = context.y_rows.view(-1, 1, 1).expand(-1, counter.shape[1], 1)
    scores = counter[:, :, 0].gather(2, own).squeeze(2)
    return SignalResult(
        _numpy(scores[:, 0]),
        _numpy(scores[:, 1:]),
        {"suggested_class": label[:, 0].cpu().numpy()},
    )


def _pcid(context, epochs):
    positive = _profiles(context, epochs)[:, :, 1]  # PIL_k: (n, 1 + T, K)
    # Ties (e.g. two classes without positive mass) go to the lowest code.
    second = torch.sort(positive, dim=2, descending=True, stable=True).indices[:, :, 1]
    counter = _counterfactual(context, epochs, second[:, 0], second[:, 1:].T)[:, :, 1]
    change = (positive - counter).abs().amax(2)
    support = positive.sum(2)  # MPI
    scores = -torch.log((support * change).clamp(min=_TINY))
    return SignalResult(
        _numpy(scores[:, 0]),
        _numpy(scores[:, 1:]),
        {"counterfactual_class": second[:, 0].cpu().numpy()},
    )


@register(
    "cnci",
    description=(
        "CNCI (KDD 2025 follow-up): own-class harm left after relabelling to the "
        "most-harmed class; label noise."
    ),
    targets=("label_noise",),
    suggests_label=True,
)
def cnci(context, epochs):
    r"""Counterfactual Negative Conditional Influence (CNCI), KDD 2025 follow-up.

    .. math::

        c_i = \arg\min_k \sum_{j \in V_k} \min(I(i, j), 0), \qquad
        \text{score}_i = \sum_{j \in V_{y_i}} \min(I^{c_i}(i, j), 0) \le 0

    ``c_i`` is the arg-min of NIL_opt (the class the row harms most) and
    ``I^{c}`` the influence with row ``i`` relabelled to ``c`` (closed form,
    module docstring). Orientation: higher (closer to 0) = more suspicious.
    A mislabeled row relabelled to its true class fits and barely harms the
    rows of its given label; a clean row relabelled to a wrong class harms
    its real class strongly. ``extras["suggested_class"]`` holds ``c_i``, the
    published relabel suggestion.

    References
    ----------
    .. [1] "Data Glitches Discovery using Influence-based Model
       Explanations." KDD 2025 (OpenReview Xh3lCRarOZ).
    """
    key = ("cnci", tuple(epochs))
    return context.cached(key, lambda: _cnci(context, epochs))


@register(
    "pcid",
    description=(
        "PCID (KDD 2025 follow-up): little positive influence, insensitive to a "
        "counterfactual label; anomalies."
    ),
    targets=("anomalies",),
)
def pcid(context, epochs):
    r"""Positive Counterfactual Influence Distance (PCID), KDD 2025 follow-up.

    .. math::

        PIL_k(i) = \sum_{j \in V_k} \max(I(i, j), 0), \qquad
        MPI_i = \sum_k PIL_k(i),

        \text{score}_i = -\log\big(MPI_i \,
            \| PIL(i) - PIL^{c2_i}(i) \|_\infty\big)

    with ``c2_i`` the class of second-largest ``PIL`` (ties: the lowest
    class code) and ``PIL^{c}`` the
    profile with row ``i`` relabelled to ``c`` (closed form, module
    docstring). The published score is ``1 / (MPI * ||.||_inf)``; its log is
    ranked identically and stays finite when the product is 0 (floored at
    the smallest positive double). Orientation: higher = more suspicious: a
    row with little positive support whose influence does not care about its
    label, an anomaly. ``extras["counterfactual_class"]`` holds ``c2_i``.

    References
    ----------
    .. [1] "Data Glitches Discovery using Influence-based Model
       Explanations." KDD 2025 (OpenReview Xh3lCRarOZ).
    """
    key = ("pcid", tuple(epochs))
    return context.cached(key, lambda: _pcid(context, epochs))


def _ranks(scores):
    # Rank 1 / n = least suspicious, 1 = most; ties share their mean rank.
    return rankdata(scores, axis=0) / len(scores)


@register(
    "cfrank",
    description=(
        "CFRank (KDD 2025 follow-up): the larger of the CNCI and PCID ranks; "
        "mixed glitches, typed mislabeled / anomaly."
    ),
    targets=("mixtures",),
    suggests_label=True,
)
def cfrank(context, epochs):
    r"""Counterfactual Rank (CFRank), KDD 2025 follow-up.

    .. math::

        \text{score}_i = \max\big(\mathrm{rank}(CNCI)_i, \mathrm{rank}(PCID)_i\big) / n

    ranks in increasing order of suspicion (ties share their mean rank), so
    ``score`` is in ``(0, 1]``. Orientation: higher = more suspicious. The
    signal that wins types the row (the follow-up's two-way
    characterisation):
    ``extras["glitch_type"]`` is ``"mislabeled"`` where CNCI's rank is
    higher and ``"anomaly"`` otherwise; ``extras["suggested_class"]`` is
    CNCI's relabel suggestion, ``extras["cnci_rank"]`` and
    ``extras["pcid_rank"]`` the two ranks. Ranks depend on the rows scored
    together.

    References
    ----------
    .. [1] "Data Glitches Discovery using Influence-based Model
       Explanations." KDD 2025 (OpenReview Xh3lCRarOZ).
    """
    mislabel, anomaly = cnci(context, epochs), pcid(context, epochs)
    rank_cnci, rank_pcid = _ranks(mislabel.scores), _ranks(anomaly.scores)
    epoch_scores = np.maximum(
        _ranks(mislabel.epoch_scores), _ranks(anomaly.epoch_scores)
    )
    extras = {
        "suggested_class": mislabel.extras["suggested_class"],
        "glitch_type": np.where(rank_cnci > rank_pcid, "mislabeled", "anomaly"),
        "cnci_rank": rank_cnci,
        "pcid_rank": rank_pcid,
    }
    return SignalResult(np.maximum(rank_cnci, rank_pcid), epoch_scores, extras)
