"""
==========================================
Detect mislabeled rows with self-influence
==========================================

A first look at :class:`~skinfluence.InfluenceGlitchDetector`: flip 10 % of
the labels of scikit-learn's embedded digits, train a small network once,
and rank the training rows by self-influence, the learning-rate weighted
squared gradient norm that TracIn gives each row over training. Mislabeled
rows keep a large gradient because their label disagrees with the rows that
look like them, so they rise to the top of the ranking.
"""

# %%
# Inject label noise
# ------------------
#
# :class:`~skinfluence.glitches.UniformLabelNoise` flips exactly 10 % of the
# labels, each to a different class drawn uniformly. ``glitch_mask_`` marks
# the flipped rows and ``true_labels_`` keeps the labels before the flip: the
# ground truth we evaluate against. Pixels are scaled to ``[0, 1]``.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import average_precision_score, roc_auc_score

from skinfluence import InfluenceGlitchDetector
from skinfluence.glitches import UniformLabelNoise
from skinfluence.metrics import f1_at_k, precision_at_k, relabel_accuracy

X, y = load_digits(return_X_y=True)
X = X / 16.0
noise = UniformLabelNoise(ratio=0.1, random_state=0)
X, y_noisy = noise.fit_resample(X, y)
glitch_mask = noise.glitch_mask_
print(f"{len(y_noisy)} rows, {glitch_mask.sum()} flipped labels")

# %%
# Train once, score every row
# ---------------------------
#
# Without an ``estimator`` the detector trains a default MLP, sized from the
# data, with plain SGD for 20 epochs, and records the last layer's inputs and
# outputs at the end of every epoch. ``glitch_scores_`` holds the signal for
# every training row: the higher, the more suspicious.
detector = InfluenceGlitchDetector(signal="self", random_state=0)
detector.fit(X, y_noisy)
scores = detector.glitch_scores_

# %%
# How good is the ranking?
# ------------------------
#
# The paper's metric is the F1 score at ``k``, the number of true glitches:
# flag the ``k`` highest-scored rows and compare with the ground truth. At
# that ``k`` precision and recall are equal. AUROC and average precision do
# not need ``k``; a random ranking would score 0.1 (the noise rate) for F1 at
# k and average precision, and 0.5 for AUROC.
print(f"F1 at k:           {f1_at_k(glitch_mask, scores):.3f}")
print(f"AUROC:             {roc_auc_score(glitch_mask, scores):.3f}")
print(f"average precision: {average_precision_score(glitch_mask, scores):.3f}")
print(f"precision at 50:   {precision_at_k(glitch_mask, scores, k=50):.3f}")

# %%
# The ranking, row by row
# -----------------------
#
# Left: every training row sorted by decreasing score, flipped rows in red.
# Right: the share of the flipped rows found when inspecting the top of the
# ranking, against inspecting rows in random order.
order = np.argsort(-scores)
found = np.cumsum(glitch_mask[order]) / glitch_mask.sum()
inspected = np.arange(1, len(order) + 1)

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
ranks = np.empty(len(order), dtype=int)
ranks[order] = inspected
for rows, color, label in [
    (~glitch_mask, "0.7", "clean"),
    (glitch_mask, "tab:red", "flipped"),
]:
    left.scatter(ranks[rows], scores[rows], c=color, s=4, label=label)
left.legend(loc="upper right", markerscale=3)
left.set_yscale("log")
left.set_xlabel("rank")
left.set_ylabel("self-influence")
left.set_title("Rows by decreasing score")
right.plot(inspected, found, label="self-influence")
right.plot(inspected, inspected / len(order), "--", color="0.5", label="random order")
right.axvline(glitch_mask.sum(), color="0.3", lw=0.8)
right.annotate(
    "k", (glitch_mask.sum(), 0.02), xytext=(4, 0), textcoords="offset points"
)
right.set_xlabel("rows inspected")
right.set_ylabel("share of flipped rows found")
right.legend(loc="lower right")
fig.tight_layout()

# %%
# The most suspicious rows
# ------------------------
#
# The twelve highest-scored rows, with their given label and, from the
# injector's ground truth, their true label (red when they differ). The
# clean rows among them are usually ambiguous or badly written digits: hard
# rows also keep a large gradient, the main false positives of
# self-influence.
fig, axes = plt.subplots(2, 6, figsize=(8, 3.6))
for ax, row in zip(axes.ravel(), order[:12]):
    ax.imshow(X[row].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    flipped = glitch_mask[row]
    ax.set_title(
        f"given {y_noisy[row]}, true {noise.true_labels_[row]}",
        fontsize=8,
        color="tab:red" if flipped else "black",
    )
    ax.axis("off")
fig.suptitle("The 12 most suspicious training rows")
fig.tight_layout()

# %%
# Flag rows without knowing the noise rate
# ----------------------------------------
#
# On real data ``k`` is unknown. Like scikit-learn's outlier detectors, the
# detector's ``contamination`` sets a threshold: ``"auto"`` flags the rows
# above Tukey's upper fence of the training scores, a float flags that share
# of the rows. ``fit_predict`` returns -1 for a suspect; on the fitted
# detector the same flags are the rows whose normality ``-glitch_scores_``
# falls below ``offset_`` (as ``negative_outlier_factor_ < offset_`` for
# scikit-learn's ``LocalOutlierFactor``).
flagged = -detector.glitch_scores_ < detector.offset_
print(
    f"flagged {flagged.sum()} rows, {glitch_mask[flagged].mean():.0%} of them flipped,"
)
print(f"finding {flagged[glitch_mask].mean():.0%} of the flipped rows")

# %%
# Suggest the right label
# -----------------------
#
# The ``"gd_class"`` signal aggregates a row's influence per class and keeps
# the class it harms most: a mislabeled row harms the rows of its true class.
# That class is a relabel suggestion, ``suggested_labels_``.
gd_class = InfluenceGlitchDetector(signal="gd_class", random_state=0).fit(X, y_noisy)
print(f"gd_class F1 at k: {f1_at_k(glitch_mask, gd_class.glitch_scores_):.3f}")
accuracy = relabel_accuracy(
    noise.true_labels_, gd_class.suggested_labels_, mask=glitch_mask
)
print(f"suggested label = true label on {accuracy:.0%} of the flipped rows")
plt.show()
