"""The private scikit-learn names skinfluence uses, imported in this module only.

Parameter validation (``_param_validation``), ``_fit_context`` and
``_num_samples`` are scikit-learn internals that its own estimators and
scikit-learn-contrib projects use, but that may move between releases. Every
skinfluence module imports them from here, so that a change in scikit-learn
is fixed in one place. ``tests/test_sklearn_compat.py`` checks that the
installed scikit-learn lies within the tested range below and that the lower
bound is the one ``pyproject.toml`` declares.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import _num_samples

__all__ = [
    "SKLEARN_MIN_VERSION",
    "SKLEARN_TESTED_BELOW",
    "HasMethods",
    "Hidden",
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "_fit_context",
    "_num_samples",
    "validate_params",
]

#: The oldest scikit-learn supported (``pyproject.toml``'s lower bound).
SKLEARN_MIN_VERSION = "1.6"
#: The first scikit-learn release not yet tested against these internals.
SKLEARN_TESTED_BELOW = "1.10"
