"""Write a generated stand-in for many-class human label errors, for ``bench_real_noise.py``.

The shape of a 10 % sample of CIFAR-100N: ``K`` classes in superclasses of
five, out-of-fold probabilities of ``M`` models (``pred_probs``), and label
errors placed where people make them, on the rows the models also find
ambiguous:

- each row has a difficulty ``d ~ Beta(2, 3)`` and an *ambiguous* class,
  in its superclass with probability 0.7;
- its label is wrong with probability proportional to ``d^2`` (scaled to
  ``--rate``, at most 0.95), and then it is the ambiguous class;
- each model's logits put ``skill (1 - d) + 0.5`` on the true class,
  ``0.9 skill d`` on the ambiguous one and 0.8 on the superclass, plus
  standard normal noise (``skill ~ U[2.5, 4]`` per model).

Errors so placed are hard to see: for about a third of them the models'
mean prediction *is* the wrong label. The file has the arrays
``bench_real_noise.py`` reads (``pred_probs``, ``labels``,
``true_labels``, ``errors``). Run by hand::

    python benchmarks/make_ambiguous_labels.py --out ambiguous_40.npz
    python benchmarks/bench_real_noise.py --data ambiguous_40.npz
"""

import argparse

import numpy as np


def make_ambiguous_labels(
    n_rows=5000, n_classes=100, n_models=5, rate=0.4, random_state=0
):
    """Return ``pred_probs, labels, true_labels`` (module docstring)."""
    rng = np.random.RandomState(random_state)
    per_super = 5
    true = np.resize(np.arange(n_classes), n_rows)
    rng.shuffle(true)
    superclass = np.arange(n_classes) // per_super
    rows = np.arange(n_rows)
    difficulty = rng.beta(2, 3, n_rows)
    # The ambiguous class: another of the superclass (70 %) or any other.
    within = (
        superclass[true] * per_super
        + (true % per_super + rng.randint(1, per_super, n_rows)) % per_super
    )
    anywhere = (true + rng.randint(1, n_classes, n_rows)) % n_classes
    ambiguous = np.where(rng.rand(n_rows) < 0.7, within, anywhere)
    p_error = difficulty**2
    p_error = np.clip(p_error * rate / p_error.mean(), 0, 0.95)
    labels = np.where(rng.rand(n_rows) < p_error, ambiguous, true)
    same_super = superclass[None, :] == superclass[true][:, None]
    probs = np.empty((n_models, n_rows, n_classes), dtype=np.float32)
    for m in range(n_models):
        skill = rng.uniform(2.5, 4.0)
        z = rng.normal(0.0, 1.0, (n_rows, n_classes)) + 0.8 * same_super
        z[rows, true] += skill * (1 - difficulty) + 0.5
        z[rows, ambiguous] += 0.9 * skill * difficulty
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        probs[m] = e / e.sum(1, keepdims=True)
    return probs, labels, true


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the .npz file to write")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    probs, labels, true = make_ambiguous_labels(
        args.rows, args.classes, rate=args.rate, random_state=args.seed
    )
    errors = labels != true
    np.savez(args.out, pred_probs=probs, labels=labels, true_labels=true, errors=errors)
    agree = (probs.mean(0).argmax(1)[errors] == labels[errors]).mean()
    print(
        f"{args.out}: {len(labels)} rows, {args.classes} classes, "
        f"{errors.mean():.1%} label errors; the models' mean prediction is the "
        f"wrong label for {agree:.0%} of them"
    )


if __name__ == "__main__":
    main()
