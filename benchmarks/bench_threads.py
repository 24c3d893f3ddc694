"""Detector fit with ``n_threads="auto"`` against one torch thread, as found and busy.

On a small problem (scikit-learn's digits, the default MLP: batches of
64 x 64 entries) and a large one (10 000 rows of 512 features in batches of
512), fits the detector with one torch thread (the baseline), with the
default ``n_threads="auto"`` and with every core (torch's own default before
``n_threads`` existed), and prints each time's ratio to the baseline measured
in the same run, with the machine's 1-minute load average. With ``--busy``
the runs are repeated while one process per core burns it, as on a shared
machine. Target: auto no slower than one thread on the small problem (ratio
<= 1.05), faster on the large one (ratio < 1) where cores are free, and never
much slower than one thread. The settings are interleaved and the best of
``--repeats`` is kept (one run for "all", several times slower).

Usage: python benchmarks/bench_threads.py [--repeats 3] [--busy] [--record FILE]
"""

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.datasets import load_digits, make_classification

sys.path.insert(0, str(Path(__file__).parent))
from _measure import Report  # noqa: E402

from skinfluence import InfluenceGlitchDetector  # noqa: E402
from skinfluence.models import make_net  # noqa: E402


def _burn(stop):
    while not stop.is_set():
        sum(i * i for i in range(10000))


def _problems():
    X, y = load_digits(return_X_y=True)
    yield "small: digits 1797 x 64, batch 64", X, y, make_net(max_epochs=10)
    X, y = make_classification(
        10000, n_features=512, n_informative=64, n_classes=10, random_state=0
    )
    net = make_net(max_epochs=3, batch_size=512, hidden_sizes=(512, 256))
    yield "large: 10000 x 512, batch 512", X, y, net


def _measure(report, repeats):
    cores = joblib.cpu_count()
    report(f"  load average {os.getloadavg()[0]:.1f} on {cores} cpus")
    settings = {"1 thread": 1, "auto": "auto", "all": cores}
    for name, X, y, net in _problems():
        times = dict.fromkeys(settings, np.inf)
        for repeat in range(repeats):  # interleaved: the load drifts during a run
            for label, n_threads in settings.items():
                if label == "all" and repeat:
                    continue  # several times slower: once shows it
                det = InfluenceGlitchDetector(net, n_threads=n_threads, random_state=0)
                start = time.perf_counter()
                det.fit(X, y)
                times[label] = min(times[label], time.perf_counter() - start)
        base = times["1 thread"]
        report(f"  {name}")
        for label, seconds in times.items():
            report(f"    {label:9s} {seconds:7.2f} s   ratio {seconds / base:5.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", action="store_true", help="also under CPU load")
    parser.add_argument("--record", help="also write the report to this file")
    args = parser.parse_args()
    report = Report(args.record)
    torch.set_num_threads(joblib.cpu_count())  # torch's default on a free machine
    report(f"repeats={args.repeats}; baseline: 1 thread; all = {joblib.cpu_count()}")
    report("\nmachine as found")
    _measure(report, args.repeats)
    if args.busy:
        stop = multiprocessing.Event()
        burners = [
            multiprocessing.Process(target=_burn, args=(stop,), daemon=True)
            for _ in range(joblib.cpu_count())
        ]
        for burner in burners:
            burner.start()
        try:
            report(f"\nbusy machine ({len(burners)} processes burning the cores)")
            _measure(report, args.repeats)
        finally:
            stop.set()
            for burner in burners:
                burner.join()
    report.save()


if __name__ == "__main__":
    main()
