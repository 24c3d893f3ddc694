"""Detection of real (human) label errors, against cleanlab's recipes.

Takes a file the user has (never shipped with skinfluence: such data sets
carry their own licences), an ``.npz`` with

- ``labels`` (n,) int: the labels a user would have, errors included;
- ``errors`` (n,) bool: which of them are wrong (the truth to detect);
- either ``pred_probs`` (models, n, K): out-of-fold class probabilities of
  one or more models, whose logs become the features (a frozen-embedding
  setting: ``log p`` of every model concatenated, standardised), or ``X``
  (n, d): the features themselves;
- optionally ``true_labels`` (n,), used only by ``--reference``.

For each seed the default detector is fitted once on (features, labels)
without a reference (a user with real noise has no trusted set) and every
signal named by ``--signals`` is scored from the same captured epochs.
Beside them, two peers computed from the same file:

- ``cleanlab[cv-logreg]``: cleanlab's ``get_label_quality_scores`` on
  5-fold cross-validated ``LogisticRegression`` probabilities of the same
  features;
- ``cleanlab[file]``: the same on the mean of the file's own out-of-fold
  probabilities (when it has ``pred_probs``; it sees the models that made
  the features, more than any detector trained on them does).

Reports F1 at k (k = number of errors), AUROC and average precision, mean
over seeds (and the per-seed F1 at k). ``--reference N`` instead holds out
``N`` rows with their *true* labels as a trusted ``X_val`` (they are not
scored), to measure the with-reference setting.

Run by hand::

    python benchmarks/bench_real_noise.py --data cifar10n.npz
    python benchmarks/bench_real_noise.py --data cifar10n.npz --reference 500
    python benchmarks/bench_real_noise.py --data FILE.npz --out docs/_static/bench/real.txt
"""

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.preprocessing import StandardScaler

from skinfluence import InfluenceGlitchDetector
from skinfluence.metrics import f1_at_k
from skinfluence.models import make_net

try:
    from _measure import Report
except ImportError:  # run from another folder
    from benchmarks._measure import Report

SIGNALS = [
    "auto",
    "neighbor_influence",
    "self",
    "cnci",
    "loss",
    "aum",
    "cleanlab",
]


def load(path):
    """Features, noisy labels, the error mask, peer probabilities and true labels."""
    data = np.load(path, allow_pickle=False)
    labels = np.asarray(data["labels"]).astype(int)
    errors = np.asarray(data["errors"]).astype(bool)
    if "pred_probs" in data:
        probs = np.asarray(data["pred_probs"], dtype=np.float64)
        if probs.ndim == 2:
            probs = probs[None]
        features = np.log(np.clip(probs, 1e-12, None)).transpose(1, 0, 2)
        X = features.reshape(len(labels), -1)
        peer = probs.mean(0)
    else:
        X, peer = np.asarray(data["X"], dtype=np.float64), None
    true = (
        np.asarray(data["true_labels"]).astype(int) if "true_labels" in data else None
    )
    X = StandardScaler().fit_transform(X).astype(np.float32)
    return X, labels, errors, peer, true


def cleanlab_scores(probs, labels):
    """``1 - label quality`` (normalized margin): higher = more suspicious."""
    from cleanlab.rank import get_label_quality_scores

    return 1.0 - get_label_quality_scores(labels, probs, method="normalized_margin")


def cv_logreg_probs(X, labels, seed):
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    model = LogisticRegression(max_iter=1000)
    return cross_val_predict(model, X, labels, cv=folds, method="predict_proba")


def quality(errors, scores):
    return {
        "f1_at_k": f1_at_k(errors, scores),
        "auroc": roc_auc_score(errors, scores),
        "ap": average_precision_score(errors, scores),
    }


def run(X, labels, errors, peer, true, *, signals, seeds, reference, epochs):
    rows = []
    for seed in seeds:
        scored = np.arange(len(labels))
        fit_kwargs = {}
        if reference:
            if true is None:
                raise SystemExit("--reference needs `true_labels` in the file.")
            scored, held = train_test_split(
                scored, test_size=reference, stratify=labels, random_state=seed
            )
            fit_kwargs = {"X_val": X[held], "y_val": true[held]}
        Xs, ys, es = X[scored], labels[scored], errors[scored]
        start = time.perf_counter()
        net = None if epochs is None else make_net(max_epochs=epochs)
        det = InfluenceGlitchDetector(net, signal="self", random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            det.fit(Xs, ys, **fit_kwargs)
        fit_seconds = time.perf_counter() - start
        for name in signals:
            start = time.perf_counter()
            scores = det.compute_signal(name).scores
            rows.append(
                {
                    "signal": name,
                    "seed": seed,
                    **quality(es, scores),
                    "seconds": time.perf_counter()
                    - start
                    + (fit_seconds if name == signals[0] else 0),
                }
            )
        rows.append(
            {
                "signal": "cleanlab[cv-logreg]",
                "seed": seed,
                **quality(es, cleanlab_scores(cv_logreg_probs(Xs, ys, seed), ys)),
            }
        )
        if peer is not None:
            rows.append(
                {
                    "signal": "cleanlab[file]",
                    "seed": seed,
                    **quality(es, cleanlab_scores(peer[scored], ys)),
                }
            )
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="path of the .npz file")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--signals", nargs="+", default=SIGNALS)
    parser.add_argument(
        "--reference",
        type=int,
        default=0,
        help="hold out this many rows with their true labels as X_val (default: none)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="the MLP's max_epochs")
    parser.add_argument("--out", default=None, help="also write the report here")
    args = parser.parse_args(argv)

    X, labels, errors, peer, true = load(args.data)
    report = Report(args.out)
    report(
        f"{args.data.rsplit('/', 1)[-1]}: {len(labels)} rows, {X.shape[1]} features, "
        f"{len(np.unique(labels))} classes, {errors.mean():.1%} label errors; "
        f"reference: {f'{args.reference} rows, true labels' if args.reference else 'none'}; "
        f"seeds 0..{args.seeds - 1}"
    )
    table = run(
        X,
        labels,
        errors,
        peer,
        true,
        signals=args.signals,
        seeds=range(args.seeds),
        reference=args.reference,
        epochs=args.epochs,
    )
    mean = table.groupby("signal", sort=False)[["f1_at_k", "auroc", "ap"]].mean()
    per_seed = table.pivot(index="signal", columns="seed", values="f1_at_k")
    per_seed.columns = [f"f1 seed {s}" for s in per_seed.columns]
    out = mean.join(per_seed).round(3)
    report(out.to_string())
    report.save()
    return out


if __name__ == "__main__":
    main()
