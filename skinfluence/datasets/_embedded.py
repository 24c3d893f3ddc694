"""Embedded datasets: scikit-learn's shipped sets, ready for a net, offline."""

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch

__all__ = [
    "load_digits_images",
    "load_breast_cancer_table",
    "load_wine_table",
    "load_iris_table",
]


def load_digits_images(*, return_X_y=False):
    """Load scikit-learn's handwritten digits as 8x8 images in [0, 1].

    1797 grey images of ten digits; the pixel counts 0 to 16 are divided by
    16. The flat ``data`` rows are the images in row-major order, so that
    ``data.reshape(-1, *image_shape)`` gives the channels-first batch the
    image models of :mod:`skinfluence.models` expect.

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``data`` (1797, 64) float32 in [0, 1], ``images`` (1797, 8, 8)
        float32, ``target`` (1797,) int64, ``image_shape=(1, 8, 8)``
        (channels, height, width), ``feature_names``, ``target_names`` and
        ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True
        The flat float32 rows and the int64 labels.

    See Also
    --------
    sklearn.datasets.load_digits : The source, with integer pixel counts.
    fetch_paper_dataset : MNIST, Fashion-MNIST and CIFAR-10 from OpenML.

    Examples
    --------
    >>> from skinfluence.datasets import load_digits_images
    >>> digits = load_digits_images()
    >>> digits.data.shape, digits.data.dtype, digits.image_shape
    ((1797, 64), dtype('float32'), (1, 8, 8))
    >>> float(digits.data.max())
    1.0
    """
    source = datasets.load_digits()
    data = (source.data / 16.0).astype(np.float32)
    target = source.target.astype(np.int64)
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        images=data.reshape(-1, 8, 8),
        target=target,
        image_shape=(1, 8, 8),
        feature_names=list(source.feature_names),
        target_names=np.asarray(source.target_names),
        DESCR=source.DESCR,
    )


def _load_table(loader, *, scale, as_frame, return_X_y):
    """Standardise one of scikit-learn's tables and shape it as a Bunch."""
    source = loader()
    data = np.asarray(source.data, dtype=np.float64)
    if scale:
        # Fitted on all rows: these small sets are demos for training-set
        # auditing, where every row is a training row.
        data = StandardScaler().fit_transform(data)
    data = data.astype(np.float32)
    target = np.asarray(source.target, dtype=np.int64)
    feature_names = list(source.feature_names)
    frame = None
    if as_frame:
        data = pd.DataFrame(data, columns=feature_names)
        target = pd.Series(target, name="target")
        frame = pd.concat([data, target], axis=1)
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=feature_names,
        target_names=np.asarray(source.target_names),
        image_shape=None,
        DESCR=source.DESCR,
    )


_TABLE_DOC = """Load scikit-learn's {title} table, standardised, as float32.

    {summary} Features are standardised to zero mean and unit variance
    over all rows when ``scale=True``.

    Parameters
    ----------
    scale : bool, default=True
        Standardise the features; ``False`` keeps the raw values.
    as_frame : bool, default=False
        Return ``data`` as a pandas DataFrame with the feature names as
        columns, ``target`` as a Series, and ``frame`` with both.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``data`` {shape} float32, ``target`` int64, ``frame`` (None
        unless ``as_frame``), ``feature_names``, ``target_names``,
        ``image_shape=None`` and ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True

    See Also
    --------
    sklearn.datasets.{source} : The source, unscaled.
    fetch_paper_dataset : The paper's tabular sets from OpenML.

    Examples
    --------
    >>> from skinfluence.datasets import {name}
    >>> X, y = {name}(return_X_y=True)
    >>> X.shape, X.dtype, y.dtype
    ({shape}, dtype('float32'), dtype('int64'))
    """


def load_breast_cancer_table(*, scale=True, as_frame=False, return_X_y=False):
    return _load_table(
        datasets.load_breast_cancer,
        scale=scale,
        as_frame=as_frame,
        return_X_y=return_X_y,
    )


def load_wine_table(*, scale=True, as_frame=False, return_X_y=False):
    return _load_table(
        datasets.load_wine, scale=scale, as_frame=as_frame, return_X_y=return_X_y
    )


def load_iris_table(*, scale=True, as_frame=False, return_X_y=False):
    return _load_table(
        datasets.load_iris, scale=scale, as_frame=as_frame, return_X_y=return_X_y
    )


# One docstring template for the three tables, as imbalanced-learn writes
# shared parameter text once.
load_breast_cancer_table.__doc__ = _TABLE_DOC.format(
    title="breast cancer",
    summary="569 tumours described by 30 measurements, malignant (0) or benign (1).",
    shape="(569, 30)",
    source="load_breast_cancer",
    name="load_breast_cancer_table",
)
load_wine_table.__doc__ = _TABLE_DOC.format(
    title="wine",
    summary="178 wines from three cultivars described by 13 chemical measurements.",
    shape="(178, 13)",
    source="load_wine",
    name="load_wine_table",
)
load_iris_table.__doc__ = _TABLE_DOC.format(
    title="iris",
    summary="150 irises of three species described by four measurements.",
    shape="(150, 4)",
    source="load_iris",
    name="load_iris_table",
)
