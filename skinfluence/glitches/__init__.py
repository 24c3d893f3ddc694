"""Glitch injectors: samplers that return a glitched copy of ``(X, y)``.

Each injector is a scikit-learn estimator in imbalanced-learn's sampler
style: ``fit_resample(X, y)`` returns new ``(X, y)``, the fitted
``glitch_mask_`` marks the glitched output rows and, for label noise,
``true_labels_`` keeps the labels before the flip (for target noise on a
regression target, ``true_targets_`` the targets before the corruption). Inputs are never
modified; NumPy in gives NumPy out, pandas in gives pandas out.
"""

from ._anomalies import ForeignClusterAnomalies, RareClassAnomalies
from ._base import BaseGlitchInjector
from ._corruption import FeatureCorruption
from ._label_noise import ClassDependentLabelNoise, UniformLabelNoise
from ._mixture import GlitchMixture
from ._target_noise import LargeTargetErrors, SwappedTargets, TargetOffset

__all__ = [
    "BaseGlitchInjector",
    "ClassDependentLabelNoise",
    "FeatureCorruption",
    "ForeignClusterAnomalies",
    "GlitchMixture",
    "LargeTargetErrors",
    "RareClassAnomalies",
    "SwappedTargets",
    "TargetOffset",
    "UniformLabelNoise",
]
