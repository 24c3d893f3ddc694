"""skinfluence: debug training data with influence signals.

The main entry point is :class:`InfluenceGlitchDetector`, a scikit-learn
outlier detector that trains a skorch network once, captures every epoch and
ranks the training rows with TracIn influence signals.
"""

from .detector import InfluenceGlitchDetector
from .regressor import InfluenceGlitchRegressor

__version__ = "0.1.0.dev0"

__all__ = ["InfluenceGlitchDetector", "InfluenceGlitchRegressor", "__version__"]
