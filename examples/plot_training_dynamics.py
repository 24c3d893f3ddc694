"""
=============================================
Training dynamics: early and late checkpoints
=============================================

TracIn sums over the checkpoints of one training run, and the checkpoints do
not all say the same thing. Early on, the network learns what the rows have
in common and mislabeled rows stand out with large gradients. Given enough
capacity and epochs it then *memorises* them: their loss, and with it their
self-influence, collapses, and late checkpoints lose track of them.

The detector keeps the signal of every epoch in ``epoch_scores_``, and its
``checkpoints`` parameter selects the epochs the signal sums over. This
example trains a wide network long enough to memorise 10 % flipped labels
and follows the detection quality epoch by epoch.
"""

# %%
# A network that memorises
# ------------------------
#
# 400 digits with 10 % of their labels flipped, and a two-layer MLP of
# width 256 trained with a large step for 90 epochs: enough to fit the
# flipped labels too. ``make_net`` builds the skorch template (plain SGD, as
# TracIn assumes).
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skinfluence import InfluenceGlitchDetector
from skinfluence.glitches import UniformLabelNoise
from skinfluence.metrics import f1_at_k
from skinfluence.models import make_net

X, y = load_digits(return_X_y=True)
noise = UniformLabelNoise(ratio=0.1, random_state=0)
X, y_noisy = noise.fit_resample(X[:400] / 16.0, y[:400])
mask = noise.glitch_mask_

net = make_net("MLP", hidden_sizes=(256, 256), lr=0.3, batch_size=16, max_epochs=90)
detector = InfluenceGlitchDetector(net, signal="self", random_state=0)
detector.fit(X, y_noisy)
n_epochs = detector.epoch_scores_.shape[1]

# %%
# Detection quality epoch by epoch
# --------------------------------
#
# Column ``t`` of ``epoch_scores_`` is self-influence at epoch ``t`` alone.
# Its F1 at ``k`` says how well that single checkpoint finds the flipped
# rows. The captured softmax outputs (``trajectory_.train.p``, one array per
# epoch) say which rows the network fits to their *given* label: the clean
# rows early, the flipped rows only once it memorises them.
f1_per_epoch = [f1_at_k(mask, detector.epoch_scores_[:, t]) for t in range(n_epochs)]
predicted = detector.trajectory_.train.p.argmax(2).numpy()  # (n_epochs, n_rows)
fits_label = predicted == detector.classes_.searchsorted(y_noisy)
epochs = np.arange(1, n_epochs + 1)

fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
ax.plot(
    epochs, f1_per_epoch, color="C0", label="F1 at k of that epoch's self-influence"
)
ax.plot(epochs, fits_label[:, ~mask].mean(1), color="C2", label="clean rows fitted")
ax.plot(epochs, fits_label[:, mask].mean(1), color="C3", label="flipped rows fitted")
third = -(-n_epochs // 3)
ax.axvspan(1, third, color="C0", alpha=0.08)
ax.axvspan(n_epochs - third + 1, n_epochs, color="C3", alpha=0.08)
ax.text(third / 2, 0.03, '"early"', ha="center")
ax.text(n_epochs - third / 2, 0.03, '"late"', ha="center")
ax.set_xlabel("epoch")
ax.set_ylim(0, 1.02)
fig.legend(loc="outside lower center", ncols=3, fontsize=8)
ax.set_title("Memorising the flipped labels blinds late checkpoints")

# %%
# Early, late or all checkpoints
# ------------------------------
#
# ``checkpoints="early"`` sums the first third of the epochs, ``"late"`` the
# last third, ``"all"`` every epoch (TracInCP); an int, a list or a slice
# picks epochs explicitly (``-1`` is the final network alone). It is a
# parameter of the detector, which sets ``glitch_scores_``, ``predict`` and
# what a grid search tunes; to compare selections on one fitted detector,
# :meth:`~skinfluence.InfluenceGlitchDetector.compute_signal` takes it too,
# without retraining.
results = {}
for window in ["early", "late", "all"]:
    scores = detector.compute_signal("self", checkpoints=window).scores
    results[window] = f1_at_k(mask, scores)
    print(f"checkpoints={window!r:8} F1 at k = {results[window]:.3f}")

late = InfluenceGlitchDetector(net, checkpoints="late", random_state=0).fit(X, y_noisy)
print("late epochs:", late.epochs_.min(), "to", late.epochs_.max())
print(
    "same scores:",
    np.allclose(
        late.glitch_scores_, detector.compute_signal("self", checkpoints="late").scores
    ),
)

fig, ax = plt.subplots(figsize=(4.5, 3))
ax.bar(list(results), list(results.values()), color=["C0", "C3", "0.5"])
ax.set_ylim(0, 1)
ax.set_ylabel("F1 at k")
ax.set_title("Self-influence by checkpoint window")
fig.tight_layout()

# %%
# Self-influence is linear in the influence, so a window's score is simply
# the sum of the window's columns of ``epoch_scores_``. Signals with a
# non-linear reduction (``"absolute"``, ``"gd_class"``) are computed on the
# summed influence instead, so for them the window has to be chosen before
# the reduction, which is what ``checkpoints`` does. Being an ordinary
# parameter, ``GridSearchCV`` can tune it together with the signal (see
# :doc:`plot_select_signal`).
late_sum = detector.epoch_scores_[:, late.epochs_].sum(1)
print("late score = sum of late columns:", np.allclose(late_sum, late.glitch_scores_))
plt.show()
