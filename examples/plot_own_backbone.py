"""
================================
Use your own pretrained backbone
================================

With a pretrained network — a torchvision or timm model, an encoder trained
on your own data — the usual way to learn a new task is to freeze the
backbone and fine-tune a new linear head on its features. That is also the
setting in which last-layer TracIn is exact for everything that is trained.
:class:`~skinfluence.models.PretrainedBackbone` wraps any
``torch.nn.Module`` that maps a batch to features, adds the head, and keeps
the backbone frozen *and in evaluation mode* while the head trains.

No pretrained weights are downloaded here: a small convolutional backbone is
randomly initialised and pretrained for a few seconds on clean digits,
standing in for the model you would load.
"""

# %%
# A backbone, pretrained on other data
# ------------------------------------
#
# The digits are split in two: 700 clean rows to pretrain the backbone (your
# "upstream" data), and the rest as the new dataset to debug. The backbone
# maps a batch of ``1 x 8 x 8`` images to 64 features; a temporary linear
# layer on top is trained with skorch, then thrown away, as you would drop a
# pretrained classifier (``model.fc = nn.Identity()``).
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier
from torch import nn

from skinfluence import InfluenceGlitchDetector
from skinfluence.glitches import UniformLabelNoise
from skinfluence.metrics import f1_at_k
from skinfluence.models import make_net

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
X_up, X_task, y_up, y_task = train_test_split(
    X, y, train_size=700, stratify=y, random_state=0
)


def make_backbone():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),  # 16 channels x 2 x 2 = 64 features
    )


backbone = make_backbone()
pretraining = NeuralNetClassifier(
    nn.Sequential(backbone, nn.Linear(64, 10)),
    criterion=nn.CrossEntropyLoss,
    optimizer=torch.optim.Adam,
    lr=0.01,
    max_epochs=15,
    train_split=None,
    verbose=0,
)
pretraining.fit(X_up, y_up)  # trains `backbone` in place
print(f"upstream accuracy: {pretraining.score(X_up, y_up):.3f}")

# %%
# Fine-tune a new head and detect mislabeled rows
# -----------------------------------------------
#
# 10 % of the new dataset's labels are flipped. ``make_net("PretrainedBackbone",
# backbone=...)`` builds the skorch template: plain SGD on the head only
# (``freeze=True``), the head's size taken from the data by the detector.
# ``image_shape`` is not needed here because the backbone unflattens the rows
# itself; pass it when yours expects images.
noise = UniformLabelNoise(0.1, random_state=0)
X_noisy, y_noisy = noise.fit_resample(X_task, y_task)
mask = noise.glitch_mask_

net = make_net(
    "PretrainedBackbone", backbone=backbone, max_epochs=10, lr=0.1, batch_size=32
)
detector = InfluenceGlitchDetector(net, signal="self", random_state=0)
detector.fit(X_noisy, y_noisy)
print(f"pretrained backbone: F1 at k = {f1_at_k(mask, detector.glitch_scores_):.3f}")

# %%
# The detector clones its template before fitting, so the module you passed
# is left as it was; and the fitted copy's backbone was frozen: its weights
# and its batch-norm statistics are still the pretrained ones. Only the head
# moved, which is exactly what last-layer TracIn accounts for.
fitted = detector.estimator_.module_
same_weights = all(
    torch.equal(a, b)
    for a, b in zip(
        backbone.state_dict().values(), fitted.backbone.state_dict().values()
    )
)
print("backbone weights and batch-norm statistics unchanged:", same_weights)
print(
    "trained parameters:", [n for n, p in fitted.named_parameters() if p.requires_grad]
)

# %%
# What the pretraining buys
# -------------------------
#
# The same head on the same architecture left at its random initialisation.
# A linear head on these random features cannot separate the digits, so the
# clean rows keep large residuals too and self-influence ranks the flipped
# rows no better than chance. Influence signals are only as good as the
# features the head sees.
random_net = make_net(
    "PretrainedBackbone", backbone=make_backbone(), max_epochs=10, lr=0.1, batch_size=32
)
random_detector = InfluenceGlitchDetector(random_net, signal="self", random_state=0)
random_detector.fit(X_noisy, y_noisy)

results = {
    "random backbone": f1_at_k(mask, random_detector.glitch_scores_),
    "pretrained backbone": f1_at_k(mask, detector.glitch_scores_),
}
for name, f1 in results.items():
    print(f"{name:>20}: F1 at k = {f1:.3f}")

fig, ax = plt.subplots(figsize=(5, 2.6))
ax.barh(list(results), list(results.values()), color=["0.6", "C0"])
ax.set_xlim(0, 1)
ax.set_xlabel("F1 at k (10 % flipped labels)")
ax.set_title("Self-influence of a head fine-tuned on frozen features")
fig.tight_layout()

# %%
# With a real model
# -----------------
#
# The same three lines work with a model you load. For a torchvision ResNet,
# replace its classifier and give the image shape of the flat rows, plus a
# ``transform`` if it expects another resolution or three channels:
#
# .. code-block:: python
#
#    from torchvision.models import resnet18
#
#    model = resnet18(weights="IMAGENET1K_V1")
#    model.fc = nn.Identity()
#    net = make_net("PretrainedBackbone", backbone=model, image_shape=(3, 32, 32))
#    detector = InfluenceGlitchDetector(net, signal="gd_class").fit(X, y, X_val, y_val)
plt.show()
