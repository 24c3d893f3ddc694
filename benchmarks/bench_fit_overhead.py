"""Detector ``fit`` against a plain skorch ``fit`` of the same template and data.

Prints the time ratio of ``InfluenceGlitchDetector.fit`` (training, capture of
every epoch, self-influence scores) to ``NeuralNetClassifier.fit`` alone, for
exact end-of-epoch capture (target <= 1.3x) and in-pass capture (target
<= 1.1x), and how the in-pass approximation changes F1 at k on injected
uniform label noise. Runs are interleaved and the best of ``--repeats`` is
kept: these machines are shared and noisy.

Usage: python benchmarks/bench_fit_overhead.py [--n 10000 --epochs 5 --repeats 7]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification

sys.path.insert(0, str(Path(__file__).parent))
from _measure import Report  # noqa: E402

from skinfluence import InfluenceGlitchDetector  # noqa: E402
from skinfluence.glitches import UniformLabelNoise  # noqa: E402
from skinfluence.metrics import f1_at_k  # noqa: E402
from skinfluence.models import make_net  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--record", help="also write the report to this file")
    args = parser.parse_args()
    report = Report(args.record)
    X, y = make_classification(
        args.n, n_features=54, n_informative=30, n_classes=7, random_state=0
    )
    noise = UniformLabelNoise(0.1, random_state=0)
    X, y = noise.fit_resample(X.astype(np.float32), y)
    template = make_net(
        "MLP",
        max_epochs=args.epochs,
        lr=0.05,
        batch_size=args.batch_size,
        hidden_sizes=(256, 128),
        n_features=54,
        n_classes=7,
    )
    report(
        f"n={args.n} epochs={args.epochs} batch={args.batch_size} "
        f"threads={torch.get_num_threads()} repeats={args.repeats}"
    )

    def plain():
        torch.manual_seed(0)
        clone(template).fit(X, y)

    detectors = {
        # The plain fit's thread count: the ratio measures the capture alone.
        mode: InfluenceGlitchDetector(
            template,
            capture=mode,
            random_state=0,
            n_threads=torch.get_num_threads(),
        )
        for mode in ("epoch_end", "in_pass")
    }
    best = {"plain": np.inf, "epoch_end": np.inf, "in_pass": np.inf}
    for _ in range(args.repeats):
        for name in best:
            start = time.perf_counter()
            plain() if name == "plain" else detectors[name].fit(X, y)
            best[name] = min(best[name], time.perf_counter() - start)
    report(f"\nplain skorch fit          {best['plain']:7.2f} s")
    for mode, target in (("epoch_end", 1.3), ("in_pass", 1.1)):
        ratio = best[mode] / best["plain"]
        f1 = f1_at_k(noise.glitch_mask_, detectors[mode].glitch_scores_)
        report(
            f"detector fit, {mode:9s}   {best[mode]:7.2f} s   ratio {ratio:.3f}"
            f" (target <= {target})   F1 at k {f1:.3f}"
        )

    report.save()


if __name__ == "__main__":
    main()
