"""Scoring a large training set under a small working memory never builds n x m.

20 000 training rows against a 5 000-row reference: the influence matrix
would hold 10^8 float32 entries (381 MiB). Every tensor torch creates while
scoring is recorded (a dispatch mode sees the output of every aten operator)
and so is numpy's peak (tracemalloc); both must stay a small fraction of it.
"""

import tracemalloc

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from skinfluence import InfluenceGlitchDetector
from skinfluence.signals import _base

from .conftest import tiny_net

N_ROWS, N_REF, WORKING_MEMORY = 20_000, 5_000, 4  # MiB
MATRIX_BYTES = N_ROWS * N_REF * 4
# The largest legitimate tensors: the captured per-epoch factors of the rows
# (n x 16 hidden units) and the streamed c x m blocks, c x m x 4 bytes each.
LIMIT = MATRIX_BYTES // 50


class LargestTensor(TorchDispatchMode):
    """Record the largest storage among the outputs of every torch operator.

    Dispatch modes are thread-local: scoring runs with ``n_jobs=None`` so
    that every chunk is computed in this thread.
    """

    def __init__(self):
        super().__init__()
        self.nbytes, self.op = 0, None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(tensor, torch.Tensor):
                nbytes = tensor.untyped_storage().nbytes()
                if nbytes > self.nbytes:
                    self.nbytes, self.op = nbytes, func
        return out


def test_the_recorder_sees_a_matrix_and_numpy_sees_its_own():
    with LargestTensor() as largest:
        torch.ones(1000, N_REF).sum(1)
    assert largest.nbytes == 1000 * N_REF * 4 > LIMIT
    tracemalloc.start()
    np.ones((1000, N_REF), np.float32).sum(1)
    assert tracemalloc.get_traced_memory()[1] >= 1000 * N_REF * 4 > LIMIT
    tracemalloc.stop()


@pytest.fixture(scope="module")
def large():
    rng = np.random.RandomState(0)
    X = rng.randn(N_ROWS, 5).astype(np.float32)
    y = rng.randint(3, size=N_ROWS)
    det = InfluenceGlitchDetector(
        tiny_net(max_epochs=1, batch_size=256),
        signal="self",
        reference_size=N_REF,
        working_memory=WORKING_MEMORY,
        random_state=0,
    )
    return X, y, det.fit(X, y)


@pytest.fixture
def chunks(monkeypatch):
    """Shapes ``(c, m)`` of the row chunks streamed by ``SignalContext``."""
    seen = []
    reduce_chunk = _base._reduce_chunk

    def spy(reducer, h_rows, e_rows, h_ref_t, e_ref_t, self_index):
        seen.append((h_rows.shape[1], h_ref_t.shape[2]))
        return reduce_chunk(reducer, h_rows, e_rows, h_ref_t, e_ref_t, self_index)

    monkeypatch.setattr(_base, "_reduce_chunk", spy)
    return seen


@pytest.mark.parametrize("signal", ["self", "marginal", "absolute", "gd_class"])
def test_training_rows_are_scored_without_the_matrix(large, chunks, signal):
    _, _, det = large
    assert len(det.reference_indices_) == N_REF
    tracemalloc.start()
    try:
        with LargestTensor() as largest:
            scores = det.compute_signal(signal).scores
        numpy_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert scores.shape == (N_ROWS,) and np.isfinite(scores).all()
    assert largest.nbytes < LIMIT, (largest.nbytes, largest.op)
    assert numpy_peak < LIMIT
    if signal == "absolute":  # streamed: chunks within the working memory
        assert sum(c for c, _ in chunks) == N_ROWS
        assert {m for _, m in chunks} == {N_REF}
        block = max(c for c, _ in chunks) * N_REF * 4
        assert 3 * block <= WORKING_MEMORY * 2**20
        assert largest.nbytes >= block  # the recorder did see the chunk buffers
    else:  # closed forms through class moments: no chunk at all
        assert not chunks


def test_new_rows_are_scored_without_the_matrix(large, chunks):
    X, y, _ = large
    det = InfluenceGlitchDetector(
        tiny_net(max_epochs=1, batch_size=256),
        signal="absolute",
        reference_size=N_REF,
        working_memory=WORKING_MEMORY,
        random_state=0,
        novelty=True,
    ).fit(X[:N_REF], y[:N_REF])
    chunks.clear()
    X_new = X + np.float32(0.5)  # 20 000 new rows against the 5 000 reference rows
    tracemalloc.start()
    try:
        with LargestTensor() as largest:
            scores = det.score_samples(X_new, y)
        numpy_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert scores.shape == (N_ROWS,) and np.isfinite(scores).all()
    assert largest.nbytes < LIMIT, (largest.nbytes, largest.op)
    assert numpy_peak < LIMIT
    assert sum(c for c, _ in chunks) == N_ROWS
    assert 3 * max(c for c, _ in chunks) * N_REF * 4 <= WORKING_MEMORY * 2**20
