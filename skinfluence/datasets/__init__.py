"""Datasets: embedded sets that work offline, and the paper's six from OpenML.

Every loader returns float32 features and int64 labels, ready for the nets
of :mod:`skinfluence.models`; image sets give flat rows plus their
``image_shape`` (channels first).
"""

from ._embedded import (
    load_breast_cancer_table,
    load_digits_images,
    load_iris_table,
    load_wine_table,
)
from ._openml import (
    PAPER_DATASETS,
    DatasetUnavailableError,
    download_paper_datasets,
    fetch_paper_dataset,
    get_data_home,
)
from ._splits import paper_split, quantile_scale

__all__ = [
    "PAPER_DATASETS",
    "DatasetUnavailableError",
    "download_paper_datasets",
    "fetch_paper_dataset",
    "get_data_home",
    "load_breast_cancer_table",
    "load_digits_images",
    "load_iris_table",
    "load_wine_table",
    "paper_split",
    "quantile_scale",
]
