r"""``auto``: one detector for unknown mixtures of glitches, by gated family fusion.

No single signal finds every glitch kind: label-conflict signals (neighbour
influence, AUM, self-influence, the mean loss) find mislabeled rows, and
isolation signals (Mahalanobis and kNN distance to the reference) find
anomalies and outliers. ``auto`` puts both families on one scale, 1 = the 99th
percentile of each family's fitted null (the real clean tail is heavier:
the flags count exceedances, and ``confidence`` reads the unflagged bulk
itself, :func:`empirical_confidence`), and adds the isolation family only
when the data holds rows isolated in input space:

1. **Conflict: an empirical null, agreement of members.** Every conflict
   member ``s`` is standardised against the bulk of the *scored* rows
   (Efron's empirical null, :func:`empirical_null_z`), the members' ``z``
   are averaged (a row must conflict with its label by several accounts,
   not by one member's tail; :data:`FAMILIES` says why these four),
   standardised again and divided by
   ``z_{0.99} = 2.326``. Not against the reference rows: rows the network
   never trained on have higher losses and lower margins than fitted clean
   training rows, so a held-out reference is no null for training rows
   (the previous fusion lost up to 0.3 F1 at k to AUM on label noise for
   this reason, and did worse with a clean ``X_val`` than without).
   With a trusted reference the mean leans on neighbour influence as the
   share of training rows that their reference neighbours outvote grows
   from 20 to 40 % (:func:`anchor_weight`): those neighbours' labels are
   clean however noisy the training labels, while AUM, self-influence and
   the loss lose their contrast as the network fits more wrong labels; outvoting
   counts only in excess of the reference's own clean rows outvoted. A
   network that fits every label, even those its neighbourhoods dispute,
   has memorised them (:func:`memorised`): the conflict axis is then AUM
   alone, the margins before memorisation.
2. **Isolation: the reference as null.** Isolation *is* defined against
   the reference, so each isolation member is calibrated on its values on
   the reference rows themselves (each left out of its own reference,
   :func:`calibrate`), and the family takes their maximum.
3. **A gate.** On label noise alone, the isolation family's tail holds only
   clean rows, which would outrank the hardest mislabeled rows. It joins
   the maximum only when more training rows than chance lie beyond the
   reference's 99th percentile of *input-space* isolation (label-free and
   independent of the network): ``N > 0.01 n + 3 (0.01 n)^{1/2} + 2``,
   confirmed by the training rows' own bulk (:func:`confirmed_on_rows`):
   a reference of a few hundred rows reads its 99th percentile off its
   top few, which a clean row exceeds with a probability far from 1 %.
   Without a trusted reference (the training rows are their own null,
   calibrated on their bulk), their own tail cannot tell rare anomalies
   from unusual clean rows at the percentile itself: ``N`` counts the rows
   beyond the lowest level, 1 to 6 times that percentile, where they exceed
   the bulk's own tail extrapolated from its 90th and 95th percentiles and
   at most 20 % of them are expected clean (a false discovery rate,
   :func:`robust_isolation_level`); failing that, more than 1 % of the rows
   beyond twice it (:data:`ROBUST_LEVEL`).

4. **A threshold per family.** Each family flags as many rows as its
   natural threshold does (rows harming their neighbours; input-space
   exceedances beyond chance), and its axis is shifted so that this
   threshold is 0; the score is the larger shifted axis, so ``score > 0``
   is "flagged by some family" and an extreme family cannot hide another.

.. math::

    \text{score}_i = \begin{cases}
        \max\big(c_i - \tau_c, a_i - \tau_a\big) & \text{isolated rows present} \\
        c_i - \tau_c & \text{otherwise}
    \end{cases}

New rows (``novelty=True``) are scored with what the training rows set:
the members' empirical nulls, the gate and both thresholds
(:func:`fuse` with ``fit``), so a new row's score does not depend on the
rows scored with it.
"""

import numpy as np
from sklearn.utils import gen_batches

from ._base import SignalResult, get_signal, register, training_fit_key
from ._neighbor_influence import final_neighbors, neighborhood_size

__all__ = [
    "ANCHOR_RAMP",
    "MEMORISED",
    "MEMORISED_WEIGHTS",
    "AUTO_COMPONENTS",
    "FAMILIES",
    "anchor_weight",
    "apply_null",
    "auto",
    "calibrate",
    "calibrates_on_bulk",
    "calibration",
    "confirmed_on_rows",
    "empirical_confidence",
    "empirical_null",
    "empirical_null_z",
    "fuse",
    "isolation_gate",
    "memorised",
    "outvoted_share",
]

#: The glitch families ``auto`` fuses and their members: label conflict
#: (neighbour influence, AUM, self-influence, the mean loss) and isolation
#: (penultimate features: Mahalanobis and kNN distance; inputs: kNN
#: distance). The mean loss joined the conflict mean as its fourth member
#: when the three-member mean was checked on fresh fits of tables it was not
#: chosen on: where the network fits a table poorly (``hastie``, a sphere in
#: ten dimensions; ``make_classification`` tables of 4 classes) or the errors
#: are ambiguous (generated look-alikes of human errors), neighbour
#: influence and self-influence read below the loss and AUM, and a mean of
#: two weak members and one strong one fell below the plain baselines. The
#: loss and AUM read the same margins differently (AUM the margin against
#: the strongest other class, the loss the label's probability alone), so
#: the fourth member is not AUM counted twice (AUM weighted twice, measured
#: in an earlier session, gained one cell of the four grids and lowered every
#: margin). Cells within 0.01 of the best of loss, AUM and cleanlab, three
#: members / four: design grid 71 / 71 of 72, seeds 3-5 90 / 91 of 96,
#: generated tables 69 / 70 of 72, other shapes 66 / 68 of 72; generated
#: look-alikes of human errors at 13 and 38 % (no reference) 0.421 / 0.428
#: and 0.769 / 0.772 (loss 0.437 and 0.774). The price: the mean margin over
#: the baselines fell by 0.005-0.009 on each grid (the loss pulls the mean
#: toward the baselines it belongs to).
FAMILIES = {
    "conflict": ("neighbor_influence", "aum", "self", "loss"),
    "isolation": ("mahalanobis", "knn_distance", "input_distance"),
}
#: Every component of ``auto``, family by family.
AUTO_COMPONENTS = tuple(name for members in FAMILIES.values() for name in members)
_Z99 = 2.3263  # the standard normal's 99th percentile

# Gaussian quantile ratio (Q99 - Q50) / (Q75 - Q50): the robust spread is
# scaled to stand for the 99th percentile a clean null would have.
_Q99_OVER_Q75 = 2.3263 / 0.6745
_Q75 = 0.6745  # the standard normal's upper quartile


def empirical_confidence(values, null):
    r"""The share of a null sample lying below each value: ``P(clean score < value)``.

    .. math:: \hat P_i = \frac{1}{m} \, \#\{\, j \le m : s^0_j < v_i \,\}

    over the null sample ``s^0`` (the clean rows' scores: a trusted
    reference's, or the bulk the detector leaves unflagged), without a
    parametric tail: the Gaussian tail of the conflict axis's empirical
    null, fitted to the bulk, put 11-21 % of the clean rows of breast
    cancer, wine and digits above a confidence of 0.99, this null 0-2.4 %
    (``benchmarks/bench_confidence.py``). A value above every null score
    reads 1.

    Parameters
    ----------
    values : array-like of shape (n,)
    null : array-like of shape (m,)
        Sorted ascending. An empty null reads 1 everywhere (no row is clean).

    Examples
    --------
    >>> empirical_confidence(np.array([0.0, 2.5, 3.5, 9.0]), np.array([1.0, 2.0, 3.0, 4.0]))
    array([0.  , 0.5 , 0.75, 1.  ])
    """
    null = np.asarray(null)
    if not len(null):
        return np.ones(len(values))
    return np.searchsorted(null, values, side="left") / len(null)


def calibrate(scores, null, level=99.0, robust=False):
    """Quantile-normalise ``scores`` against a null sample of the same signal.

    ``u = 0`` at the null's median and ``u = 1`` at its ``level`` percentile
    (with ``g = log`` for strictly positive signals). Used to compare a
    signal across data sets; ``auto`` itself standardises on an empirical
    null (:func:`empirical_null_z`).

    Parameters
    ----------
    scores : ndarray of shape (n,)
    null : ndarray of shape (m,)
        The signal on clean rows.
    level : float, default=99.0
        The null percentile mapped to 1 (its median maps to 0).
    robust : bool, default=False
        For a null that may hold glitches: the spread is measured on the
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
    log = bool((null > 0).all() and (scores > 0).all())
    return apply_null(scores, calibration(null, level, robust, log))


def calibration(null, level=99.0, robust=False, log=None, ratio=_Q99_OVER_Q75):
    """``(g, centre, spread)`` of :func:`calibrate`, read off a null sample.

    The null format of :func:`empirical_null` (``g`` is ``"log"`` or
    ``"identity"``), applied by :func:`apply_null`. ``log=None`` takes the
    log when every null value is positive. With ``robust=True`` the spread
    is ``(Q75 - Q50) * ratio``: ``ratio`` is ``(Q99 - Q50) / (Q75 - Q50)``
    of the bulk's assumed shape (a Gaussian's by default). The regression
    ``auto`` reads it off the training rows and scores new rows with it.
    """
    null = np.asarray(null, float)
    if log is None:
        log = bool((null > 0).all())
    if log:
        null = np.log(null)
    low, high, quartile = np.percentile(null, [50.0, level, 75.0])
    spread = (quartile - low) * ratio if robust else high - low
    if not spread > 0:
        spread = np.abs(null).max(initial=0.0) * 1e-6 or 1.0
    return ("log" if log else "identity"), float(low), float(spread)


def empirical_null_z(scores):
    r"""Standardise a signal against the bulk of its own values (higher = more suspicious).

    .. math:: z_i = \frac{g(s_i) - Q_{50}}{(Q_{50} - Q_{25}) / z_{0.75}}

    with quantiles of ``g(s)``: the centre and the scale of the lower half,
    where no glitch lies (glitches score high), so up to about half the rows
    may be glitches. ``g = log`` when every score is positive, and Fisher's
    ``g = artanh`` when every score lies in ``(-1, 1)`` (a normalised balance
    such as ``neighbor_influence``, whose clean rows pile up near ``-1``:
    untransformed, their tiny spread would blow every other row up).
    A degenerate lower half falls back on the interquartile range, then on
    the standard deviation. :func:`empirical_null` returns ``(g, Q50,
    scale)`` and :func:`apply_null` applies them, to other rows too.

    Examples
    --------
    >>> import numpy as np
    >>> z = empirical_null_z(np.r_[np.linspace(-1, 1, 99), 50.0])
    >>> bool(abs(np.median(z)) < 1e-9), bool(z[-1] > 30)
    (True, True)
    """
    return apply_null(scores, empirical_null(scores))


def empirical_null(scores):
    """The transform, centre and scale of :func:`empirical_null_z`, read off ``scores``.

    Returns
    -------
    null : tuple
        ``(g, centre, scale)`` with ``g`` one of ``"log"``, ``"artanh"`` and
        ``"identity"``.
    """
    s = np.asarray(scores, dtype=np.float64)
    g = "log" if (s > 0).all() else "artanh" if (np.abs(s) < 1).all() else "identity"
    s = _transform(s, g)
    q25, q50, q75 = np.percentile(s, [25.0, 50.0, 75.0])
    for scale in ((q50 - q25) / _Q75, (q75 - q25) / (2 * _Q75), s.std()):
        if scale > 0:
            return g, float(q50), float(scale)
    return g, float(q50), 1.0


def apply_null(scores, null):
    """``(g(s) - centre) / scale`` with an :func:`empirical_null` or a :func:`calibration`.

    Scores outside the transform's domain (new rows scored with the
    training rows' null) are clipped into it: a non-positive score under
    ``log`` to the smallest positive double, a balance of ``+-1`` under
    ``artanh`` to the nearest double inside.
    """
    g, centre, scale = null
    return (_transform(np.asarray(scores, dtype=np.float64), g) - centre) / scale


def _transform(s, g):
    if g == "log":
        return np.log(np.maximum(s, np.finfo(np.float64).tiny))
    if g == "artanh":
        edge = np.nextafter(1.0, 0.0)
        return np.arctanh(np.clip(s, -edge, edge))
    return s


#: The fallback level of :func:`robust_isolation_level`: twice the training
#: rows' robust 99th percentile (``u > 2``). Their own tail cannot tell rare
#: anomalies from unusual clean rows at ``u > 1`` (2 to 6 % of clean rows
#: lie there on embedded tables and digits), while beyond ``u = 2`` the
#: clean bulk's Gaussian model expects about 2e-6 of the rows; measured with
#: label noise alone, at most 0.7 % of the rows of breast cancer, wine and
#: iris and 1.7 % of digits (heavy pixel tails) lie there.
ROBUST_LEVEL = 2.0
#: A trusted reference of fewer rows cannot place its 99th percentile (the
#: percentile of ``m`` rows is exceeded by a clean row with probability
#: about ``1.3 / (m + 1)``: 4 % for 30 rows): isolation is calibrated on
#: its bulk and its level found by :func:`robust_isolation_level`, as for a
#: reference drawn from the training rows.
SMALL_REFERENCE = 100


def calibrates_on_bulk(context, null_context):
    """Whether isolation is calibrated on the reference's bulk, not its 99th percentile.

    When the reference holds scored rows (drawn from the training rows, so
    glitches included) or is a trusted one of fewer than
    :data:`SMALL_REFERENCE` rows (``null_context``, the reference scored as
    rows), which cannot place its 99th percentile. Read by the classifier's
    and the regressor's ``auto`` alike.
    """
    return context.reference_from_training() or (
        len(null_context.y_rows) < SMALL_REFERENCE
    )


def clean_tail_expectation(input_isolation, level):
    r"""Clean rows expected beyond ``level`` (a float or an array): the bulk's tail, extrapolated.

    An exponential tail through the 90th and 95th percentiles of the
    calibrated isolation ``u`` (anomalies of a few percent leave both in the
    clean bulk):

    .. math::

        E = 0.05\, n \exp\Big(-\ln 2 \,
            \frac{\text{level} - Q_{95}}{Q_{95} - Q_{90}}\Big)

    (exponential tails are heavier than Gaussian ones, so light-tailed
    tables get a conservative count).

    Examples
    --------
    >>> import numpy as np
    >>> u = np.random.default_rng(0).exponential(0.2, 2000)  # an exponential bulk
    >>> round(clean_tail_expectation(u, 1.0), 1), int((u > 1.0).sum())
    (16.3, 15)
    """
    u = np.asarray(input_isolation, dtype=np.float64)
    q90, q95 = np.percentile(u, [90.0, 95.0])
    decay = np.log(2.0) / max(q95 - q90, 1e-12)
    expected = 0.05 * len(u) * np.exp(-decay * np.maximum(np.asarray(level) - q95, 0.0))
    return float(expected) if np.ndim(expected) == 0 else expected


def isolated_rows_present(input_isolation, n_sigma=3.0, chance=0.01, level=1.0):
    """Whether more rows than chance lie beyond ``level`` of the calibrated isolation.

    ``input_isolation`` is calibrated (1 = the null's 99th percentile): a
    share ``chance`` of clean rows is expected beyond ``level``, ``E =
    chance n``, so the family is present when ``N > E + n_sigma E^{1/2} +
    2``. Against a trusted reference ``auto`` passes ``level=1`` (its 99th
    percentile). Against the training rows themselves (no ``X_val``,
    calibrated on their bulk) it is the fallback of
    :func:`robust_isolation_level` at ``level=2`` (:data:`ROBUST_LEVEL`),
    with the same 1 % of the rows expected there: the heaviest clean tails
    measured put 1.7 % (digits' pixels) and 0.7 % (500 log-probabilities
    of a 100-class frozen embedding) beyond it.

    Examples
    --------
    >>> import numpy as np
    >>> u = np.linspace(0, 1.01, 1000)  # 1 % beyond 1: chance
    >>> isolated_rows_present(u), isolated_rows_present(np.r_[u, np.full(30, 5.0)])
    (False, True)
    """
    u = np.asarray(input_isolation)
    return bool(_beyond_chance((u > level).sum(), chance * len(u), n_sigma))


def _beyond_chance(count, expected, n_sigma=3.0):
    """``count > E + n_sigma E^{1/2} + 2``: more rows than ``E`` expected ones explain."""
    return count > expected + n_sigma * np.sqrt(expected) + 2


#: The largest share of clean rows the isolation family may expect among
#: the rows it flags without a trusted reference (a false discovery rate).
ISOLATION_FDR = 0.2
_LEVELS = np.round(np.arange(1.0, 6.0 + 1e-9, 0.05), 2)  # levels scanned


def robust_isolation_level(input_isolation, fdr=ISOLATION_FDR):
    r"""Where isolation flags rows when the training rows are their own null.

    The lowest level ``L`` in ``[1, 6]`` (steps of 0.05) at which the rows
    beyond it are both more than the bulk's tail explains,
    ``N_L > E_L + 3 E_L^{1/2} + 2``, and at most a share ``fdr`` of them is
    expected clean, ``E_L <= fdr N_L``, with ``E_L`` the bulk's extrapolated
    tail (:func:`clean_tail_expectation`): the count form of a false
    discovery rate. Anomalies of a few percent inflate that extrapolation
    on heavy-tailed tables (digits' pixels); there, the level falls back to
    :data:`ROBUST_LEVEL` when the rows beyond it exceed the 1 % of the rows
    chance puts there (:func:`isolated_rows_present`). None when neither
    holds: no isolated rows beyond chance.

    The fallback expects 1 % of the rows beyond it, not the extrapolation
    when that is lower: the scan failing on a tail the extrapolation
    *under*-estimates is the mark of a clean tail heavier than exponential,
    not of anomalies. Against the lower of the two, 500 log-probabilities
    of a generated 100-class frozen embedding (label noise alone;
    ``benchmarks/make_ambiguous_labels.py``) opened the gate with 35 rows
    of 5 000 beyond 2 against 15 extrapolated, every seed; no other cell of
    211 measured (embedded and generated tables with label noise, far
    clusters, corrupted and extreme outliers; CIFAR-10N's features) moved.

    Scanning up to 6 lets far anomalies open the gate above a heavy clean
    tail before the fallback does: digits' far clusters without a reference
    (isolation 4.5, with 1.5 % of clean rows beyond 2) are flagged by
    isolation at precision 0.91 instead of 0.57 at the fallback level
    (simulated on the mixtures' cached scores); with the rows the conflict
    family also flags, the recorded benchmark types them at precision 0.74
    (0.51 before).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> u = rng.normal(size=2000) / 2.326  # a Gaussian bulk, calibrated
    >>> robust_isolation_level(u) is None
    True
    >>> float(robust_isolation_level(np.r_[u, np.full(40, 1.8)]))
    1.5
    """
    u = np.asarray(input_isolation, dtype=np.float64)
    expected = clean_tail_expectation(u, _LEVELS)
    beyond = len(u) - np.searchsorted(np.sort(u), _LEVELS, side="right")
    found = _beyond_chance(beyond, expected) & (expected <= fdr * beyond)
    if found.any():
        return float(_LEVELS[np.argmax(found)])
    if isolated_rows_present(u, level=ROBUST_LEVEL):
        return ROBUST_LEVEL
    return None


def confirmed_on_rows(input_isolation):
    """Whether the scored rows hold isolated rows against their own bulk.

    The second test of the gate against a trusted reference, of any size
    (below :data:`SMALL_REFERENCE` rows since the wine case below; at every
    size since the generated tables of the label-noise grid: with
    references of 100 to 200 rows and label noise alone the reference's
    test opened the gate in 36 of 135 fits, this one in none, while the
    quick preset's anomalies and the mixtures kept their figures). The
    scored rows' input-space isolation is
    calibrated on their own bulk (:func:`calibrate` with ``robust=True``;
    label noise leaves the inputs alone, so the bulk is clean in input
    space), and either test a reference drawn from them would pass must
    hold: more rows beyond the bulk's 99th percentile than the 1 % of
    chance (:func:`isolated_rows_present`; a few percent of anomalies, which
    inflate the bulk's tail), or a level found by
    :func:`robust_isolation_level` (a few rows far out, fewer than the 1 %
    test can count).

    Each null fails its own way: a few reference rows can place too narrow
    a spread (wine's 36 rows: 0.06 against 0.14 on the training rows, which
    put 10 of 142 rows of label noise alone beyond twice it), and the
    scored rows' own tail is inflated by the anomalies it holds. Isolation
    joins when both see isolated rows. Measured on wine with a 36-row
    reference, 142 training rows: 14 to 17 rows lay beyond the bulk's 99th
    percentile with 10 % far clusters or corrupted outliers (more than 7.0
    needed), 2 to 6 with label noise alone, which no level of the scan
    confirmed either; with 2 % of anomalies (3 rows: far clusters, two
    features 10 standard deviations out) the gate opened as often as
    without this test.

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.exp(np.random.default_rng(0).normal(size=150) / 4)
    >>> confirmed_on_rows(rows), confirmed_on_rows(np.r_[rows, np.full(15, 9.0)])
    (False, True)
    """
    scores = np.asarray(input_isolation, dtype=np.float64)
    own = calibrate(scores, scores, robust=True)
    return isolated_rows_present(own) or robust_isolation_level(own) is not None


def _between(values, count):
    """A threshold with exactly ``count`` of ``values`` above it (midpoint of a gap)."""
    ordered = np.sort(values)[::-1]
    if count <= 0:
        return ordered[0] + max(abs(ordered[0]), 1.0) * 1e-9
    if count >= len(ordered):
        return ordered[-1] - max(abs(ordered[-1]), 1.0) * 1e-9
    return (ordered[count - 1] + ordered[count]) / 2


def conflict_margin(neighbors):
    r"""How far a row's neighbour balance must exceed 0 to count as harm: ``1 / sqrt(k)``.

    ``neighbor_influence`` is a balance in ``(-1, 1)`` of the signed
    influences on ``k`` neighbours. A clean row between overlapping
    classes helps some neighbours and harms others: if the signs were a
    coin toss, with equal magnitudes, its balance would have mean 0 and
    standard deviation ``1 / sqrt(k)``, and half those rows would score
    above 0. A mislabeled row harms nearly all its neighbours (balance
    near 1). Measured on the mixtures (8 % label noise), the margin of
    ``k = 10`` (0.32) raised the precision of the mislabeled flags by
    0.02-0.07 for 0-0.04 of recall on the tables the network fits.

    Examples
    --------
    >>> round(conflict_margin(10), 3), round(conflict_margin(30), 3)
    (0.316, 0.183)
    """
    return float(1.0 / np.sqrt(neighbors))


#: Where ``auto`` starts and ends leaning on neighbour influence: the share
#: of training rows outvoted by their trusted reference neighbours
#: (:func:`outvoted_share`) at which the weight of ``neighbor_influence`` in
#: the conflict mean rises from its third to all of it (:func:`anchor_weight`).
ANCHOR_RAMP = (0.2, 0.4)
#: When the network has memorised its labels (:func:`memorised`): at least
#: this many rows outvoted by their neighbours, and at most this share of
#: that count misfitted by the final network.
MEMORISED = (20, 0.1)
#: The conflict members' weights for a network that has memorised its
#: labels: AUM alone, the margin before memorisation (Pleiss et al.).
MEMORISED_WEIGHTS = {"aum": 1.0}


def outvoted_share(neighbor_labels, labels):
    r"""Share of the rows whose label is outvoted by their reference neighbours.

    .. math:: \hat\rho = \frac1n \sum_i
        \Big[\frac1k \sum_{j \in N(i)} [y_j \ne y_i] > \tfrac12\Big]

    with ``N(i)`` the ``k`` reference rows that ``neighbor_influence`` reads
    (:func:`~skinfluence.signals._neighbor_influence.final_neighbors`).
    Against a trusted reference it estimates the share of mislabeled
    training rows plus the rows where classes overlap: measured on the
    label-noise grid (breast cancer, wine, iris, digits; 3 seeds), 0.09-0.11,
    0.17-0.21 and 0.34-0.41 at 10, 20 and 40 % uniform noise.

    Parameters
    ----------
    neighbor_labels : ndarray of shape (n, k)
        The labels of each row's reference neighbours.
    labels : ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> outvoted_share(np.array([[0, 0, 1], [1, 1, 0], [0, 0, 0]]), np.array([0, 0, 0]))
    0.3333333333333333
    """
    neighbor_labels, labels = np.asarray(neighbor_labels), np.asarray(labels)
    return _outvoted_count(neighbor_labels, labels) / len(labels)


def _outvoted_count(neighbor_labels, labels):
    """Rows whose label more than half their neighbours' labels differ from."""
    disagree = (neighbor_labels != labels[:, None]).mean(1)
    return int((disagree > 0.5).sum())


def _outvoted_share_of(neighbors, y_ref, labels, chunk=2**16):
    """:func:`outvoted_share` of reference positions ``neighbors`` (n, k), in row chunks.

    No ``n x k`` array of the neighbours' labels is formed at once: at a
    million rows and 30 neighbours, int64 labels gathered with int64
    positions took 480 MB.
    """
    neighbors = neighbors.cpu().numpy()
    count = sum(
        _outvoted_count(y_ref[neighbors[rows]], labels[rows])
        for rows in gen_batches(len(labels), chunk)
    )
    return count / len(labels)


def anchor_weight(share, ramp=ANCHOR_RAMP, null_share=0.0):
    r"""Extra weight of ``neighbor_influence`` in the conflict mean, from the outvoted share.

    .. math::

        w = \operatorname{clip}\Big(\frac{\hat\rho - \rho_0}{\rho_1 - \rho_0}, 0, 1\Big)
            \cdot \operatorname{clip}\Big(2 \Big(1 - \frac{\hat\rho_{\text{ref}}}
            {\hat\rho}\Big), 0, 1\Big)

    with ``(rho_0, rho_1) =`` :data:`ANCHOR_RAMP`; the conflict axis averages
    ``(1 - w)`` times the mean of the members' ``z`` and ``w`` times
    that of ``neighbor_influence``. Only with a trusted reference: there
    neighbour influence reads labels of clean rows, whatever the training
    noise, while AUM, self-influence and the loss read how hard the network found a
    row, and lose their contrast as the network fits a growing share of
    wrong labels. On the label-noise grid at 40 % (``X_val``) self-influence
    fell to 0.50-0.74 F1 at k while neighbour influence held 0.90-0.98; the
    plain mean lost up to 0.05 to the best of loss, AUM and cleanlab on
    iris. At 10-20 % the mean of the members is the safer ranking (neighbour
    influence alone missed by 0.04-0.05 on wine).

    The second factor is the null: ``\hat\rho_{\text{ref}}`` (``null_share``)
    is the share of the *reference* rows, whose labels are clean, outvoted
    by their own reference neighbours. Outvoting is evidence of wrong
    labels only in excess of it: the lean is whole while the clean rows are
    outvoted at most half as often as the training rows, and none when as
    often. On the label-noise grid ``\hat\rho_{\text{ref}}`` was 0.02-0.08
    (at most 0.6 of ``\hat\rho`` where the ramp is on; no ranking moved).
    With many classes and a few reference rows per class the neighbourhoods
    carry no label: on a generated 100-class file (1 000 reference rows, the
    network fitting every training label) the clean reference rows were
    outvoted more often than the training rows (0.86 against 0.70), and
    leaning on neighbour influence had cost 0.18 F1 at k against AUM.

    Examples
    --------
    >>> [round(anchor_weight(r), 3) for r in (0.1, 0.3, 0.5)]
    [0.0, 0.5, 1.0]
    >>> [round(anchor_weight(0.5, null_share=r0), 3) for r0 in (0.1, 0.375, 0.6)]
    [1.0, 0.5, 0.0]
    """
    low, high = ramp
    ramp_weight = np.clip((share - low) / (high - low), 0.0, 1.0)
    excess = np.clip(2.0 * (1.0 - null_share / share), 0.0, 1.0) if share > 0 else 0.0
    return float(ramp_weight * excess)


def memorised(misfit, outvoted, rule=MEMORISED):
    r"""Whether the network has memorised the labels its neighbourhoods dispute.

    .. math:: \text{memorised} = O \ge O_{\min} \;\wedge\; M \le r \, O

    with ``O`` the training rows whose label their neighbours outvote
    (:func:`outvoted_share` times ``n``), ``M`` those the final network
    misfits (its prediction is not the label) and ``(O_min, r) =``
    :data:`MEMORISED`. A network that still disagrees with wrong labels
    misfits about as many rows as the neighbours outvote (``M / O`` was
    0.31 to 2.3 on the label-noise grid, both reference settings); one that
    fits every label, the disputed ones too, has memorised them, and its
    final representation, where ``neighbor_influence`` finds its
    neighbours, is organised by the given labels. On a generated 100-class
    file with 38 % ambiguous errors (5 000 or 20 000 rows; ``M = 0``,
    ``O`` = 6 to 24 % of the rows) ``neighbor_influence`` fell to 0.43-0.49
    F1 at k against 0.61-0.69 for AUM, and pulled the (then three-member) mean below
    AUM by 0.04. ``auto`` then ranks by AUM alone
    (:data:`MEMORISED_WEIGHTS`): the area under the margin was designed for
    networks that end by memorising (Pleiss et al., NeurIPS 2020), and the
    margins before memorisation are the evidence that survives; on the same
    files self-influence read 0.03-0.09 below AUM, and the mean of the two
    0.01-0.07 below.

    Examples
    --------
    >>> memorised(0, 300), memorised(90, 300), memorised(0, 10)
    (True, False, False)
    """
    least, ratio = rule
    return bool(outvoted >= least and misfit <= ratio * outvoted)


def _gate_and_thresholds(
    components,
    conflict,
    isolation,
    isolation_axis,
    *,
    robust,
    neighbors,
    confirm,
    by_neighbors=True,
):
    """What :func:`fuse` reads off the scored rows: the gate and both family thresholds.

    Returns the gate (``level``, ``present``, ``reference_test``,
    ``confirmed``) with the ``thresholds`` of the two axes, and the flag
    counts that set them. New rows take all of it from the training rows.
    ``by_neighbors=False`` (a conflict mean without neighbour influence)
    counts the conflict flags beyond the axis's own calibration instead, 1 =
    the 99th percentile of its empirical null.
    """
    gate = isolation_gate(
        isolation["input_distance"],
        components["input_distance"],
        isolation_axis,
        robust=robust,
        confirm=confirm,
    )
    # Flag counts at each family's natural threshold: rows that harm their
    # neighbours beyond a coin toss (balance > 1 / sqrt(k)), and the
    # input-space exceedances of the gate.
    harm = (
        np.asarray(components["neighbor_influence"]) > conflict_margin(neighbors)
        if by_neighbors
        else conflict > 1.0
    )
    counts = {"conflict": int(harm.sum()), "isolation": gate.pop("count")}
    gate["thresholds"] = {
        "conflict": _between(conflict, counts["conflict"]),
        "isolation": gate.pop("threshold"),
    }
    return gate, counts


def isolation_gate(input_isolation, input_raw, isolation_axis, *, robust, confirm):
    """Whether isolated rows are present, and where the isolation family flags.

    The gate of ``auto`` (module docstring, point 3), shared by the
    classifier's and the regressor's ``auto``. ``input_isolation`` is the
    calibrated input-space isolation of the scored rows (1 = the null's
    99th percentile), ``input_raw`` the same before calibration (read by
    :func:`confirmed_on_rows`), ``isolation_axis`` the family's calibrated
    maximum. Against a trusted reference the gate counts the rows beyond
    its 99th percentile (:func:`isolated_rows_present`); against the
    training rows themselves (``robust``) those beyond
    :func:`robust_isolation_level`. ``confirm`` (a trusted reference) also
    asks the scored rows' own bulk.

    Returns
    -------
    gate : dict
        ``level`` (where the rows are counted), ``present`` (the gate),
        ``reference_test`` (the gate before confirmation), ``confirmed``
        (None without ``confirm``), ``count`` (rows the family flags: beyond
        a trusted reference's 99th percentile less the 1 % of clean rows it
        puts there; beyond the robust level, all of them, chosen where at
        most 20 % are expected clean; 0 with the gate closed) and
        ``threshold`` (the isolation axis value with ``count`` rows above).
    """
    if robust:
        level = robust_isolation_level(input_isolation)
        present = level is not None
        level = ROBUST_LEVEL if level is None else level
    else:
        level = 1.0
        present = isolated_rows_present(input_isolation)
    reference_test = present
    confirmed = confirmed_on_rows(input_raw) if confirm else None
    if confirm:
        present = present and confirmed
    beyond = np.asarray(input_isolation) > level
    n_beyond = int(beyond.sum())
    count = n_beyond if robust else max(0, n_beyond - round(0.01 * len(beyond)))
    count = count if present else 0
    return {
        "level": level,
        "present": present,
        "confirmed": confirmed,
        "reference_test": reference_test,
        "count": count,
        "threshold": _between(isolation_axis, count),
    }


def fuse(
    components,
    null_components,
    *,
    robust=False,
    neighbors=10,
    confirm=False,
    anchor=0.0,
    weights=None,
    fit=None,
):
    """The gated fusion of ``auto`` (module docstring), on raw component scores.

    Parameters
    ----------
    components : dict of str to ndarray of shape (n,)
        Every member of :data:`FAMILIES` on the scored rows.
    null_components : dict of str to ndarray of shape (m,)
        The isolation members on the reference rows (leave-self-out).
    robust : bool, default=False
        The reference holds scored rows (drawn from the training rows), or
        is a trusted one too small to place its 99th percentile: isolation
        is calibrated robustly (see :func:`calibrate`) and its level found
        by :func:`robust_isolation_level`.
    neighbors : int, default=10
        The neighbourhood ``neighbor_influence`` read: the conflict family
        flags the rows whose balance exceeds :func:`conflict_margin`.
    confirm : bool, default=False
        For a trusted reference (``auto`` passes it at any size): isolation
        joins only if the scored rows also stand out from their own bulk
        (:func:`confirmed_on_rows`).
    anchor : float, default=0.0
        Extra weight of ``neighbor_influence`` in the conflict mean, in
        ``[0, 1]`` (:func:`anchor_weight`): the axis averages ``(1 - anchor)``
        times the mean of the members' ``z`` and ``anchor`` times that of
        ``neighbor_influence``.
    weights : dict of str to float, default=None
        Weights of the conflict members in the mean instead (members left
        out weigh 0), e.g. ``{"aum": 1.0}`` for a network that has memorised
        its labels (:func:`memorised`); ``anchor`` is then not read. Without
        neighbour influence the conflict family flags the rows beyond the
        99th percentile of its axis's empirical null, not those that harm
        their neighbours.
    fit : dict, default=None
        ``axes["fit"]`` of the training rows: new rows are scored with their
        empirical nulls, gate and family thresholds instead of their own, so
        a new row's score does not depend on the rows scored with it.

    Returns
    -------
    scores : ndarray of shape (n,)
        Positive for the flagged rows.
    axes : dict
        ``"conflict"`` and ``"isolation"``: each family's calibrated axis
        less its flag threshold (positive = flagged by that family; the
        isolation axis only counts with the gate open),
        ``"isolation_present"`` (the gate, bool), ``"counts"`` (rows
        flagged per family), ``"isolation_level"`` (where the gate counts
        input-space isolation: 1, or :func:`robust_isolation_level` on the
        bulk-calibrated null), ``"isolation_robust"`` (which of the two),
        ``"beyond_level"`` (the rows it counted there), ``"reference_test"``
        (the gate before confirmation), ``"confirmed"`` (None without
        ``confirm``; else whether the scored rows' own bulk confirmed
        isolated rows), ``"anchor"`` (the weight used) and ``"fit"`` (what
        new rows are scored with: the members' empirical nulls, the anchor,
        the gate, the thresholds).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> rows = {k: rng.normal(size=500) for k in AUTO_COMPONENTS}
    >>> rows["neighbor_influence"] = np.tanh(rows["neighbor_influence"]) / 2 - 0.5
    >>> for k in FAMILIES["conflict"]:
    ...     rows[k][:25] += 3  # 25 mislabeled rows
    >>> for k in FAMILIES["isolation"]:
    ...     rows[k] = np.exp(rows[k])
    >>> null = {k: np.exp(rng.normal(size=300)) for k in FAMILIES["isolation"]}
    >>> scores, axes = fuse(rows, null)
    >>> axes["isolation_present"], int((scores > 0).sum()), axes["counts"]["conflict"]
    (False, 25, 25)
    """
    members = (
        fit["members"]
        if fit
        else {k: empirical_null(components[k]) for k in FAMILIES["conflict"]}
    )
    z = {k: apply_null(components[k], members[k]) for k in FAMILIES["conflict"]}
    mean = np.mean(list(z.values()), 0)
    anchor = fit.get("anchor", 0.0) if fit else float(anchor)
    weights = fit.get("weights") if fit else weights
    if weights:
        mean = sum(w * z[k] for k, w in weights.items()) / sum(weights.values())
    elif anchor:
        mean = (1.0 - anchor) * mean + anchor * z["neighbor_influence"]
    mean_null = fit["mean"] if fit else empirical_null(mean)
    conflict = apply_null(mean, mean_null) / _Z99
    isolation = {
        k: calibrate(components[k], null_components[k], robust=robust)
        for k in FAMILIES["isolation"]
    }
    isolation_axis = np.max(list(isolation.values()), axis=0)
    counts = None
    if not fit:
        gate, counts = _gate_and_thresholds(
            components,
            conflict,
            isolation,
            isolation_axis,
            robust=robust,
            neighbors=neighbors,
            confirm=confirm,
            by_neighbors=not weights or weights.get("neighbor_influence", 0) > 0,
        )
        fit = {
            "members": members,
            "mean": mean_null,
            "anchor": anchor,
            "weights": weights,
            **gate,
        }
    level, present, thresholds = fit["level"], fit["present"], fit["thresholds"]
    axes = {
        "conflict": conflict - thresholds["conflict"],
        "isolation": isolation_axis - thresholds["isolation"],
        "isolation_present": present,
        "isolation_level": level,
        "isolation_robust": bool(robust),
        "beyond_level": int((isolation["input_distance"] > level).sum()),
        "confirmed": fit["confirmed"],
        "reference_test": fit["reference_test"],
        "anchor": anchor,
        "weights": weights,
        "calibrated": {"conflict": conflict, "isolation": isolation_axis},
        "fit": fit,
    }
    if counts is None:
        # New rows: how many lie beyond the training rows' thresholds.
        counts = {
            "conflict": int((axes["conflict"] > 0).sum()),
            "isolation": int((axes["isolation"] > 0).sum()) if present else 0,
        }
    axes["counts"] = counts
    scores = (
        np.maximum(axes["conflict"], axes["isolation"]) if present else axes["conflict"]
    )
    return scores, axes


@register(
    "auto",
    description="Gated fusion for unknown glitch mixtures: label conflict "
    "(neighbor_influence, aum, self, loss, on an empirical null) and, when "
    "isolated rows are present, isolation (mahalanobis, knn_distance, "
    "input_distance, on the reference).",
    targets=("mixtures",),
    fits_on_training=True,
)
def auto(context, epochs):
    r"""Gated fusion of label-conflict and isolation signals, with family thresholds.

    .. math::

        \text{score}_i = \max\big(c_i - \tau_c, \;
            [\text{isolated rows present}] \, (a_i - \tau_a)\big),
        \qquad c = \mathcal{Z}\Big(\frac{1}{4} \sum_{s}
            \mathcal{Z}(s)\Big) / z_{0.99}, \qquad
        a = \max_{s'} u_{s'}

    with ``s`` in {neighbour influence, -AUM, self-influence, loss}
    (:data:`FAMILIES`), ``Z`` the
    standardisation on the empirical null of the scored rows
    (:func:`empirical_null_z`); with a trusted reference the mean gives
    neighbour influence the extra weight ``w`` of :func:`anchor_weight`,
    ``(1 - w) \frac13 \sum_s \mathcal{Z}(s) + w \, \mathcal{Z}(NI)``, from
    the share of training rows their reference neighbours outvote
    (:func:`outvoted_share`; ``w = 0`` below 20 %, 1 above 40 %). ``s'`` in
    {Mahalanobis, kNN distance on ``h``, kNN distance on inputs} and ``u`` a
    signal calibrated on its own values on the reference rows
    (:func:`calibrate`, 1 = their 99th percentile; on their bulk, robustly,
    when the reference is drawn from the training rows or has fewer than
    :data:`SMALL_REFERENCE` rows).
    Isolation joins only when the input-space kNN distance puts more
    training rows beyond the reference's 99th percentile than chance
    (:func:`isolated_rows_present`), and the rows' own bulk confirms it
    (:func:`confirmed_on_rows`); robustly calibrated, beyond the level
    :func:`robust_isolation_level` finds (a false discovery rate on the
    rows' own tail).

    Each family's threshold ``tau`` flags as many rows as its natural
    threshold does: ``tau_c`` as many as harm their neighbours beyond a coin
    toss (``neighbor_influence > 1 / sqrt(k)``, :func:`conflict_margin`),
    ``tau_a`` as many as the input-space exceedances in excess of the 1 % a
    clean null puts beyond its 99th percentile (robustly calibrated: every
    row beyond the level). So ``score > 0`` is the flag (the detector's
    threshold with ``contamination="auto"``), per family: a glitch family
    that stretches the score range cannot push another family's rows below
    the threshold. Orientation: higher = more suspicious. On
    label-noise-only data ``auto`` ranks like its conflict family (a mean of
    four ``z``, so the top is not tied where the neighbour balance
    saturates); with isolated rows, both.

    ``extras["axes"]`` holds each family's axis less its threshold, the gate
    and the counts (used by :meth:`InfluenceGlitchDetector.diagnose` to type
    glitches), the outvoted share and the anchor weight,
    ``extras["components"]`` each member's ``Z(s)`` or ``u``,
    ``extras["confidence"]`` the probability that a clean row scores lower
    on the row's stronger axis (:func:`empirical_confidence`: the share of
    the training rows that axis's family leaves unflagged, its clean bulk,
    with a lower value) and
    ``extras["threshold"] = 0``. ``epoch_scores[:, t]`` is the same fusion
    at checkpoint ``t`` alone.

    References
    ----------
    .. [1] Efron. "Large-Scale Simultaneous Hypothesis Testing: The Choice of
       a Null Hypothesis." JASA 2004 (empirical null).
    .. [2] Pleiss et al., NeurIPS 2020 (AUM); Pruthi et al., NeurIPS 2020
       (self-influence); Arazo et al., ICML 2019 (loss);
       :func:`~skinfluence.signals._neighbor_influence.neighbor_influence`;
       Lee et al., NeurIPS 2018 (Mahalanobis); Sun et al., ICML 2022 (kNN
       distance).
    """
    null_context = context.reference_as_rows()
    # On the bulk when the reference holds glitches (drawn from the training
    # rows) or is too small to place its 99th percentile; a trusted one, of
    # any size, must be confirmed by the scored rows' own bulk.
    from_training = context.reference_from_training()
    robust = calibrates_on_bulk(context, null_context)
    results = {k: get_signal(k)(context, epochs) for k in AUTO_COMPONENTS}
    nulls = {k: get_signal(k)(null_context, epochs) for k in FAMILIES["isolation"]}
    neighbors = min(neighborhood_size(context), len(null_context.y_rows) - 1)
    # New rows are scored with the training rows' nulls, gate and thresholds
    # (seeded by the scoring state); the training rows read their own.
    trained = context.peek(training_fit_key("auto", epochs))
    # A trusted reference measures how many training labels its rows outvote;
    # the more, the more the conflict axis leans on neighbour influence.
    share, null_share, anchor, weights = None, None, 0.0, None
    if trained:
        share = trained["scores"].get("outvoted_share")
        null_share = trained["scores"].get("reference_outvoted_share")
    else:
        y_ref, y_rows = context.y_ref.cpu().numpy(), context.y_rows.cpu().numpy()
        share = _outvoted_share_of(final_neighbors(context), y_ref, y_rows)
        misfit = int((context.rows.p[-1].argmax(1).cpu().numpy() != y_rows).sum())
        if memorised(misfit, share * len(y_rows)):
            weights = MEMORISED_WEIGHTS
        elif not from_training:
            # The null: the clean reference rows against their own neighbours.
            null_share = _outvoted_share_of(final_neighbors(null_context), y_ref, y_ref)
            anchor = anchor_weight(share, null_share=null_share)
        else:
            share = None  # against training rows, the lean is not taken
    scores, axes = fuse(
        {k: r.scores for k, r in results.items()},
        {k: r.scores for k, r in nulls.items()},
        robust=robust,
        neighbors=neighbors,
        confirm=not from_training,
        anchor=anchor,
        weights=weights,
        fit=trained and trained["scores"],
    )
    axes["outvoted_share"] = share
    axes["reference_outvoted_share"] = null_share
    # Read off the weights fuse used (the training rows' for new rows).
    axes["memorised"] = axes["weights"] is not None
    if not trained:
        axes["fit"]["outvoted_share"] = share
        axes["fit"]["reference_outvoted_share"] = null_share
    n_epochs = results["self"].epoch_scores.shape[1]
    per_epoch = [
        fuse(
            {k: r.epoch_scores[:, t] for k, r in results.items()},
            {k: r.epoch_scores[:, t] for k, r in nulls.items()},
            robust=robust,
            neighbors=neighbors,
            confirm=not from_training,
            anchor=anchor,
            weights=weights,
            fit=trained and trained["epochs"][t],
        )
        for t in range(n_epochs)
    ]
    calibrated = axes["calibrated"]
    if not trained:
        # Each family's clean bulk: the training rows it leaves unflagged.
        axes["fit"]["bulk"] = {
            family: np.sort(calibrated[family][axes[family] <= 0])
            for family in FAMILIES
        }
    confidence = {
        family: empirical_confidence(calibrated[family], axes["fit"]["bulk"][family])
        for family in FAMILIES
    }
    use_isolation = axes["isolation_present"] & (axes["isolation"] > axes["conflict"])
    members = axes["fit"]["members"]
    components = {
        k: apply_null(results[k].scores, members[k]) for k in FAMILIES["conflict"]
    } | {
        k: calibrate(results[k].scores, nulls[k].scores, robust=robust)
        for k in FAMILIES["isolation"]
    }
    extras = {
        "axes": axes,
        "components": components,
        "confidence": np.where(
            use_isolation, confidence["isolation"], confidence["conflict"]
        ),
        "threshold": 0.0,
        "fit": {
            "scores": axes["fit"],
            "epochs": [epoch_axes["fit"] for _, epoch_axes in per_epoch],
        },
    }
    per_epoch = np.column_stack([epoch_scores for epoch_scores, _ in per_epoch])
    return SignalResult(scores, per_epoch, extras)
