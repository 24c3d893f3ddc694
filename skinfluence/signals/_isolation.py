r"""Isolation signals: how far a row sits from the trusted reference set.

Influence magnitudes cannot see anomalies the network has fitted (their
residual, and so every TracIn term, vanishes). What gives them away is the
penultimate activation ``h`` alone: they have no close neighbour among the
reference rows, or sit far from the reference rows of their given class.
The feature signals here read ``h_i^t``, the input of the last linear layer
at checkpoint ``t``, and average their per-epoch value over the selected
checkpoints; ``epoch_scores[:, t]`` is the value at checkpoint ``t`` alone.
The reference should be a trusted ``X_val``: drawn from the training rows it
contains the anomalies themselves (a row is never compared with itself, but
a clustered anomaly still finds its cluster mates). Every score is oriented
so that **higher = more suspicious**.

References
----------
.. [1] Sun, Ming, Zhu, Li. "Out-of-Distribution Detection with Deep Nearest
   Neighbors." ICML 2022.
.. [2] Lee, Lee, Lee, Shin. "A Simple Unified Framework for Detecting
   Out-of-Distribution Samples and Adversarial Attacks." NeurIPS 2018.
.. [3] Ledoit, Wolf. "A well-conditioned estimator for large-dimensional
   covariance matrices." Journal of Multivariate Analysis, 2004.
"""

import math

import numpy as np
import torch
from sklearn.covariance import ledoit_wolf
from sklearn.utils import gen_batches
from tqdm.auto import tqdm

from ._base import SignalResult, register
from ._base import as_numpy as _numpy

__all__ = [
    "feature_support",
    "input_distance",
    "knn_distance",
    "mahalanobis",
    "epoch_neighbors",
    "reference_neighbors",
]

_N_NEIGHBORS = 10  # neighbours cached per epoch; every kNN signal uses a prefix


def _epoch_mean(per_epoch, epochs):
    return per_epoch[:, epochs].mean(1)


def _nearest(
    h_rows,
    h_ref,
    self_index,
    k,
    metric,
    working_memory,
    scale=None,
    kth_only=False,
    compact=False,
    progress=None,
):
    """The ``k`` nearest reference rows of every row at one checkpoint.

    Returns ``(values, indices)`` of shape ``(n, k)``, nearest first: cosine
    similarities for ``metric="cosine"``, Euclidean distances for
    ``"euclidean"``; with ``kth_only`` only the ``k``-th column, shape
    ``(n, 1)`` (a large ``k`` then costs no ``n x k`` result). The pair of
    a row with itself (``self_index``) is left out. The ``n x m`` matrix
    exists only in row chunks of at most ``working_memory`` MiB, and the
    rows are cast to float64 (and divided by the per-feature ``scale``, when
    given) one chunk at a time: a float64 copy of a million rows would cost
    more than the chunks. ``compact=True`` rounds each chunk's result to
    float32 values and int32 positions as it is found, so no ``n x k``
    float64 and int64 pair is ever concatenated (960 MB at a million rows
    and 30 neighbours, for a result of 240 MB). ``progress``, a label,
    shows a tqdm bar over the chunks once the search has run 2 s (a million
    rows' search takes minutes).
    """

    def prepare(h):
        h = h.double()
        if scale is not None:
            h = h / scale
        if metric == "cosine":
            h = torch.nn.functional.normalize(h, dim=1)
        return h

    h_ref = prepare(h_ref)
    ref_sq = (h_ref * h_ref).sum(1)
    # Two c x m float64 temporaries per chunk.
    chunk = max(1, int(working_memory * 2**20) // (16 * len(h_ref)))
    values, indices = [], []
    batches = list(gen_batches(len(h_rows), chunk))
    # Only a search that lasts: a bar per checkpoint of a small table would
    # flash twenty lines through the audit's output.
    bar = tqdm(batches, desc=progress, disable=progress is None, leave=False, delay=2.0)
    for rows in bar:
        h_chunk = prepare(h_rows[rows])
        block = h_chunk @ h_ref.T
        if metric == "euclidean":
            # ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b, negated: larger = nearer.
            block.mul_(2).sub_(ref_sq).sub_((h_chunk**2).sum(1, keepdim=True))
        inside = torch.nonzero(self_index[rows] >= 0).squeeze(1)
        block[inside, self_index[rows][inside]] = -torch.inf
        top = block.topk(k, dim=1)
        found, where = top.values, top.indices
        if kth_only:
            found, where = found[:, -1:].clone(), where[:, -1:].clone()
        if metric == "euclidean":
            found = (-found).clamp_(min=0).sqrt_()
        if compact:
            found, where = found.float(), where.int()
        values.append(found)
        indices.append(where)
        del block, top, found, where
    return torch.cat(values), torch.cat(indices)


def reference_neighbors(context, metric):
    """Nearest reference rows of every scored row at every checkpoint (cached).

    Parameters
    ----------
    context : SignalContext
    metric : {"cosine", "euclidean"}
        Cosine similarity or Euclidean distance of the penultimate
        activations ``h``.

    Returns
    -------
    values : torch.Tensor of shape (n_epochs, n, k), float32
        Similarities (cosine) or distances (Euclidean), nearest first,
        computed in float64 and rounded to the activations' float32.
    indices : torch.Tensor of shape (n_epochs, n, k), int32
        Positions in the reference set.

    Notes
    -----
    ``k = min(10, m - 1)`` with ``m`` the reference size: a row never counts
    itself. The reference must hold at least two rows.
    """

    def compute():
        found = [epoch_neighbors(context, metric, t) for t in range(context.n_epochs)]
        return torch.stack([v for v, _ in found]), torch.stack([i for _, i in found])

    return context.cached(("reference_neighbors", metric), compute)


def epoch_neighbors(context, metric, t, k=None):
    """Nearest reference rows of every scored row at checkpoint ``t`` (cached).

    One epoch of :func:`reference_neighbors`, for signals that need only
    one; the two share their cache. ``k`` neighbours (at most ``m - 1``);
    None for the cached default of 10, which the kNN signals read a prefix
    of. A search for fewer neighbours than one already made at the same
    checkpoint and metric reads that one's prefix instead of searching
    again.

    Returns
    -------
    values, indices : torch.Tensor of shape (n, k)
        float32 and int32, as in :func:`reference_neighbors`.
    """
    m = len(context.y_ref)
    if m < 2:
        raise ValueError(
            f"Neighbour signals need a reference of at least 2 rows; got {m}."
        )
    t = range(context.n_epochs)[t]  # -1 and n_epochs - 1 are the same entry
    k = min(_N_NEIGHBORS if k is None else k, m - 1)
    key = ("epoch_neighbors", metric, t)
    if k != min(_N_NEIGHBORS, m - 1):
        key += (k,)
    # The largest search made at this checkpoint: a smaller one is its prefix
    # (a million rows' search takes a minute or more on two cores).
    largest_key = ("epoch_neighbors_largest", metric, t)

    def compute():
        larger = context.peek(largest_key)
        if larger is not None and larger[0] >= k:
            values, indices = larger[1]
            return values[:, :k].contiguous(), indices[:, :k].contiguous()
        # Kept for the whole scoring, T of them: float32 values (the
        # activations' own precision) and int32 positions halve a million
        # rows' cache from 480 MB (three epochs) to 240 MB.
        return _nearest(
            context.rows.h[t],
            context.reference.h[t],
            context.self_index,
            k,
            metric,
            context.memory_mib,
            compact=True,
            progress=_label(context, f"neighbours at checkpoint {t + 1}"),
        )

    found = context.cached(key, compute)
    larger = context.peek(largest_key)
    if larger is None or larger[0] < k:
        context.release(largest_key)
        context.cached(largest_key, lambda: (k, found))
    return found


def _label(context, what):
    """A progress bar's label when the context shows progress, else None."""
    return what if context.progress else None


@register(
    "feature_support",
    targets=("anomalies",),
    description=(
        "Minus the mean cosine similarity of h to its 5 nearest reference rows."
    ),
)
def feature_support(context, epochs):
    r"""Feature support: closeness of a row's activations to the reference set.

    .. math::

        FS_i = \frac{1}{|S|} \sum_{t \in S} \frac{1}{5} \sum_{j \in N_5^t(i)}
            \cos(h_i^t, h_j^t), \qquad \text{score}_i = -FS_i

    with ``N_5^t(i)`` the 5 reference rows of largest cosine similarity to
    ``h_i^t`` (``i`` itself left out). It is the activation factor of TracIn
    without the error factor, so it ignores labels and residuals: a fitted
    anomaly has no support whatever its loss. Orientation: higher = more
    suspicious (isolated). Research notes §4.2; the cosine kNN score of Sun
    et al. (2022).
    """
    similarity, _ = reference_neighbors(context, "cosine")
    per_epoch = -similarity[:, :, :5].mean(2).T
    return SignalResult(_numpy(_epoch_mean(per_epoch, epochs)), _numpy(per_epoch))


@register(
    "knn_distance",
    targets=("anomalies",),
    description="Distance of h to its 5th nearest reference row, relative to the norm.",
)
def knn_distance(context, epochs):
    r"""Distance to the 5th nearest reference row (Sun et al., 2022, unnormalised).

    .. math::

        \text{score}_i = \frac{1}{|S|} \sum_{t \in S}
            \frac{\| h_i^t - h_{(5)}^t \|}{\sqrt{\operatorname{mean}_j \|h_j^t\|^2}}

    with ``h_(5)^t`` the 5th nearest reference row in Euclidean distance
    (``i`` itself left out). Unlike :func:`feature_support` the features are
    not normalised, so an unusual activation *norm* counts; dividing by the
    root-mean-square reference norm makes epochs comparable while the
    activations grow. Orientation: higher = more suspicious (isolated).
    """
    # The k-th distance of each epoch from the per-epoch cache, which
    # neighbor_influence shares: no stacked T x n x 10 copy.
    k = min(5, _N_NEIGHBORS, len(context.y_ref) - 1)
    distance = torch.stack(
        [
            epoch_neighbors(context, "euclidean", t)[0][:, k - 1]
            for t in range(context.n_epochs)
        ]
    ).double()
    h_ref = context.reference.h.double()
    scale = (h_ref * h_ref).sum(2).mean(1).sqrt().clamp(min=1e-12)  # (T,)
    per_epoch = (distance / scale[:, None]).T
    return SignalResult(_numpy(_epoch_mean(per_epoch, epochs)), _numpy(per_epoch))


def _mahalanobis_epoch(h, y, h_ref, y_ref, n_classes, working_memory):
    """Squared given-label Mahalanobis distances at one checkpoint (numpy).

    ``h`` may be float32: it is cast to float64 one row chunk of at most
    ``working_memory`` MiB at a time (its whitened copy and a square of it
    alongside), never as a whole.
    """
    h_ref = h_ref.astype(np.float64)
    present = np.bincount(y_ref, minlength=n_classes) > 0
    onehot = np.eye(n_classes)[y_ref]
    means = (onehot.T @ h_ref) / np.maximum(onehot.sum(0), 1)[:, None]
    covariance, _ = ledoit_wolf(h_ref - means[y_ref], assume_centered=True)
    # Whiten with Sigma^{-1} = W W^T, so that the n x K distances come from
    # matrix products without an n x K x d array. Null directions (all
    # features dead) are dropped, as a pseudo-inverse would.
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    keep = eigenvalues > eigenvalues.max(initial=0.0) * 1e-12
    whiten = eigenvectors[:, keep] / np.sqrt(eigenvalues[keep])
    centres = means @ whiten
    own = np.empty(len(h))
    chunk = max(1, int(working_memory * 2**20) // (8 * 3 * max(h.shape[1], 1)))
    for rows in gen_batches(len(h), chunk):
        z = h[rows].astype(np.float64) @ whiten
        distances = (
            (z * z).sum(1, keepdims=True)
            - 2 * z @ centres.T
            + (centres * centres).sum(1)
        ).clip(min=0)
        # A row whose given class has no reference rows is measured to the
        # nearest class mean instead.
        labels = y[rows]
        own[rows] = np.where(
            present[labels],
            distances[np.arange(len(labels)), labels],
            distances[:, present].min(1),
        )
    return own


@register(
    "mahalanobis",
    targets=("label_noise", "anomalies"),
    description=(
        "Squared Mahalanobis distance of h to the reference mean of its given "
        "class (tied, shrunk covariance)."
    ),
)
def mahalanobis(context, epochs):
    r"""Given-label Mahalanobis distance on penultimate features, Lee et al. (2018).

    .. math::

        \text{score}_i = \frac{1}{|S|} \sum_{t \in S}
            (h_i^t - \mu_{y_i}^t)^\top (\Sigma^t)^{-1} (h_i^t - \mu_{y_i}^t)

    with ``mu_k^t`` the mean activation of the reference rows of class ``k``
    and ``Sigma^t`` their tied (pooled within-class) covariance, shrunk
    towards a scaled identity with the Ledoit-Wolf (2004) coefficient so
    that it stays invertible with dead units or ``m < d``. Measured to the
    *given* label's mean it catches label noise (a row far from the class it
    claims) as well as anomalies (far from every class). Averaged over the
    selected epochs: early activations are less shaped by memorisation,
    late ones more discriminative. A row whose class has no reference rows
    is measured to the nearest class mean. Rows of the reference set
    contribute to the means they are measured to (an ``O(1 / |V_k|)``
    effect). Orientation: higher = more suspicious.
    """
    y, y_ref = context.y_rows.cpu().numpy(), context.y_ref.cpu().numpy()
    # float64 one epoch and one row chunk at a time: every epoch at once
    # would be T n d float64 (1.5 GB for three epochs of a million 64-wide
    # rows), one whole epoch with its whitened copy 1 GB.
    h = context.rows.h.cpu().numpy()
    h_ref = context.reference.h.cpu().numpy()
    per_epoch = np.stack(
        [
            _mahalanobis_epoch(
                h[t], y, h_ref[t], y_ref, context.n_classes, context.memory_mib
            )
            for t in range(context.n_epochs)
        ],
        axis=1,
    )
    return SignalResult(_epoch_mean(per_epoch, epochs), per_epoch)


#: The largest share of the rows a clustered anomaly may hold and still be
#: isolated in input space when the reference is drawn from the training rows.
CLUSTER_SHARE = 0.05


def input_neighborhood(context):
    r"""Which nearest reference input :func:`input_distance` reads.

    ``k = 5`` against a trusted reference. A reference drawn from the
    training rows holds the anomalies too, and a cluster of ``c`` foreign
    rows is its own neighbourhood for every ``k <= c``: at ``k = 5`` such a
    cluster looked *less* isolated than the clean rows (measured: far
    clusters of 2 % of the rows of breast cancer, digits and a 2 000-row
    table sat below the clean rows' median). There
    ``k = \max(5, \lceil 0.05 m \rceil)``, at most ``m - 1``, for a reference
    of ``m`` rows: clusters of up to 5 % of the rows are measured against
    the rows around them, and scattered outliers stay as isolated as at
    ``k = 5`` (their distance to any clean neighbour is large).
    """
    m = len(context.reference.x)
    k = 5
    if context.reference_from_training():
        k = max(k, math.ceil(CLUSTER_SHARE * m))
    return max(1, min(k, m - 1))


@register(
    "input_distance",
    targets=("anomalies",),
    description="Distance of the input row to its k-th nearest reference input "
    "(5th; 5 % of a training-row reference), in features standardised on the "
    "reference.",
)
def input_distance(context, epochs):
    r"""Isolation in input space: distance to the ``k``-th nearest reference input.

    .. math::

        \text{score}_i = \| \tilde x_i - \tilde x_{(k)} \| / \sqrt{p},
        \qquad \tilde x = x / \sigma_{\mathrm{ref}}

    with ``sigma_ref`` the per-feature standard deviation of the reference
    inputs (at least 1 % of its mean over the features), ``x_(k)`` the
    ``k``-th nearest reference input (``i`` itself left out) and ``p`` the
    number of features; ``k = 5`` against a trusted reference and 5 % of a
    reference drawn from the training rows, so that a cluster of anomalies
    cannot be its own neighbourhood (:func:`input_neighborhood`). It needs
    no training dynamics: corrupted
    inputs (brightness, noise, out-of-range values) are far from every clean
    row even where the network's features absorb the change. Orientation:
    higher = more suspicious (isolated). ``epoch_scores`` repeat the score for
    every epoch, as the inputs do not change.

    References
    ----------
    .. [1] Sun, Ming, Zhu, Li. "Out-of-Distribution Detection with Deep
       Nearest Neighbors." ICML 2022 (here on the inputs).
    """
    rows, reference = context.rows.x, context.reference.x
    if rows is None or reference is None:
        raise ValueError("input_distance needs the rows' inputs, captured by fit.")
    if len(reference) < 2:
        raise ValueError(
            f"Neighbour signals need a reference of at least 2 rows; got {len(reference)}."
        )
    spread = reference.double().std(0)
    # A feature (nearly) constant on the reference counts in units of 1 % of
    # the features' mean spread: a 1e-12 floor let rounding noise on such
    # features (e.g. after the detector's standardisation) swamp every
    # other feature's distance.
    scale = spread.clamp(min=max(1e-2 * float(spread.mean()), 1e-12))
    k = input_neighborhood(context)
    distance, _ = _nearest(
        rows,
        reference,
        context.self_index,
        k,
        "euclidean",
        context.memory_mib,
        scale=scale,
        kth_only=True,
        progress=_label(context, "input-space neighbours"),
    )
    scores = _numpy(distance[:, 0]) / np.sqrt(rows.shape[1])
    return SignalResult(scores, np.repeat(scores[:, None], context.n_epochs, axis=1))
