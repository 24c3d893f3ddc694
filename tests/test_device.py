"""The ``device=`` path on an accelerator: skipped where torch sees none.

``benchmarks/check_device.py`` is the fuller check (larger data, speed-up).
"""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from skinfluence import InfluenceGlitchDetector

from .conftest import tiny_net

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device visible to torch"
)

SIGNALS = ["self", "marginal", "absolute", "gd_class", "neighbor_influence", "auto"]


@pytest.mark.parametrize("signal", SIGNALS)
def test_scores_on_cuda_equal_the_cpu_scores(fitted_val, noisy_data, signal):
    d = noisy_data
    on_cuda = InfluenceGlitchDetector(tiny_net(), signal="gd_class", random_state=0)
    on_cuda.fit(d["X"], d["y"], X_val=d["X_val"], y_val=d["y_val"])
    on_cuda.set_params(device="cuda")
    expected = fitted_val.compute_signal(signal).scores
    scale = np.abs(expected).max()
    assert_allclose(
        on_cuda.compute_signal(signal).scores, expected, rtol=1e-4, atol=1e-4 * scale
    )


def test_training_and_capture_run_on_cuda(noisy_data):
    d = noisy_data
    det = InfluenceGlitchDetector(tiny_net(), device="cuda", random_state=0)
    det.fit(d["X"], d["y"], X_val=d["X_val"], y_val=d["y_val"])
    assert det.trajectory_.train.h.device.type == "cuda"
    assert np.isfinite(det.glitch_scores_).all()
    assert np.isfinite(det.score_samples(d["X"][:5], d["y"][:5])).all()
