"""TracIn machinery: capture during training, last-layer closed forms (classification
and regression), Captum bridge."""

from ._capture import EpochSampler, TracInCapture
from ._closed_form import (
    class_moments,
    class_sums,
    errors,
    influence_block,
    self_influence,
)
from ._gradients import layer_parameter_names, per_sample_gradients
from ._regression import REGRESSION_LOSSES, regression_errors, regression_loss
from ._replay import find_last_layer, replay_factors
from ._trajectory import Factors, Trajectory

__all__ = [
    "EpochSampler",
    "Factors",
    "TracInCapture",
    "Trajectory",
    "class_moments",
    "class_sums",
    "errors",
    "find_last_layer",
    "influence_block",
    "layer_parameter_names",
    "per_sample_gradients",
    "REGRESSION_LOSSES",
    "regression_errors",
    "regression_loss",
    "replay_factors",
    "self_influence",
]
