"""Sanity table: every registered signal against every glitch kind on digits.

scikit-learn's digits (pixels / 16), a clean stratified reference of 300 rows
(``X_val``) and the rest for training, with 10 % of the training rows
glitched in one of these ways (``skinfluence.glitches``):

- ``uniform``: ``UniformLabelNoise``;
- ``pairflip``: ``ClassDependentLabelNoise(mode="pairflip")``;
- ``far_shared`` / ``far_random``: ``ForeignClusterAnomalies`` drawing from a
  pool of foreign images (digit zeros flipped upside down with inverted
  intensities, the research notes' toy), under one shared label or one
  random label per row;
- ``brightness`` / ``noise``: ``FeatureCorruption`` (MNIST-C brightness, or
  Gaussian pixel noise), labels kept.

One detector is fitted per (kind, seed) with ``signal="self"``; every
registered signal is then scored from the same captured epochs with
``compute_signal`` (no retraining). Prints the mean F1 at k (k = number of
glitches) per signal and kind, and the mean scoring time per signal.

Run by hand::

    python benchmarks/signal_sanity.py              # 3 seeds, clean X_val
    python benchmarks/signal_sanity.py --no-val     # reference = training rows
"""

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skinfluence import InfluenceGlitchDetector
from skinfluence.glitches import (
    ClassDependentLabelNoise,
    FeatureCorruption,
    ForeignClusterAnomalies,
    UniformLabelNoise,
)
from skinfluence.metrics import f1_at_k
from skinfluence.models import make_net
from skinfluence.signals import available

KINDS = ["uniform", "pairflip", "far_shared", "far_random", "brightness", "noise"]


def foreign_pool(X, y):
    """Zeros turned upside down with inverted intensities: foreign images."""
    zeros = X[y == 0].reshape(-1, 8, 8)
    return (1.0 - zeros[:, ::-1, :]).reshape(-1, 64).astype(np.float32)


def injector(kind, pool, seed):
    far = {"ratio": 1 / 9, "X_foreign": pool, "random_state": seed}  # 10 % of output
    return {
        "uniform": UniformLabelNoise(0.1, random_state=seed),
        "pairflip": ClassDependentLabelNoise(0.1, mode="pairflip", random_state=seed),
        "far_shared": ForeignClusterAnomalies(label_mode="shared", **far),
        "far_random": ForeignClusterAnomalies(label_mode="random", **far),
        "brightness": FeatureCorruption(
            0.1, kind="brightness", image_shape=(8, 8), random_state=seed
        ),
        "noise": FeatureCorruption(0.1, kind="noise", random_state=seed),
    }[kind]


def run(kinds, seeds, use_val, max_epochs):
    digits = load_digits()
    X_all, y_all = (digits.data / 16).astype(np.float32), digits.target
    pool = foreign_pool(X_all, y_all)
    signals = list(available()["name"])
    rows = []
    for seed in seeds:
        X, X_val, y, y_val = train_test_split(
            X_all, y_all, test_size=300, stratify=y_all, random_state=seed
        )
        for kind in kinds:
            glitcher = injector(kind, pool, seed)
            X_g, y_g = glitcher.fit_resample(X, y)
            X_g = X_g.astype(np.float32)
            mask = glitcher.glitch_mask_
            det = InfluenceGlitchDetector(
                make_net("MLP", max_epochs=max_epochs), random_state=seed
            )
            start = time.perf_counter()
            if use_val:
                det.fit(X_g, y_g, X_val=X_val, y_val=y_val)
            else:
                det.fit(X_g, y_g)
            fit_s = time.perf_counter() - start
            X_net = X_val if det.scaler_ is None else det.scaler_.transform(X_val)
            accuracy = float((det.estimator_.predict(X_net) == y_val).mean())
            print(
                f"seed {seed} {kind:<11} fit {fit_s:5.1f}s  val acc {accuracy:.3f}",
                flush=True,
            )
            for name in signals:
                start = time.perf_counter()
                try:
                    scores = det.compute_signal(name).scores
                except Exception as exc:  # report and go on: a sanity sweep
                    warnings.warn(f"{name} failed on {kind}: {exc!r}", stacklevel=1)
                    continue
                rows.append(
                    {
                        "seed": seed,
                        "kind": kind,
                        "signal": name,
                        "f1": f1_at_k(mask, scores),
                        "seconds": time.perf_counter() - start,
                    }
                )
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--kinds", nargs="+", default=KINDS, choices=KINDS)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument(
        "--no-val", action="store_true", help="reference = training rows, not X_val"
    )
    parser.add_argument("--out", help="also write the tidy results to this CSV")
    args = parser.parse_args()
    results = run(args.kinds, range(args.seeds), not args.no_val, args.epochs)
    if args.out:
        results.to_csv(args.out, index=False)
    order = list(dict.fromkeys(results["signal"]))
    table = results.pivot_table("f1", "signal", "kind").loc[order, args.kinds]
    table["mean"] = table.mean(axis=1)
    table["seconds"] = results.groupby("signal")["seconds"].mean()
    reference = "training rows" if args.no_val else "clean X_val (300 rows)"
    print(f"\nMean F1 at k over {args.seeds} seeds; reference: {reference}")
    print(table.round(2).to_string())


if __name__ == "__main__":
    main()
