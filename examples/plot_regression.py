"""
==========================================================
Find corrupted regression targets with influence signals
==========================================================

Regression data has its own glitches: a target typed with a wrong digit, a
measurement in the wrong unit, a sensor reading that spiked. The
classifier's label-noise signals do not apply, but TracIn keeps its closed
form: for a squared error the last-layer gradient of a row is its residual
``r = prediction - target`` times its penultimate activations ``[h, 1]``.

This example corrupts 10 % of the targets of scikit-learn's diabetes data,
ranks the training rows with
:class:`~skinfluence.InfluenceGlitchRegressor`, compares a few signals with
cleanlab's regression label quality on cross-validated predictions, and
repairs the flagged rows with the targets
:meth:`~skinfluence.InfluenceGlitchRegressor.diagnose` suggests.
"""

# %%
# Corrupted targets
# -----------------
#
# A clean fifth of the rows is kept aside as a trusted reference
# (``X_val``). Into the other rows,
# :class:`~skinfluence.glitches.LargeTargetErrors` adds errors of 1 to 3
# standard deviations of the target, with a random sign, to 10 % of the
# rows; ``glitch_mask_`` records which.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skinfluence import InfluenceGlitchRegressor
from skinfluence.glitches import LargeTargetErrors
from skinfluence.metrics import f1_at_k
from skinfluence.models import make_net
from skinfluence.signals import cleanlab_regression_scores

X, y = load_diabetes(return_X_y=True)
X = StandardScaler().fit_transform(X).astype(np.float32)
X_train, X_val, y_true, y_val = train_test_split(X, y, test_size=0.2, random_state=0)
noise = LargeTargetErrors(0.1, random_state=0)
X_train, y_noisy = noise.fit_resample(X_train, y_true)
mask = noise.glitch_mask_
print(f"{mask.sum()} corrupted targets among {len(y_noisy)} training rows")

# %%
# One training run, every signal
# ------------------------------
#
# The regressor trains a small MLP (``make_net(task="regression")``: a skorch
# ``NeuralNetRegressor`` with ``MSELoss`` and plain SGD) once on
# standardised targets and captures every epoch. The default signal,
# ``"auto"``, is the calibrated maximum of self-influence and the mean
# training loss, handed to the rows in the order of ``self_excess`` and the
# loss together (as many rows above 1, fewer clean rows of large leverage
# among them). Any other regression signal is read from the same epochs
# with :meth:`~skinfluence.InfluenceGlitchRegressor.compute_signal`.
net = make_net("MLP", task="regression", max_epochs=30)
det = InfluenceGlitchRegressor(net, random_state=0)
det.fit(X_train, y_noisy, X_val=X_val, y_val=y_val)

scores = {
    name: det.compute_signal(name).scores
    for name in (
        "auto",
        "self",
        "self_rank",
        "self_excess",
        "absolute",
        "loss",
        "residual",
        "neighbor_influence",
    )
}

# %%
# The baseline: cleanlab's label quality on out-of-fold predictions of the
# same network (5-fold cross-validation, five more trainings).
scores["cleanlab (5-fold)"] = cleanlab_regression_scores(
    X_train, y_noisy, cv=5, random_state=0
)
f1 = {name: f1_at_k(mask, s) for name, s in scores.items()}
for name, value in sorted(f1.items(), key=lambda item: -item[1]):
    print(f"{name:>20}: F1 at k = {value:.2f}")

# %%
# Among the residual-based scores, the plain in-sample residual of the
# trained network is the weakest: the network has partly memorised the
# corrupted targets by the last epoch.
# Self-influence and the mean loss read the residual over *all* epochs,
# before memorisation; ``self_rank`` ranks self-influence among the rows at
# each epoch, so that a clean row of large leverage cannot carry the sum
# with a few extreme epochs; ``self_excess`` ranks what a step on the row
# teaches only itself: its self-influence less its mean influence on the
# nearest rows of the trusted ``X_val``, which a corrupted target harms.
# The neighbour-influence balance, so strong on label
# noise, carries little signal here (a clean neighbour's residual sign is
# mostly its own noise). One split of one dataset is noisy: see
# :ref:`regression` for the benchmark over three datasets and seeds.
fig, ax = plt.subplots(figsize=(6, 3.2))
names = sorted(f1, key=f1.get)
ax.barh(names, [f1[n] for n in names], color="#4c72b0")
ax.set_xlabel("F1 at k (k = number of corrupted targets)")
ax.set_xlim(0, 1)
fig.tight_layout()

# %%
# Diagnose and repair
# -------------------
#
# :meth:`~skinfluence.InfluenceGlitchRegressor.diagnose` flags rows whose
# calibrated ``auto`` score exceeds 1 (the exponential bulk's 99th
# percentile) and whose loss stands out of their neighbourhood (a clean row
# in a region the network fits badly does not), types
# them, and for ``"corrupted_target"`` rows suggests the median target of
# their 10 nearest reference rows in the network's representation, with a
# 90 % split-conformal interval.
report = det.diagnose()
flagged = report[report["flagged"]]
print(flagged["glitch_type"].value_counts())
fixed = flagged[flagged["glitch_type"] == "corrupted_target"]
rows = fixed.index.to_numpy()
truly = mask[rows]
print(f"{truly.mean():.0%} of the rows typed corrupted_target really are")
closer = np.abs(fixed["suggested_target"] - y_true[rows]) < np.abs(
    y_noisy[rows] - y_true[rows]
)
print(f"suggestion closer to the truth on {closer[truly].mean():.0%} of them")
inside = (fixed["target_low"] <= y_true[rows]) & (y_true[rows] <= fixed["target_high"])
print(f"true target inside the 90 % interval on {inside[truly].mean():.0%}")

# %%
# On the corrupted rows the network flagged, the suggested targets land far
# closer to the truth than the corrupted values:
fig, ax = plt.subplots(figsize=(5, 4))
hit = rows[truly]
ax.scatter(y_true[hit], y_noisy[hit], label="corrupted target", marker="x")
ax.errorbar(
    y_true[hit],
    fixed.loc[hit, "suggested_target"],
    yerr=(fixed.loc[hit, "target_high"] - fixed.loc[hit, "target_low"]) / 2,
    fmt="o",
    alpha=0.7,
    label="suggested target (90 % interval)",
)
low, high = y.min(), y.max()
ax.plot([low, high], [low, high], color="grey", lw=1)
ax.set_xlabel("true target")
ax.set_ylabel("target")
ax.legend(loc="upper left", fontsize=8)
fig.tight_layout()

# %%
# One line on arrays
# ------------------
#
# :func:`~skinfluence.find_glitches` runs the same estimator in one call: a
# target with fractional values trains the regressor, and the default
# ``kind="label"`` returns the mask of the rows typed
# ``"corrupted_target"`` (integer targets stay class labels unless
# ``task="regression"``).
from skinfluence import find_glitches

found = find_glitches(
    X_train,
    y_noisy,
    X_val=X_val,
    y_val=y_val,
    estimator=make_net("MLP", task="regression", max_epochs=30),
    random_state=0,
)
print(f"{found.sum()} rows found, {mask[found].mean():.0%} of them corrupted")
