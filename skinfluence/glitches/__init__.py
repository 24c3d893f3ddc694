"""Glitch injectors: samplers that return a glitched copy of ``(X, y)``.

Each injector is a scikit-learn estimator in imbalanced-learn's sampler
style: ``fit_resample(X, y)`` returns new ``(X, y)``, the fitted
``glitch_mask_`` marks the glitched output rows and, for label noise,
``true_labels_`` keeps the labels before the flip. Inputs are never
modified; NumPy in gives NumPy out, pandas in gives pandas out.
"""

from ._anomalies import ForeignClusterAnomalies, RareClassAnomalies
from ._base import BaseGlitchInjector
from ._corruption import FeatureCorruption
from ._label_noise import ClassDependentLabelNoise, UniformLabelNoise
from ._mixture import GlitchMixture

__all__ = [
    "BaseGlitchInjector",
    "ClassDependentLabelNoise",
    "FeatureCorruption",
    "ForeignClusterAnomalies",
    "GlitchMixture",
    "RareClassAnomalies",
    "UniformLabelNoise",
]
