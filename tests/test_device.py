"""The ``device=`` path on an accelerator: skipped where torch sees none.

Scores computed from the same captured epochs on the device must equal the
CPU ones (``rtol=1e-4``: float32 reductions run in another order), for every
classification and regression signal that does not call an outside library,
and for new rows scored through ``score_samples``. Training, capture and
``diagnose`` must run there end to end.
``benchmarks/check_device.py`` is the fuller check (larger data, speed-up).

``SKINFLUENCE_TEST_DEVICE`` names another device (``cpu`` runs the module's
own logic on a machine without an accelerator).
"""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.base import clone

from skinfluence import InfluenceGlitchDetector, InfluenceGlitchRegressor
from skinfluence.models import make_net
from skinfluence.signals import available, available_regression_signals

from .conftest import tiny_net, tiny_regression_net
from .test_models import SMALL, _backbone

DEVICE = os.environ.get("SKINFLUENCE_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(
    DEVICE == "cuda" and not torch.cuda.is_available(),
    reason="no CUDA device visible to torch",
)

# ``cleanlab`` is left out: it scores probabilities with numpy in cleanlab,
# the same on any device, and cleanlab is an optional dependency.
SIGNALS = [s for s in available()["name"] if s != "cleanlab"]
REGRESSION_SIGNALS = [
    s for s in available_regression_signals()["name"] if s != "cleanlab"
]


def assert_scores_equal(got, expected):
    scale = np.abs(expected).max() or 1.0
    assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * scale)


@pytest.fixture(scope="module")
def on_cuda(fitted_val, noisy_data):
    """A CPU fit equal to ``fitted_val``, its captured epochs scored on the device."""
    d = noisy_data
    det = clone(fitted_val).fit(d["X"], d["y"], X_val=d["X_val"], y_val=d["y_val"])
    return det.set_params(device=DEVICE)


@pytest.fixture(scope="module")
def regressor_on_cuda(fitted_regressor, regression_data):
    """A CPU fit equal to ``fitted_regressor``, scored on the device."""
    d = regression_data
    det = clone(fitted_regressor).set_params(novelty=True)
    det.fit(d["X"], d["y"], X_val=d["X_val"], y_val=d["y_val"])
    return det.set_params(device=DEVICE)


@pytest.mark.parametrize("estimator", ["on_cuda", "regressor_on_cuda"])
def test_scoring_runs_on_the_device_set_after_fit(request, estimator):
    det = request.getfixturevalue(estimator)
    context = det.scoring_.context(**det._options())
    assert det.trajectory_.train.h.device.type == "cpu"
    assert context.rows.h.device.type == torch.device(DEVICE).type
    assert context.reference.h.device.type == torch.device(DEVICE).type


@pytest.mark.parametrize("signal", SIGNALS)
def test_scores_on_cuda_equal_the_cpu_scores(fitted_val, on_cuda, signal):
    assert_scores_equal(
        on_cuda.compute_signal(signal).scores,
        fitted_val.compute_signal(signal).scores,
    )


def test_new_rows_on_cuda_score_as_on_the_cpu(fitted_val, on_cuda, noisy_data):
    X, y = noisy_data["X_val"][:7], noisy_data["y_val"][:7]
    for signal in ["self", "neighbor_influence", "auto"]:
        cpu = fitted_val.set_params(signal=signal).score_samples(X, y)
        dev = on_cuda.set_params(signal=signal).score_samples(X, y)
        assert_scores_equal(dev, cpu)
    fitted_val.set_params(signal="gd_class")


@pytest.mark.parametrize("signal", REGRESSION_SIGNALS)
def test_regression_scores_on_cuda_equal_the_cpu_scores(
    fitted_regressor, regressor_on_cuda, signal
):
    assert_scores_equal(
        regressor_on_cuda.compute_signal(signal).scores,
        fitted_regressor.compute_signal(signal).scores,
    )


def test_regression_new_rows_and_diagnosis_on_cuda(
    fitted_regressor, regressor_on_cuda, regression_data
):
    d = regression_data
    cpu = clone(regressor_on_cuda).set_params(device="cpu")
    cpu.fit(d["X"], d["y"], X_val=d["X_val"], y_val=d["y_val"])
    assert_scores_equal(
        regressor_on_cuda.score_samples(d["X_val"][:6], d["y_val"][:6]),
        cpu.score_samples(d["X_val"][:6], d["y_val"][:6]),
    )
    cpu, dev = fitted_regressor.diagnose(), regressor_on_cuda.diagnose()
    assert (cpu["glitch_type"] == dev["glitch_type"]).mean() > 0.95
    assert_allclose(dev["suggested_target"], cpu["suggested_target"], rtol=1e-3)


@pytest.mark.parametrize(
    "estimator, net, data",
    [
        (InfluenceGlitchDetector, tiny_net, "noisy_data"),
        (InfluenceGlitchRegressor, tiny_regression_net, "regression_data"),
    ],
)
def test_training_and_capture_run_on_cuda(request, estimator, net, data):
    d = request.getfixturevalue(data)
    det = estimator(net(), device=DEVICE, random_state=0, novelty=True)
    det.fit(d["X"], d["y"], X_val=d["X_val"], y_val=d["y_val"])
    assert det.trajectory_.train.h.device.type == torch.device(DEVICE).type
    assert np.isfinite(det.glitch_scores_).all()
    assert np.isfinite(det.score_samples(d["X"][:5], d["y"][:5])).all()
    assert len(det.diagnose()) == len(d["X"])


@pytest.mark.parametrize("name", list(SMALL))
def test_every_model_family_trains_and_scores_on_cuda(name):
    """Each registered net (small) trains, is captured and scored on the device."""
    rng = np.random.default_rng(0)
    X = rng.random((65, 64)).astype(np.float32)
    y = np.arange(65) % 3
    X[:, :8] += y[:, None]
    kwargs = dict(SMALL[name])
    if name == "PretrainedBackbone":
        kwargs["backbone"] = _backbone()
    template = make_net(name, max_epochs=2, batch_size=32, **kwargs)
    det = InfluenceGlitchDetector(template, device=DEVICE, random_state=0)
    det.fit(X, y)
    assert det.trajectory_.train.h.device.type == torch.device(DEVICE).type
    assert np.isfinite(det.glitch_scores_).all()


@pytest.mark.parametrize("projection_dim", [None, 8])
def test_layer_gradients_score_on_cuda_as_on_the_cpu(noisy_data, projection_dim):
    """``layers=`` (per-sample gradients, optionally projected) on the device."""
    d = noisy_data
    cpu = InfluenceGlitchDetector(
        tiny_net(),
        layers=["body.0", "head"],
        projection_dim=projection_dim,
        random_state=0,
        novelty=True,
    ).fit(d["X"], d["y"])
    dev = clone(cpu).fit(d["X"], d["y"]).set_params(device=DEVICE)
    for signal in ["self", "marginal", "absolute", "neighbor_influence"]:
        assert_scores_equal(
            dev.compute_signal(signal).scores, cpu.compute_signal(signal).scores
        )
    X_new, y_new = d["X_val"][:5], d["y_val"][:5]
    assert_scores_equal(
        dev.score_samples(X_new, y_new), cpu.score_samples(X_new, y_new)
    )


@pytest.mark.skipif(DEVICE != "cuda", reason="pickles a CUDA fit")
def test_a_cuda_fit_loads_and_scores_on_a_machine_without_cuda(noisy_data, tmp_path):
    """Fitted on the GPU, pickled, loaded where torch sees none (a subprocess)."""
    d = noisy_data
    det = InfluenceGlitchDetector(tiny_net(), device="cuda", random_state=0)
    det.set_params(novelty=True).fit(d["X"], d["y"], X_val=d["X_val"], y_val=d["y_val"])
    (tmp_path / "det.pkl").write_bytes(pickle.dumps(det))
    np.save(tmp_path / "X.npy", d["X"][:9])
    np.save(tmp_path / "y.npy", d["y"][:9])
    script = f"""
import pickle, warnings, numpy as np, torch
assert not torch.cuda.is_available()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    det = pickle.loads(open({str(tmp_path / "det.pkl")!r}, "rb").read())
assert any("loaded on the CPU" in str(w.message) for w in caught), caught
assert det.device == "cpu" and det.trajectory_.train.h.device.type == "cpu"
X, y = np.load({str(tmp_path / "X.npy")!r}), np.load({str(tmp_path / "y.npy")!r})
np.save({str(tmp_path / "scores.npy")!r}, det.score_samples(X, y))
det.diagnose()
"""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    assert_scores_equal(
        np.load(tmp_path / "scores.npy"), det.score_samples(d["X"][:9], d["y"][:9])
    )


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_audit_runs_on_cuda(task):
    """``skinfluence.audit`` (the CLI's ``--device``) end to end on the device."""
    import pandas as pd

    from skinfluence import audit

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = X[:, 0] + X[:, 1] if task == "regression" else (X[:, 0] > 0).astype(int)
    frame = pd.DataFrame(X, columns=list("abcd")).assign(target=y)
    report = audit(
        frame, "target", task=task, epochs=3, detector_params={"device": DEVICE}
    )
    assert len(report.table) == len(frame)
    assert report.summary()
