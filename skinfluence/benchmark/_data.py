"""The data of one cell: the seeded split, the foreign pool and the injector."""

import inspect
from functools import lru_cache

import numpy as np
from sklearn.utils import Bunch, check_random_state

from .. import glitches
from ..datasets import (
    PAPER_DATASETS,
    download_paper_datasets,
    fetch_paper_dataset,
    load_breast_cancer_table,
    load_digits_images,
    load_iris_table,
    load_wine_table,
    paper_split,
)
from ..models import MODEL_DEFAULTS, make_net

__all__ = ["cache_paper_data", "load_cell_data", "make_injector", "make_model"]

_EMBEDDED = {
    "digits": load_digits_images,
    "breast_cancer": load_breast_cancer_table,
    "wine": load_wine_table,
    "iris": load_iris_table,
}


def load_cell_data(dataset, seed, data_home=None):
    """Training and validation rows of a dataset, split by ``seed``.

    Embedded sets are split 80/20, stratified (the paper's protocol without
    its 10 % subsample, these sets being small); paper datasets come from
    :func:`~skinfluence.datasets.fetch_paper_dataset`.

    Returns
    -------
    data : Bunch
        ``X_train, y_train, X_val, y_val, image_shape`` and ``foreign``, the
        pool of far-clustered anomalies (None: generate a cluster).
    """
    data = _load_split(dataset.name, seed, data_home)
    foreign = None
    if dataset.foreign is not None:
        foreign = _foreign_pool(dataset.foreign, data.image_shape, seed, data_home)
    return Bunch(**data, foreign=foreign)


def cache_paper_data(cells, data_home=None):
    """Download the paper datasets ``cells`` use, before any cell runs.

    Each worker would otherwise download on its own, and, offline, every
    cell would fail the same way, one after another (a second each: the
    paper preset's 990 cells took 16 minutes to say so).

    Raises
    ------
    DatasetUnavailableError
        When one of them is neither cached nor downloadable.
    """
    names = {cell.dataset.name for cell in cells}
    names |= {cell.dataset.foreign for cell in cells}
    download_paper_datasets(sorted(names & set(PAPER_DATASETS)), data_home=data_home)


@lru_cache(maxsize=4)
def _load_split(name, seed, data_home):
    # Cached per process: a worker reuses the split for the next cells of
    # the same dataset and seed (all models and glitch kinds).
    if name in _EMBEDDED:
        bunch = _EMBEDDED[name]()
        X_train, X_val, y_train, y_val = paper_split(
            bunch.data, bunch.target, subsample=1.0, random_state=seed
        )
        image_shape = bunch.image_shape
    elif name in PAPER_DATASETS:
        bunch = fetch_paper_dataset(name, data_home=data_home, random_state=seed)
        X_train, X_val = bunch.X_train, bunch.X_val
        y_train, y_val = bunch.y_train, bunch.y_val
        image_shape = bunch.image_shape
    else:
        raise ValueError(
            f"Unknown dataset {name!r}; choose one of "
            f"{sorted(_EMBEDDED) + sorted(PAPER_DATASETS)}."
        )
    return Bunch(
        X_train=X_train,
        y_train=y_train,
        X_val=X_val,
        y_val=y_val,
        image_shape=None if image_shape is None else tuple(image_shape),
    )


def _foreign_pool(source, image_shape, seed, data_home):
    """Rows of one foreign class, in the shape of the receiving dataset."""
    if source == "photos":
        pool = photo_patches()
        shape = (1, 8, 8)
    else:
        other = _load_split(source, seed, data_home)
        rng = check_random_state(seed)
        label = rng.choice(np.unique(other.y_train))
        pool = other.X_train[other.y_train == label]
        shape = other.image_shape
    if image_shape is not None and shape != tuple(image_shape):
        pool = _resize_images(pool, shape, tuple(image_shape))
    return pool


@lru_cache(maxsize=1)
def photo_patches():
    """8x8 grey patches of scikit-learn's two sample photographs, in [0, 1].

    Each photograph (427 x 640) is cut into non-overlapping 32 x 32 patches,
    each averaged down to 8 x 8: 520 images from another distribution than
    handwritten digits, the digits' analogue of the paper's Fashion-MNIST
    class mixed into MNIST.

    Returns
    -------
    patches : ndarray of shape (520, 64), float32
    """
    from sklearn.datasets import load_sample_images

    patches = []
    for photo in load_sample_images().images:
        grey = photo.mean(axis=2) / 255.0
        rows, cols = grey.shape[0] // 32, grey.shape[1] // 32
        blocks = grey[: rows * 32, : cols * 32].reshape(rows, 8, 4, cols, 8, 4)
        small = blocks.mean(axis=(2, 5)).transpose(0, 2, 1, 3).reshape(-1, 64)
        patches.append(small)
    return np.concatenate(patches).astype(np.float32)


def _resize_images(X, shape, target):
    """Resize flat channels-first images to ``target`` (bilinear, channels mixed)."""
    import torch
    from torch.nn import functional as F

    images = torch.as_tensor(np.asarray(X, dtype=np.float32)).reshape(-1, *shape)
    if shape[0] != target[0]:
        images = images.mean(1, keepdim=True).expand(-1, target[0], -1, -1)
    images = F.interpolate(
        images, size=target[1:], mode="bilinear", align_corners=False
    )
    return images.reshape(len(X), -1).numpy()


def make_injector(glitch, ratio, seed, data):
    """The cell's injector, with the dataset's foreign pool or image shape."""
    cls = getattr(glitches, glitch.injector)
    params = dict(glitch.params)
    accepted = inspect.signature(cls).parameters
    if "X_foreign" in accepted and data.foreign is not None:
        params.setdefault("X_foreign", data.foreign)
    if "image_shape" in accepted and data.image_shape is not None:
        params.setdefault("image_shape", data.image_shape)
    return cls(ratio, random_state=seed, **params)


def make_model(model, image_shape):
    """The cell's unfitted skorch template."""
    net = model.net or model.name
    params = dict(model.params)
    module = MODEL_DEFAULTS[net][0] if net in MODEL_DEFAULTS else None
    takes_images = module is not None and (
        "image_shape" in inspect.signature(module).parameters
    )
    if takes_images and image_shape is not None:
        params.setdefault("image_shape", image_shape)
    return make_net(net, **params)
