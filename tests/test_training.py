"""The training run: caching with memory=, and the in-pass capture mode."""

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import GridSearchCV

from skinfluence import InfluenceGlitchDetector, _training
from skinfluence.metrics import f1_at_k
from skinfluence.tracin import TracInCapture

from .conftest import tiny_net


@pytest.fixture
def count_trainings(monkeypatch):
    calls = []
    original = _training.TracInCapture.on_train_begin

    def counting(self, net, **kwargs):
        calls.append(1)
        return original(self, net, **kwargs)

    monkeypatch.setattr(_training.TracInCapture, "on_train_begin", counting)
    return calls


def test_grid_search_over_signals_trains_once_per_fold(
    noisy_data, tmp_path, count_trainings
):
    d = noisy_data
    det = InfluenceGlitchDetector(tiny_net(), random_state=0, memory=str(tmp_path))
    grid = {"signal": ["self", "marginal", "gd_class"], "checkpoints": ["all", "late"]}
    cv = [(np.arange(120), np.arange(120))] * 1 + [(np.arange(60), np.arange(60, 120))]
    with sklearn.config_context(enable_metadata_routing=True):
        det.set_score_request(glitch_mask=True)
        search = GridSearchCV(det, grid, cv=cv, refit=False)
        search.fit(d["X"], d["y"], glitch_mask=d["mask"])
    # 6 candidates x 2 folds = 12 fits, but only 2 distinct trainings (one per fold).
    assert len(count_trainings) == 2
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_cached_fit_equals_uncached(noisy_data, tmp_path):
    d = noisy_data
    plain = InfluenceGlitchDetector(tiny_net(), signal="gd_class", random_state=0)
    cached = InfluenceGlitchDetector(
        tiny_net(), signal="gd_class", random_state=0, memory=str(tmp_path)
    )
    first = cached.fit(d["X"], d["y"]).glitch_scores_.copy()
    assert_array_equal(cached.fit(d["X"], d["y"]).glitch_scores_, first)
    assert_allclose(plain.fit(d["X"], d["y"]).glitch_scores_, first)


def test_memory_key_includes_the_network(noisy_data, tmp_path, count_trainings):
    d = noisy_data
    for lr in (0.1, 0.05, 0.1):
        InfluenceGlitchDetector(
            tiny_net(lr=lr), random_state=0, memory=str(tmp_path)
        ).fit(d["X"], d["y"])
    assert len(count_trainings) == 2


def test_in_pass_capture_is_close_to_exact(noisy_data):
    d = noisy_data
    exact = InfluenceGlitchDetector(tiny_net(max_epochs=6), random_state=0)
    in_pass = InfluenceGlitchDetector(
        tiny_net(max_epochs=6), random_state=0, capture="in_pass"
    )
    exact.fit(d["X"], d["y"], X_val=d["X_val"], y_val=d["y_val"])
    in_pass.fit(d["X"], d["y"], X_val=d["X_val"], y_val=d["y_val"])
    # Same seed, same shuffling: the trained weights are identical ...
    for a, b in zip(
        exact.trajectory_.states[-1].values(),
        in_pass.trajectory_.states[-1].values(),
        strict=True,
    ):
        assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    # ... the reference factors are exact in both modes ...
    assert_allclose(
        exact.trajectory_.reference.h.numpy(),
        in_pass.trajectory_.reference.h.numpy(),
        atol=1e-5,
    )
    # ... and the in-pass training factors are last epoch's mid-epoch view:
    # close, not equal, and they rank the flipped rows about as well.
    assert not np.allclose(
        exact.trajectory_.train.h.numpy(), in_pass.trajectory_.train.h.numpy()
    )
    mask = d["mask"]
    assert (
        f1_at_k(mask, in_pass.glitch_scores_)
        >= f1_at_k(mask, exact.glitch_scores_) - 0.2
    )
    assert np.corrcoef(exact.glitch_scores_, in_pass.glitch_scores_)[0, 1] > 0.9


def test_in_pass_capture_records_every_row_in_its_place(noisy_data):
    """With lr=0 the weights never move: in-pass factors equal exact ones."""
    d = noisy_data
    exact = InfluenceGlitchDetector(tiny_net(lr=0.0, max_epochs=2), random_state=0)
    in_pass = InfluenceGlitchDetector(
        tiny_net(lr=0.0, max_epochs=2), random_state=0, capture="in_pass"
    )
    exact.fit(d["X"], d["y"])
    in_pass.fit(d["X"], d["y"])
    assert_allclose(
        in_pass.trajectory_.train.h.numpy(),
        exact.trajectory_.train.h.numpy(),
        atol=1e-6,
    )
    assert_allclose(
        in_pass.trajectory_.train.p.numpy(),
        exact.trajectory_.train.p.numpy(),
        atol=1e-6,
    )


def test_checkpoints_on_disk_are_read_safely_and_cleaned_up(
    fitted, noisy_data, tmp_path
):
    import gc
    import pickle

    d = noisy_data
    det = InfluenceGlitchDetector(
        tiny_net(),
        random_state=0,
        state_dir=str(tmp_path),
        standardize=False,
        novelty=True,
    )
    det.fit(d["X"], d["y"])
    paths = det.trajectory_.states
    assert all(isinstance(p, str) and p.startswith(str(tmp_path)) for p in paths)
    assert_array_equal(det.glitch_scores_, fitted.glitch_scores_)
    X_new = d["X"][:6] + 0.5
    assert_allclose(det.score_samples(X_new), fitted.score_samples(X_new), rtol=1e-6)
    restored = pickle.loads(pickle.dumps(det))
    assert all(isinstance(s, dict) for s in restored.trajectory_.states)
    del det
    gc.collect()
    assert not any(tmp_path.iterdir())  # the detector's folder went with it
    assert_allclose(
        restored.score_samples(X_new), fitted.score_samples(X_new), rtol=1e-6
    )


def test_checkpoint_dir_is_the_deprecated_name_of_state_dir(noisy_data, tmp_path):
    d = noisy_data
    det = InfluenceGlitchDetector(tiny_net(max_epochs=2), checkpoint_dir=str(tmp_path))
    with pytest.warns(FutureWarning, match="renamed state_dir"):
        det.fit(d["X"], d["y"])
    assert all(p.startswith(str(tmp_path)) for p in det.trajectory_.states)
    both = det.set_params(state_dir=str(tmp_path))
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="state_dir only"):
        both.fit(d["X"], d["y"])


def test_capture_callback_accepts_its_old_folder_name(noisy_data, tmp_path):
    d = noisy_data
    capture = TracInCapture(d["X"], checkpoint_dir=str(tmp_path))
    net = tiny_net(
        max_epochs=1,
        callbacks=[("capture", capture)],
        module__n_features=5,
        module__n_classes=3,
    )
    with pytest.warns(FutureWarning, match="renamed state_dir"):
        net.fit(d["X"], d["y"])
    states = capture.trajectory().states
    assert all(p.startswith(str(tmp_path)) for p in states)


def test_captured_inputs_share_the_fitted_matrix(fitted_val, noisy_data):
    # input_distance reads the rows' inputs from the trajectory: a view of the
    # float32 matrix fit trained on (standardize=False: the caller's own),
    # not a copy as large as the captured epochs.
    trajectory = fitted_val.trajectory_
    assert np.shares_memory(trajectory.train.x.numpy(), noisy_data["X"])
    assert np.shares_memory(trajectory.reference.x.numpy(), noisy_data["X_val"])
    assert_array_equal(trajectory.train.x.numpy(), noisy_data["X"])
