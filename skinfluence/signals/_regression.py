r"""Influence signals for regression targets, and their registry.

For a network whose last linear layer outputs the prediction ``\hat y``
(``K`` outputs), trained with a regression loss, the per-sample last-layer
gradient is ``e_i \otimes [h_i, 1]`` with ``e_i = \partial \ell / \partial
\hat y_i`` (``2 r_i / K`` for ``MSELoss``, ``r_i = \hat y_i - y_i`` the
residual; :func:`skinfluence.tracin.regression_errors`), so TracIn keeps the
classifier's closed form

.. math::

    I_t(i, j) = \eta_t \, (e_i^t \cdot e_j^t) \, (h_i^t \cdot h_j^t + 1).

:class:`RegressionContext` is a :class:`~skinfluence.signals.SignalContext`
whose errors are these residual gradients, so the influence reductions of
the classification signals (self-influence, streamed absolute influence) and
the isolation signals, which read only ``h`` and the inputs, apply
unchanged. The signals that need a class (GD-class, Mahalanobis to the given
class, AUM, counterfactual relabelling) have no regression meaning and are
not registered here. Regression signals live in their own registry
(:func:`available_regression_signals`): the names a classification detector
accepts and the ones a regression detector accepts are different sets.

Every score is oriented so that **higher = more suspicious**; ``epoch_scores``
hold the signal at one checkpoint alone (or the stated ingredient).

References
----------
.. [1] Pruthi, Liu, Kale, Sundararajan. "Estimating Training Data Influence by
   Tracing Gradient Descent." NeurIPS 2020.
.. [2] Kong, Shen, Huang. "Resolving Training Biases via Influence-based Data
   Relabeling." ICLR 2022.
.. [3] Hammoudeh, Lowd. "Identifying a Training-Set Attack's Target Using
   Renormalized Influence Estimation." ACM CCS 2022.
.. [4] Swayamdipta et al. "Dataset Cartography: Mapping and Diagnosing
   Datasets with Training Dynamics." EMNLP 2020.
.. [5] Zhou, Mueller. "Detecting Errors in Numerical Data via any Regression
   Model" (cleanlab's regression label quality), 2023.
"""

import numpy as np
import pandas as pd
import torch
from scipy.special import logit, ndtri
from scipy.stats import rankdata

from ..tracin import regression_errors
from ._auto import (
    apply_null,
    calibrate,
    calibrates_on_bulk,
    calibration,
    isolation_gate,
)
from ._base import Signal, SignalContext, SignalResult, training_fit_key
from ._dynamics import si_trend
from ._influence_sums import absolute, self_signal
from ._isolation import epoch_neighbors, feature_support, input_distance, knn_distance
from ._neighbor_influence import (
    final_neighbors,
    neighbor_blocks,
    reduce_neighbor_blocks,
    reference_gradient_norms,
)

__all__ = [
    "EXPONENTIAL_RATIO",
    "LOCAL_NEIGHBORS",
    "LOCAL_RATIO",
    "ORDER_COMPONENTS",
    "REGRESSION_AUTO_COMPONENTS",
    "RegressionContext",
    "available_regression_signals",
    "conflict_order",
    "get_regression_signal",
    "in_order",
    "local_gate",
    "local_loss_ratio",
    "register_regression_signal",
]

_REGISTRY = {}
_PRIOR = 0.01  # neighbour-influence pseudo-count, as in signals._neighbor_influence
_TINY = torch.finfo(torch.float64).tiny
#: ``(k, trimmed share at each end)`` of :func:`self_excess`'s neighbour mean,
#: against a trusted reference and against one drawn from the training rows.
EXCESS_NEIGHBORHOOD = {"trusted": (10, 0.0), "training": (20, 0.2)}


def register_regression_signal(
    name, *, description, needs_reference=True, func=None, fits_on_training=False
):
    """Register ``func(context, epochs) -> SignalResult`` as a regression signal.

    Used as a decorator (``func=None``) or called with an existing function,
    e.g. a classification signal that reads only ``h`` or the errors.
    ``needs_reference`` and ``fits_on_training`` are as for
    :func:`~skinfluence.signals.register`.
    """

    def decorator(function):
        _REGISTRY[name] = Signal(
            name,
            function,
            description,
            needs_reference=needs_reference,
            fits_on_training=fits_on_training,
        )
        return function

    return decorator if func is None else decorator(func)


def get_regression_signal(name):
    """Return the registered regression :class:`~skinfluence.signals.Signal` ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown regression signal {name!r}; available regression signals: "
            f"{sorted(_REGISTRY)}."
        ) from None


def available_regression_signals():
    """List every registered regression signal.

    Returns
    -------
    table : pandas.DataFrame
        One row per signal with columns ``name``, ``orientation``,
        ``needs_reference`` and ``description``.

    Examples
    --------
    >>> from skinfluence.signals import available_regression_signals
    >>> {"self", "marginal", "neighbor_influence", "auto"} <= set(
    ...     available_regression_signals()["name"])
    True
    """
    rows = [
        {
            "name": s.name,
            "orientation": "higher = more suspicious",
            "needs_reference": s.needs_reference,
            "description": s.description,
        }
        for s in _REGISTRY.values()
    ]
    return pd.DataFrame(
        rows, columns=["name", "orientation", "needs_reference", "description"]
    )


class RegressionContext(SignalContext):
    """A :class:`~skinfluence.signals.SignalContext` for regression targets.

    ``rows.p`` and ``reference.p`` hold the per-epoch *predictions* (the
    last linear layer's output) and ``y_rows``, ``y_ref`` the float targets,
    shape ``(n, K)``. :meth:`errors` returns the loss gradient with respect
    to the prediction, so every influence reduction of the base class
    applies unchanged.

    Parameters
    ----------
    rows, reference : Factors
    y_rows : torch.Tensor of shape (n, K)
    y_ref : torch.Tensor of shape (m, K)
    lrs : ndarray of shape (n_epochs,)
    loss : str, default="MSELoss"
        See :func:`skinfluence.tracin.regression_errors`.
    threshold : float, default=1.0
        ``delta`` of ``HuberLoss`` or ``beta`` of ``SmoothL1Loss``.
    reduction : {"mean", "sum"}, default="mean"
    **kwargs
        ``self_index``, ``working_memory``, ``n_jobs``, ``progress`` as in
        :class:`~skinfluence.signals.SignalContext`.
    """

    # Residuals have no majority to protect: neighbourhoods stay at k = 10.
    adaptive_neighborhood = False

    def __init__(
        self,
        rows,
        y_rows,
        reference,
        y_ref,
        lrs,
        *,
        loss="MSELoss",
        threshold=1.0,
        reduction="mean",
        **kwargs,
    ):
        super().__init__(rows, y_rows, reference, y_ref, lrs, y_rows.shape[1], **kwargs)
        self.loss = loss
        self.threshold = threshold
        self.reduction = reduction

    def _loss_gradient(self, factors, y):
        return regression_errors(
            factors.p, y, self.loss, self.threshold, self.reduction
        )

    def errors(self):
        """``e = d loss / d prediction`` of the scored rows, shape (n_epochs, n, K)."""
        return self.cached("e", lambda: self._loss_gradient(self.rows, self.y_rows))

    def reference_errors(self):
        """``e`` of the reference rows, shape (n_epochs, m, K)."""
        return self.cached(
            "e_ref", lambda: self._loss_gradient(self.reference, self.y_ref)
        )

    def residuals(self):
        """``r = prediction - target`` of the scored rows, shape (n_epochs, n, K)."""
        return self.cached("r", lambda: self.rows.p - self.y_rows.to(self.rows.p.dtype))

    def _reference_context(self):
        """The reference rows scored against themselves (each left out of its own)."""
        return RegressionContext(
            self.reference,
            self.y_ref,
            self.reference,
            self.y_ref,
            self.lrs,
            loss=self.loss,
            threshold=self.threshold,
            reduction=self.reduction,
            self_index=torch.arange(len(self.y_ref), device=self.y_ref.device),
            working_memory=self.working_memory,
            n_jobs=self.n_jobs,
        )


def _numpy(tensor):
    return tensor.detach().cpu().numpy().astype(np.float64, copy=False)


# -- signals shared with classification: they read only h, x and the errors --

register_regression_signal(
    "self",
    description="Self-Influence: TracIn of a row on itself, eta ||e||^2 (||h||^2 + 1).",
    needs_reference=False,
    func=self_signal,
)
register_regression_signal(
    "absolute",
    description="Average Absolute Influence: mean |TracIn| over the reference rows.",
    func=absolute,
)
register_regression_signal(
    "si_trend",
    description="log(late / early self-influence): how little the residual decays.",
    needs_reference=False,
    func=si_trend,
)


#: Quantiles per checkpoint of the training rows' self-influence that
#: ``self_rank`` keeps to rank new rows among them.
RANK_QUANTILES = 1001


@register_regression_signal(
    "self_rank",
    description="Self-influence ranked among the rows at each checkpoint: the logit "
    "of the mean rank share over the epochs.",
    needs_reference=False,
    fits_on_training=True,
)
def self_rank(context, epochs):
    r"""Self-influence read checkpoint by checkpoint, as a mean rank.

    .. math::

        \text{score}_i = \operatorname{logit} \bar r_i, \qquad
        \bar r_i = \frac{1}{|S|} \sum_{t \in S}
            \frac{\operatorname{rank}_t(SI_i^t) - 1/2}{n},
        \qquad SI_i^t = \eta_t \|e_i^t\|^2 (\|h_i^t\|^2 + 1)

    with ``rank_t`` the rank (1 = lowest, ties averaged) of the row's TracIn
    self-influence among the ``n`` scored rows at checkpoint ``t``. The
    TracIn sum of :func:`self_signal` lets one checkpoint's extreme value
    carry a row: ``SI`` is a squared residual times the activation norm
    ``||h||^2 + 1``, heavy-tailed at every checkpoint, so a clean row of
    large leverage that reaches the tail at some checkpoints outranks a
    corrupted target that stays a few residual deviations off throughout.
    A rank bounds each checkpoint's vote to ``(0, 1)``: a row scores high
    only if its self-influence stays in the top tail while the network
    trains. On ``make_friedman1`` and ``make_friedman3`` with 10 % large
    target errors, the clean rows among the sum's top k had 1.2 to 2.6
    times the median activation norm and sat in the top 10 % at 52-63 % of
    the checkpoints; the corrupted ones, at 86-93 %. Over five regression
    sets and 10 seeds (``benchmarks/bench_regression.py``) F1 at k went
    from 0.83 for the sum to 0.87. It is a regression signal only: on label
    noise the same rank lost to the sum (F1 at k 0.14 below the best of
    loss, AUM and cleanlab on average over 42 cells of the label-noise
    grid, against 0.06 for the sum; an older cache of that grid).

    The logit (monotone: the ranking is the mean rank's) unbounds the
    score so that Tukey's fence, the regressor's threshold for a named
    signal, can fall inside its range: on the mean rank share itself,
    ``Q3 + 1.5 IQR`` lay above 1 and flagged nothing. Orientation: higher =
    more suspicious. ``epoch_scores[:, t]`` is the logit of the rank share
    at checkpoint ``t``.

    New rows (``novelty=True``) are ranked among the *training* rows: their
    share is the training rows' distribution function of ``SI^t`` (kept as
    :data:`RANK_QUANTILES` quantiles per checkpoint, ``extras["fit"]``),
    clipped to ``[1 / 2n, 1 - 1 / 2n]``; ranked among themselves, a lone
    new row would always score 0.

    Reference: TracIn self-influence over checkpoints, Pruthi et al.
    (NeurIPS 2020); the rank per checkpoint is this library's.
    """
    si = _numpy(context.self_influence())  # (n, T)
    return _checkpoint_rank(
        si, context.peek(training_fit_key("self_rank", epochs)), epochs
    )


def _checkpoint_rank(values, trained, epochs):
    """``logit`` of the mean rank share per checkpoint, the score of the rank signals.

    ``values`` (n, T) are ranked among the rows at each checkpoint; new rows
    (``trained``, the training rows' fit) among the training rows, through
    :func:`order_statistics` per checkpoint, their share clipped to
    ``[1 / 2n, 1 - 1 / 2n]``. Returns the :class:`SignalResult` with the fit
    in ``extras["fit"]``.
    """
    if trained is None:
        shares = (rankdata(values, axis=0) - 0.5) / values.shape[0]  # in (0, 1)
        fit = order_statistics(values)
    else:
        fit = trained
        shares = np.column_stack(
            [rank_share(values[:, t], fit, t) for t in range(values.shape[1])]
        )
    return SignalResult(logit(shares[:, epochs].mean(1)), logit(shares), {"fit": fit})


def order_statistics(values):
    """Training rows' values (n, ...) kept at up to :data:`RANK_QUANTILES` ranks.

    The sorted values at up to :data:`RANK_QUANTILES` evenly spaced ranks
    ``r`` (every rank when ``n`` is smaller), with their rank shares
    ``(r + 1/2) / n``: a training row scored again as a new row gets the
    share it had among the training rows whenever its rank is kept.

    Examples
    --------
    >>> fit = order_statistics(np.array([3.0, 1.0, 2.0]))
    >>> fit["quantiles"], fit["levels"].round(3), fit["n"]
    (array([1., 2., 3.]), array([0.167, 0.5  , 0.833]), 3)
    """
    n = values.shape[0]
    ranks = np.unique(np.linspace(0, n - 1, min(RANK_QUANTILES, n)).round().astype(int))
    return {
        "quantiles": np.sort(values, axis=0)[ranks],
        "levels": (ranks + 0.5) / n,
        "n": n,
    }


def rank_share(values, fit, column=None):
    """The rank share of ``values`` among the training rows (:func:`order_statistics`).

    Linear between the kept ranks, clipped to ``[1 / 2n, 1 - 1 / 2n]``;
    ``column`` picks a checkpoint of a two-dimensional fit.

    Examples
    --------
    >>> fit = order_statistics(np.array([3.0, 1.0, 2.0]))
    >>> rank_share(np.array([2.0, 2.5, 9.0]), fit).round(3)
    array([0.5  , 0.667, 0.833])
    >>> rank_share(np.array([2.0]), order_statistics(np.array([1.0, 2.0, 2.0, 3.0])))
    array([0.5])
    """
    quantiles = fit["quantiles"] if column is None else fit["quantiles"][:, column]
    n = fit["n"]
    # Fits pickled before the levels were kept spread their levels over [0, 1].
    levels = fit.get("levels", np.linspace(0.0, 1.0, len(quantiles)))
    # Tied values share their mean level, as tied ranks do.
    unique, tied = np.unique(quantiles, return_inverse=True)
    levels = np.bincount(tied, weights=levels) / np.bincount(tied)
    return np.interp(values, unique, levels).clip(0.5 / n, 1 - 0.5 / n)


@register_regression_signal(
    "self_excess",
    description="Self-influence less the mean influence on the 10 nearest reference "
    "rows, ranked among the rows at each checkpoint: what a step on the row "
    "teaches only itself.",
    fits_on_training=True,
)
def self_excess(context, epochs):
    r"""Self-influence in excess of the influence on the neighbours, as a mean rank.

    .. math::

        D_i^t = SI_i^t - \operatorname{mean}_{j \in N(i)} I_t(i, j)
            = \eta_t \, e_i^t \cdot \Big(\|\tilde h_i^t\|^2 e_i^t
              - \operatorname{mean}_{j \in N(i)} (\tilde h_i^t \cdot \tilde h_j^t)
              \, e_j^t\Big),
        \qquad \text{score}_i = \operatorname{logit} \frac{1}{|S|}
            \sum_{t \in S} \frac{\operatorname{rank}_t(D_i^t) - 1/2}{n}

    with ``\tilde h = [h, 1]``, ``N(i)`` the ``k`` reference rows nearest to
    ``h_i`` at the final checkpoint (``i`` left out), and the rank per
    checkpoint of :func:`self_rank`. A step on row ``i`` lowers its own loss
    by ``SI`` and its neighbours' by ``I(i, j)`` on average: a clean row in a
    region the network fits badly helps its neighbours about as much as
    itself (their residuals share its sign), so little is left; a corrupted
    target pulls its prediction away from what its neighbours need, so its
    steps help only itself and raise their loss (``I(i, j) < 0``), and the
    excess is more than its self-influence. Influence signs, not only
    magnitudes, carry the evidence (the paper's call).

    The neighbourhood follows the reference (:data:`EXCESS_NEIGHBORHOOD`):

    * a trusted ``X_val``: ``k = 10`` held-out rows that the network never
      fitted, and the plain mean;
    * a reference drawn from the training rows: some neighbours are
      corrupted themselves, and their large residuals of either sign put
      their ``I(i, j)`` at the ends of the row's ``k`` influences. The mean
      is trimmed of a fifth at each end, over ``k = 20`` so that twelve
      influences remain.

    Measured (``benchmarks/bench_regression.py``, F1 at k, 10 % corrupted
    targets), without a reference, the trimmed mean over 20 against the
    plain mean over 10: large errors 0.858 against 0.842 (diabetes,
    Friedman #1 and #2, 10 seeds), 0.925 and 0.925 (Friedman #3, a linear
    set), 0.743 and 0.734 (two held-out sets); offsets 0.427 and 0.403,
    swaps 0.555 and 0.535 (3 seeds). With ``X_val`` the plain mean over
    10 stays ahead (0.861 against 0.858; 0.928 against 0.923): a clean
    reference has nothing to trim. Cleanlab on 5-fold cross-validated
    predictions reads 0.820, 0.891 and 0.719 on the three groups of large
    errors. On a systematic offset without a reference the group's rows
    explain each other (0.43 against 0.52 for ``self_rank``); prefer
    ``self_rank`` there. Orientation: higher = more suspicious.
    ``epoch_scores[:, t]`` is the logit of the rank share at checkpoint
    ``t``; new rows are ranked among the training rows as in
    :func:`self_rank`, against the same neighbourhood rule.

    Reference: TracIn, Pruthi et al. (NeurIPS 2020); the excess over the
    neighbours and its rank are this library's.
    """
    si = context.self_influence()  # (n, T), with eta
    lrs = torch.as_tensor(context.lrs, dtype=torch.float64, device=si.device)
    origin = "training" if context.reference_from_training() else "trusted"
    k, trim = EXCESS_NEIGHBORHOOD[origin]
    # At k = 10 these are the final neighbours, from the same cache.
    neighbors = epoch_neighbors(context, "euclidean", -1, k)[1]
    pulls = reduce_neighbor_blocks(
        context, neighbors, lambda blocks: _trimmed_mean(blocks, trim)
    )
    excess = si - (pulls * lrs[:, None]).T
    trained = context.peek(training_fit_key("self_excess", epochs))
    return _checkpoint_rank(_numpy(excess), trained, epochs)


def _trimmed_mean(values, share):
    """Mean over the last axis without its ``floor(share * k)`` lowest and highest."""
    k = values.shape[-1]
    cut = int(share * k)
    if cut == 0:
        return values.mean(-1)
    return values.sort(-1).values[..., cut : k - cut].mean(-1)


for _signal in (feature_support, knn_distance, input_distance):
    register_regression_signal(
        _signal.__name__,
        description=f"Isolation, unchanged from classification: {_signal.__name__}.",
        func=_signal,
    )


# ------------------------------------------------------ regression signals


@register_regression_signal(
    "marginal",
    description="Marginal Influence, TracIn sign: minus the summed influence on "
    "the reference.",
)
def marginal(context, epochs):
    r"""Marginal Influence (MI) with TracIn's sign, Kong et al. (2022).

    .. math::

        MI_i = \sum_{j \ne i} I(i, j)
             = \sum_t \eta_t \, e_i^t \cdot (M^t \tilde h_i^t) - [i \in R] SI_i,
        \qquad M^t = \sum_{j \in R} e_j^t (\tilde h_j^t)^\top

    with ``\tilde h = [h, 1]``: one ``K x (d + 1)`` moment per checkpoint,
    no ``n x m`` matrix. ``score_i = -MI_i``: a row whose steps raise the
    loss of the reference rows overall scores highest. Orientation: higher =
    more suspicious.
    """
    e, e_ref = context.errors(), context.reference_errors()
    h = torch.cat([context.rows.h, torch.ones_like(context.rows.h[..., :1])], 2)
    h_ref = torch.cat(
        [context.reference.h, torch.ones_like(context.reference.h[..., :1])], 2
    )
    moments = e_ref.transpose(1, 2) @ h_ref  # (T, K, d + 1)
    lrs = torch.as_tensor(context.lrs, dtype=h.dtype, device=h.device)
    sums = torch.einsum("tnk,tkd,tnd->tn", e, moments, h) * lrs[:, None]
    sums = sums.double().T  # (n, T)
    inside = context.in_reference()
    if inside.any():
        sums[inside] -= context.self_influence()[inside]
    per_epoch = -sums
    return SignalResult(_numpy(per_epoch[:, epochs].sum(1)), _numpy(per_epoch))


@register_regression_signal(
    "neighbor_influence",
    description="Signed TracIn on the 10 nearest reference rows, renormalised by "
    "their gradient norms: a row that harms its neighbours.",
)
def neighbor_influence(context, epochs):
    r"""Neighbour influence balance for a continuous target.

    .. math::

        \text{score}_i = \frac{1}{|S|} \sum_{t \in S}
            \frac{-\sum_{j \in N(i)} \tilde I_t(i, j)}
                 {\sum_{j \in N(i)} |\tilde I_t(i, j)| + \lambda k \bar g_t},
        \qquad \tilde I_t(i, j) = \frac{I_t(i, j)}{\eta_t \|g_j^t\|}
            = \frac{(e_i^t \cdot e_j^t)(h_i^t \cdot h_j^t + 1)}{\|g_j^t\|}

    as :func:`skinfluence.signals._neighbor_influence.neighbor_influence`, with ``e`` the
    residual gradient: ``N(i)`` the 10 reference rows nearest to ``h_i`` at
    the final checkpoint (``i`` left out), ``||g_j^t|| = ||e_j^t||
    (||h_j^t||^2 + 1)^{1/2}`` and the pseudo-count ``lambda = 0.01``. A
    corrupted target pulls the predictions of its neighbourhood towards
    itself: its neighbours' residuals take the opposite sign to its own and
    every step on it raises their loss (score near 1); a clean row's
    residual agrees with or is unrelated to theirs. Orientation: higher =
    more suspicious, in ``(-1, 1)``.
    """

    def compute():
        neighbors = final_neighbors(context)
        norms = reference_gradient_norms(context)
        blocks = neighbor_blocks(context)
        blocks /= norms[:, neighbors].clamp(min=_TINY)
        prior = _PRIOR * blocks.shape[2] * norms.mean(1)
        magnitude = blocks.abs().sum(2).add_(prior[:, None])
        return (-blocks.sum(2) / magnitude.clamp(min=_TINY)).T

    per_epoch = context.cached("regression_neighbor_influence", compute)
    return SignalResult(_numpy(per_epoch[:, epochs].mean(1)), _numpy(per_epoch))


def _row_norm(tensor):
    """Euclidean norm over the ``K`` outputs (the absolute value for one)."""
    return tensor.double().norm(dim=-1)


@register_regression_signal(
    "residual",
    description="The plain residual |prediction - target| at the last selected epoch.",
    needs_reference=False,
)
def residual(context, epochs):
    r"""Plain residual of the trained network, the baseline every user tries first.

    .. math:: \text{score}_i = \|\hat y_i^{T_S} - y_i\|

    at the last selected checkpoint ``T_S``, in-sample (the row was trained
    on). Orientation: higher = more suspicious. ``epoch_scores[:, t]`` is
    the residual at checkpoint ``t``.
    """
    per_epoch = _row_norm(context.residuals()).T  # (n, T)
    return SignalResult(_numpy(per_epoch[:, epochs[-1]]), _numpy(per_epoch))


@register_regression_signal(
    "loss",
    description="The training loss of the row, averaged over the selected epochs.",
    needs_reference=False,
)
def loss(context, epochs):
    r"""Mean training loss over the selected epochs (small-loss criterion).

    .. math::

        \text{score}_i = \frac{1}{|S|} \sum_{t \in S} \ell(\hat y_i^t, y_i),
        \qquad \ell = \tfrac1K \|\hat y - y\|^2 \text{ for MSELoss}

    The criterion's own per-row loss (Huber, smooth L1 or L1 likewise).
    Averaged over training it is an approximation of an out-of-sample
    residual: early epochs have not memorised the row. Orientation: higher
    = more suspicious. Arazo et al. (2019); Han et al. (2018).
    """
    r = context.residuals().double()
    absolute_r = r.abs()
    c = context.threshold
    if context.loss == "MSELoss":
        per = r * r
    elif context.loss == "HuberLoss":
        per = torch.where(absolute_r <= c, 0.5 * r * r, c * (absolute_r - 0.5 * c))
    elif context.loss == "SmoothL1Loss":
        per = torch.where(absolute_r < c, 0.5 * r * r / c, absolute_r - 0.5 * c)
    else:
        per = absolute_r
    reduce = per.mean if context.reduction == "mean" else per.sum
    per_epoch = reduce(dim=2).T
    return SignalResult(_numpy(per_epoch[:, epochs].mean(1)), _numpy(per_epoch))


@register_regression_signal(
    "variability",
    description="Data Maps variability: std over the selected epochs of the prediction.",
    needs_reference=False,
)
def variability(context, epochs):
    r"""Variability of the prediction across training (Swayamdipta et al., 2020).

    .. math::

        \text{score}_i = \Big\| \operatorname{std}_{t \in S} \hat y_i^t \Big\|

    The regression analogue of Data Maps' variability: a corrupted target
    keeps pulling the row's prediction away from what its neighbours teach,
    so the prediction moves as the network memorises it. Orientation:
    higher = more suspicious. ``epoch_scores[:, t]`` is
    ``||\hat y_i^t - mean_S \hat y_i||``.
    """
    pred = context.rows.p.double()
    centre = pred[epochs].mean(0)
    scores = _row_norm(pred[epochs].std(0, correction=0))
    return SignalResult(_numpy(scores), _numpy(_row_norm(pred - centre).T))


@register_regression_signal(
    "knn_target",
    description="Distance of the target to the median target of its 10 nearest "
    "reference rows on h, in reference target deviations.",
)
def knn_target(context, epochs):
    r"""Target disagreement with the nearest reference rows (a kNN baseline).

    .. math::

        \text{score}_i = \Big\| \frac{y_i - \operatorname{median}_{j \in N(i)} y_j}
            {\sigma_{\mathrm{ref}}} \Big\|

    with ``N(i)`` the 10 reference rows nearest to ``h_i`` at the final
    checkpoint (``i`` left out) and ``sigma_ref`` the per-output standard
    deviation of the reference targets. The regression analogue of deep
    kNN label disagreement (Bahri et al., 2020); no influence. Orientation:
    higher = more suspicious. ``epoch_scores`` repeat the score.
    """
    neighbors = final_neighbors(context)
    y_ref = context.y_ref.double()
    median = y_ref[neighbors].median(1).values  # (n, K)
    scale = y_ref.std(0).clamp(min=1e-12)
    scores = _numpy(_row_norm((context.y_rows.double() - median) / scale))
    return SignalResult(scores, np.repeat(scores[:, None], context.n_epochs, axis=1))


@register_regression_signal(
    "cleanlab",
    description="1 - cleanlab's regression label quality of the mean in-sample "
    "prediction; needs cleanlab.",
    needs_reference=False,
)
def cleanlab_quality(context, epochs):
    r"""Bridge to cleanlab's regression label quality (Zhou & Mueller, 2023).

    .. math::

        \text{score}_i = 1 - Q_i\big(y_i, \bar y_i\big), \qquad
        \bar y_i = \frac{1}{|S|} \sum_{t \in S} \hat y_i^t

    with ``Q`` ``cleanlab.regression.rank.get_label_quality_scores``
    (method ``"outre"``) on the predictions averaged over the selected
    epochs. They are **in-sample**; cleanlab's own protocol wants
    cross-validated predictions, which
    :func:`~skinfluence.signals.cleanlab_regression_scores` computes.
    Single-output targets only. cleanlab scores rows against each other,
    so new rows (``novelty=True``) score relative to their batch, of at
    least 2 rows. Orientation: higher = more suspicious.
    ``epoch_scores[:, t]`` is the same with ``\hat y^t`` alone.
    """
    from ._cleanlab_regression import label_quality

    if context.y_rows.shape[1] != 1:
        raise ValueError("The 'cleanlab' regression signal needs a single target.")
    labels = _numpy(context.y_rows[:, 0])
    pred = _numpy(context.rows.p[:, :, 0])  # (T, n)
    per_epoch = np.stack([1 - label_quality(labels, p) for p in pred], axis=1)
    scores = 1 - label_quality(labels, pred[epochs].mean(0))
    return SignalResult(scores, per_epoch)


#: The components of ``auto`` that measure a conflict with the target; their
#: calibrated maximum is the scale of the ``auto`` score (its order:
#: :data:`ORDER_COMPONENTS`).
CONFLICT_COMPONENTS = ("self", "loss")
#: Isolation components: they type flagged rows in ``diagnose``, and join the
#: score behind the gate of the classifier's ``auto`` (isolated rows present).
ISOLATION_COMPONENTS = ("knn_distance", "input_distance")
REGRESSION_AUTO_COMPONENTS = CONFLICT_COMPONENTS + ISOLATION_COMPONENTS
#: ``(Q99 - Q50) / (Q75 - Q50)`` of the log of an exponential variable (a
#: chi-square with two degrees of freedom): the shape ``auto`` assumes for
#: the clean bulk of a squared residual averaged over the epochs. On the log
#: scale such a bulk is skewed to the left: one squared Gaussian residual
#: (chi-square, one degree) has the ratio 2.51, a Gaussian 3.45. With 3.45
#: the rows flagged without a reference were 0.2 % of the clean ones (recall
#: 0.64 of 10 % large target errors); with this ratio, 1.1 % with and
#: without ``X_val`` (recall 0.81, precision 0.91; five sets, 10 seeds). On
#: fully clean tables that the network fits well the bulk's tail is heavier
#: (its worst-fitted rows): 0.8-7.2 % of rows were flagged, against 0.3-3.8 %
#: with the Gaussian ratio (four tables, default template).
EXPONENTIAL_RATIO = float(
    (np.log(np.log(100.0)) - np.log(np.log(2.0)))
    / (np.log(np.log(4.0)) - np.log(np.log(2.0)))
)
#: How far a row's mean training loss must stand above its neighbours' for
#: ``auto`` to flag it (:func:`local_loss_ratio`): ``ln 100 / ln 2``, the
#: 99th percentile of an exponential bulk over its median, the same shape as
#: the global calibration, read among the row's nearest reference rows.
LOCAL_RATIO = float(np.log(100.0) / np.log(2.0))
#: The reference rows :func:`local_loss_ratio` compares a row with.
LOCAL_NEIGHBORS = 10


def local_loss_ratio(context, loss, reference_loss):
    r"""A row's mean training loss over the median of its nearest reference rows'.

    .. math:: \lambda_i = \bar\ell_i \,/\,
        \operatorname{median}_{j \in N(i)} \bar\ell_j

    with ``N(i)`` the :data:`LOCAL_NEIGHBORS` reference rows nearest to
    ``h_i`` at the final checkpoint (``i`` left out) and ``\bar\ell`` the
    mean training loss (:func:`loss`; ``reference_loss`` that of the
    reference rows scored as rows). A corrupted target stands out of its
    neighbourhood; a clean row in a region the network fits badly has
    neighbours it fits as badly. The median resists a corrupted neighbour.

    Returns
    -------
    ratio : ndarray of shape (n,)
    """
    neighbors = epoch_neighbors(context, "euclidean", -1, LOCAL_NEIGHBORS)[1]
    local = np.median(reference_loss[neighbors.cpu().numpy()], axis=1)
    return loss / np.maximum(local, np.finfo(float).tiny)


def local_gate(scores, ratio):
    """``scores`` with the rows above 1 that do not stand out locally squeezed below 1.

    A row keeps a score above 1 only when its local loss ratio exceeds
    :data:`LOCAL_RATIO`; the others map to ``1 - 1e-6 / u``, just below the
    threshold and in the same order among themselves, so that the ranking
    of the rows moves as little as the flags need.

    Examples
    --------
    >>> local_gate(np.array([0.5, 2.0, 3.0]), np.array([10.0, 10.0, 2.0])).round(6)
    array([0.5, 2. , 1. ])
    """
    squeezed = (scores > 1) & (ratio <= LOCAL_RATIO)
    return np.where(squeezed, 1.0 - 1e-6 / np.maximum(scores, 1.0), scores)


#: The signals whose rank scores order ``auto``'s target conflict.
ORDER_COMPONENTS = ("self_excess", "loss")
#: How much of the calibrated conflict (through ``arctan``) breaks ties of
#: the order axis: far below its gaps, far above float64's resolution.
TIE_BREAK = 1e-7


def conflict_order(context, epochs, loss, trained=None):
    r"""The order of ``auto``'s target conflict: self-influence in excess, and the loss.

    .. math:: a_i = \tfrac12 \big(\Phi^{-1}(r_i^{D}) + \Phi^{-1}(r_i^{\bar\ell})\big)

    with ``r`` a row's rank share among the training rows (``(rank - 1/2) /
    n``) of :func:`self_excess` (``D``: what a row's steps teach only
    itself) and of its mean training loss ``\bar\ell`` (``loss``), and
    ``\Phi^{-1}`` the standard normal quantile. New rows (``trained``, what
    the training rows left) are ranked among the training rows
    (:func:`rank_share`).

    Returns
    -------
    axis : ndarray of shape (n,)
    fit : dict
        ``self_excess``'s training fit and the :func:`order_statistics` of
        both components, for new rows.
    """
    if trained:  # new rows: self_excess ranks them among the training rows
        context.cached(
            training_fit_key("self_excess", epochs), lambda: trained["self_excess"]
        )
    excess = get_regression_signal("self_excess")(context, epochs)
    values = {"self_excess": excess.scores, "loss": np.asarray(loss)}
    if trained:
        fit = trained
        shares = [rank_share(values[k], fit["ranks"][k]) for k in ORDER_COMPONENTS]
    else:
        fit = {
            "self_excess": excess.extras["fit"],
            "ranks": {k: order_statistics(v) for k, v in values.items()},
        }
        shares = [
            (rankdata(values[k]) - 0.5) / len(values[k]) for k in ORDER_COMPONENTS
        ]
    return np.mean([ndtri(share) for share in shares], axis=0), fit


def in_order(axis, conflict, scale=None):
    """The calibrated ``conflict`` values, handed to the rows in the order of ``axis``.

    On the training rows (``scale=None``) the largest value goes to the row
    of largest ``axis``, and so on: the same values, so as many rows above
    1 (the flag) and the same calibrated scale, in another order. New rows
    read theirs off the training rows' pairs (``scale``, both sorted, rank
    by rank), linearly between; one beyond the training rows' largest
    ``axis`` keeps its own calibrated conflict when larger.

    Examples
    --------
    >>> in_order(np.array([0.2, 0.9, -1.0]), np.array([3.0, 0.5, 1.5]))
    array([1.5, 3. , 0.5])
    >>> scale = order_statistics(np.array([[0.1, -np.inf], [-0.5, 0.2], [0.9, 2.0]]))
    >>> in_order(np.array([0.5, 1.2]), np.array([0.0, 4.0]), scale)
    array([1.1, 4. ])
    """
    if scale is None:
        values = np.empty_like(conflict)
        values[np.argsort(axis, kind="stable")] = np.sort(conflict)
        return values
    axes, conflicts = scale["quantiles"][:, 0], scale["quantiles"][:, 1]
    # A zero loss calibrates to -inf; between it and a finite value the
    # interpolation would read inf - inf (calibrated values are of order 1).
    values = np.interp(axis, axes, np.maximum(conflicts, -1e6))
    beyond = axis >= axes[-1]
    values[beyond] = np.maximum(values[beyond], conflict[beyond])
    return values


def conflict_confidence(calibrated):
    r"""The probability that a clean row has a lower target conflict, under the exponential bulk.

    ``u`` is calibrated so that ``s / Q_{50} = (\ln 100 / \ln 2)^u`` for an
    exponential ``s``, whose distribution function is ``1 - 2^{-s / Q_{50}}``:

    .. math:: P = 1 - 2^{-(\ln 100 / \ln 2)^{u}}

    0.5 at ``u = 0`` (the bulk's median), 0.99 at ``u = 1``.

    Examples
    --------
    >>> conflict_confidence(np.array([0.0, 1.0])).round(3)
    array([0.5 , 0.99])
    """
    ratio = np.log(100.0) / np.log(2.0)
    return 1.0 - np.exp2(-np.power(ratio, np.asarray(calibrated, dtype=float)))


@register_regression_signal(
    "auto",
    description="Calibrated target conflict (max over self and loss, normalised on "
    "the bulk of the training rows) in the order of self_excess and loss together, "
    "behind a local gate; when isolated rows are present, isolation (knn_distance, "
    "input_distance, on the reference).",
    fits_on_training=True,
)
def auto(context, epochs):
    r"""Calibrated target conflict, in the order of influence and loss together.

    .. math::

        c_i = \max_{s \in \{SI, \bar\ell\}} u_s(i), \qquad
        u_s = \frac{\ln s - Q_{50}}{(Q_{75} - Q_{50})\, \rho}, \qquad
        a_i = \tfrac12 \big(\Phi^{-1}(r^{D}_i) + \Phi^{-1}(r^{\bar\ell}_i)\big),

        \tilde c_i = c_{(\operatorname{rank}_a(i))}, \qquad
        \text{score}_i = \begin{cases}
            \tilde c_i & \tilde c_i \le 1 \text{ or } \lambda_i > e^{*} \\
            1 - 10^{-6} / \tilde c_i & \text{otherwise}
        \end{cases}

    **The scale** ``c``: quantiles of ``ln s`` over the **training rows** and ``rho`` =
    :data:`EXPONENTIAL_RATIO`: 0 at their median, 1 at the 99th percentile
    of an exponential bulk with that median and upper quartile (a squared
    residual averaged over training; the bulk's quartiles hold no glitch
    when up to a quarter of the rows are glitches). Not on the reference
    rows: rows the network never trained on have larger residuals than
    fitted clean training rows, so a held-out reference is no null for
    training rows (the classifier's ``auto`` found the same); calibrated on
    a trusted ``X_val``, ``auto`` ranked worse than without it (mean F1 at
    k 0.873 against 0.879, five sets, 10 seeds) and flagged 8-14 % of
    group-wise offset targets. New rows (``novelty=True``) are calibrated
    with the training rows' parameters (``extras["fit"]``), so a new row's
    score does not depend on its batch. Orientation: higher = more
    suspicious.

    **The order** ``a`` (:func:`conflict_order`): the calibrated values are
    handed to the rows in the order of the mean normal score of two rank
    shares among the training rows, :func:`self_excess`'s (``D``:
    self-influence less the mean influence on the row's neighbours, what
    its steps teach only itself) and the mean loss's (:func:`in_order`;
    ties broken by ``c``). As many rows as before read above 1, on the same
    scale; which rows, and in what order, both signals decide. The maximum
    ranked by either: self-influence is a squared residual times the
    activation norm ``||h||^2 + 1``, so clean rows of large leverage
    (heavy-tailed or far features) reached the top of ``c`` without a large
    residual, and the maximum paid for every one of them. Ranked by the
    order instead (10 % large target errors, F1 at k, mean gap over cleanlab
    on 5-fold cross-validated predictions, without / with ``X_val``,
    ``benchmarks/bench_regression.py``): the design sets (diabetes,
    Friedman #1 and #2, 10 seeds) +0.035 / +0.042 against +0.038 / +0.037
    for the maximum; Friedman #3 and a linear set +0.034 / +0.037 against
    +0.021 / +0.020; four held-out sets +0.034 / +0.034 and +0.051 / +0.045
    against +0.032 / +0.031 and +0.022 / +0.020; and six sets added before
    any rule was measured on them, +0.037 / +0.029 and +0.024 / +0.021
    against +0.020 / +0.017 and +0.003 / +0.000 (the maximum missed the
    0.02 margin there). The flags' precision stayed within 0.01 of the
    maximum's on every group, their recall rose by 0.00-0.03.

    **The local gate.** A score above 1 (the flag with
    ``contamination="auto"``) is kept only by a row whose mean loss stands
    out of its neighbourhood: ``\lambda_i``, its loss over the median loss of
    its 10 nearest reference rows (:func:`local_loss_ratio`), above
    ``e^{*} =`` :data:`LOCAL_RATIO` (the exponential bulk's 99th percentile
    over its median, the calibration's own shape). Clean rows in a region
    the network fits badly have a heavy global tail but neighbours fitted as
    badly: on fully clean tables 3.7 % of the rows had flagged on average
    (up to 7.3 %), 0.8 % with the gate (up to 3.3 %; seven tables, three
    seeds, the default 20 epochs, with and without ``X_val``). On 10 % large
    errors the flags' precision rose from 0.89 to 0.96 and their recall fell
    from 0.79 to 0.75; F1 at k moved by at most 0.004 on any group of sets
    (measured in the maximum's order; the squeezed rows keep their order
    just below 1; ``benchmarks/bench_regression.py``). A group-wise offset is its own
    neighbourhood: there the flags' recall fell from 0.42 to 0.10-0.12
    (ranking unchanged); rank such groups with ``"neighbor_influence"`` and a
    trusted ``X_val``. ``extras["local_ratio"]`` holds ``\lambda``;
    ``epoch_scores`` are the calibrated maxima per checkpoint, without the
    order or the gate.

    **Isolation, behind the classifier's gate.** The isolation signals
    ``knn_distance`` and ``input_distance`` are calibrated on the reference
    rows (isolation *is* defined against the reference), returned in
    ``extras["components"]`` (the regressor's ``diagnose`` types flagged
    rows with them), and join the score only when the rows hold isolated
    rows beyond chance in input space (:func:`~skinfluence.signals._auto.isolation_gate`,
    the classifier's gate; a trusted reference of any size must be
    confirmed by the rows' own bulk, which kept it closed on 42 fits of
    seven clean tables, and one under
    :data:`~skinfluence.signals._auto.SMALL_REFERENCE` rows is read on its
    bulk, as the classifier's is): then ``score = max(score, 1 + a_i - \tau_a)``,
    with ``a`` their calibrated maximum and ``\tau_a`` the value with as many
    rows above it as the gate counts beyond its level, so those rows read
    above 1. Fused without a gate, on 10 % corrupted targets and no
    anomaly, they lowered the mean F1 at k from 0.86 to 0.72-0.75
    (``benchmarks/bench_regression.py``): isolated clean rows outranked the
    many corrupted targets only a few residual deviations off. Left out
    altogether, rows with corrupted features and a plausible target went
    unflagged: 10 % of them on a 20 000-row table with 1 % of rows 8 to 20
    standard deviations out (``benchmarks/bench_audit_scale.py --task
    regression``), 100 % with the gate. ``extras["isolation_present"]``
    says whether the gate opened, ``extras["conflict"]`` holds the ordered,
    gated target conflict alone.
    """
    null_context = context.reference_as_rows()
    from_training = context.reference_from_training()
    robust = calibrates_on_bulk(context, null_context)  # as the classifier's auto
    trained = context.peek(training_fit_key("auto", epochs))
    components, per_epoch = {}, []
    # New rows take the training rows' calibration; the training rows read it.
    fit = trained or {"scores": {}, "epochs": {}}

    def bulk(values):
        return calibration(values, robust=True, ratio=EXPONENTIAL_RATIO)

    raw = {}
    for name in CONFLICT_COMPONENTS:
        result = get_regression_signal(name)(context, epochs)
        raw[name] = result.scores
        n_epochs = result.epoch_scores.shape[1]
        if not trained:
            fit["scores"][name] = bulk(result.scores)
            fit["epochs"][name] = [
                bulk(result.epoch_scores[:, t]) for t in range(n_epochs)
            ]
        components[name] = apply_null(result.scores, fit["scores"][name])
        per_epoch.append(
            np.column_stack(
                [
                    apply_null(result.epoch_scores[:, t], fit["epochs"][name][t])
                    for t in range(n_epochs)
                ]
            )
        )
    # The order first: its neighbour search (20 rows against training rows)
    # is the largest at the last checkpoint, and the isolation signals and
    # the local gate then read its prefix instead of searching again.
    axis, order = conflict_order(
        context, epochs, raw["loss"], trained and trained["order"]
    )
    for name in ISOLATION_COMPONENTS:
        signal = get_regression_signal(name)
        result, null = signal(context, epochs), signal(null_context, epochs)
        raw[name] = result.scores
        components[name] = calibrate(result.scores, null.scores, robust=robust)
    conflict = np.max([components[name] for name in CONFLICT_COMPONENTS], axis=0)
    reference_loss = get_regression_signal("loss")(null_context, epochs).scores
    ratio = local_loss_ratio(context, raw["loss"], reference_loss)
    isolation = np.max([components[name] for name in ISOLATION_COMPONENTS], axis=0)
    if not trained:
        # A trusted reference must be confirmed by the rows' own bulk, of any
        # size: on fully clean tables, references of 88 to 120 rows opened
        # the gate in 5 of 21 fits (flags 0.75 % -> 1.5 % of the rows, up to
        # 6.3 %), their 99th percentile read off their top two rows. Under
        # SMALL_REFERENCE rows the level is read on the bulk too: at its 99th
        # percentile diabetes's 89-row reference opened the gate, confirmed,
        # on one of ten fits of target errors alone (F1 at k 0.543, 0.686 on
        # the bulk), and an 80-row one missed rows 8-20 SD out in 3 of 18.
        fit["gate"] = isolation_gate(
            components["input_distance"],
            raw["input_distance"],
            isolation,
            robust=robust,
            confirm=not from_training,
        )
    # Rows whose two ranks swap tie on the mean: the calibrated conflict
    # breaks the tie, as it would for a new row (exact when replayed).
    axis = axis + TIE_BREAK * np.arctan(conflict)
    if not trained:
        fit["order"] = order
        # What a new row's order is read against: both sorted, rank by rank.
        order["scale"] = order_statistics(np.column_stack([axis, conflict]))
    conflict = in_order(axis, conflict, None if not trained else order["scale"])
    conflict = local_gate(conflict, ratio)
    score = conflict
    gate = fit.get("gate")
    if gate and gate["present"]:
        # Above the family's threshold, an isolated row reads above 1.
        score = np.maximum(conflict, 1.0 + isolation - gate["threshold"])
    extras = {
        "components": components,
        "conflict": conflict,
        "local_ratio": ratio,
        "isolation_present": bool(gate and gate["present"]),
        # The gate as the classifier's auto reports it (its "axes").
        "gate": gate
        and {
            "isolation_present": gate["present"],
            "isolation_robust": robust,
            "isolation_level": gate["level"],
            "isolation_threshold": gate["threshold"],
            "beyond_level": int((components["input_distance"] > gate["level"]).sum()),
            "confirmed": gate["confirmed"],
            "reference_test": gate["reference_test"],
            "counts": {
                "isolation": int((isolation > gate["threshold"]).sum())
                if gate["present"]
                else 0
            },
        },
        "fit": fit,
    }
    return SignalResult(score, np.max(per_epoch, axis=0), extras)
