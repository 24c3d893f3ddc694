"""skinfluence's closed-form signals against Captum's TracInCP, same checkpoints.

Prints, for n training x m reference rows, penultimate width d and T epochs:

1. the time of skinfluence's ``self``, ``marginal`` and ``gd_class`` scores,
   each computed as ``compute_signal`` does (``scoring_.compute``, a fresh
   context per signal), against Captum's ``TracInCP`` restricted to the last
   layer at its best settings (module states in memory, no checkpoint files,
   ``self_influence(outer_loop_by_checkpoints=True)``, batch size 2048)
   producing the same quantities (self-influence plus the n x m matrix that
   MI and GD-class reduce), as a speed-up ratio; the peak memory growth
   against the size of the n x m matrix; and where skinfluence's time goes
   (building the inputs vs the arithmetic of each signal);
2. the streamed |I| reduction (``absolute``) against a plain torch matmul of
   the same shapes (``h_rows @ h_ref.T`` per epoch, same chunks), as a
   throughput ratio, and its peak memory under a small ``working_memory``.

Usage: python benchmarks/bench_tracin.py [--n 20000 --m 2000 --d 256 --epochs 5]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_classification

sys.path.insert(0, str(Path(__file__).parent))
from _measure import Report, measure  # noqa: E402

from skinfluence import InfluenceGlitchDetector  # noqa: E402
from skinfluence.models import make_net  # noqa: E402
from skinfluence.tracin._captum import captum_tracin  # noqa: E402


def fitted_detector(n, m, d, epochs, n_classes=10):
    X, y = make_classification(
        n + m, n_features=54, n_informative=20, n_classes=n_classes, random_state=0
    )
    X = X.astype(np.float32)
    net = make_net("MLP", max_epochs=epochs, lr=0.05, batch_size=256, hidden_sizes=(d,))
    # Inputs as given: Captum is fed the same X.
    det = InfluenceGlitchDetector(net, random_state=0, standardize=False)
    return det.fit(X[:n], y[:n], X_val=X[n:], y_val=y[n:]), X, y


def skinfluence_scores(det, names, working_memory=None):
    """Each signal as ``compute_signal`` computes it: a fresh context each."""
    state = det.scoring_
    return {
        name: state.compute(name, det.epochs_, working_memory=working_memory).scores
        for name in names
    }


def time_split(det, repeats=5):
    """Seconds of input building (errors, norms, moments) vs each signal's arithmetic.

    The inputs are the context's cached reductions every signal starts from;
    the rest of a signal's time is its own arithmetic on them.
    """
    best = {}
    for _ in range(repeats):
        context = det.scoring_.context()
        steps = {
            "inputs (errors)": lambda c=context: (c.errors(), c.reference_errors()),
            "self (norms)": lambda c=context: c.self_influence(),
            "marginal (total moment)": lambda c=context: c.total_influence(),
            "gd_class (class sums)": lambda c=context: c.class_sums(),
        }
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            best[name] = min(best.get(name, np.inf), time.perf_counter() - start)
    return best


def matmul_baseline(det, working_memory):
    """``h_rows @ h_ref.T`` for every epoch over the same row chunks as the stream.

    The fairest plain baseline: the dominant product of the stream, with the
    same chunks, a pre-transposed contiguous right operand and a reused output.
    """
    h, h_ref = det.trajectory_.train.h, det.trajectory_.reference.h
    h_ref_t = h_ref.transpose(1, 2).contiguous()
    m = h_ref.shape[1]
    out = None
    chunks = det.scoring_.context(working_memory=working_memory).row_chunks()
    for rows in chunks:
        block = h[:, rows]
        if out is None or out.shape[0] != block.shape[1]:
            out = torch.empty(block.shape[1], m)
        for t in range(h.shape[0]):
            torch.mm(block[t], h_ref_t[t], out=out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--m", type=int, default=2000)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--captum-batch", type=int, default=2048)
    parser.add_argument("--working-memory", type=float, default=64, help="MiB")
    parser.add_argument("--record", help="also write the report to this file")
    args = parser.parse_args()
    report = Report(args.record)
    n, m = args.n, args.m
    report(f"n={n} m={m} d={args.d} T={args.epochs} threads={torch.get_num_threads()}")
    det, X, y = fitted_detector(n, m, args.d, args.epochs)
    matrix_bytes = 4 * n * m

    names = ["self", "marginal", "gd_class"]
    skinfluence_scores(det, names)  # warm-up
    ours = {}
    with measure(ours):  # peak memory, from a run of its own
        scores = skinfluence_scores(det, names)
    # Best of five bare runs: a fraction of a second is at the mercy of the
    # other processes of a shared machine (and of the RSS sampler).
    for _ in range(5):
        start = time.perf_counter()
        skinfluence_scores(det, names)
        ours["seconds"] = min(ours["seconds"], time.perf_counter() - start)
    captum = {}
    with measure(captum):
        influence, self_influence = captum_tracin(
            det.estimator_.module_,
            det.trajectory_,
            X[:n],
            y[:n],
            X[n:],
            y[n:],
            batch_size=args.captum_batch,
        )
        marginal = -influence.sum(1)
    np.testing.assert_allclose(scores["self"], self_influence.numpy(), rtol=1e-3)
    np.testing.assert_allclose(
        scores["marginal"],
        marginal.numpy(),
        rtol=1e-3,
        atol=1e-3 * np.abs(marginal.numpy()).max(),
    )
    report("\n1. self + marginal + gd_class, same checkpoints")
    for name, result in (("skinfluence", ours), ("Captum TracInCP", captum)):
        mib = result["peak_bytes"] / 2**20
        report(f"   {name:16s} {result['seconds']:8.3f} s   peak +{mib:7.1f} MiB")
    report(f"   speed-up: {captum['seconds'] / ours['seconds']:.1f}x  (target >= 60x)")
    ratio = ours["peak_bytes"] / matrix_bytes
    report(
        f"   skinfluence peak / n x m matrix: {ratio:.3f} ({matrix_bytes / 2**20:.0f} MiB)"
    )
    report("   skinfluence: best of 5 bare runs; Captum: one run")
    report("   where skinfluence's time goes (best of 5, one context per run):")
    for name, seconds in time_split(det).items():
        report(f"     {name:26s} {seconds:8.3f} s")

    wm = args.working_memory
    skinfluence_scores(det, ["absolute"], wm)  # warm-up
    matmul_baseline(det, wm)
    best_stream, best_plain = np.inf, np.inf
    for _ in range(3):  # best of three: these machines are shared and noisy
        # Both timed the same way, bare: the RSS sampler of `measure` wakes
        # every millisecond and stalls the torch threads it preempts.
        start = time.perf_counter()
        skinfluence_scores(det, ["absolute"], wm)
        best_stream = min(best_stream, time.perf_counter() - start)
        start = time.perf_counter()
        matmul_baseline(det, wm)
        best_plain = min(best_plain, time.perf_counter() - start)
    stream = {}
    with measure(stream):  # peak memory, from a run of its own
        skinfluence_scores(det, ["absolute"], wm)
    report(f"\n2. streamed |I| reduction (absolute), working_memory={wm:g} MiB")
    mib = stream["peak_bytes"] / 2**20
    report(f"   skinfluence absolute  {best_stream:8.3f} s   peak +{mib:7.1f} MiB")
    report(f"   plain torch matmul    {best_plain:8.3f} s")
    report(f"   throughput ratio: {best_plain / best_stream:.2f}  (target >= 0.75)")
    report(f"   peak / n x m matrix size: {stream['peak_bytes'] / matrix_bytes:.3f}")

    report.save()


if __name__ == "__main__":
    main()
