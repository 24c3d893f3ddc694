r"""Influence localised to a row's neighbourhood: whom does training on it help?

A global reduction of TracIn (Marginal Influence, GD-class) sums a row's
influence over the whole reference set, where it is dominated by the few
reference rows the network still gets wrong, wherever they lie. A
mislabeled row gives itself away *locally*: its nearest reference rows in
the trained network's representation belong to its true class, and a step
on it, towards the wrong label, makes them worse. A clean row helps its
neighbours, who share its label. The signal here reads the sign of TracIn
on each row's ``k`` nearest reference rows (10; up to 30 when the
reference is drawn from the training rows, :func:`neighborhood_size`),
each neighbour's term
*renormalised* by the size of its own gradient, and balanced per checkpoint
so that every epoch counts alike and the learning rate cancels:

.. math::

    B_i^t = - \frac{\sum_{j \in N(i)} \tilde I_t(i, j)}
                   {\sum_{j \in N(i)} |\tilde I_t(i, j)| + \lambda k \bar g_t}
        \in (-1, 1), \qquad
    \tilde I_t(i, j) = \frac{I_t(i, j)}{\eta_t \|g_j^t\|}
        = g_i^t \cdot \frac{g_j^t}{\|g_j^t\|}

with ``I_t(i, j) = eta_t g_i^t . g_j^t`` the TracIn term of checkpoint
``t``; on the last layer ``g_i . g_j = (e_i . e_j)(h_i . h_j + 1)`` and
``||g_j|| = ||e_j|| (||h_j||^2 + 1)^{1/2}``. ``N(i)`` are the ``k`` reference
rows nearest to ``h_i^T`` in Euclidean distance at the **final** checkpoint
``T`` (``i`` itself left out), the neighbourhood of the trained
representation for every checkpoint. Near ``1``: the row harms every
neighbour; near ``-1``: it helps every neighbour.

Renormalising (the renormalised influence of Hammoudeh and Lowd) keeps a
neighbour with a large residual from outvoting the others: without it, when
the reference is drawn from the training rows, a mislabeled row's one
mislabeled neighbour, whose large residual points the same wrong way, would
drown the clean ones. The pseudo-count ``lambda k g_t``, with
``lambda = 0.01`` and ``g_t = mean_{j in R} ||g_j^t||``, shrinks weak
evidence towards 0: of two rows harming all their neighbours, the one with
the larger gradient ranks higher, where the plain ratio would tie them at
exactly 1 (ties that would let a ``contamination`` threshold flag fewer rows
than asked).

The same neighbourhood says which label would fix the row. Relabelling row
``i`` to ``c`` changes only its error, ``e_i^c = p_i - q(c)`` (identity C of
the research notes), so its renormalised influence on the neighbours under
label ``c`` is, up to a term that does not depend on ``c``,

.. math::

    G_i^t[c] = - \sum_{j \in N(i)}
        \frac{e_j^t[c] \, (h_i^t \cdot h_j^t + 1)}{\|g_j^t\|},
    \qquad \hat G_i^t = G_i^t / \|G_i^t\|_1

(zero-sum over classes for an unsmoothed criterion), and the label it would
help its neighbours most with is ``argmax_{c != y_i} mean_t \hat G_i^t[c]``.
This counterfactual is read from the last layer's factors even when the
influence itself comes from per-sample gradients (``layers=``).

Unlike kNN label disagreement, which counts neighbours with another label,
the influence weighs each neighbour by how much the two rows' gradients
agree: a neighbour whose residual points elsewhere counts little. Early
checkpoints, before the network memorises the wrong labels, carry most of
the evidence; averaging the per-epoch balances keeps them from being
drowned by the late epochs.

References
----------
.. [1] Pruthi, Liu, Kale, Sundararajan. "Estimating Training Data Influence
   by Tracing Gradient Descent." NeurIPS 2020.
.. [2] Hammoudeh, Lowd. "Identifying a Training-Set Attack's Target Using
   Renormalized Influence Estimation." ACM CCS 2022.
.. [3] Bahri, Jiang, Gupta. "Deep k-NN for Noisy Labels." ICML 2020.
"""

import torch
from sklearn.utils import gen_batches

from ._base import SignalResult, register
from ._base import as_numpy as _numpy
from ._isolation import epoch_neighbors

__all__ = [
    "counterfactual_gain",
    "final_neighbors",
    "neighbor_blocks",
    "neighbor_influence",
    "neighborhood_size",
    "reference_gradient_norms",
]


# Pseudo-count of neighbor_influence, in units of k mean reference gradient norms.
_PRIOR = 0.01
# Neighbourhood sizes: the default, and the most a training-row reference gets.
_K, _K_MAX = 10, 30
# Reference cleaning stops at a fixed point; measured, it is reached in 3 to 6 rounds.
_CLEANING_ROUNDS = 10
_TINY = torch.finfo(torch.float64).tiny


def final_neighbors(context):
    """The nearest reference rows of every scored row at the final checkpoint.

    Euclidean distance on the penultimate activations ``h`` of the last
    captured epoch; ``k = min(neighborhood_size(context), m - 1)`` with ``m``
    the reference size, the row itself left out
    (:func:`~skinfluence.signals._isolation.epoch_neighbors`, cached with the
    kNN signals' neighbours).

    Returns
    -------
    indices : torch.Tensor of shape (n, k)
        Positions in the reference set, nearest first.
    """
    return epoch_neighbors(context, "euclidean", -1, neighborhood_size(context))[1]


def neighborhood_size(context):
    r"""How many neighbours the neighbour-influence balance reads (cached).

    ``k = 10`` for a trusted reference (``X_val``) and for regression. A
    reference drawn from the training rows carries their labels, unverified:
    each neighbour's label is a noisy vote, and the balance reads as many as
    a neighbourhood can hold and stay local, a tenth of the reference, at
    most 30:

    .. math:: k = \min\big(30, \max(10, \lfloor m / 10 \rfloor)\big)

    (30 from 300 reference rows on; 12 for iris's 120 training rows). The
    origin of the reference is the context's
    :meth:`~skinfluence.signals.SignalContext.reference_from_training`, which
    the reference scored as rows inherits: ``auto``'s null (the reference's
    own rows against their neighbours) reads the same ``k`` as the rows it
    is a null for.

    The size used to follow the contamination that the reference cleaning
    estimates (the share of the reference left untrusted,
    ``\hat\varepsilon``): 10 neighbours up to ``\hat\varepsilon \approx
    0.28``, 30 from 0.37 on, by Hoeffding's bound on a wrong majority. That
    estimate misses the errors that agree with their neighbourhoods, which
    the cleaning trusts: on generated errors placed on ambiguous rows
    (``benchmarks/make_ambiguous_labels.py --classes 10``, 37.5 % errors)
    it kept ``k = 10``, where the balance reads F1 at k 0.703 (AUROC 0.77)
    against 0.721 (0.83) at 30, three seeds. Measured on the label-noise
    grid without a reference (``benchmarks/bench_label_noise.py``: four
    tables, three noise kinds, 5 to 40 %, three seeds), the fixed rule
    lifts ``neighbor_influence``'s mean F1 at k from 0.897 to 0.912 (digits
    0.936 to 0.970), with seeds 3 to 5 from 0.910 to 0.915, on three
    generated tables from 0.675 to 0.699; on 5 000 rows of CIFAR-10N's human
    errors it reads 0.922 instead of 0.923 (AUROC 0.977 instead of 0.963).
    """

    def decide():
        if not getattr(context, "adaptive_neighborhood", True):
            return _K
        if not context.reference_from_training():  # a trusted reference
            return _K
        return min(_K_MAX, max(_K, len(context.y_ref) // 10))

    return context.cached("neighborhood_size", decide)


def reference_gradient_norms(context):
    """``||g_j^t||``: each reference row's gradient norm per checkpoint (cached).

    On the last layer ``||e_j^t|| (||h_j^t||^2 + 1)^{1/2}``; with per-sample
    gradients (``layers=``), their norm.

    Returns
    -------
    norms : torch.Tensor of shape (n_epochs, m), float64
    """

    if context.gradients is None:
        return _last_layer_norms(context)
    return context.cached(
        "reference_gradient_norms", lambda: context.gradients[1].double().norm(dim=2)
    )


def _last_layer_norms(context):
    """``||e_j^t|| (||h_j^t||^2 + 1)^{1/2}``, shape (n_epochs, m), float64 (cached)."""

    def compute():
        h, e = context.reference.h.double(), context.reference_errors().double()
        return e.norm(dim=2) * ((h * h).sum(2) + 1).sqrt()

    return context.cached("last_layer_norms", compute)


def _row_chunks(context, n, k, width):
    """Row slices whose gathered neighbour factors (``T x c x k x width``) fit twice."""
    chunk = max(
        1, int(context.memory_mib * 2**20) // (8 * context.n_epochs * k * width)
    )
    return gen_batches(n, chunk)


def _feature_kernel(context, batch, neighbors):
    """``h_i^t . h_j^t + 1`` over the neighbours of rows ``batch``, float64.

    Formed chunk by chunk where it is used, not kept for all rows: a
    ``T x n x k`` copy held 360 MB at a million rows and 30 neighbours. The
    products are taken in the factors' float32 (a float64 copy of them would
    hold no more digits), the kernel in float64.
    """
    h_rows, h_ref = context.rows.h, context.reference.h
    products = torch.einsum(
        "tcp,tckp->tck", h_rows[:, batch], h_ref[:, neighbors[batch]]
    )
    return products.double().add_(1)


def _block_chunk(context, batch, neighbors):
    r"""``I_t(i, j) / \eta_t`` for rows ``batch`` and their neighbours, (T, c, k), float64."""
    if context.gradients is not None:
        g_rows, g_ref = context.gradients
        return torch.einsum(
            "tcp,tckp->tck", g_rows[:, batch], g_ref[:, neighbors[batch]]
        ).double()
    e_rows, e_ref = context.errors(), context.reference_errors()
    errors = torch.einsum("tcq,tckq->tck", e_rows[:, batch], e_ref[:, neighbors[batch]])
    return errors.double().mul_(_feature_kernel(context, batch, neighbors))


def _chunk_width(context):
    """The widest factor gathered per neighbour: gradients, or errors and features."""
    if context.gradients is not None:
        return context.gradients[0].shape[2]
    return context.errors().shape[2] + context.rows.h.shape[2]


def _factor_device(context):
    """Where the rows' factors (or gradients) live, and the blocks are formed."""
    rows = context.gradients[0] if context.gradients is not None else context.rows.h
    return rows.device


def neighbor_blocks(context, neighbors=None):
    r"""``I_t(i, j) / \eta_t`` for every row ``i`` and each of its final neighbours ``j``.

    Parameters
    ----------
    context : SignalContext
    neighbors : torch.Tensor of shape (n, k), default=None
        Reference positions to read instead of :func:`final_neighbors`.

    Returns
    -------
    blocks : torch.Tensor of shape (n_epochs, n, k), float64
        ``(e_i . e_j)(h_i . h_j + 1)``, or ``g_i . g_j`` with gradients.
        Formed row chunk by row chunk: no ``n x k`` temporary besides the
        result.
    """
    if neighbors is None:
        neighbors = final_neighbors(context)
    return reduce_neighbor_blocks(context, neighbors, lambda blocks: blocks)


def reduce_neighbor_blocks(context, neighbors, reduce):
    r"""``reduce`` over the neighbours of :func:`neighbor_blocks`, row chunk by row chunk.

    ``reduce`` maps a ``(T, c, k)`` chunk of ``I_t(i, j) / \eta_t`` to
    ``(T, c, ...)``; unless it keeps every neighbour, the ``T x n x k``
    blocks are never held at once (480 MB in float64 at a million rows, 20
    neighbours and 3 checkpoints, and as much again for a sort of them).

    Returns
    -------
    reduced : torch.Tensor of shape (n_epochs, n, ...), float64
    """
    n, k = neighbors.shape
    device = _factor_device(context)
    # What reduce leaves of a row, read off an empty chunk.
    empty = torch.empty((context.n_epochs, 0, k), dtype=torch.float64, device=device)
    reduced = torch.empty(
        (context.n_epochs, n, *reduce(empty).shape[2:]),
        dtype=torch.float64,
        device=device,
    )
    for batch in _row_chunks(context, n, k, _chunk_width(context)):
        reduced[:, batch] = reduce(_block_chunk(context, batch, neighbors))
    return reduced


def counterfactual_gain(context):
    r"""How much each label would make a row help its neighbours, per checkpoint (cached).

    .. math::

        \hat G_i^t[c] = \frac{G_i^t[c]}{\sum_k |G_i^t[k]|}, \qquad
        G_i^t[c] = -\sum_{j \in N(i)}
            \frac{e_j^t[c] \, (h_i^t \cdot h_j^t + 1)}{\|g_j^t\|}

    ``G_i^t[c]`` is ``sum_{j in N(i)} I_t^c(i, j) / (eta_t ||g_j^t||)`` with
    row ``i`` relabelled to ``c``, less a term that does not depend on ``c``
    (module docstring); normalised so that every checkpoint counts alike.
    Last-layer factors, chunked within ``working_memory``.

    Returns
    -------
    gain : torch.Tensor of shape (n_epochs, n, n_classes), float64
    """

    def compute():
        neighbors = final_neighbors(context)
        n, k = neighbors.shape
        # float64 before the gather (m rows, not c x k): no float32 copy of
        # the gathered neighbours' errors.
        e_ref = context.reference_errors().double()
        norms = _last_layer_norms(context)
        gains = torch.empty(
            (context.n_epochs, n, e_ref.shape[2]),
            dtype=torch.float64,
            device=e_ref.device,
        )
        # Per chunk: the gathered errors (K wide), features (p wide) and two
        # k-wide temporaries.
        width = e_ref.shape[2] + context.rows.h.shape[2] + 2
        for batch in _row_chunks(context, n, k, width):
            near = neighbors[batch]
            # (h_i . h_j + 1) / ||g_j||: each neighbour by its gradient's
            # direction (in place: the gathered norms are a fresh tensor).
            weights = _feature_kernel(context, batch, neighbors).div_(
                norms[:, near].clamp_(min=_TINY)
            )
            gain = -torch.einsum("tck,tckq->tcq", weights, e_ref[:, near])
            scale = gain.abs().sum(2, keepdim=True)
            gains[:, batch] = gain / scale.clamp(min=_TINY)
        return gains

    return context.cached("counterfactual_gain", compute)


def _renormalised_blocks(context):
    """``I_t(i, j) / (eta_t ||g_j^t||)`` over the final neighbours, (T, n, k) (cached).

    Kept in float32, half the memory of float64 (360 MB instead of 720 at a
    million rows, 30 neighbours and 3 checkpoints): each term is a product of
    float32 factors, so a float64 copy would hold no more digits than the
    factors carry. :func:`_balance` sums them in float64.
    """

    def compute():
        neighbors = final_neighbors(context)
        norms = reference_gradient_norms(context)
        n, k = neighbors.shape
        blocks = torch.empty(
            (context.n_epochs, n, k),
            dtype=torch.float32,
            device=_factor_device(context),
        )
        for batch in _row_chunks(context, n, k, _chunk_width(context)):
            chunk = _block_chunk(context, batch, neighbors)
            blocks[:, batch] = chunk.div_(norms[:, neighbors[batch]].clamp_(min=_TINY))
        return blocks

    return context.cached("renormalised_blocks", compute)


def _balance(context, trust=None):
    """The per-checkpoint balance, each neighbour weighted by its trust; (n, T)."""
    blocks = _renormalised_blocks(context)
    norms = reference_gradient_norms(context)
    n_epochs, n, k = blocks.shape
    prior = _PRIOR * k * norms.mean(1)
    neighbors = None if trust is None else final_neighbors(context)
    balance = torch.empty((n, n_epochs), dtype=torch.float64, device=blocks.device)
    # Row chunks bound the T x c x k temporaries (weighted, absolute values).
    for batch in _row_chunks(context, n, k, 3):
        chunk = blocks[:, batch].double()
        if trust is not None:
            chunk = chunk * trust[neighbors[batch]]
        magnitude = chunk.abs().sum(2).add_(prior[:, None])
        # 0 / tiny = 0: a row whose neighbour influences all vanish is neutral.
        balance[batch] = (-chunk.sum(2) / magnitude.clamp(min=_TINY)).T
    return balance


def _reference_trust(context, per_epoch, epochs):
    """Which reference rows to trust: those that do not harm their own neighbours.

    Only for a reference drawn from the scored rows (every reference row is
    also scored, ``self_index``): a reference row is trusted, weight 1, when
    its own balance over the selected checkpoints is ``<= 0``, and left out
    of its neighbours' balances otherwise. Returns None for a separate,
    trusted reference (``X_val``), which is used as it is.
    """
    if not _reference_is_scored(context):
        return None  # a separate, trusted reference
    inside = context.in_reference()
    score = torch.zeros(
        len(context.y_ref), dtype=per_epoch.dtype, device=per_epoch.device
    )
    score[context.self_index[inside]] = per_epoch[inside][:, epochs].mean(1)
    return (score <= 0).to(per_epoch.dtype)


def _reference_is_scored(context):
    """Whether every reference row is also a scored row: a reference drawn from them."""
    inside = context.in_reference()
    covered = torch.zeros(len(context.y_ref), dtype=torch.bool, device=inside.device)
    covered[context.self_index[inside]] = True
    return bool(covered.all())


def _cleaned_balance(context, epochs):
    """The balance with the reference cleaned to a fixed point, and the trust.

    Cached per neighbourhood size and selected epochs. ``trust`` is None for
    a trusted reference. New rows scored against a training-row reference
    they do not belong to cannot clean it themselves: they read the trust
    the training rows settled on (``"reference_trust"``, seeded by the
    scoring state), so both are scored against the same cleaned reference.
    """

    def compute():
        per_epoch = context.cached("neighbor_influence", lambda: _balance(context))
        seeded = context.peek("reference_trust")
        if seeded is not None and _reference_trust(context, per_epoch, epochs) is None:
            return _balance(context, seeded), seeded
        trust = None
        for _ in range(_CLEANING_ROUNDS):
            new = _reference_trust(context, per_epoch, epochs)
            if new is None or (trust is not None and torch.equal(new, trust)):
                break
            trust = new
            per_epoch = _balance(context, trust)
        return per_epoch, trust

    k = context.peek("neighborhood_size")
    return context.cached(("cleaned_balance", k, tuple(epochs)), compute)


@register(
    "neighbor_influence",
    targets=("label_noise",),
    suggests_label=True,
    description=(
        "Signed TracIn on the nearest reference rows, normalised: a row that "
        "harms its neighbours; label noise."
    ),
)
def neighbor_influence(context, epochs):
    r"""Neighbour influence balance: does training on a row harm its neighbours?

    .. math::

        \text{score}_i = \frac{1}{|S|} \sum_{t \in S}
            \frac{-\sum_{j \in N(i)} \tilde I_t(i, j)}
                 {\sum_{j \in N(i)} |\tilde I_t(i, j)| + \lambda k \bar g_t},
        \qquad \tilde I_t(i, j) = \frac{I_t(i, j)}{\eta_t \|g_j^t\|}

    with ``N(i)`` the ``k`` reference rows nearest to ``h_i`` at the final
    checkpoint (``i`` itself left out; ``k = 10``, up to 30 for a reference
    drawn from the training rows, :func:`neighborhood_size`), ``I_t`` the TracIn term of
    checkpoint ``t`` renormalised by the neighbour's gradient norm, and
    ``lambda k g_t`` a small pseudo-count (module docstring); ``eta_t``
    cancels. Orientation: higher = more suspicious, in ``(-1, 1)``: a
    mislabeled row pulls the shared weights towards its wrong label and
    harms the neighbours of its true class, a clean row helps neighbours of
    its own. Needs a reference of at least 2 rows: best a trusted
    ``X_val``, but the renormalisation keeps it strong when the reference is
    drawn from the training rows (the row itself is left out).
    ``epoch_scores[:, t]`` is the balance at checkpoint ``t`` alone, with
    the same neighbours. ``extras["suggested_class"]`` holds the label that
    would make the row help its neighbours most,
    ``argmax_{c != y_i} mean_{t in S} \hat G_i^t[c]`` (see
    :func:`counterfactual_gain`).

    References
    ----------
    .. [1] Pruthi et al., NeurIPS 2020 (TracIn); Hammoudeh and Lowd, ACM CCS
       2022 (renormalised influence).
    """

    neighborhood_size(context)
    per_epoch, trust = _cleaned_balance(context, epochs)
    if trust is not None:  # the cleaned reference, for new rows (scoring state)
        context.cached("reference_trust", lambda: trust)
    gain = counterfactual_gain(context)[epochs].mean(0)
    gain[torch.arange(len(gain)), context.y_rows] = -torch.inf  # another label
    # The T x n x k intermediates serve no other signal (the neighbours and
    # the balance stay cached): ``auto`` goes on scoring without them.
    context.release("renormalised_blocks", "counterfactual_gain")
    return SignalResult(
        _numpy(per_epoch[:, epochs].mean(1)),
        _numpy(per_epoch),
        {"suggested_class": gain.argmax(1).cpu().numpy()},
    )
