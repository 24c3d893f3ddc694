"""
======================================
Quickstart: audit a pandas table
======================================

Five minutes from a table to the rows worth a second look. This page is
run during the documentation build, so every output below is real.

You need a pandas table with one column of class labels. skinfluence trains
a small network on it once, scores every row with influence signals and
reports which rows look mislabeled, anomalous or corrupted, together with
duplicates, rows leaked into a reference set, rare classes and rows with many
missing cells.
"""

# %%
# A table with problems
# ---------------------
#
# scikit-learn's wine table: 178 wines, 13 numeric measurements, the
# cultivar as label. We give it the problems real tables have: eight wrong
# labels, missing cells, an id column and one wine entered twice with two
# different labels.
import numpy as np
import pandas as pd
from sklearn.datasets import load_wine

import skinfluence

wine = load_wine(as_frame=True)
frame = wine.frame.rename(columns={"target": "cultivar"})
frame["cultivar"] = wine.target_names[frame["cultivar"]]
frame.insert(0, "lot", [f"L{i:04d}" for i in range(len(frame))])

rng = np.random.default_rng(0)
flipped = rng.choice(len(frame), 8, replace=False)
names = list(wine.target_names)
frame.loc[flipped, "cultivar"] = [
    names[(names.index(label) + 1) % 3] for label in frame.loc[flipped, "cultivar"]
]
holes = rng.random(frame[["ash", "hue"]].shape) < 0.05
frame[["ash", "hue"]] = frame[["ash", "hue"]].mask(holes)
twin = frame.iloc[[10]].assign(lot="L9999", cultivar="class_2")  # a copy, relabelled
frame = pd.concat([frame, twin], ignore_index=True)
frame.head()

# %%
# Audit it in Python
# ------------------
#
# :func:`skinfluence.audit` takes the frame and the name of the label column.
# It cleans the table (rows without a label dropped, id-like columns kept
# aside, missing cells imputed, categories one-hot encoded, numbers
# standardised), trains once and diagnoses every row.
report = skinfluence.audit(frame, "cultivar", random_state=0)
print(report.summary(top=10))

# %%
# ``report.table`` has one row per row of the frame, **indexed like the
# frame** and sorted most suspicious first: ``glitch_score`` (higher = more
# suspicious), ``flagged``, ``glitch_type``, a ``suggested_label`` for the
# rows typed mislabeled and a ``confidence``, then one score and one ``is_*``
# flag per data issue.
report.table.head(8)

# %%
# ``report.issues(kind)`` lists the rows of one kind. The rows typed
# mislabeled, and how many of them we flipped:
mislabeled = report.issues("mislabeled")
print(f"{np.isin(mislabeled.index, flipped).sum()} of the {len(flipped)} flipped")
mislabeled[["lot", "given_label", "suggested_label", "confidence"]]

# %%
# The wine entered twice with two labels is a *conflicting duplicate*:
report.issues("conflicting_duplicate")[["lot", "given_label", "duplicate_group"]]

# %%
# ``report.plot()`` draws the two axes the types are read from (label
# conflict and isolation, each calibrated and shifted so that 0 is its flag
# threshold) and the distribution of the scores with the threshold.
fig = report.plot()

# %%
# From the command line
# ---------------------
#
# The same audit is one command on a CSV or Parquet file::
#
#     skinfluence audit wine.csv --target cultivar --out audit_out
#
# It prints the summary above and writes ``audit_out/report.csv``,
# ``summary.txt`` and ``report.png``. Here we run it from Python, through the
# console script's ``main``, with ``--quiet`` to keep this page short.
import tempfile
from pathlib import Path

from skinfluence.cli import main

folder = Path(tempfile.mkdtemp())
frame.to_csv(folder / "wine.csv", index=False)
main(
    [
        "audit",
        str(folder / "wine.csv"),
        "--target",
        "cultivar",
        "--out",
        str(folder / "audit_out"),
        "--quiet",
    ]
)
from_cli = pd.read_csv(folder / "audit_out" / "report.csv", index_col="row")
from_cli.head()

# %%
# ``row`` is the row's position among the data rows of the file (the header
# not counted), which is the frame's index here: the command line and the
# Python API give the same table.
from_python = pd.read_csv(pd.io.common.StringIO(report.to_csv()), index_col="row")
pd.testing.assert_frame_equal(from_cli, from_python)
print("identical reports")

# %%
# Next: :ref:`audit_table` explains messy columns, reference sets, the
# threshold and how to read the plot; :ref:`from_cleanlab` maps cleanlab's
# calls to skinfluence's.
