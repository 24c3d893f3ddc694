"""The benchmark grid as plain Python data: frozen dataclasses and presets.

A grid is datasets x models x glitch kinds x ratios x seeds x signals. A
*cell* is one (dataset, model, glitch, ratio, seed): one network trained
once, every signal scored from its captured epochs. A preset is a tuple of
grids whose cells are pooled (a main grid at 10 % and a ratio sweep on a
few combinations, say); a cell that two grids share runs once.
"""

from dataclasses import dataclass, replace
from itertools import product

import joblib

__all__ = [
    "PAPER_SIGNALS",
    "Cell",
    "DatasetSpec",
    "GlitchSpec",
    "Grid",
    "ModelSpec",
    "get_preset",
]

#: The four signals the paper compares.
PAPER_SIGNALS = ("self", "marginal", "absolute", "gd_class")

_MODALITIES = ("tabular", "image")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of the grid.

    Parameters
    ----------
    name : str
        ``"digits"``, ``"wine"``, ``"breast_cancer"`` or ``"iris"`` (the
        embedded sets of :mod:`skinfluence.datasets`), or a key of
        :data:`~skinfluence.datasets.PAPER_DATASETS` (fetched from OpenML
        with the paper's 10 % subsample and 80/20 split).
    modality : {"tabular", "image"}
        Which models and glitch kinds apply.
    foreign : str, default=None
        Where far-clustered anomalies come from: ``"photos"`` (8x8 grey
        patches of scikit-learn's two sample photographs, for ``"digits"``),
        another paper dataset's name (one of its classes, resized, as the
        paper mixes Fashion-MNIST into MNIST), or None for a Gaussian
        cluster generated far from the data.
    """

    name: str
    modality: str = "tabular"
    foreign: str | None = None

    def __post_init__(self):
        _check_modalities((self.modality,), "modality")


@dataclass(frozen=True)
class ModelSpec:
    """A network of the grid: a :func:`~skinfluence.models.make_net` name.

    Parameters
    ----------
    name : str
        The ``model`` column of the results, and the ``make_net`` name unless
        ``net`` is given.
    params : tuple of (str, object) pairs, default=()
        Keyword arguments of ``make_net`` (``max_epochs``, ``lr``,
        ``hidden_sizes``...), as pairs so that the spec stays hashable.
    modalities : tuple of str, default=("tabular", "image")
        The dataset modalities the model is trained on.
    net : str, default=None
        The ``make_net`` name when it differs from ``name`` (two settings of
        one architecture).
    """

    name: str
    params: tuple = ()
    modalities: tuple = _MODALITIES
    net: str | None = None

    def __post_init__(self):
        _check_modalities(self.modalities, "modalities")


@dataclass(frozen=True)
class GlitchSpec:
    """A glitch kind: an injector of :mod:`skinfluence.glitches` and its settings.

    Parameters
    ----------
    name : str
        The ``glitch`` column of the results.
    injector : str
        Class name in :mod:`skinfluence.glitches`, built with
        ``ratio=<the cell's ratio>``, ``random_state=<the cell's seed>`` and
        ``params``. ``ForeignClusterAnomalies`` gets the dataset's foreign
        pool (see :class:`DatasetSpec`), ``FeatureCorruption`` the image
        shape of image datasets.
    family : {"mislabeled", "clustered", "outlier"}
        The paper's glitch families; Table 1 reports the ``"clustered"`` ones.
    params : tuple of (str, object) pairs, default=()
        Further keyword arguments of the injector.
    modalities : tuple of str, default=("tabular", "image")
        The dataset modalities the glitch is injected in.
    """

    name: str
    injector: str
    family: str = "mislabeled"
    params: tuple = ()
    modalities: tuple = _MODALITIES

    def __post_init__(self):
        _check_modalities(self.modalities, "modalities")
        if self.family not in ("mislabeled", "clustered", "outlier"):
            raise ValueError(
                "family must be 'mislabeled', 'clustered' or 'outlier', "
                f"got {self.family!r}."
            )


@dataclass(frozen=True)
class Cell:
    """One (dataset, model, glitch, ratio, seed): one training, every signal.

    The seed draws the train/validation split, the injected rows and the
    network's initialisation and shuffling.
    """

    dataset: DatasetSpec
    model: ModelSpec
    glitch: GlitchSpec
    ratio: float
    seed: int
    signals: tuple

    @property
    def key(self):
        """A file-name-safe id; a short hash guards against edited specs."""
        specs = joblib.hash((self.dataset, self.model, self.glitch))[:8]
        return (
            f"{self.dataset.name}__{self.model.name}__{self.glitch.name}"
            f"__r{self.ratio:g}__s{self.seed}__{specs}"
        )

    def labels(self):
        """The identifying columns of this cell's rows in the results."""
        return {
            "dataset": self.dataset.name,
            "modality": self.dataset.modality,
            "model": self.model.name,
            "glitch": self.glitch.name,
            "glitch_family": self.glitch.family,
            "ratio": float(self.ratio),
            "seed": int(self.seed),
        }


@dataclass(frozen=True)
class Grid:
    """Datasets x models x glitch kinds x ratios x seeds x signals.

    A model is trained on a dataset only when their modalities match, and a
    glitch kind is injected only in the modalities it lists.

    Parameters
    ----------
    datasets : tuple of DatasetSpec
    models : tuple of ModelSpec
    glitches : tuple of GlitchSpec
    ratios : tuple of float, default=(0.1,)
        Glitch ratios (the injectors' ``ratio``).
    seeds : tuple of int, default=(0, 1, 2)
    signals : tuple of str, default=None
        Signal names; None takes every registered signal (see
        :func:`skinfluence.signals.available`) when the cells are listed.

    Examples
    --------
    >>> from skinfluence.benchmark import DatasetSpec, GlitchSpec, Grid, ModelSpec
    >>> grid = Grid(
    ...     datasets=(DatasetSpec("wine"), DatasetSpec("digits", "image")),
    ...     models=(ModelSpec("MLP"), ModelSpec("SmallCNN", modalities=("image",))),
    ...     glitches=(GlitchSpec("uniform", "UniformLabelNoise"),),
    ...     seeds=(0, 1),
    ...     signals=("self", "marginal"),
    ... )
    >>> len(grid.cells())  # wine x MLP, digits x MLP, digits x SmallCNN; 2 seeds
    6
    >>> grid.cells()[0].key[:30]
    'wine__MLP__uniform__r0.1__s0__'
    """

    datasets: tuple
    models: tuple
    glitches: tuple
    ratios: tuple = (0.1,)
    seeds: tuple = (0, 1, 2)
    signals: tuple | None = None

    def cells(self):
        """List the cells, datasets outermost and seeds innermost.

        Returns
        -------
        cells : list of Cell
        """
        signals = self.signals
        if signals is None:
            from ..signals import available

            signals = tuple(available()["name"])
        cells = []
        for dataset, model, glitch, ratio, seed in product(
            self.datasets, self.models, self.glitches, self.ratios, self.seeds
        ):
            if dataset.modality in model.modalities and (
                dataset.modality in glitch.modalities
            ):
                cells.append(Cell(dataset, model, glitch, ratio, seed, tuple(signals)))
        return cells


def pool_cells(grids):
    """The cells of one or several grids, each once, in first-seen order.

    A cell listed by several grids scores the union of their signals.
    """
    if isinstance(grids, Grid):
        grids = (grids,)
    pooled = {}
    for grid in grids:
        for cell in grid.cells():
            seen = pooled.get(cell.key)
            if seen is None:
                pooled[cell.key] = cell
            else:
                extra = tuple(s for s in cell.signals if s not in seen.signals)
                pooled[cell.key] = replace(seen, signals=seen.signals + extra)
    return list(pooled.values())


def _check_modalities(modalities, name):
    unknown = set(modalities) - set(_MODALITIES)
    if unknown or not modalities:
        raise ValueError(
            f"{name} must be among {_MODALITIES}, got {tuple(modalities)!r}."
        )


# --------------------------------------------------------------- the glitches

_UNIFORM = GlitchSpec("uniform", "UniformLabelNoise")
# Every class loses the same share to the next one, so that the ratio is the
# share of all rows, as for uniform noise.
_CLASS_DEPENDENT = GlitchSpec(
    "class_dependent", "ClassDependentLabelNoise", params=(("mode", "pairflip"),)
)
# The paper's variant: one class, flipped to one other class.
_SINGLE_CLASS = GlitchSpec(
    "single_class", "ClassDependentLabelNoise", params=(("mode", "paper"),)
)
_FAR_SHARED = GlitchSpec(
    "far_shared",
    "ForeignClusterAnomalies",
    family="clustered",
    params=(("label_mode", "shared"),),
)
_FAR_RANDOM = GlitchSpec(
    "far_random",
    "ForeignClusterAnomalies",
    family="clustered",
    params=(("label_mode", "random"),),
)
# A downsampled class; on balanced many-class images it would barely be rare.
_NEAR = GlitchSpec(
    "near", "RareClassAnomalies", family="clustered", modalities=("tabular",)
)
# "auto": MNIST-C's brightness on images, out-of-range values on tables.
_OUTLIER = GlitchSpec("outlier", "FeatureCorruption", family="outlier")
_STRIPE = GlitchSpec(
    "stripe",
    "FeatureCorruption",
    family="outlier",
    params=(("kind", "stripe"),),
    modalities=("image",),
)

# ----------------------------------------------------------------- the presets


def _tiny():
    # For tests and smoke runs: seconds on one core.
    return (
        Grid(
            datasets=(DatasetSpec("wine"),),
            models=(
                ModelSpec(
                    "MLP",
                    params=(
                        ("max_epochs", 3),
                        ("batch_size", 32),
                        ("hidden_sizes", (16,)),
                    ),
                ),
            ),
            glitches=(_UNIFORM,),
            seeds=(0,),
            signals=("self", "marginal"),
        ),
    )


def _quick():
    digits = DatasetSpec("digits", "image", foreign="photos")
    tables = (DatasetSpec("breast_cancer"), DatasetSpec("wine"))
    mlp = ModelSpec("MLP")
    # Digits' 1437 training rows make 22 steps an epoch at the default batch
    # of 64: after 10 epochs the CNN ends at validation accuracy 0.83-0.90
    # with 10 % label noise (the MLP: 0.96), and self-influence at F1 0.67-
    # 0.79; at 32 rows a batch, 0.95-0.96 and 0.87-0.92, for the same work.
    cnn = ModelSpec("SmallCNN", params=(("batch_size", 32),), modalities=("image",))
    glitches = (_UNIFORM, _CLASS_DEPENDENT, _FAR_SHARED, _FAR_RANDOM, _NEAR, _OUTLIER)
    sweep = (0.01, 0.05, 0.1, 0.2, 0.3)
    return (
        Grid((digits, *tables), (mlp, cnn), glitches),
        # Fig. 4 in small: uniform noise and far-CA on images, uniform noise
        # and near-CA on a binary table.
        Grid((digits,), (mlp,), (_UNIFORM, _FAR_SHARED), ratios=sweep),
        Grid((tables[0],), (mlp,), (_UNIFORM, _NEAR), ratios=sweep),
    )


def _paper():
    # Far-CA on images mix one class of another set in, as the paper:
    # MNIST <- Fashion-MNIST, Fashion-MNIST <- MNIST, CIFAR-10 <- Fashion-MNIST.
    images = (
        DatasetSpec("mnist", "image", foreign="fashion_mnist"),
        DatasetSpec("fashion_mnist", "image", foreign="mnist"),
        DatasetSpec("cifar10", "image", foreign="fashion_mnist"),
    )
    tables = (DatasetSpec("jannis"), DatasetSpec("covertype"), DatasetSpec("epsilon"))
    models = (
        ModelSpec("MLP", modalities=("tabular",)),
        ModelSpec("TabularResNet", modalities=("tabular",)),
        ModelSpec("FTTransformer", modalities=("tabular",)),
        ModelSpec("SmallCNN", modalities=("image",)),
        ModelSpec("ResNet20", modalities=("image",)),
    )
    far_images = replace(_FAR_SHARED, modalities=("image",))
    outliers = replace(_OUTLIER, modalities=("image",))
    seeds = (0, 1, 2, 3, 4)  # the paper repeats each experiment five times
    return (
        # Fig. 1 (tables) and Fig. 2 (images) at 10 %.
        Grid(
            (*images, *tables),
            models,
            (
                _UNIFORM,
                _CLASS_DEPENDENT,
                _SINGLE_CLASS,
                _NEAR,
                far_images,
                replace(_FAR_RANDOM, modalities=("image",)),
                outliers,
                _STRIPE,
            ),
            seeds=seeds,
            signals=PAPER_SIGNALS,
        ),
        # Fig. 4: 1 % to 30 % of uniform noise, near-CA (tables), far-CA (images).
        Grid(
            (*images, *tables),
            models,
            (_UNIFORM, _NEAR, far_images),
            ratios=(0.01, 0.05, 0.1, 0.2, 0.3),
            seeds=seeds,
            signals=PAPER_SIGNALS,
        ),
    )


_PRESETS = {"quick": _quick, "paper": _paper, "tiny": _tiny}


def get_preset(name):
    """The grids of a named preset.

    Parameters
    ----------
    name : {"quick", "paper", "tiny"}
        ``"quick"``: embedded data (digits as images; the breast cancer and
        wine tables), MLP and SmallCNN, six glitch kinds at 10 %, three
        seeds, every registered signal, plus a 1 % to 30 % ratio sweep on
        digits and breast cancer; minutes on two cores. ``"paper"``: the
        paper's six OpenML datasets, MLP, TabularResNet and FTTransformer on
        tables, SmallCNN and ResNet20 on images, its glitch kinds at 10 %
        and the 1 % to 30 % sweep, five seeds, the paper's four signals.
        ``"tiny"``: one wine cell with two signals, for tests.

    Returns
    -------
    grids : tuple of Grid

    Examples
    --------
    >>> from skinfluence.benchmark import get_preset
    >>> [len(grid.cells()) for grid in get_preset("tiny")]
    [1]
    """
    try:
        return _PRESETS[name]()
    except KeyError:
        raise ValueError(
            f"Unknown preset {name!r}; choose one of {sorted(_PRESETS)}."
        ) from None
