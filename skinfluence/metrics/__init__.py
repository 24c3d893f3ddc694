"""Metrics for glitch detection, on ``(glitch_mask, scores)``.

Scores are oriented so that higher means more suspicious. scikit-learn's
``roc_auc_score`` and ``average_precision_score`` take the same inputs.
"""

from ._ranking import f1_at_k, precision_at_k, recall_at_k, relabel_accuracy
from ._scorer import make_glitch_scorer

__all__ = [
    "f1_at_k",
    "make_glitch_scorer",
    "precision_at_k",
    "recall_at_k",
    "relabel_accuracy",
]
