"""Check the ``device=`` path: the same scores as on the CPU, and the speed-up.

The prepared script for a machine with an accelerator (``--device cuda``):

1. fits a detector on the CPU and scores every signal below from its
   captured epochs, then scores the same epochs again with
   ``set_params(device=...)`` (factors, class moments and streamed blocks on
   the device) and checks the scores equal the CPU ones (rtol 1e-4: float32
   reductions run in another order), printing the scoring speed-up per
   signal, device against CPU;
2. trains a second detector on the device (training, capture and scoring
   there) and reports its fit time against the CPU fit, its F1 at k on the
   injected label noise, and where its captured factors live;
3. does the same for the regressor (``InfluenceGlitchRegressor``) on
   Friedman #1 with 10 % large target errors: every regression signal from
   the same epochs on both, then a fit on the device, with its F1 at k and
   ``diagnose()`` there.

Exits with status 1 if any score differs. Run by hand::

    python benchmarks/check_device.py                 # cuda
    python benchmarks/check_device.py --device cpu    # the script itself, on CPU
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_classification, make_friedman1
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).parent))
from _measure import Report  # noqa: E402

from skinfluence import InfluenceGlitchDetector, InfluenceGlitchRegressor  # noqa: E402
from skinfluence.glitches import LargeTargetErrors, UniformLabelNoise  # noqa: E402
from skinfluence.metrics import f1_at_k  # noqa: E402
from skinfluence.models import make_net  # noqa: E402

SIGNALS = [
    "self",
    "marginal",
    "absolute",
    "gd_class",
    "cnci",
    "neighbor_influence",
    "mahalanobis",
    "knn_distance",
    "input_distance",
    "aum",
    "auto",
]
REGRESSION_SIGNALS = [
    "self",
    "absolute",
    "marginal",
    "self_rank",
    "self_excess",
    "neighbor_influence",
    "si_trend",
    "knn_distance",
    "residual",
    "loss",
    "auto",
]


def data(n, n_val, seed=0):
    X, y = make_classification(
        n + n_val, n_features=54, n_informative=30, n_classes=7, random_state=seed
    )
    X = X.astype(np.float32)
    noise = UniformLabelNoise(0.1, random_state=seed)
    X_train, y_train = noise.fit_resample(X[:n], y[:n])
    return X_train, y_train, X[n:], y[n:], noise.glitch_mask_


def regression_data(n, n_val, seed=0):
    X, y = make_friedman1(n + n_val, n_features=20, noise=1.0, random_state=seed)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    noise = LargeTargetErrors(0.1, random_state=seed)
    X_train, y_train = noise.fit_resample(X[:n], y[:n])
    return X_train, y_train, X[n:], y[n:], noise.glitch_mask_


def timed(function):
    """Wall time of ``function()``, synchronising an accelerator around it."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def compare(report, cpu, on_device, signals):
    """Score ``signals`` on both fits; report differences and speed-ups.

    Returns the number of signals whose device scores differ from the CPU's.
    """
    failures = 0
    report(f"   {'signal':20s} {'max rel diff':>12s} {'CPU s':>8s} {'dev s':>8s}")
    for signal in signals:
        expected, cpu_seconds = timed(lambda s=signal: cpu.compute_signal(s).scores)
        try:
            on_device.compute_signal(signal)  # warm-up: kernels, allocator
            got, dev_seconds = timed(
                lambda s=signal: on_device.compute_signal(s).scores
            )
        except Exception as error:  # report every signal, not the first failure
            failures += 1
            report(f"   {signal:20s} FAILED on the device: {error!r}")
            continue
        scale = np.abs(expected).max() or 1.0
        diff = np.max(np.abs(got - expected)) / scale
        ok = np.allclose(got, expected, rtol=1e-4, atol=1e-4 * scale)
        failures += not ok
        report(
            f"   {signal:20s} {diff:12.2e} {cpu_seconds:8.3f} {dev_seconds:8.3f}"
            f"   speed-up {cpu_seconds / dev_seconds:6.1f}x  {'ok' if ok else 'DIFFERS'}"
        )
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--n-val", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--record", help="also write the report to this file")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    report = Report(args.record)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("No CUDA device visible to torch.")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    report(f"device={device} ({name}) n={args.n} m={args.n_val} T={args.epochs}")
    X, y, X_val, y_val, mask = data(args.n, args.n_val)
    template = make_net(
        "MLP", max_epochs=args.epochs, lr=0.05, batch_size=256, hidden_sizes=(256,)
    )

    # 1. The same captured epochs, scored on the CPU and on the device. The
    # second CPU fit is the one timed: the first pays the one-off start-up.
    cpu = InfluenceGlitchDetector(template, random_state=0)
    cpu.fit(X, y, X_val=X_val, y_val=y_val)
    on_device, cpu_fit = timed(
        lambda: InfluenceGlitchDetector(template, random_state=0).fit(
            X, y, X_val=X_val, y_val=y_val
        )
    )
    on_device.set_params(device=str(device))
    report("\n1. scores of the same epochs, device against CPU, and the speed-up")
    failures = compare(report, cpu, on_device, SIGNALS)

    # 2. Training, capture and scoring on the device.
    trained, dev_fit = timed(
        lambda: InfluenceGlitchDetector(
            template, device=str(device), random_state=0
        ).fit(X, y, X_val=X_val, y_val=y_val)
    )
    report("\n2. fit on the device (training, capture, self scores)")
    report(f"   CPU fit {cpu_fit:.2f} s, device fit {dev_fit:.2f} s")
    report(f"   captured factors on {trained.trajectory_.train.h.device}")
    report(
        f"   F1 at k: CPU {f1_at_k(mask, cpu.glitch_scores_):.3f}, "
        f"device {f1_at_k(mask, trained.glitch_scores_):.3f} (training differs "
        "numerically on another device; close, not equal)"
    )

    # 3. The regressor: the same epochs on both, then a fit on the device.
    X, y, X_val, y_val, mask = regression_data(args.n, args.n_val)
    template = make_net(
        "MLP",
        task="regression",
        max_epochs=args.epochs,
        lr=0.01,
        batch_size=256,
        hidden_sizes=(256,),
    )
    cpu, cpu_fit = timed(
        lambda: InfluenceGlitchRegressor(template, random_state=0).fit(
            X, y, X_val=X_val, y_val=y_val
        )
    )
    on_device = InfluenceGlitchRegressor(template, random_state=0)
    on_device.fit(X, y, X_val=X_val, y_val=y_val).set_params(device=str(device))
    report("\n3. regressor (Friedman #1, 10 % large target errors)")
    failures += compare(report, cpu, on_device, REGRESSION_SIGNALS)
    trained, dev_fit = timed(
        lambda: InfluenceGlitchRegressor(
            template, device=str(device), random_state=0
        ).fit(X, y, X_val=X_val, y_val=y_val)
    )
    table = trained.diagnose()
    report(f"   CPU fit {cpu_fit:.2f} s, device fit {dev_fit:.2f} s")
    report(f"   captured factors on {trained.trajectory_.train.h.device}")
    report(
        f"   F1 at k: CPU {f1_at_k(mask, cpu.glitch_scores_):.3f}, "
        f"device {f1_at_k(mask, trained.glitch_scores_):.3f}; diagnose() on the "
        f"device: {(table['glitch_type'] == 'corrupted_target').sum()} rows typed "
        "corrupted_target"
    )
    report(
        f"\n{'all scores equal' if not failures else f'{failures} signal(s) differ'}"
    )
    report.save()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
