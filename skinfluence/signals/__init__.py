"""Influence signals: a registry of named, oriented reductions of TracIn.

Every signal is a pure function of the captured epochs returning scores
oriented so that higher = more suspicious. :func:`available` lists them.
"""

from . import _influence_sums  # noqa: F401  (registers the paper's four signals first)

# isort: split
from . import (
    _auto,  # noqa: F401
    _baselines,  # noqa: F401
    _counterfactual,  # noqa: F401
    _dynamics,  # noqa: F401
    _isolation,  # noqa: F401
    _neighbor_influence,  # noqa: F401
)
from ._auto import calibrate
from ._base import Signal, SignalContext, SignalResult, available, get_signal, register

# isort: split
from ._cleanlab_regression import cleanlab_regression_scores
from ._regression import (
    RegressionContext,
    available_regression_signals,
    get_regression_signal,
    register_regression_signal,
)

__all__ = [
    "RegressionContext",
    "Signal",
    "SignalContext",
    "SignalResult",
    "available",
    "available_regression_signals",
    "calibrate",
    "cleanlab_regression_scores",
    "get_regression_signal",
    "get_signal",
    "register",
    "register_regression_signal",
]
