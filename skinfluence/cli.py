"""The ``skinfluence`` console script.

``skinfluence demo`` fits the detector on scikit-learn's digits with 10 %
injected uniform label noise, prints the top suspects and the F1 at the known
glitch count.
"""

import argparse
import sys

import numpy as np

__all__ = ["main"]


def _demo(args):
    from sklearn.datasets import load_digits

    from . import InfluenceGlitchDetector
    from .glitches import UniformLabelNoise
    from .metrics import f1_at_k

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    noise = UniformLabelNoise(args.ratio, random_state=args.seed)
    X, y_noisy = noise.fit_resample(X, y)
    det = InfluenceGlitchDetector(signal=args.signal, random_state=args.seed, verbose=1)
    det.fit(X, y_noisy)
    ranking = np.argsort(-det.glitch_scores_, kind="stable")
    print(
        f"\nTop {args.top} suspects (signal={args.signal!r}, higher = more suspicious):"
    )
    print(f"{'row':>6} {'score':>10} {'given':>6} {'true':>5}  injected")
    for row in ranking[: args.top]:
        print(
            f"{row:>6} {det.glitch_scores_[row]:>10.4f} {y_noisy[row]:>6} "
            f"{noise.true_labels_[row]:>5}  {'yes' if noise.glitch_mask_[row] else 'no'}"
        )
    k = int(noise.glitch_mask_.sum())
    f1 = f1_at_k(noise.glitch_mask_, det.glitch_scores_)
    print(f"\nF1 at k={k} (the injected glitch count): {f1:.3f}")
    return 0


def main(argv=None):
    """Entry point of the ``skinfluence`` console script."""
    parser = argparse.ArgumentParser(
        prog="skinfluence", description="Debug training data with influence signals."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="detect injected label noise on scikit-learn's digits"
    )
    demo.add_argument("--signal", default="self", help="signal name (default: self)")
    demo.add_argument("--ratio", type=float, default=0.1, help="label-noise ratio")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.add_argument("--top", type=int, default=10, help="suspects to print")
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
