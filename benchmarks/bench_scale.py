"""Fit plus self, marginal and gd_class scores on 1,000,000 x 54 tabular rows.

Reports the time of each step and the process's peak resident memory (target
<= 4 GB on 2 cores), next to the size of the data itself and of the n x m
influence matrix that is never built. The data is synthetic (Gaussian classes
in the shape of Forest Cover: 54 features, 7 classes) with 10 % uniform label
noise; F1 at k is printed as a sanity check.

Usage: python benchmarks/bench_scale.py [--n 1000000 --epochs 3]
"""

import argparse
import resource
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _measure import Report, measure  # noqa: E402

from skinfluence import InfluenceGlitchDetector  # noqa: E402
from skinfluence.metrics import f1_at_k  # noqa: E402
from skinfluence.models import make_net  # noqa: E402


def synthetic(n, n_features=54, n_classes=7, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=1.5, size=(n_classes, n_features)).astype(np.float32)
    y = rng.integers(n_classes, size=n)
    X = rng.standard_normal((n, n_features), dtype=np.float32)
    X += centers[y]
    flipped = rng.choice(n, int(noise * n), replace=False)
    y_noisy = y.copy()
    y_noisy[flipped] = (
        y[flipped] + rng.integers(1, n_classes, len(flipped))
    ) % n_classes
    mask = np.zeros(n, dtype=bool)
    mask[flipped] = True
    return X, y_noisy, mask


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--width", type=int, default=64, help="penultimate width d")
    parser.add_argument("--record", help="also write the report to this file")
    args = parser.parse_args()
    report = Report(args.record)
    report(
        f"n={args.n} x 54, epochs={args.epochs}, d={args.width}, "
        f"threads={torch.get_num_threads()}"
    )
    X, y, mask = synthetic(args.n)
    report(f"data: {X.nbytes / 2**30:.2f} GiB float32")
    net = make_net(
        "MLP",
        max_epochs=args.epochs,
        lr=0.05,
        batch_size=args.batch_size,
        hidden_sizes=(128, args.width),
    )
    det = InfluenceGlitchDetector(net, signal="self", random_state=0, verbose=1)
    fit = {}
    with measure(fit):
        det.fit(X, y)
    rows = [("fit + self", fit["seconds"], det.glitch_scores_)]
    for name in ("marginal", "gd_class"):
        step = {}
        with measure(step):
            scores = det.compute_signal(name).scores
        rows.append((name, step["seconds"], scores))
    m = len(det.reference_indices_)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    report()
    for name, seconds, scores in rows:
        report(f"{name:12s} {seconds:8.1f} s   F1 at k {f1_at_k(mask, scores):.3f}")
    report(
        f"\nreference rows m = {m}; an n x m float32 matrix would be "
        f"{4 * args.n * m / 2**30:.1f} GiB (never built)"
    )
    report(f"peak RSS of the process: {peak / 2**30:.2f} GiB (target <= 4 GB)")

    report.save()


if __name__ == "__main__":
    main()
