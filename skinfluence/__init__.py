"""skinfluence: debug training data with influence signals.

The main entry point is :class:`InfluenceGlitchDetector`, a scikit-learn
outlier detector that trains a skorch network once, captures every epoch and
ranks the training rows with TracIn influence signals. :func:`audit` runs it
on a pandas table and returns an :class:`AuditReport`; :func:`find_glitches`
is the one-line function on arrays.

The names are loaded on first use, so that ``import skinfluence`` (and the
``skinfluence --help`` of the console script) does not import torch.
"""

import importlib

__version__ = "0.1.0.dev0"

# public name -> the module defining it
_LAZY = {
    "InfluenceGlitchDetector": ".detector",
    "InfluenceGlitchRegressor": ".regressor",
    "AuditReport": ".auditing",
    "audit": ".auditing",
    "find_glitches": ".auditing",
}

__all__ = [
    "AuditReport",
    "InfluenceGlitchDetector",
    "InfluenceGlitchRegressor",
    "__version__",
    "audit",
    "find_glitches",
]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
