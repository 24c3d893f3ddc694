"""
======================================================
Audit a pandas table: a ColumnTransformer and a CSV
======================================================

Most tables mix numbers and categories, have holes and an id column. This
example audits one three ways, from the most control to the least typing:

1. your own scikit-learn preprocessing (a
   :class:`~sklearn.compose.ColumnTransformer`) followed by the detector,
   :class:`~skinfluence.InfluenceGlitchDetector`, or by the one-line
   :func:`~skinfluence.find_glitches`;
2. :func:`skinfluence.audit`, which does the preprocessing for you;
3. a round trip through a CSV file and the ``skinfluence audit`` command,
   joining its ``report.csv`` back to the table to repair it.
"""

# %%
# A messy table
# -------------
#
# scikit-learn's breast cancer table (569 tumours, 30 numeric measurements)
# with what real exports add: a patient id, a categorical ``clinic`` column,
# missing cells, and 5 % of the diagnoses flipped.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.datasets import load_breast_cancer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import skinfluence
from skinfluence import InfluenceGlitchDetector, find_glitches

data = load_breast_cancer(as_frame=True)
frame = data.frame.rename(columns={"target": "diagnosis"})
truth = data.target_names[frame["diagnosis"]]
rng = np.random.default_rng(0)
frame["diagnosis"] = truth
frame.insert(0, "patient", [f"P-{i:05d}" for i in range(len(frame))])
frame["clinic"] = rng.choice(["north", "south", "east", "west"], len(frame))
for column in ("mean radius", "worst texture", "clinic"):
    frame.loc[rng.random(len(frame)) < 0.04, column] = np.nan
flipped = np.sort(rng.choice(len(frame), len(frame) // 20, replace=False))
frame.loc[flipped, "diagnosis"] = np.where(
    truth[flipped] == "malignant", "benign", "malignant"
)
print(
    f"{len(frame)} rows, {frame.isna().sum().sum()} missing cells, "
    f"{len(flipped)} flipped diagnoses"
)
frame.iloc[:5, [0, 1, 2, -2, -1]]

# %%
# 1. Your own preprocessing, then the detector
# --------------------------------------------
#
# The detector takes numbers, so encode the table first. Any scikit-learn
# transformer does; here the numeric columns are imputed and standardised
# and ``clinic`` is one-hot encoded. The id is no feature.
preprocess = ColumnTransformer(
    [
        (
            "numbers",
            make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
            make_column_selector(dtype_include="number"),
        ),
        (
            "categories",
            make_pipeline(
                SimpleImputer(strategy="most_frequent"),
                OneHotEncoder(handle_unknown="ignore"),
            ),
            ["clinic"],
        ),
    ],
    sparse_threshold=0.0,
)
X = preprocess.fit_transform(frame.drop(columns=["patient", "diagnosis"]))
y = frame["diagnosis"].to_numpy()
X.shape

# %%
# The one-liner, like cleanlab's ``find_label_issues``: a boolean mask of the
# rows whose label looks wrong.
mask = find_glitches(X, y, random_state=0)
print(
    f"{mask.sum()} rows found, {np.isin(np.flatnonzero(mask), flipped).sum()} "
    f"of them flipped"
)

# %%
# The default threshold (``contamination="auto"``, a threshold per glitch
# family) catches nearly every flipped row, with some clean rows among them.
# The *ranking* carries more than the flags: ``return_="ranked"`` lists the
# rows most suspicious first, and a reviewer with time for 28 rows finds
# mostly flipped ones at the top of that list.
ranked = find_glitches(X, y, return_="ranked", random_state=0)
top = ranked[: len(flipped)]
print(f"top {len(top)}: {np.isin(top, flipped).sum()} flipped")

# %%
# The same with the estimator, which keeps everything it computed:
# :meth:`~skinfluence.InfluenceGlitchDetector.diagnose` gives one row per
# training row, with a type and a suggested label; the detector can also
# score new rows, compare signals without retraining, or sit in a
# :class:`~sklearn.pipeline.Pipeline` after the preprocessing.
detector = InfluenceGlitchDetector(signal="auto", random_state=0).fit(X, y)
diagnosis = detector.diagnose()
same = diagnosis["flagged"] & (diagnosis["glitch_type"] == "mislabeled")
print("same rows as find_glitches:", bool((same.to_numpy() == mask).all()))
diagnosis[same].sort_values("glitch_score", ascending=False).head()

# %%
# 2. Or let :func:`skinfluence.audit` preprocess
# ----------------------------------------------
#
# :func:`skinfluence.audit` does the imputation and encoding itself, keeps
# ``patient`` out of the features and in the report, checks duplicates and
# missing cells, and says what it did in its summary.
report = skinfluence.audit(frame, "diagnosis", id_column="patient", random_state=0)
print("\n".join(report.summary().splitlines()[:8]))

# %%
found = report.issues("mislabeled")
print(
    f"{len(found)} rows typed mislabeled, "
    f"{np.isin(found.index, flipped).sum()} of them flipped"
)
fig = report.plot()

# %%
# 3. A CSV round trip
# -------------------
#
# Export the table, audit the file with the command line, and read the
# report back. This time ``--contamination 0.05`` flags the 5 % of the rows
# we are ready to review, instead of the default threshold. ``row`` in
# ``report.csv`` is the row's position in the file's data rows: the index of
# the frame the file was written from, so the report
# joins back onto it.
import tempfile
from pathlib import Path

from skinfluence.cli import main

folder = Path(tempfile.mkdtemp())
frame.to_csv(folder / "tumours.csv", index=False)
main(
    [
        "audit",
        str(folder / "tumours.csv"),
        "--target",
        "diagnosis",
        "--id",
        "patient",
        "--contamination",
        "0.05",
        "--out",
        str(folder / "audit"),
        "--quiet",
    ]
)
audited = pd.read_csv(folder / "audit" / "report.csv", index_col="row")
reviewed = frame.join(audited[["glitch_type", "suggested_label", "confidence"]])
reviewed.loc[
    reviewed["glitch_type"] == "mislabeled",
    ["patient", "diagnosis", "suggested_label", "confidence"],
].head()

# %%
# Repair: take the suggested diagnosis of the rows typed mislabeled (a
# reviewer would check them first, most confident first), and write the
# repaired table.
repaired = frame.copy()
relabel = (reviewed["glitch_type"] == "mislabeled").to_numpy()
repaired.loc[relabel, "diagnosis"] = reviewed.loc[relabel, "suggested_label"]
repaired.to_csv(folder / "tumours_repaired.csv", index=False)
before = (frame["diagnosis"].to_numpy() != truth).sum()
after = (pd.read_csv(folder / "tumours_repaired.csv")["diagnosis"] != truth).sum()
print(f"wrong diagnoses: {before} before, {after} after the repair")

# %%
counts = pd.Series({"before": before, "after": after})
fig, ax = plt.subplots(figsize=(3.5, 2.5), layout="constrained")
ax.bar(counts.index, counts.to_numpy(), color=["tab:red", "tab:green"])
ax.set_ylabel("wrong diagnoses")
ax.set_title("The table, repaired from report.csv", fontsize=10)
plt.show()
