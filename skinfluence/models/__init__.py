"""Neural network modules returning logits, and skorch template builders.

Every module takes flat float32 rows ``(n, n_features)``, returns logits
``(n, n_classes)`` and names its final ``torch.nn.Linear`` in the class
attribute ``last_layer``, the layer last-layer TracIn is computed on.
"""

from ._factory import MODEL_DEFAULTS, make_net, small_table_batch
from ._finetune import PretrainedBackbone
from ._image import ResNet20, SmallCNN
from ._mlp import MLP
from ._tabular import FTTransformer, TabularResNet

__all__ = [
    "FTTransformer",
    "MLP",
    "MODEL_DEFAULTS",
    "PretrainedBackbone",
    "ResNet20",
    "SmallCNN",
    "TabularResNet",
    "make_net",
    "small_table_batch",
]
