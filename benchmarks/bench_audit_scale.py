"""``skinfluence audit`` on a 1,000,000-row, 50-column mixed-type Parquet table.

The table is generated in chunks: 35 float32 numeric columns, 10 categorical
columns of 5 to 50 levels, 5 integer columns, about 2 % missing cells, a
4-class target learnable from a few numeric and categorical columns, 5 % of
the labels flipped and 1 % of the rows corrupted (a third of their numeric
cells replaced by values 8 to 20 standard deviations out, their categorical
cells by a level never seen elsewhere). It is written to Parquet, and the
command ``skinfluence audit FILE --target label`` runs on it in a child
process with the default settings, its stage log streamed as it comes.

The script reports the child's wall time and peak resident memory (the sum
over its process tree, sampled every 50 ms; target: 10 minutes and 4 GB on
2 cores), then the quality of ``report.csv`` against the injected truth:
F1 at k of ``glitch_score`` (k = the glitch count), flag precision and
recall for the flipped and the corrupted rows, and how many corrupted rows
are typed as outliers or clustered anomalies. A baseline audit of a
100,000-row table of the same kind runs first in the same session, so the
time and memory ratios compare runs on the same machine under the same
load.

With ``--task regression`` the target is continuous instead: linear in the
same numeric columns plus effects of the same categorical levels, with
noise (R^2 about 0.9 for the true function), 5 % of the targets corrupted
by 3 to 8 standard deviations either way (the flipped labels' share) and
the same 1 % of corrupted rows. The report adds how many corrupted targets
are typed ``corrupted_target`` and how many of their suggested targets are
closer to the truth than the given value.

Usage: python benchmarks/bench_audit_scale.py [--rows 1000000 --baseline-rows 100000
--task classification --out bench_audit_out
--record docs/_static/benchmarks/bench_audit_scale.txt]
"""

import argparse
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _measure import Report  # noqa: E402

N_NUMERIC, N_CATEGORICAL, N_INTEGER = 35, 10, 5
N_CLASSES = 4
FLIP_RATE, CORRUPT_RATE, MISSING_RATE = 0.05, 0.01, 0.02
CHUNK = 100_000
TIME_BUDGET_S, RSS_BUDGET = 600, 4e9  # 4 GB, the unit (3.73 GiB)


# ---------------------------------------------------------------- the table


def _design(seed):
    """The fixed parts of the table: levels, class weights."""
    rng = np.random.default_rng(seed)
    levels = rng.integers(5, 51, N_CATEGORICAL)
    levels[0], levels[-1] = 5, 50  # the full 5-50 range
    return {
        "levels": levels,
        # Class logits: linear in 8 numeric columns, plus effects of the
        # levels of 3 categorical columns.
        "weights": rng.normal(scale=1.2, size=(8, N_CLASSES)),
        "effects": [
            rng.normal(scale=1.0, size=(levels[j], N_CLASSES)) for j in range(3)
        ],
        "int_scale": rng.integers(3, 1000, N_INTEGER),
        # The regression target: the same columns, one output.
        "target_weights": rng.normal(size=8),
        "target_effects": [rng.normal(size=levels[j]) for j in range(3)],
    }


def _target(design, scaled, codes, rng):
    """A continuous target and its noise-free spread (the unit of a target error)."""
    value = scaled @ design["target_weights"]
    for j, effect in enumerate(design["target_effects"]):
        value += effect[codes[:, j]]
    spread = np.sqrt(
        np.sum(design["target_weights"] ** 2)
        + sum(effect.var() for effect in design["target_effects"])
    )
    return 100 + 10 * (value + rng.normal(scale=0.3 * spread, size=len(value))), spread


def _chunk(rng, design, n, start, task="classification"):
    """``n`` rows of the table, and their truth (flipped, corrupted, clean label).

    For a regression table ``flipped`` marks the corrupted targets and
    ``true_label`` holds the clean target.
    """
    numeric = rng.standard_normal((n, N_NUMERIC), dtype=np.float32)
    numeric[:, 8:20] += 0.5 * numeric[:, :12]  # correlated columns
    numeric *= np.geomspace(0.01, 1000, N_NUMERIC, dtype=np.float32)  # raw scales
    codes = np.stack(
        [rng.integers(lv, size=n) for lv in design["levels"]], axis=1
    ).astype(np.int16)
    integers = (rng.poisson(2.0, (n, N_INTEGER)) * design["int_scale"]).astype(np.int64)
    scaled = numeric[:, :8] / np.geomspace(0.01, 1000, N_NUMERIC)[:8]
    logits = scaled @ design["weights"]
    for j, effect in enumerate(design["effects"]):
        logits += effect[codes[:, j]]
    label = np.argmax(logits + rng.gumbel(size=logits.shape) * 0.3, axis=1)

    flipped = rng.random(n) < FLIP_RATE
    if task == "regression":
        label, spread = _target(design, scaled, codes, rng)
        shift = rng.uniform(3, 8, flipped.sum()) * rng.choice([-1, 1], flipped.sum())
        given = label.copy()
        given[flipped] += shift * 10 * spread
    else:
        given = label.copy()
        given[flipped] = (
            label[flipped] + rng.integers(1, N_CLASSES, flipped.sum())
        ) % N_CLASSES
    corrupted = (rng.random(n) < CORRUPT_RATE) & ~flipped
    rows = np.flatnonzero(corrupted)
    cells = rng.random((len(rows), N_NUMERIC)) < 1 / 3
    spread = np.geomspace(0.01, 1000, N_NUMERIC, dtype=np.float32)
    wild = rng.uniform(8, 20, cells.shape) * rng.choice([-1, 1], cells.shape) * spread
    block = numeric[rows]
    block[cells] = wild[cells].astype(np.float32)
    numeric[rows] = block

    columns = {}
    missing = rng.random((n, N_NUMERIC + N_CATEGORICAL + N_INTEGER)) < MISSING_RATE
    for j in range(N_NUMERIC):
        values = numeric[:, j].copy()
        values[missing[:, j]] = np.nan
        columns[f"num_{j:02d}"] = pa.array(values, type=pa.float32())
    for j, lv in enumerate(design["levels"]):
        names = np.array([f"c{j}_{k}" for k in range(lv)] + [f"c{j}_corrupt"])
        index = codes[:, j].astype(np.int32)
        index[rows] = lv  # a level no clean row has
        mask = missing[:, N_NUMERIC + j]
        columns[f"cat_{j}"] = pa.DictionaryArray.from_arrays(
            pa.array(index, mask=mask), pa.array(names)
        ).dictionary_decode()
    for j in range(N_INTEGER):
        mask = missing[:, N_NUMERIC + N_CATEGORICAL + j]
        columns[f"int_{j}"] = pa.array(integers[:, j], mask=mask)
    columns["label"] = pa.array(given)
    truth = pd.DataFrame(
        {"flipped": flipped, "corrupted": corrupted, "true_label": label},
        index=pd.RangeIndex(start, start + n),
    )
    return pa.table(columns), truth


def write_table(path, rows, seed=0, task="classification"):
    """Write the table in chunks of ``CHUNK`` rows; return its truth frame."""
    rng = np.random.default_rng(seed)
    design = _design(seed)
    truths = []
    writer = None
    for start in range(0, rows, CHUNK):
        table, truth = _chunk(rng, design, min(CHUNK, rows - start), start, task)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        truths.append(truth)
    writer.close()
    return pd.concat(truths)


# ------------------------------------------------------------ the audit run


def run_audit(path, out, report, extra=()):
    """Run ``skinfluence audit`` in a child; stream its log; return time and peak RSS."""
    command = [
        sys.executable,
        "-m",
        "skinfluence.cli",
        "audit",
        str(path),
        "--target",
        "label",
        "--out",
        str(out),
        "--top",
        "5",
        *extra,
    ]
    start = time.perf_counter()
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    peak = [0]
    done = threading.Event()

    def sample():
        parent = psutil.Process(child.pid)
        while not done.is_set():
            try:
                processes = [parent, *parent.children(recursive=True)]
                total = 0
                for process in processes:
                    with contextlib.suppress(psutil.Error):  # it just ended
                        total += process.memory_info().rss
                peak[0] = max(peak[0], total)
            except psutil.Error:
                pass
            done.wait(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    output = []
    for line in child.stdout:
        output.append(line)
        # The stage log (one line per stage, with its time) and the summary
        # head; tqdm's redraws are dropped.
        text = line.rstrip("\n").split("\r")[-1]
        if text.startswith("skinfluence:") or "audit of" in text:
            report(f"  [{time.perf_counter() - start:6.1f} s] {text}")
    code = child.wait()
    seconds = time.perf_counter() - start
    done.set()
    thread.join()
    if code:
        sys.stderr.write("".join(output[-40:]))
        raise SystemExit(f"skinfluence audit failed with exit code {code}")
    return seconds, peak[0], "".join(output)


def quality(out, truth, task="classification"):
    """Detection quality of ``out/report.csv`` against the injected truth."""
    from skinfluence.metrics import f1_at_k

    columns = ["row", "glitch_score", "flagged", "glitch_type"]
    if task == "regression":
        columns += ["given_target", "suggested_target"]
    table = pd.read_csv(out / "report.csv", index_col=0, usecols=columns).reindex(
        truth.index
    )
    flagged = table["flagged"].to_numpy()
    glitch = (truth["flipped"] | truth["corrupted"]).to_numpy()
    result = {
        "f1_at_k": float(f1_at_k(glitch, table["glitch_score"].to_numpy())),
        "k": int(glitch.sum()),
        "flagged": int(flagged.sum()),
        "precision": float(glitch[flagged].mean()) if flagged.any() else 0.0,
    }
    for family in ("flipped", "corrupted"):
        rows = truth[family].to_numpy()
        result[f"{family}_recall"] = float(flagged[rows].mean())
        result[f"{family}_f1_at_k"] = float(
            f1_at_k(rows, table["glitch_score"].to_numpy())
        )
    corrupted = truth["corrupted"].to_numpy()
    typed = table["glitch_type"].to_numpy()
    result["corrupted_typed_anomaly"] = float(
        np.isin(typed[corrupted], ["outlier", "clustered_anomaly"]).mean()
    )
    flipped = truth["flipped"].to_numpy()
    wrong_label = "corrupted_target" if task == "regression" else "mislabeled"
    result["flipped_typed_mislabeled"] = float((typed[flipped] == wrong_label).mean())
    if task == "regression":
        repaired = flipped & (typed == "corrupted_target")
        true = truth["true_label"].to_numpy()[repaired]
        suggested = table["suggested_target"].to_numpy()[repaired]
        given = table["given_target"].to_numpy()[repaired]
        result["suggested_closer"] = float(
            (np.abs(suggested - true) < np.abs(given - true)).mean()
        )
    return result


def one_run(rows, out, report, extra=(), task="classification"):
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"table_{rows}.parquet"
    start = time.perf_counter()
    truth = write_table(path, rows, task=task)
    errors = "corrupted targets" if task == "regression" else "flipped"
    report(
        f"table: {rows} rows x 50 columns + label -> {path.name} "
        f"({path.stat().st_size / 2**20:.0f} MiB, {time.perf_counter() - start:.0f} s "
        f"to generate); {int(truth['flipped'].sum())} {errors}, "
        f"{int(truth['corrupted'].sum())} corrupted rows"
    )
    seconds, peak, output = run_audit(path, out / f"audit_{rows}", report, extra)
    q = quality(out / f"audit_{rows}", truth, task)
    epochs = re.search(r"network trained (\d+) epochs", output)
    report(
        f"audit of {rows} rows: {seconds:.0f} s, peak RSS {peak / 1e9:.2f} GB"
        + (f", {epochs.group(1)} epochs" if epochs else "")
    )
    report(
        f"  quality: F1 at k={q['k']} {q['f1_at_k']:.3f}; {q['flagged']} flagged, "
        f"precision {q['precision']:.3f}"
    )
    if task == "regression":
        report(
            f"  corrupted targets: flag recall {q['flipped_recall']:.3f}, F1 at k "
            f"{q['flipped_f1_at_k']:.3f}, typed corrupted_target "
            f"{q['flipped_typed_mislabeled']:.3f}, suggested target closer to the "
            f"truth {q['suggested_closer']:.3f}"
        )
    else:
        report(
            f"  flipped labels: flag recall {q['flipped_recall']:.3f}, F1 at k "
            f"{q['flipped_f1_at_k']:.3f}, typed mislabeled "
            f"{q['flipped_typed_mislabeled']:.3f}"
        )
    report(
        f"  corrupted rows: flag recall {q['corrupted_recall']:.3f}, F1 at k "
        f"{q['corrupted_f1_at_k']:.3f}, typed outlier/anomaly "
        f"{q['corrupted_typed_anomaly']:.3f}"
    )
    path.unlink()
    return seconds, peak, q


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--baseline-rows",
        type=int,
        default=100_000,
        help="rows of the baseline run made first (0: none)",
    )
    parser.add_argument(
        "--task",
        choices=["classification", "regression"],
        default="classification",
        help="a 4-class label with flipped labels, or a continuous target with "
        "corrupted values",
    )
    parser.add_argument("--out", default="bench_audit_out", help="working folder")
    parser.add_argument("--record", help="also write the report to this file")
    parser.add_argument(
        "audit_args", nargs="*", help="more options for skinfluence audit (after --)"
    )
    args = parser.parse_args()
    report = Report(args.record)
    out = Path(args.out)
    report(
        f"skinfluence audit ({args.task}) on a mixed-type Parquet table; "
        f"{psutil.cpu_count()} CPUs, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    runs = {}
    sizes = [args.baseline_rows] if 0 < args.baseline_rows < args.rows else []
    for rows in [*sizes, args.rows]:
        report()
        runs[rows] = one_run(rows, out, report, args.audit_args, args.task)
    seconds, peak, q = runs[args.rows]
    report()
    within = seconds <= TIME_BUDGET_S and peak <= RSS_BUDGET
    report(
        f"{args.rows} rows: {seconds / 60:.1f} min (budget 10), peak RSS "
        f"{peak / 1e9:.2f} GB (budget 4 GB): "
        + ("within budget" if within else "OVER BUDGET")
    )
    if sizes:
        base_seconds, base_peak, base_q = runs[sizes[0]]
        report(
            f"against {sizes[0]} rows: {args.rows / sizes[0]:.0f}x the rows, "
            f"{seconds / base_seconds:.1f}x the time, {peak / base_peak:.1f}x the "
            f"memory; F1 at k {q['f1_at_k']:.3f} vs {base_q['f1_at_k']:.3f}"
        )
    report.save()
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
