"""The contract every registered signal obeys, checked for every name in ``available()``.

A signal added later is tested here by being registered.
"""

import inspect
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import roc_auc_score

from skinfluence.signals import available, get_signal

NAMES = list(available()["name"])

# The glitch kinds of the ``glitched`` fixture each target must rank high.
KINDS = {
    "label_noise": ["mislabeled"],
    "anomalies": ["clustered_anomaly"],
    "mixtures": ["mislabeled", "clustered_anomaly"],
}


def _compute(det, name, **params):
    if name == "cleanlab":
        pytest.importorskip("cleanlab")
    old = det.get_params()
    try:
        return det.set_params(**params).compute_signal(name)
    finally:
        det.set_params(**{key: old[key] for key in params})


@pytest.fixture(scope="module")
def results(glitched):
    det = glitched["detector"]
    return {name: _compute(det, name) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_scores_have_the_contracted_shapes_and_are_finite(glitched, results, name):
    det, result = glitched["detector"], results[name]
    n, n_epochs = len(glitched["y"]), len(det.learning_rates_)
    assert result.scores.shape == (n,)
    assert result.epoch_scores.shape == (n, n_epochs)
    assert result.scores.dtype == result.epoch_scores.dtype == np.float64
    assert np.isfinite(result.scores).all()
    assert np.isfinite(result.epoch_scores).all()


@pytest.mark.parametrize("name", NAMES)
def test_a_label_suggestion_is_declared(glitched, results, name):
    suggested = results[name].extras.get("suggested_class")
    assert (suggested is not None) == get_signal(name).suggests_label
    if suggested is not None:
        n_classes = len(glitched["detector"].classes_)
        assert suggested.shape == (len(glitched["y"]),)
        assert ((suggested >= 0) & (suggested < n_classes)).all()


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_independent_of_row_chunking(glitched, results, name):
    det = glitched["detector"]
    assert_array_equal(_compute(det, name).scores, results[name].scores)
    # A few rows per chunk: every streamed or chunked computation is split.
    chunked = _compute(det, name, working_memory=1e-3)
    for got, expected in [
        (chunked.scores, results[name].scores),
        (chunked.epoch_scores, results[name].epoch_scores),
    ]:
        # float32 blocks summed in another order: agreement to float32 precision.
        assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize(
    "name", [name for name in NAMES if not get_signal(name).needs_reference]
)
def test_a_signal_without_reference_ignores_it(glitched, results, name):
    # The detector hands these signals an empty reference; given one, they
    # must not read it.
    det = glitched["detector"]
    context = det.scoring_.context(det.trajectory_.train, det.scoring_.y_train, None)
    assert_allclose(get_signal(name)(context, det.epochs_).scores, results[name].scores)


@pytest.mark.parametrize("name", NAMES)
def test_docstring_states_formula_orientation_and_reference(name):
    doc = inspect.getdoc(get_signal(name).func)
    assert ".. math::" in doc
    text = " ".join(doc.split())
    # The sentence the docs' signal table shows (docs/sphinxext).
    assert re.search(r"Orientation: higher( \([^)]*\))? = more suspicious", text)
    assert re.search(r"et al\.|References -{3,}", text)


@pytest.mark.parametrize("name", NAMES)
def test_ranks_the_glitch_it_targets_above_clean_rows(glitched, results, name):
    kind, scores = glitched["kind"], results[name].scores
    clean = kind == "clean"
    checked = [t for t in get_signal(name).targets if t in KINDS]
    if not checked:  # "dynamics" alone: no single glitch to inject
        pytest.skip(f"{name!r} targets {get_signal(name).targets} only")
    for target in checked:
        glitch = np.isin(kind, KINDS[target])
        kept = glitch | clean
        auroc = roc_auc_score(glitch[kept], scores[kept])
        assert auroc >= 0.75, f"{name!r} on {target}: AUROC {auroc:.2f}"
