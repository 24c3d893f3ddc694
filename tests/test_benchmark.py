"""The benchmark: grid, runner (resume, joblib backends), figures and CLI."""

import warnings

import joblib
import matplotlib
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from skinfluence.benchmark import (
    DatasetSpec,
    GlitchSpec,
    Grid,
    ModelSpec,
    _runner,
    clustered_accuracy_table,
    get_preset,
    load_results,
    plot_epoch_f1,
    plot_ratio_f1,
    plot_signal_f1,
    run_benchmark,
    summary_table,
    write_report,
)
from skinfluence.benchmark._grid import pool_cells
from skinfluence.cli import main

matplotlib.use("Agg")

REQUIRED = [
    "dataset",
    "model",
    "glitch",
    "ratio",
    "seed",
    "signal",
    "f1_at_k",
    "roc_auc",
    "average_precision",
    "val_accuracy",
    "glitched_accuracy",
    "fit_seconds",
    "score_seconds",
]
# Everything but the wall-clock times, which differ between runs.
STABLE = [c for c in _runner.SCORE_COLUMNS if not c.endswith("_seconds")]

TINY_MLP = ModelSpec(
    "MLP", params=(("max_epochs", 2), ("batch_size", 32), ("hidden_sizes", (8,)))
)
UNIFORM = GlitchSpec("uniform", "UniformLabelNoise")


def tiny_grid(seeds=(0,), signals=("self", "marginal"), glitches=(UNIFORM,)):
    return Grid(
        datasets=(DatasetSpec("wine"),),
        models=(TINY_MLP,),
        glitches=glitches,
        seeds=seeds,
        signals=signals,
    )


@pytest.fixture
def count_trainings(monkeypatch):
    """Count the cells trained in this process (sequential backend)."""
    calls = []
    original = _runner._run_cell

    def counting(cell, data_home):
        calls.append(cell.key)
        return original(cell, data_home)

    monkeypatch.setattr(_runner, "_run_cell", counting)
    return calls


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return run_benchmark(tiny_grid(seeds=(0, 1)), out, n_jobs=1, progress=False)


def _stable(scores):
    keys = ["dataset", "model", "glitch", "ratio", "seed", "signal"]
    return scores[STABLE].sort_values(keys).reset_index(drop=True)


# ---------------------------------------------------------------------- grid


def test_grid_matches_modalities():
    grid = Grid(
        datasets=(DatasetSpec("wine"), DatasetSpec("digits", "image")),
        models=(ModelSpec("MLP"), ModelSpec("SmallCNN", modalities=("image",))),
        glitches=(
            UNIFORM,
            GlitchSpec(
                "near", "RareClassAnomalies", "clustered", modalities=("tabular",)
            ),
        ),
        ratios=(0.1, 0.2),
        seeds=(0,),
        signals=("self",),
    )
    combos = {(c.dataset.name, c.model.name, c.glitch.name) for c in grid.cells()}
    assert ("digits", "SmallCNN", "near") not in combos
    assert ("wine", "SmallCNN", "uniform") not in combos
    assert ("wine", "MLP", "near") in combos
    assert len(grid.cells()) == 2 * (
        2 + 2
    )  # ratios x (wine: 2 glitches, digits: 2 models)


def test_grid_validates_modalities():
    with pytest.raises(ValueError, match="modality"):
        DatasetSpec("wine", "text")
    with pytest.raises(ValueError, match="family"):
        GlitchSpec("x", "UniformLabelNoise", family="typo")


def test_cell_keys_are_unique_and_track_specs():
    cells = pool_cells(get_preset("quick"))
    assert len({c.key for c in cells}) == len(cells)
    edited = Grid(
        (DatasetSpec("wine"),),
        (ModelSpec("MLP", params=(("lr", 0.2),)),),
        (UNIFORM,),
        seeds=(0,),
        signals=("self",),
    )
    assert edited.cells()[0].key != tiny_grid().cells()[0].key


def test_pooled_cells_run_once_with_the_union_of_signals():
    cells = pool_cells((tiny_grid(signals=("self",)), tiny_grid(signals=("marginal",))))
    assert len(cells) == 1
    assert cells[0].signals == ("self", "marginal")


def test_presets():
    quick = pool_cells(get_preset("quick"))
    kinds = {c.glitch.name for c in quick}
    assert kinds == {
        "uniform",
        "class_dependent",
        "far_shared",
        "far_random",
        "near",
        "outlier",
    }
    assert {c.model.name for c in quick} == {"MLP", "SmallCNN"}
    assert {c.ratio for c in quick} == {0.01, 0.05, 0.1, 0.2, 0.3}
    paper = pool_cells(get_preset("paper"))
    assert {c.dataset.name for c in paper} == {
        "mnist",
        "fashion_mnist",
        "cifar10",
        "jannis",
        "covertype",
        "epsilon",
    }
    assert {c.model.name for c in paper if c.dataset.modality == "image"} == {
        "SmallCNN",
        "ResNet20",
    }
    with pytest.raises(ValueError, match="Unknown preset"):
        get_preset("nope")


# -------------------------------------------------------------------- runner


def test_tidy_tables(tiny_run):
    scores, epochs = tiny_run.scores, tiny_run.epoch_f1
    assert set(REQUIRED) <= set(scores.columns)
    assert len(scores) == 2 * 2  # 2 cells x 2 signals
    assert scores["error"].isna().all()
    assert scores[["f1_at_k", "roc_auc", "average_precision"]].notna().all().all()
    assert ((scores["f1_at_k"] >= 0) & (scores["f1_at_k"] <= 1)).all()
    assert (scores["n_glitched"] == np.round(0.1 * scores["n_train"])).all()
    # 2 cells x 2 signals x 2 epochs
    assert len(epochs) == 8 and set(epochs["epoch"]) == {1, 2}
    out = tiny_run.out_dir
    assert (out / "scores.csv").exists() and (out / "epoch_f1.csv").exists()
    pytest.importorskip("pyarrow")
    assert_frame_equal(
        _stable(pd.read_parquet(out / "scores.parquet")), _stable(scores)
    )


def test_rerun_trains_nothing(tiny_run, count_trainings):
    again = run_benchmark(tiny_grid(seeds=(0, 1)), tiny_run.out_dir, progress=False)
    assert count_trainings == []
    assert (again.n_trained, again.n_reused) == (0, 2)
    assert_frame_equal(_stable(again.scores), _stable(tiny_run.scores))


def test_resume_after_interruption(tmp_path, count_trainings):
    run_benchmark(tiny_grid(seeds=(0, 1)), tmp_path, n_jobs=1, progress=False)
    assert len(count_trainings) == 2
    lost = sorted((tmp_path / "cells").glob("*__s1__*.joblib"))
    assert len(lost) == 1
    lost[0].unlink()
    (tmp_path / "cells" / "half-written.joblib.part").write_bytes(b"\0")
    result = run_benchmark(tiny_grid(seeds=(0, 1)), tmp_path, n_jobs=1, progress=False)
    assert len(count_trainings) == 3 and count_trainings[-1].endswith(lost[0].stem[-8:])
    assert result.n_trained == 1 and len(result.scores) == 4


def test_new_signal_rescores_the_cell(tmp_path, count_trainings):
    run_benchmark(tiny_grid(signals=("self",)), tmp_path, progress=False)
    result = run_benchmark(
        tiny_grid(signals=("self", "loss")), tmp_path, progress=False
    )
    assert len(count_trainings) == 2
    assert set(result.scores["signal"]) == {"self", "loss"}
    # Asking for fewer signals reuses the cell and reports only those.
    result = run_benchmark(tiny_grid(signals=("loss",)), tmp_path, progress=False)
    assert len(count_trainings) == 2 and set(result.scores["signal"]) == {"loss"}


def test_threading_backend_gives_equal_results(tiny_run, tmp_path):
    with joblib.parallel_config(backend="threading", n_jobs=2):
        result = run_benchmark(tiny_grid(seeds=(0, 1)), tmp_path, progress=False)
    assert result.n_trained == 2
    assert_frame_equal(_stable(result.scores), _stable(tiny_run.scores))


def test_dask_backend_gives_equal_results(tiny_run, tmp_path):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.Client(
            processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
        ),
        joblib.parallel_config(backend="dask"),
    ):
        result = run_benchmark(tiny_grid(seeds=(0, 1)), tmp_path, progress=False)
    assert result.n_trained == 2
    assert_frame_equal(_stable(result.scores), _stable(tiny_run.scores))


def test_failed_cell_is_reported_and_retried(tmp_path, count_trainings):
    grid = Grid(
        (DatasetSpec("no_such_set"),),
        (TINY_MLP,),
        (UNIFORM,),
        seeds=(0,),
        signals=("self",),
    )
    with pytest.warns(RuntimeWarning, match="1 of 1 cells failed"):
        result = run_benchmark(grid, tmp_path, progress=False)
    assert "Unknown dataset" in result.failures["error"].iloc[0]
    assert result.scores.empty and not list((tmp_path / "cells").iterdir())
    with pytest.warns(RuntimeWarning):
        run_benchmark(grid, tmp_path, progress=False)
    assert len(count_trainings) == 2


def test_clustered_glitches_and_images(tmp_path):
    far = GlitchSpec(
        "far_shared",
        "ForeignClusterAnomalies",
        "clustered",
        params=(("label_mode", "shared"),),
    )
    grid = Grid(
        datasets=(DatasetSpec("digits", "image", foreign="photos"),),
        models=(
            ModelSpec(
                "SmallCNN",
                params=(("max_epochs", 1), ("channels", (4,)), ("hidden_size", 8)),
            ),
        ),
        glitches=(far, GlitchSpec("outlier", "FeatureCorruption", "outlier")),
        seeds=(0,),
        signals=("self",),
    )
    result = run_benchmark(grid, tmp_path, progress=False)
    assert len(result.failures) == 0
    far_row = result.scores[result.scores["glitch"] == "far_shared"].iloc[0]
    assert far_row["n_train"] == 1437 + far_row["n_glitched"]
    assert np.isnan(far_row["glitched_true_accuracy"])


def test_load_results_roundtrip(tiny_run):
    loaded = load_results(tiny_run.out_dir)
    assert_frame_equal(
        _stable(loaded.scores), _stable(tiny_run.scores), check_dtype=False
    )
    assert len(loaded.epoch_f1) == len(tiny_run.epoch_f1)


# ------------------------------------------------------------------- figures


def _fake_scores():
    """Scores of a small fake grid with a ratio sweep: no training needed."""
    rng = np.random.RandomState(0)
    rows, epochs = [], []
    for dataset, modality, model in [
        ("wine", "tabular", "MLP"),
        ("digits", "image", "SmallCNN"),
    ]:
        for glitch, family in [("uniform", "mislabeled"), ("far_shared", "clustered")]:
            for ratio in (0.01, 0.1, 0.3):
                for seed in (0, 1):
                    cell = dict(
                        dataset=dataset,
                        modality=modality,
                        model=model,
                        glitch=glitch,
                        glitch_family=family,
                        ratio=ratio,
                        seed=seed,
                    )
                    for signal in ("self", "marginal", "loss"):
                        rows.append(
                            {
                                **cell,
                                "signal": signal,
                                "f1_at_k": rng.rand(),
                                "glitched_accuracy": rng.rand(),
                                "clean_accuracy": 1.0,
                                "val_accuracy": 0.9,
                            }
                        )
                        for epoch in (1, 2, 3):
                            epochs.append(
                                {
                                    **cell,
                                    "signal": signal,
                                    "epoch": epoch,
                                    "f1_at_k": rng.rand(),
                                }
                            )
    return pd.DataFrame(rows), pd.DataFrame(epochs)


def test_summary_and_clustered_tables():
    scores, _ = _fake_scores()
    table = summary_table(scores)
    assert list(table.index) == ["self", "marginal", "loss"]
    assert list(table.columns) == ["uniform", "far_shared"]
    expected = scores[
        (scores["ratio"] == 0.1)
        & (scores["signal"] == "loss")
        & (scores["glitch"] == "uniform")
    ]["f1_at_k"].mean()
    assert table.loc["loss", "uniform"] == pytest.approx(expected)
    accuracy = clustered_accuracy_table(scores)
    assert set(accuracy["glitch"]) == {"far_shared"}
    assert len(accuracy) == 2 * 3  # 2 dataset-models x 3 ratios
    assert (accuracy["n_seeds"] == 2).all()


def test_figures_draw():
    scores, epochs = _fake_scores()
    fig = plot_signal_f1(scores)
    assert len(fig.axes) == 2 + 1  # two model panels and the colour bar
    fig = plot_ratio_f1(scores)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 4
    assert plot_ratio_f1(scores[scores["ratio"] == 0.1]) is None
    fig = plot_epoch_f1(epochs)
    assert "far_shared" in fig._suptitle.get_text()
    assert plot_epoch_f1(epochs.iloc[:0]) is None


def test_write_report(tiny_run, tmp_path):
    paths = write_report(tiny_run, tmp_path)
    assert {"summary_f1", "clustered_accuracy", "signal_f1", "epoch_f1"} <= set(paths)
    assert "ratio_f1" not in paths  # one ratio only
    for path in paths.values():
        assert path.exists() and path.stat().st_size > 0
    summary = pd.read_csv(paths["summary_f1"], index_col=0)
    assert list(summary.index) == ["self", "marginal"]


# ----------------------------------------------------------------------- CLI


def test_cli_benchmark_tiny(tmp_path, capsys):
    out, export = tmp_path / "out", tmp_path / "export"
    code = main(
        [
            "benchmark",
            "--preset",
            "tiny",
            "--out",
            str(out),
            "--n-jobs",
            "1",
            "--export",
            str(export),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "1 cells trained" in printed and "Mean F1 at k" in printed
    assert "self" in printed and "uniform" in printed
    assert (out / "scores.csv").exists() and (export / "signal_f1.png").exists()
    # A rerun resumes, and --signals narrows the signals.
    assert (
        main(
            [
                "benchmark",
                "--preset",
                "tiny",
                "--out",
                str(out),
                "--signals",
                "self",
                "--no-figures",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "0 cells trained, 1 reused" in printed and "marginal" not in printed


def test_cli_parses_quick_and_paper(monkeypatch):
    seen = []
    monkeypatch.setattr(
        "skinfluence.cli._benchmark", lambda args: seen.append(args) or 0
    )
    import skinfluence.cli as cli

    parser_args = [
        ["benchmark"],
        ["benchmark", "--quick"],
        ["benchmark", "--paper", "--n-jobs", "4", "--out", "x"],
    ]
    for argv in parser_args:
        cli.main(argv)
    assert [a.preset for a in seen] == ["quick", "quick", "paper"]
    assert seen[0].n_jobs == -1 and seen[0].out == "benchmark_out"
    assert seen[2].n_jobs == 4 and seen[2].out == "x"
    with pytest.raises(SystemExit):
        cli.main(["benchmark", "--quick", "--paper"])


def test_paper_datasets_through_fetch_paper_dataset(monkeypatch, tmp_path):
    """Paper cells, offline: a fake fetch_paper_dataset with the real shapes."""
    from sklearn.utils import Bunch

    from skinfluence.benchmark import _data

    shapes = {"cifar10": (3, 32, 32), "fashion_mnist": (1, 28, 28), "jannis": None}

    def fake_fetch(name, *, data_home=None, random_state=None):
        rng = np.random.RandomState(random_state)
        shape = shapes[name]
        n_features = 6 if shape is None else int(np.prod(shape))
        X = rng.rand(100, n_features).astype(np.float32)
        y = np.arange(100) % 4
        return Bunch(
            X_train=X[:80],
            X_val=X[80:],
            y_train=y[:80],
            y_val=y[80:],
            image_shape=shape,
        )

    cached = []
    monkeypatch.setattr(_data, "fetch_paper_dataset", fake_fetch)
    monkeypatch.setattr(
        _data, "download_paper_datasets", lambda names, data_home: cached.append(names)
    )
    _data._load_split.cache_clear()
    far = GlitchSpec(
        "far_shared",
        "ForeignClusterAnomalies",
        "clustered",
        params=(("label_mode", "shared"),),
        modalities=("image",),
    )
    near = GlitchSpec(
        "near", "RareClassAnomalies", "clustered", modalities=("tabular",)
    )
    cnn = ModelSpec(
        "SmallCNN",
        params=(("max_epochs", 1), ("channels", (2,)), ("hidden_size", 4)),
        modalities=("image",),
    )
    grid = Grid(
        datasets=(
            DatasetSpec("cifar10", "image", foreign="fashion_mnist"),
            DatasetSpec("jannis"),
        ),
        models=(TINY_MLP, cnn),
        glitches=(far, near),
        seeds=(0,),
        signals=("self",),
    )
    try:
        result = run_benchmark(grid, tmp_path, progress=False)
        # Fashion-MNIST rows resized into 3 x 32 x 32 CIFAR rows.
        pool = _data._foreign_pool("fashion_mnist", (3, 32, 32), 0, None)
    finally:
        _data._load_split.cache_clear()
    assert pool.shape == (20, 3 * 32 * 32)  # one class of the 80 training rows
    assert len(result.failures) == 0
    # Every dataset, the foreign pool's too, cached once before the cells.
    assert cached == [["cifar10", "fashion_mnist", "jannis"]]
    cells = set(
        zip(result.scores["dataset"], result.scores["model"], result.scores["glitch"])
    )
    assert cells == {
        ("cifar10", "MLP", "far_shared"),
        ("cifar10", "SmallCNN", "far_shared"),
        ("jannis", "MLP", "near"),
    }


def test_offline_paper_dataset_fails_once_before_any_training(
    monkeypatch, tmp_path, count_trainings, capsys
):
    """Offline and not cached: one clear error, not a failure per cell."""
    from skinfluence.datasets import DatasetUnavailableError, _openml

    attempts = []

    def unreachable(dataset_id, data_home):
        attempts.append(dataset_id)
        raise OSError("Name or service not known")

    monkeypatch.setattr(_openml, "_download", unreachable)
    grid = Grid(
        datasets=(DatasetSpec("jannis"), DatasetSpec("covertype")),
        models=(TINY_MLP,),
        glitches=(UNIFORM,),
        seeds=(0, 1, 2),
        signals=("self",),
    )
    home = tmp_path / "home"
    with pytest.raises(DatasetUnavailableError, match="'covertype'"):
        run_benchmark(grid, tmp_path / "out", n_jobs=1, progress=False, data_home=home)
    assert attempts == [1596] and count_trainings == []

    # The command line: the message, exit status 1, no traceback.
    args = ["benchmark", "--paper", "--out", str(tmp_path / "cli"), "-q"]
    assert main([*args, "--data-home", str(home)]) == 1
    err = capsys.readouterr().err
    assert "skinfluence: error: Cannot download" in err and str(home) in err
    assert "Traceback" not in err and count_trainings == []


def test_a_net_that_learns_nothing_is_a_result_not_a_warning(tmp_path):
    """The detector's not-learnt warning stays out of a benchmark's output."""
    from sklearn.exceptions import ConvergenceWarning

    frozen = ModelSpec(
        "MLP", params=(("max_epochs", 1), ("lr", 1e-7), ("hidden_sizes", (4,)))
    )
    grid = Grid(
        datasets=(DatasetSpec("wine"),),
        models=(frozen,),
        glitches=(UNIFORM,),
        seeds=(0,),
        signals=("self",),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = run_benchmark(grid, tmp_path, n_jobs=1, progress=False)
    assert len(result.failures) == 0
    # Recorded instead: about the majority class's share (0.40 of wine).
    assert result.scores["clean_accuracy"].iloc[0] < 0.5


def test_unknown_signal_is_refused_before_any_training(tmp_path, count_trainings):
    grid = tiny_grid(signals=("self", "bogus"))
    with pytest.raises(ValueError, match=r"Unknown signal\(s\) \['bogus'\]"):
        run_benchmark(grid, tmp_path, n_jobs=1, progress=False)
    assert count_trainings == []


def test_cli_benchmark_checks_signals_and_n_jobs(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr("skinfluence.cli._benchmark", seen.append)
    for argv, message in [
        (
            ["--signals", "self,bogus"],
            "argument --signals: unknown signal 'bogus'; available signals: self,",
        ),
        (["--signals", ","], "argument --signals: expected signal names"),
        (["--n-jobs", "0"], "argument --n-jobs: expected a positive count"),
    ]:
        with pytest.raises(SystemExit) as error:
            main(["benchmark", *argv])
        assert error.value.code == 2
        assert message in capsys.readouterr().err
    assert seen == []
    main(["benchmark", "--signals", " self, loss "])
    assert seen[0].signals == ("self", "loss")
