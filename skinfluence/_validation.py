"""Input checks shared by the detector and the glitch injectors."""

import inspect
import os
import warnings

import numpy as np
import pandas as pd
import torch

from ._sklearn_compat import InvalidParameterError

__all__ = [
    "check_device",
    "device_available",
    "check_estimator_kind",
    "check_flat_rows",
    "check_folder",
    "check_numeric_frame",
    "check_optimizer",
    "check_raw_reference",
]

_WRAP = (
    "Wrap a torch module in a skorch NeuralNetClassifier, e.g. "
    "NeuralNetClassifier(module, criterion=torch.nn.CrossEntropyLoss, "
    "optimizer=torch.optim.SGD, train_split=None), or build one with "
    "skinfluence.models.make_net (make_net('MLP', hidden_sizes=(100,)) is the "
    "network of an MLPClassifier)."
)

# The reference of a pipeline, transformed by the pipeline's own steps.
PIPELINE_HINT = """If X_val is the raw reference set of a Pipeline (which \
passes X_val to its last step untransformed), have the pipeline's own steps \
transform it: enable metadata routing and name it in transform_input:
    sklearn.set_config(enable_metadata_routing=True)
    detector = InfluenceGlitchDetector().set_fit_request(X_val=True, y_val=True)
    pipe = make_pipeline(preprocessor, detector, transform_input=["X_val"])
    pipe.fit(X, y, X_val=X_val, y_val=y_val)"""

_NUMERIC_OBJECTS = {"integer", "floating", "mixed-integer-float", "decimal", "boolean"}


def check_numeric_frame(X, owner, name="X", hint=None):
    """Reject a DataFrame with non-numeric columns, naming them and their kinds.

    scikit-learn's validation would stop at the first string with pandas'
    "could not convert string to float", which names neither the column nor
    the remedy. Arrays and numeric frames pass through untouched.

    Parameters
    ----------
    X : object
        The input; only a :class:`pandas.DataFrame` is checked.
    owner : str
        Name of the estimator, for the message.
    name : str, default="X"
        Name of the argument, for the message.
    hint : str, default=None
        Appended to the message.

    Raises
    ------
    ValueError
        If a column holds strings, categories of strings, dates or other
        non-numeric values.
    """
    if not isinstance(X, pd.DataFrame):
        return
    bad = [
        f"{column!r} ({X.dtypes.iloc[i]})"
        for i, column in enumerate(X.columns)
        if not _is_numeric(X.iloc[:, i])
    ]
    if bad:
        listed = ", ".join(bad[:10]) + (", ..." if len(bad) > 10 else "")
        raise ValueError(
            f"{owner} needs numeric features, but {name} has {len(bad)} non-numeric "
            f"column(s): {listed}. Encode them first, e.g. with a ColumnTransformer "
            "and sklearn.preprocessing.OneHotEncoder or OrdinalEncoder."
            + ("" if hint is None else f" {hint}")
        )


def _is_numeric(column):
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.cat.categories  # categories of numbers convert fine
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return True
    if pd.api.types.is_object_dtype(dtype):  # so do numbers held as Python objects
        return pd.api.types.infer_dtype(column, skipna=True) in _NUMERIC_OBJECTS
    return False


def check_estimator_kind(estimator):
    """Reject a bare torch module or a scikit-learn classifier, saying how to wrap it.

    The detector replays a skorch network's training; the generic parameter
    error ("must be an object implementing 'fit' and 'initialize'") does not
    say what to do with a module or an ``MLPClassifier``.

    Raises
    ------
    InvalidParameterError
        If ``estimator`` is a ``torch.nn.Module`` (class or instance) or an
        object with ``fit`` but no ``initialize``.
    """
    if estimator is None:
        return
    is_module = isinstance(estimator, torch.nn.Module) or (
        inspect.isclass(estimator) and issubclass(estimator, torch.nn.Module)
    )
    if is_module:
        what = "a bare torch.nn.Module"
    elif hasattr(estimator, "fit") and not hasattr(estimator, "initialize"):
        what = f"{type(estimator).__name__}, which is not a torch network"
    else:
        return
    raise InvalidParameterError(
        f"The estimator of InfluenceGlitchDetector must be an unfitted skorch "
        f"NeuralNetClassifier (or None for the default MLP); got {what}. {_WRAP}"
    )


def check_optimizer(estimator):
    """Warn once when the template trains with something else than plain SGD.

    TracIn sums ``eta_t`` times gradient products over the checkpoints, the
    exact picture of plain SGD steps. Momentum, adaptive steps (Adam) and
    weight decay move the weights otherwise, and the scores become an
    approximation.

    Warns
    -----
    UserWarning
        Naming the optimiser or the parameters that are not plain SGD.
    """
    if estimator is None or not hasattr(estimator, "get_params"):
        return
    params = estimator.get_params(deep=False)
    optimizer = params.get("optimizer", torch.optim.SGD)
    found = []
    if not (inspect.isclass(optimizer) and issubclass(optimizer, torch.optim.SGD)):
        found.append(f"optimizer={getattr(optimizer, '__name__', optimizer)}")
    for name in ("momentum", "weight_decay", "nesterov"):
        value = params.get(f"optimizer__{name}")
        if value:
            found.append(f"optimizer__{name}={value}")
    if found:
        warnings.warn(
            f"TracIn assumes plain SGD without momentum or weight decay; with "
            f"{', '.join(found)} the influence scores are an approximation.",
            UserWarning,
            stacklevel=2,
        )


def check_raw_reference(X_val, n_features, owner):
    """Explain a reference set that did not go through the pipeline's steps.

    A Pipeline hands fit parameters such as ``X_val`` to its last step as
    they are: a raw frame then reaches the detector, which was fitted on the
    transformed features. Only a 2-D input whose width differs from the
    training features, or a frame with non-numeric columns, is caught.

    Raises
    ------
    ValueError
        With the metadata-routing recipe that transforms ``X_val``.
    """
    width = np.shape(X_val)[1] if np.ndim(X_val) == 2 else n_features
    if width != n_features:
        raise ValueError(
            f"X_val has {width} column(s) but {owner} was fitted on {n_features} "
            f"features. {PIPELINE_HINT}"
        )
    check_numeric_frame(X_val, owner, "X_val", hint=PIPELINE_HINT)


def device_available(device):
    """Whether torch can place tensors on ``device`` (``cuda``, ``mps``...) here."""
    device = torch.device(device)
    if device.type == "cpu":
        return True
    for module in (
        getattr(torch.backends, device.type, None),
        getattr(torch, device.type, None),
    ):
        is_available = getattr(module, "is_available", None)
        if is_available is not None:
            return bool(is_available())
    return False


def check_device(device, owner):
    """A ValueError naming the fix when torch cannot use ``device`` here.

    Torch's own failure comes late and reads ``AssertionError: Torch not
    compiled with CUDA enabled``, from inside training or scoring.
    """
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"{owner}: device={device!r} is not a torch device (e.g. 'cpu', "
            "'cuda', 'cuda:1')."
        ) from error
    if not device_available(device):
        raise ValueError(
            f"{owner}: device={device!r}, but torch sees no {kind} device on "
            f"this machine (torch {torch.__version__}). Use device='cpu', or "
            "install a torch build for the accelerator."
        )


def check_flat_rows(X, owner, name="X"):
    """Reject images given as a (n, C, H, W) or (n, H, W) array, saying how to pass them.

    scikit-learn's own error ("Found array with dim 4, while dim <= 2 is
    required") does not say that image networks take flat rows and reshape
    them with their ``image_shape``.

    Raises
    ------
    ValueError
        If ``X`` has more than 2 dimensions.
    """
    shape = getattr(X, "shape", None)
    if shape is None:  # lists; np.shape would call __array_function__
        try:
            shape = np.asarray(X).shape
        except (ValueError, TypeError):  # ragged: scikit-learn's validation says why
            return
    shape = tuple(shape)
    if len(shape) <= 2:
        return
    image = shape[1:] if len(shape) == 4 else (1, *shape[1:])
    suggestion = (
        " and pass the image shape, (C, H, W) with the channels first, to "
        f"the network: make_net('SmallCNN', image_shape={tuple(image)}) (or "
        "'ResNet20', 'PretrainedBackbone') reshapes each row back into an image"
        if len(shape) in (3, 4)
        else ""
    )
    raise ValueError(
        f"{owner} takes one flat row per sample ({name} of 2 dimensions), but "
        f"{name} has shape {shape}. Flatten the rows with "
        f"{name}.reshape(len({name}), -1){suggestion}."
    )


def check_folder(path, name):
    """``path`` as a string, after checking that it is, or can become, a folder.

    ``os.makedirs`` on a path that is a file raises a bare ``FileExistsError``
    (``NotADirectoryError`` when a file lies higher up the path), from deep
    inside training.

    Parameters
    ----------
    path : str, os.PathLike or None
    name : str
        The parameter's name, for the message.

    Returns
    -------
    path : str or None

    Raises
    ------
    ValueError
        If ``path``, or the nearest part of it that exists, is not a folder.
    """
    if path is None:
        return None
    path = os.fspath(path)
    existing = path
    while existing and not os.path.exists(existing):
        parent = os.path.dirname(existing)
        existing = parent if parent != existing else ""
    if existing and not os.path.isdir(existing):
        where = "" if existing == path else f" (its part {existing!r})"
        raise ValueError(
            f"{name}={path!r}{where} is a file, not a folder: pass a folder "
            "(created if missing)."
        )
    return path
