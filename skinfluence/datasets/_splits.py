"""The paper's sampling protocol and the tabular scaling of Gorishniy et al."""

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import QuantileTransformer
from sklearn.utils import check_random_state

__all__ = ["paper_split", "quantile_scale"]


def paper_split(X, y, *, subsample=0.1, val_size=0.2, random_state=None):
    """Draw the paper's stratified subsample, then split it 80/20.

    The paper draws a stratified 10 % subset of each dataset uniformly at
    random (to keep influence computations tractable), then splits it into
    80 % training and 20 % validation rows, again stratified by class. The
    validation rows are the trusted reference set of the joint signals.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features.
    y : array-like of shape (n_samples,)
        Class labels; every class needs enough rows for both draws.
    subsample : float, default=0.1
        Fraction of the rows kept, in (0, 1]; 1 keeps all of them.
    val_size : float, default=0.2
        Fraction of the kept rows held out for validation, in (0, 1).
    random_state : int, RandomState instance or None, default=None
        Seeds both draws; an int gives the same split on every call.

    Returns
    -------
    X_train, X_val, y_train, y_val : arrays
        The rows of ``X`` and ``y``, in the order of
        :func:`~sklearn.model_selection.train_test_split`.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.datasets import paper_split
    >>> X, y = np.arange(2000).reshape(1000, 2), np.repeat([0, 1], [800, 200])
    >>> X_train, X_val, y_train, y_val = paper_split(X, y, random_state=0)
    >>> len(y_train), len(y_val), int(y_train.sum()), int(y_val.sum())
    (80, 20, 16, 4)
    """
    if not 0 < subsample <= 1:
        raise ValueError(f"subsample must be in (0, 1], got {subsample!r}.")
    if not 0 < val_size < 1:
        raise ValueError(f"val_size must be in (0, 1), got {val_size!r}.")
    rng = check_random_state(random_state)
    y = np.asarray(y)
    if subsample < 1:
        X, _, y, _ = train_test_split(
            X, y, train_size=subsample, stratify=y, random_state=rng
        )
    return train_test_split(X, y, test_size=val_size, stratify=y, random_state=rng)


def quantile_scale(X_train, *X_other, noise=1e-3, random_state=None):
    """Map numeric features to a standard normal, as Gorishniy et al. (2021).

    A :class:`~sklearn.preprocessing.QuantileTransformer` with a normal
    output is fitted on the training rows only, with
    ``n_quantiles = max(min(n_train // 30, 1000), 10)`` and no subsampling,
    and applied to every set. As in the paper's code, the transformer is
    fitted on a copy of the training rows with Gaussian noise added, of
    standard deviation ``noise / max(std_j, noise)`` for feature ``j``, which
    breaks the ties of discrete features; the rows it transforms are not
    noised.

    Parameters
    ----------
    X_train : ndarray of shape (n_train, n_features)
        Training rows, the only ones the transformer sees.
    *X_other : ndarray of shape (n, n_features)
        Further sets (validation, test) to transform.
    noise : float, default=1e-3
        Scale of the tie-breaking noise; 0 disables it.
    random_state : int, RandomState instance or None, default=None
        Seeds the noise and the transformer.

    Returns
    -------
    scaled : list of ndarray of dtype float32
        ``X_train`` and each of ``X_other``, transformed.

    References
    ----------
    .. [1] Y. Gorishniy, I. Rubachev, V. Khrulkov and A. Babenko, "Revisiting
       deep learning models for tabular data", NeurIPS 34, 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.datasets import quantile_scale
    >>> X = np.random.default_rng(0).exponential(size=(300, 2))
    >>> train, val = quantile_scale(X[:240], X[240:], random_state=0)
    >>> train.dtype, bool(abs(np.median(train)) < 0.1), bool(abs(train.std() - 1) < 0.1)
    (dtype('float32'), True, True)
    """
    rng = check_random_state(random_state)
    X_train = np.asarray(X_train, dtype=np.float64)
    X_fit = X_train
    if noise:
        stds = np.std(X_train, axis=0, keepdims=True)
        X_fit = X_train + noise / np.maximum(stds, noise) * rng.standard_normal(
            X_train.shape
        )
    transformer = QuantileTransformer(
        output_distribution="normal",
        n_quantiles=max(min(len(X_train) // 30, 1000), 10),
        subsample=None,
        random_state=rng,
    ).fit(X_fit)
    return [
        transformer.transform(np.asarray(X, dtype=np.float64)).astype(np.float32)
        for X in (X_train, *X_other)
    ]
