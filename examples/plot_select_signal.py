"""
=====================================================
Select the best influence signal with a glitch scorer
=====================================================

Which influence signal finds the mislabeled rows of a dataset best, and over
which epochs should it be summed? When a ground truth is at hand, for example
glitches we injected ourselves, scikit-learn's
:class:`~sklearn.model_selection.GridSearchCV` can answer:
:func:`~skinfluence.metrics.make_glitch_scorer` rates each candidate detector
against the ground-truth ``glitch_mask``, which metadata routing hands to the
scorer without ever showing it to ``fit``.

This example injects uniform label noise into scikit-learn's embedded digits,
compares the paper's four signals and three checkpoint windows with a
transductive split (the detector is scored on the very rows it trained on,
which is what data debugging asks), and looks at the rows it flags.
"""

# %%
# Inject label noise
# ------------------
#
# :class:`~skinfluence.glitches.UniformLabelNoise` flips exactly 10 % of the
# labels, each to a different class drawn uniformly. Its fitted
# ``glitch_mask_`` marks the flipped rows and ``true_labels_`` keeps the
# labels before the flip.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import sklearn
from sklearn.datasets import load_digits
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skinfluence import InfluenceGlitchDetector
from skinfluence.glitches import UniformLabelNoise
from skinfluence.metrics import f1_at_k, make_glitch_scorer
from skinfluence.models import make_net

X, y = load_digits(return_X_y=True)
X, y = X[:500], y[:500]
noise = UniformLabelNoise(ratio=0.1, random_state=0)
X_noisy, y_noisy = noise.fit_resample(X, y)
glitch_mask = noise.glitch_mask_
print(f"{glitch_mask.sum()} of {len(y_noisy)} labels flipped")

# %%
# One detector
# ------------
#
# The detector trains a small MLP once (plain SGD, five epochs), keeps what
# every epoch looked like, and ranks the training rows by self-influence.
# ``glitch_scores_`` is oriented like the metrics expect: the higher, the more
# suspicious. :func:`~skinfluence.metrics.f1_at_k` flags as many rows as there
# are glitches; scikit-learn's ranking metrics take the same inputs.
net = make_net("MLP", max_epochs=5, lr=0.5, hidden_sizes=(32,))
detector = make_pipeline(StandardScaler(), InfluenceGlitchDetector(net, random_state=0))
detector.fit(X_noisy, y_noisy)
scores = detector[-1].glitch_scores_
print(f"F1 at k:           {f1_at_k(glitch_mask, scores):.3f}")
print(f"ROC AUC:           {roc_auc_score(glitch_mask, scores):.3f}")
print(f"average precision: {average_precision_score(glitch_mask, scores):.3f}")

# %%
# Search the signal and the checkpoints
# -------------------------------------
#
# With metadata routing enabled, ``fit(..., glitch_mask=...)`` routes the mask
# to the scorer, which requests it. The scorer works on a Pipeline too: it
# transforms ``X`` through the first steps and asks the detector for its
# scores. A single split ``(all rows, all rows)`` scores the detector on its
# own training rows (``glitch_scores_``, the default ``novelty=False``); a
# k-fold split would instead measure how well a signal ranks unseen rows, with
# ``novelty=True`` and ``score_samples(X, y)``.
rows = np.arange(len(y_noisy))
grid = {
    "influenceglitchdetector__signal": ["self", "marginal", "absolute", "gd_class"],
    "influenceglitchdetector__checkpoints": ["all", "early", "late"],
}
with sklearn.config_context(enable_metadata_routing=True):
    search = GridSearchCV(
        detector,
        grid,
        scoring={
            "f1_at_k": make_glitch_scorer(),
            "roc_auc": make_glitch_scorer("roc_auc"),
        },
        refit="f1_at_k",
        cv=[(rows, rows)],
    )
    search.fit(X_noisy, y_noisy, glitch_mask=glitch_mask)

results = pd.DataFrame(search.cv_results_["params"]).rename(
    columns=lambda c: c.split("__")[1]
)
results["F1 at k"] = search.cv_results_["mean_test_f1_at_k"]
results["ROC AUC"] = search.cv_results_["mean_test_roc_auc"]
print(results.sort_values("F1 at k", ascending=False).round(3).to_string(index=False))
print("best:", search.best_params_)

# %%
# The table as a figure: one group of bars per signal, one bar per window.
table = results.pivot(index="signal", columns="checkpoints", values="F1 at k")
ax = table[["early", "late", "all"]].plot.bar(rot=0, figsize=(7, 3.5))
ax.legend(title="checkpoints", loc="upper left", bbox_to_anchor=(1, 1))
ax.set_ylabel("F1 at k")
ax.set_ylim(0, 1)
ax.set_title("Finding 10 % flipped digit labels")
plt.tight_layout()

# %%
# Look at the flagged rows
# ------------------------
#
# ``best_estimator_`` was refit on all rows with the best settings. Its most
# suspicious rows are drawn with their given label and, from the injector's
# ground truth, their true label (red when the two differ).
best = search.best_estimator_[-1]
top = np.argsort(-best.glitch_scores_)[:12]
fig, axes = plt.subplots(2, 6, figsize=(7, 4))
for ax, row in zip(axes.ravel(), top):
    ax.imshow(X_noisy[row].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)  # raw 0-16
    wrong = y_noisy[row] != noise.true_labels_[row]
    ax.set_title(
        f"given {y_noisy[row]}\ntrue {noise.true_labels_[row]}",
        fontsize=8,
        color="tab:red" if wrong else "black",
    )
    ax.axis("off")
fig.suptitle("The 12 most suspicious training rows")
plt.tight_layout()
plt.show()
