"""Build unfitted skorch templates for the models of the paper."""

import inspect

import torch
from skorch import NeuralNetClassifier, NeuralNetRegressor

from ._finetune import PretrainedBackbone
from ._image import ResNet20, SmallCNN
from ._mlp import MLP
from ._tabular import FTTransformer, TabularResNet

__all__ = ["make_net", "MODEL_DEFAULTS", "small_table_batch"]

# name -> (module class, default training settings). Sized parameters
# (``n_features``, ``n_classes``) are filled in from the data by
# ``InfluenceGlitchDetector.fit`` when the template leaves them unset.
# The settings are for plain SGD without momentum on standardised features
# or [0, 1] pixels, checked on scikit-learn's digits, wine and breast cancer;
# the paper trains its tabular nets for 10 epochs and fine-tunes with batches
# of 128. FT-Transformer was designed for AdamW and needs a smaller step
# under plain SGD.
MODEL_DEFAULTS = {
    "MLP": (MLP, {"max_epochs": 20, "lr": 0.1, "batch_size": 64}),
    "TabularResNet": (TabularResNet, {"max_epochs": 10, "lr": 0.1, "batch_size": 64}),
    "FTTransformer": (FTTransformer, {"max_epochs": 10, "lr": 0.01, "batch_size": 32}),
    "SmallCNN": (SmallCNN, {"max_epochs": 10, "lr": 0.1, "batch_size": 64}),
    "ResNet20": (ResNet20, {"max_epochs": 10, "lr": 0.1, "batch_size": 128}),
    "PretrainedBackbone": (
        PretrainedBackbone,
        {"max_epochs": 5, "lr": 0.1, "batch_size": 128},
    ),
}

# Filled in by the detector from the data, so never required here.
_SIZED = ("n_features", "n_classes")
# A small table still gets this many optimiser steps per epoch ...
_MIN_STEPS = 8
# ... by halving the default batch, down to this size.
_MIN_BATCH = 16


def small_table_batch(batch_size, n_rows):
    """The default batch, halved until an epoch of ``n_rows`` has 8 steps (at least 16).

    With the MLP's 64 rows, 120 training rows (iris) would get 2 plain SGD
    steps per epoch, 40 in all: too few for the network to fit its classes,
    and every signal read from its epochs suffers (F1 at k of neighbour
    influence 0.87 -> 0.92 on iris with 10-40 % label noise at 16 rows,
    ``benchmarks/bench_label_noise.py``). Tables with ``8 * batch_size`` rows or
    more keep the batch.

    Examples
    --------
    >>> small_table_batch(64, 120), small_table_batch(64, 142), small_table_batch(64, 455)
    (16, 16, 64)
    """
    while batch_size > _MIN_BATCH and -(-n_rows // batch_size) < _MIN_STEPS:
        batch_size //= 2
    return batch_size


def make_net(
    name="MLP",
    *,
    max_epochs=None,
    lr=None,
    batch_size=None,
    image_shape=None,
    task="classification",
    n_rows=None,
    **module_params,
):
    """Return an unfitted skorch ``NeuralNetClassifier`` (or regressor) template.

    The template trains with plain SGD without momentum (TracIn's
    assumption) and softmax cross-entropy on the module's logits. It keeps
    every training row for training (``train_split=None``): the detector
    scores the rows the net was trained on.

    Parameters
    ----------
    name : str, default="MLP"
        One of the registered model names (see ``MODEL_DEFAULTS``):
        ``"MLP"``, ``"TabularResNet"``, ``"FTTransformer"``, ``"SmallCNN"``,
        ``"ResNet20"`` or ``"PretrainedBackbone"`` (which needs
        ``backbone=``).
    max_epochs, lr, batch_size : int, float, int, default=None
        Training settings; ``None`` takes the model's default.
    image_shape : tuple of int, default=None
        ``(C, H, W)`` of flat image rows, for the models that take images
        (``"SmallCNN"``, ``"ResNet20"``, ``"PretrainedBackbone"``). The
        convolutional nets infer a square one from the width when it is
        ``None``.
    task : {"classification", "regression"}, default="classification"
        ``"regression"`` returns a skorch ``NeuralNetRegressor`` trained with
        ``torch.nn.MSELoss`` on the module's output (its ``n_classes`` is then
        the number of targets), the template of
        :class:`~skinfluence.InfluenceGlitchRegressor`.
    n_rows : int, default=None
        Training rows, when known: with ``batch_size=None`` a small
        classification table gets a smaller batch, so that an epoch has at
        least 8 optimiser steps (:func:`small_table_batch`). The detectors
        pass it when they build their default template. A regression
        template keeps its batch: more steps let the network memorise
        corrupted targets (on ``load_diabetes``, 353 rows with 10 % large
        errors, batches of 32 instead of 64 dropped the F1 at k of
        ``auto`` from 0.75 to 0.63).
    **module_params
        Passed to the module as ``module__<name>``, e.g. ``hidden_sizes``.

    Returns
    -------
    net : skorch.NeuralNetClassifier or skorch.NeuralNetRegressor
        Unfitted template; clone it before fitting.

    Examples
    --------
    >>> from skinfluence.models import make_net
    >>> net = make_net("MLP", max_epochs=5, hidden_sizes=(32,))
    >>> net.max_epochs, net.module__hidden_sizes
    (5, (32,))
    >>> make_net("SmallCNN", image_shape=(1, 8, 8)).module__image_shape
    (1, 8, 8)
    >>> type(make_net(task="regression")).__name__
    'NeuralNetRegressor'
    >>> make_net(n_rows=120).batch_size, make_net(n_rows=5000).batch_size
    (16, 64)
    >>> make_net(task="regression", n_rows=120).batch_size
    64
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task={task!r} is not one of 'classification', 'regression'.")
    try:
        module, defaults = MODEL_DEFAULTS[name]
    except KeyError:
        raise ValueError(
            f"Unknown model name {name!r}; choose one of {sorted(MODEL_DEFAULTS)}."
        ) from None
    accepted = inspect.signature(module).parameters
    if image_shape is not None:
        if "image_shape" not in accepted:
            raise ValueError(f"{name} takes no image_shape; it reads flat rows.")
        module_params["image_shape"] = tuple(image_shape)
    missing = [
        key
        for key, param in accepted.items()
        if param.default is inspect.Parameter.empty
        and param.kind is not inspect.Parameter.VAR_KEYWORD
        and key not in _SIZED
        and key not in module_params
    ]
    if missing:
        raise ValueError(f"{name} needs {', '.join(f'{key}=' for key in missing)}.")
    settings = {
        "max_epochs": defaults["max_epochs"] if max_epochs is None else max_epochs,
        "lr": defaults["lr"] if lr is None else lr,
        "batch_size": defaults["batch_size"] if batch_size is None else batch_size,
    }
    if batch_size is None and n_rows is not None and task == "classification":
        settings["batch_size"] = small_table_batch(settings["batch_size"], n_rows)
    if task == "regression":
        net, criterion = NeuralNetRegressor, torch.nn.MSELoss
    else:
        net, criterion = NeuralNetClassifier, torch.nn.CrossEntropyLoss
    return net(
        module,
        criterion=criterion,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.0,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
        **settings,
        **{f"module__{key}": value for key, value in module_params.items()},
    )
