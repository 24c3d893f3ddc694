"""Chunked scoring through joblib: n_jobs and a Dask cluster give the local scores."""

import joblib
import pytest
from numpy.testing import assert_allclose

from skinfluence import InfluenceGlitchDetector

from .conftest import tiny_net


@pytest.fixture(scope="module")
def absolute(noisy_data):
    det = InfluenceGlitchDetector(tiny_net(), signal="absolute", working_memory=0.002)
    return det.set_params(random_state=0).fit(noisy_data["X"], noisy_data["y"])


def test_n_jobs_gives_the_same_scores(absolute, noisy_data):
    parallel = InfluenceGlitchDetector(
        tiny_net(), signal="absolute", working_memory=0.002, n_jobs=2, random_state=0
    ).fit(noisy_data["X"], noisy_data["y"])
    assert_allclose(parallel.glitch_scores_, absolute.glitch_scores_, rtol=1e-6)


def test_dask_cluster_gives_the_same_scores(absolute):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.Client(
            processes=False, n_workers=1, threads_per_worker=2
        ) as client,
        joblib.parallel_config(backend="dask"),
        distributed.get_task_stream(client) as tasks,
    ):
        scores = absolute.compute_signal("absolute").scores
    assert len(tasks.data) > 1  # the row chunks really ran on the cluster
    assert_allclose(scores, absolute.glitch_scores_, rtol=1e-6)
