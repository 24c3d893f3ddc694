"""Data issues found without the network: duplicates, leakage, imbalance, missing and extreme cells.

Each check returns columns of one table, one row per audited row: a score
(higher = more of an issue) and a boolean flag, as Datalab does in cleanlab.
Everything is vectorised: nearest neighbours come from scikit-learn's
:class:`~sklearn.neighbors.NearestNeighbors` (exact on small tables; on large
ones, candidates from a principal-component projection re-ranked by their
exact distance), duplicate groups from row hashes and a sparse graph's
connected components.
"""

import logging

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.stats import skew
from sklearn.neighbors import NearestNeighbors

__all__ = ["ISSUE_TYPES", "find_data_issues"]

logger = logging.getLogger(__name__)

#: The data issues of an audit: kind -> (score column, flag column) of the
#: report's table; ``AuditReport.issues(kind)`` ranks the flagged rows by the score.
ISSUE_TYPES = {
    "exact_duplicate": ("near_duplicate_score", "is_exact_duplicate"),
    "near_duplicate": ("near_duplicate_score", "is_near_duplicate"),
    "conflicting_duplicate": ("near_duplicate_score", "is_conflicting_duplicate"),
    "leakage": ("leakage_score", "is_leaked"),
    "class_imbalance": ("class_imbalance_score", "is_rare_class"),
    "missing": ("missing_share", "is_mostly_missing"),
    "extreme_value": ("extreme_value_score", "is_extreme_value"),
}
#: Robust standard deviations (``1.4826 MAD``) from the median beyond which
#: a target is extreme: a sentinel (``9999`` for a missing measurement) or a
#: unit error. A regression audit trains on a target beyond it at that
#: bound. A Gaussian column reaches it with probability 1e-23.
EXTREME = 10.0
#: A numeric cell is the data issue ``"extreme_value"`` beyond this many
#: robust standard deviations of its column, and, in a column of no negative
#: value, also beyond :data:`EXTREME_LOG` on the logarithm (``log(x + c)``,
#: ``c`` the smallest positive value when the column holds zeros): far out
#: by a factor too, not only in a long upper tail. On its own scale a column
#: may have heavy tails (a Student t with five degrees of freedom reached
#: 10.4 robust standard deviations in 2 000 cells; 20 is reached by one cell
#: in a million of it), and a log-normal income reaches 20 on 0.04 % of its
#: cells, but not 6 on its logarithm (2e-9). Measured: no extreme cell in
#: breast cancer, wine, iris, diabetes or digits as shipped; sentinels
#: (99999, -999 or 9999 in three or four random columns, ten seeds) found on
#: 158 of 158 rows of breast cancer, 84 of 90 of diabetes (the misses in
#: its binary ``sex`` column, whose MAD is 0) and 81 of 90 of wine (9999 in
#: proline, values up to 1 680: six times its largest, not extreme by a
#: factor), none else.
EXTREME_RAW = 20.0
EXTREME_LOG = 6.0
#: The skewness from which a positive regression target is read on its
#: logarithm: the moment skewness, and Kelly's quantile skewness
#: ``(Q90 + Q10 - 2 Q50) / (Q90 - Q10)``, which a few extreme values do not
#: move (a Gaussian column with sentinels has a large moment skewness and a
#: Kelly skewness near 0). Log-normal prices read 3-9 and 0.50-0.57; the
#: seven tables of the regression benchmark at most 1.03 (and 0.42).
SKEWED = (2.0, 0.3)


def robust_scale(values):
    """``(median, 1.4826 MAD)`` of the finite ``values``: a Gaussian's mean and SD.

    The spread is 0 when more than half the values equal the median (a
    binary or zero-inflated column): no value of such a column is extreme
    by this scale.

    Examples
    --------
    >>> robust_scale(np.array([1.0, 2.0, 3.0, 4.0, 1000.0, np.nan]))
    (3.0, 1.4826)
    """
    values = values[np.isfinite(values)]
    median = float(np.median(values))
    return median, float(1.4826 * np.median(np.abs(values - median)))


def log_if_skewed(values):
    """Whether to read a column on its logarithm: positive, its bulk skewed, less so in log.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> income = np.exp(rng.normal(10, 1, 1000))
    >>> log_if_skewed(income), log_if_skewed(np.log(income))
    (True, False)
    >>> sentinels = np.r_[rng.normal(50, 5, 997), 99999.0, 99999.0, 99999.0]
    >>> log_if_skewed(sentinels)  # skewed by three cells, not by its bulk
    False
    """
    present = values[np.isfinite(values)]
    if len(present) < 3 or not (present > 0).all():
        return False
    moment, quantile = SKEWED
    kelly = _kelly_skewness(present)
    return bool(
        skew(present) > moment
        and kelly > quantile
        and abs(_kelly_skewness(np.log(present))) < kelly
    )


def spread_by_factors(values):
    """Distinct far values of a positive column, raw and in log, when they look like unit slips.

    Far: beyond :data:`EXTREME` robust standard deviations of the median.
    Returns ``(far, far_in_log)`` when at least three distinct values are
    far on the raw scale and at most a quarter as many on the logarithm
    (house prices of a wide bulk, some entered ten times too large), else
    None. Distinct values, because a sentinel (``99999`` for a missing
    value) is one code repeated. Not a reason to read the logarithm by
    itself: sensor spikes look the same, and on the logarithm of a bulk
    that reaches near zero, additive errors fade.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> prices = rng.uniform(1e5, 1e6, 1000)
    >>> prices[:40] *= 10  # 4 % entered ten times too large
    >>> spread_by_factors(prices)
    (29, 0)
    >>> spread_by_factors(np.r_[prices[40:], [99999999.0] * 5]) is None  # one code
    True
    """
    present = values[np.isfinite(values)]
    if len(present) < 3 or not (present > 0).all():
        return None
    far, far_in_log = _far_values(present), _far_values(np.log(present))
    return (far, far_in_log) if far >= 3 and 4 * far_in_log <= far else None


def _far_values(values):
    """Distinct ``values`` beyond :data:`EXTREME` robust SDs of their median."""
    return len(np.unique(values[_robust_z(values) > EXTREME]))


def _kelly_skewness(values):
    low, median, high = np.percentile(values, [10, 50, 90])
    return (high + low - 2 * median) / (high - low) if high > low else 0.0


_NEIGHBOURS = 5  # neighbours linked into a near-duplicate group
_EXACT_PAIRS = 4e8  # exact neighbour search up to this many row pairs (seconds)
_PROJECTED_DIMS = 4  # beyond, candidates come from a projection on this many
_CANDIDATES = 10  # candidates per row, re-ranked by their exact distance
_SPACING_SAMPLE = 500  # rows whose exact nearest distance sets the spacing
_CHUNK_FLOATS = 10_000_000  # floats of one block of candidate differences (80 MB)


def find_data_issues(
    X,
    y=None,
    *,
    X_reference=None,
    raw=None,
    near_duplicate_threshold=0.13,
    imbalance_threshold=0.1,
    missing_threshold=0.5,
    n_jobs=None,
):
    r"""Duplicates, train-reference leakage, class imbalance and missing cells.

    With :math:`d_i` the Euclidean distance of row ``i`` to its nearest other
    row in the encoded feature space and :math:`\tilde d` the median of the
    positive :math:`d_i` (the typical spacing of distinct rows):

    - ``near_duplicate_score`` :math:`= \exp(-d_i / \tilde d)` (1 for an exact
      copy); ``is_near_duplicate`` when :math:`d_i \le \tau \tilde d` with
      :math:`\tau` = ``near_duplicate_threshold`` (Datalab's default 0.13), or
      an exact duplicate. ``duplicate_group`` numbers the groups of rows
      linked by these pairs (connected components; -1: none).
    - ``is_exact_duplicate``: another row has the same raw feature values
      (missing cells equal), from row hashes.
    - ``is_conflicting_duplicate``: a duplicate group whose rows carry more than
      one label -- at most one of them can be right. Only with ``y``.
    - ``leakage_score`` :math:`= \exp(-r_i / \tilde d)` with :math:`r_i` the
      distance to the nearest reference row; ``is_leaked`` when
      :math:`r_i \le \tau \tilde d`: the row is (a near copy of) a row of the
      trusted reference, so evaluating on that reference would overrate a
      model. Only with ``X_reference``.
    - ``class_imbalance_score`` :math:`= \max(0, 1 - K n_c / n)` for a row of
      class ``c`` with :math:`n_c` rows among ``n`` and ``K`` classes (0 for a
      class of at least its fair share); ``is_rare_class`` when
      :math:`n_c / n < \text{imbalance\_threshold} / K`. Only with ``y``.
    - ``missing_share``: the share of the row's raw feature cells that are
      missing; ``is_mostly_missing`` at ``missing_threshold`` or more.
    - ``extreme_value_score`` :math:`= \max_c \min\big(z_{ic} / 20,\;
      z^{\log}_{ic} / 6\big)`: the row's largest robust z over the raw
      numeric columns ``c`` (:math:`z = |x - m| / s`, median :math:`m`,
      :math:`s = 1.4826` times the median absolute deviation; a column where
      more than half the cells equal the median, binary or zero-inflated,
      has :math:`s = 0` and no extreme cell) in units of
      :data:`EXTREME_RAW`, and, in a column of no negative
      value, at most its robust z on the logarithm in units of
      :data:`EXTREME_LOG`; ``is_extreme_value`` above 1.

    Cost: an exact nearest-neighbour search up to :math:`4 \cdot 10^8` row
    pairs (seconds). Beyond, in more than 4 dimensions, each row's
    candidates are its 10 nearest rows after projecting on the 4 leading
    principal directions, ranked by their exact distance, and :math:`\tilde d`
    comes from the exact :math:`d_i` of 500 random rows: a projection never
    lengthens a distance, so near copies are still found, while :math:`d_i`
    of a row with no close row may be overestimated (its score
    underestimated). A million rows of 50 features take about a minute.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Encoded numeric features (e.g. the output of
        :func:`make_preprocessor`), on which distances are measured.
    y : array-like of shape (n_samples,), default=None
        The given class labels. None (a continuous target, whose near
        copies always differ a little) leaves out the two label checks,
        conflicting duplicates and class imbalance.
    X_reference : ndarray of shape (n_reference, n_features), default=None
        The encoded reference rows, for the leakage check.
    raw : pandas.DataFrame, default=None
        The raw feature columns of the same rows (missing cells as NaN), for
        exact duplicates and missing cells; None uses ``X``.
    near_duplicate_threshold : float, default=0.13
        :math:`\tau`, as a share of the median nearest-neighbour distance.
    imbalance_threshold : float, default=0.1
        A class is rare below this share of its fair share ``1 / K``.
    missing_threshold : float, default=0.5
        Share of missing cells from which a row is flagged.
    n_jobs : int, default=None
        Parallel jobs of the nearest-neighbour queries.

    Returns
    -------
    issues : pandas.DataFrame of shape (n_samples, 8 to 13)
        The columns above, in the order of the rows of ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.auditing import find_data_issues
    >>> X = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 1.0], [5.0, 4.0], [9.0, 1.0]])
    >>> issues = find_data_issues(X, [0, 1, 0, 0, 1])
    >>> issues["is_conflicting_duplicate"].tolist()
    [True, True, False, False, False]
    """
    X = _as_floats(X)
    n = len(X)
    y = None if y is None else np.asarray(y)
    raw = pd.DataFrame(X) if raw is None else raw
    if len(raw) != n or (y is not None and len(y) != n):
        raise ValueError(
            f"X has {n} rows, y {n if y is None else len(y)} and raw {len(raw)}; "
            "they must match."
        )
    exact_group = _exact_groups(raw)
    exact = pd.Series(exact_group).duplicated(keep=False).to_numpy()
    distance, neighbours = _nearest(X, n_jobs)
    scale = _spacing(distance[:, 0] if _is_exact(n, n, X.shape[1]) else _sampled(X))
    close = distance <= near_duplicate_threshold * scale
    groups = _groups(exact_group, neighbours, close)
    near = close[:, 0] | exact
    group = np.where(near, groups, -1)
    issues = {
        "near_duplicate_score": np.exp(-distance[:, 0] / scale),
        "is_exact_duplicate": exact,
        "is_near_duplicate": near,
        "is_conflicting_duplicate": None if y is None else _conflicting(group, y),
        "duplicate_group": _renumber(group),
    }
    if X_reference is not None:
        X_reference = _as_floats(X_reference).astype(X.dtype, copy=False)
        to_reference = _neighbours(X_reference, X, 1, n_jobs)[0][:, 0]
        issues["leakage_score"] = np.exp(-to_reference / scale)
        issues["is_leaked"] = to_reference <= near_duplicate_threshold * scale
    if y is not None:
        labels, counts = np.unique(y, return_counts=True)
        share = (counts / n)[np.searchsorted(labels, y)]
        issues["class_imbalance_score"] = np.clip(1 - len(labels) * share, 0, 1)
        issues["is_rare_class"] = share < imbalance_threshold / len(labels)
    missing = raw.isna().to_numpy().mean(axis=1) if raw.shape[1] else np.zeros(n)
    issues["missing_share"] = missing
    issues["is_mostly_missing"] = missing >= missing_threshold
    extreme = _extreme_value_scores(raw)
    issues["extreme_value_score"] = extreme
    issues["is_extreme_value"] = extreme > 1
    logger.debug("data issues: %d exact, %d near duplicates", exact.sum(), near.sum())
    return pd.DataFrame({k: v for k, v in issues.items() if v is not None})


def _extreme_value_scores(raw):
    """Each row's largest extremity over the numeric columns of ``raw``, in bounds (0: none)."""
    scores = np.zeros(len(raw))
    for _, column in raw.select_dtypes("number").items():
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        # A missing cell (NaN extremity) leaves the row's score as it is.
        np.fmax(scores, extremity(values), out=scores)
    return scores


def extremity(values):
    """Each cell's extremity in its column, in bounds: above 1 is ``"extreme_value"``.

    ``|x - median| / (1.4826 MAD)`` over :data:`EXTREME_RAW`, and, in a
    column of no negative value, the smaller of that and the same on the
    logarithm over :data:`EXTREME_LOG`; NaN where ``values`` is missing, 0
    in a column of fewer than three values.

    Examples
    --------
    >>> extremity(np.array([1.0, 2.0, 3.0, 4.0, 99999.0])).round(2)
    array([0.07, 0.03, 0.  , 0.03, 2.89])
    """
    values = np.asarray(values, dtype=np.float64)
    present = values[np.isfinite(values)]
    if len(present) < 3:
        return np.where(np.isfinite(values), 0.0, np.nan)
    ratio = _robust_z(values) / EXTREME_RAW
    if (present >= 0).all() and (present > 0).any():
        shift = 0.0 if present.min() > 0 else present[present > 0].min()
        ratio = np.fmin(ratio, _robust_z(np.log(values + shift)) / EXTREME_LOG)
    return ratio


def _robust_z(values):
    """``|x - median| / (1.4826 MAD)``; 0 everywhere when the MAD is 0."""
    median, spread = robust_scale(values)
    if spread == 0:
        return np.zeros_like(values)
    return np.abs(values - median) / spread


def _exact_groups(raw):
    """One integer per distinct raw row (NaN equals NaN), from row hashes."""
    hashes = pd.util.hash_pandas_object(raw, index=False)
    return pd.factorize(hashes.to_numpy())[0]


def _nearest(X, n_jobs):
    """Distances and indices of each row's nearest other rows, self excluded."""
    n = len(X)
    k = min(_NEIGHBOURS, n - 1)
    if k < 1:
        return np.full((n, 1), np.inf), np.zeros((n, 1), dtype=int)
    return _neighbours(X, None, k, n_jobs)


def _neighbours(index, query, k, n_jobs):
    """The ``k`` nearest rows of ``index`` to each row of ``query``, and their distances.

    ``query=None`` queries the rows of ``index`` themselves, each left out of
    its own neighbours (also when it has exact copies). Exact while the
    search is small. Beyond ``_EXACT_PAIRS`` pairs, in more than
    ``_PROJECTED_DIMS`` dimensions, where trees degrade to all pairs, the
    candidates are the ``_CANDIDATES`` nearest rows after an orthogonal
    projection on the leading principal directions of ``index``, ranked by
    their exact distance. A projection never lengthens a distance, so a
    near copy stays a near candidate: the duplicate and leakage flags keep
    their recall, and only the distances of rows with no close row may be
    overestimated.
    """
    n_query = len(index) if query is None else len(query)
    if _is_exact(len(index), n_query, index.shape[1]):
        search = NearestNeighbors(n_neighbors=k, n_jobs=n_jobs).fit(index)
        return search.kneighbors(query)
    # Leading principal directions from the d x d covariance: O(n d^2),
    # accumulated in float64 over row blocks (no centred n x d copy).
    mean = index.mean(0, dtype=np.float64)
    covariance = np.zeros((index.shape[1], index.shape[1]))
    block = max(1, _CHUNK_FLOATS // index.shape[1])
    for start in range(0, len(index), block):
        centred = index[start : start + block] - mean
        covariance += centred.T @ centred
    _, vectors = np.linalg.eigh(covariance)
    projection = vectors[:, -_PROJECTED_DIMS:].astype(index.dtype)
    candidates = min(_CANDIDATES, len(index) - (query is None))
    search = NearestNeighbors(n_neighbors=candidates, n_jobs=n_jobs)
    search.fit(index @ projection)
    _, found = search.kneighbors(None if query is None else query @ projection)
    rows = index if query is None else query
    distance = np.empty(found.shape)
    chunk = max(1, _CHUNK_FLOATS // (candidates * index.shape[1]))
    for start in range(0, len(rows), chunk):  # bounded memory: blocks of rows
        stop = start + chunk
        difference = index[found[start:stop]] - rows[start:stop, None, :]
        distance[start:stop] = np.sqrt(np.einsum("ijk,ijk->ij", difference, difference))
    order = np.argsort(distance, axis=1, kind="stable")[:, :k]
    return (
        np.take_along_axis(distance, order, axis=1),
        np.take_along_axis(found, order, axis=1),
    )


def _as_floats(X):
    """Float32 rows stay float32 (half the memory of a million-row copy); others float64."""
    X = np.asarray(X)
    return X if X.dtype == np.float32 else X.astype(np.float64)


def _is_exact(n_index, n_query, n_dims):
    return n_index * n_query <= _EXACT_PAIRS or n_dims <= _PROJECTED_DIMS


def _sampled(X):
    """Exact nearest-row distances of a fixed random sample of rows (brute force)."""
    rng = np.random.default_rng(0)  # the same table gives the same report
    sample = rng.choice(len(X), min(_SPACING_SAMPLE, len(X)), replace=False)
    distance, found = (
        NearestNeighbors(n_neighbors=2, algorithm="brute").fit(X).kneighbors(X[sample])
    )
    # Each sampled row finds itself, or an exact copy, at distance 0.
    other = found[:, 0] != sample
    return np.where(other, distance[:, 0], distance[:, 1])


def _spacing(distance):
    """The median positive nearest-neighbour distance (1 if every row is a copy)."""
    positive = distance[(distance > 0) & np.isfinite(distance)]
    return float(np.median(positive)) if len(positive) else 1.0


def _groups(exact_group, neighbours, close):
    """Connected components of the exact-copy and near-neighbour links."""
    n = len(exact_group)
    rows = np.repeat(np.arange(n), neighbours.shape[1])[close.ravel()]
    cols = neighbours.ravel()[close.ravel()]
    # Every copy links to the first row of its exact group: the groups are
    # complete even when a group is larger than the neighbours queried.
    _, first = np.unique(exact_group, return_index=True)
    rows = np.concatenate([rows, np.arange(n)])
    cols = np.concatenate([cols, first[exact_group]])
    graph = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _conflicting(group, y):
    """Rows of a duplicate group holding more than one distinct label."""
    member = group >= 0
    if not member.any():
        return member
    labels = pd.factorize(y)[0]
    frame = pd.DataFrame({"group": group[member], "label": labels[member]})
    n_labels = frame.groupby("group")["label"].transform("nunique").to_numpy()
    conflicting = np.zeros(len(group), dtype=bool)
    conflicting[member] = n_labels > 1
    return conflicting


def _renumber(group):
    """Groups numbered 0, 1, ... in order of first row; -1 stays -1."""
    out = np.full(len(group), -1)
    member = group >= 0
    out[member] = pd.factorize(group[member])[0]
    return out
